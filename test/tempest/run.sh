#!/usr/bin/env bash
# Runs tempest's API tests of include-list.txt against a running rackseed cloud:
#   test/tempest/run.sh URL ADMIN_PASSWORD_FILE [WORKSPACE]
# It uploads two small images through the openstack CLI (tempest's image_ref and
# image_ref_alt), fills tempest.conf.in, and runs `tempest run --include-list` with
# concurrency 2. Exits non-zero when any listed test fails. The cloud's API is HTTPS: OS_CACERT
# names the CA certificate its certificate is checked against (the openstack CLI reads it too).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="$1"
password="$(tr -d '\n' < "$2")"
workspace="${3:-$(mktemp -d /tmp/rackseed-tempest.XXXXXX)}"
ca="${OS_CACERT:?set OS_CACERT to the CA certificate file of the cloud}"
mkdir -p "$workspace"

export OS_AUTH_URL="$url/identity" OS_USERNAME=admin OS_PASSWORD="$password" OS_PROJECT_NAME=admin \
  OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 OS_INTERFACE=public
unset OS_CLOUD OS_CLIENT_CONFIG_FILE

head -c 65536 /dev/zero > "$workspace/image.raw"
image() {
  openstack image create --public --disk-format raw --container-format bare --file "$workspace/image.raw" "$1" -f value -c id
}
image_ref="$(image tempest-image)"
image_ref_alt="$(image tempest-image-alt)"

# tempest keeps a registry of workspaces by name (~/.tempest/workspace.yaml): use a unique name
# and drop the entry afterwards.
# Every tempest command runs inside the workspace: without a configuration, tempest logs to
# ./tempest.log, which would land in whatever directory called this script.
name="rackseed-$$-$(date +%s%N)"
cd "$workspace"
tempest init --name "$name" "$workspace/tempest" >/dev/null
trap 'tempest workspace remove --name "$name" >/dev/null 2>&1 || true' EXIT
cd "$workspace/tempest"
sed -e "s|@URL@|$url|g" -e "s|@ADMIN_PASSWORD@|$password|g" -e "s|@CA_FILE@|$ca|g" -e "s|@WORKSPACE@|$workspace/tempest|g" \
  -e "s|@IMAGE_REF@|$image_ref|g" -e "s|@IMAGE_REF_ALT@|$image_ref_alt|g" \
  "$here/tempest.conf.in" > etc/tempest.conf
tempest run --include-list "$here/include-list.txt" --concurrency 2 "${@:4}"
