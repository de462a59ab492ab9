#!/usr/bin/env bash
# Runs tempest's API tests of include-list.txt, but those of exclude-list.txt, against a running rackseed cloud:
#   test/tempest/run.sh URL ADMIN_PASSWORD_FILE [WORKSPACE [TEMPEST RUN OPTIONS…]]
# It uploads two small images through the openstack CLI (tempest's image_ref and
# image_ref_alt), provisions tempest's accounts (accounts.yaml), fills tempest.conf.in, and
# runs `tempest run --include-list` on the workers of workers.yaml. The provider network is
# tempest's public network. Exits non-zero when any listed test fails.
# The compute tests run from microversion COMPUTE_MIN_MICROVERSION (2.1 unless set; `max` is
# the cloud's newest) up to the newest the cloud announces in its version document.
# INCLUDE_LIST names another list to run (a part of this one); exclude-list.txt applies to it too.
# The cloud's API is HTTPS: OS_CACERT names the CA certificate its certificate is checked against
# (the openstack CLI reads it too). tempest.conf.in tells tempest the cloud's security compliance
# settings: serve it with test/bed/security-compliance.ts's flags (the bed's clouds are).
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
# tempest's public_network_id: the cloud's external provider network.
public_network_id="$(openstack network show provider -f value -c id)"
# tempest's min_compute_nodes: the hypervisors the cloud has (its multi-node tests, cold
# migration among them, run where there are two or more).
compute_nodes="$(openstack hypervisor list -f value -c ID | wc -l)"

# Pre-provisioned credentials: tempest's dynamic ones make an admin with the admin role on a fresh
# project, which is that project's admin only (the cloud admin holds it on the admin project).
# Members get a project each (primary and alt for each of nine workers); the admins get the
# admin role on the admin project. One openstack CLI reads the commands on stdin, so the
# passwords never appear on a command line; the file is readable by this user only.
tag="tempest-$$"
members=18
admins=10
secret() { tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32 || true; }
accounts="$workspace/accounts.yaml"
install -m 600 /dev/null "$accounts"
commands=""
for i in $(seq 1 "$members"); do
  pw="$(secret)"
  commands+="project create $tag-project-$i -f value -c id"$'\n'
  commands+="user create --project $tag-project-$i --password $pw $tag-member-$i -f value -c id"$'\n'
  commands+="role add --project $tag-project-$i --user $tag-member-$i member"$'\n'
  printf -- "- username: '%s'\n  password: '%s'\n  project_name: '%s'\n  user_domain_name: Default\n  project_domain_name: Default\n  roles: [member]\n" \
    "$tag-member-$i" "$pw" "$tag-project-$i" >> "$accounts"
done
for i in $(seq 1 "$admins"); do
  pw="$(secret)"
  commands+="user create --project admin --password $pw $tag-admin-$i -f value -c id"$'\n'
  commands+="role add --project admin --user $tag-admin-$i admin"$'\n'
  printf -- "- username: '%s'\n  password: '%s'\n  project_name: admin\n  user_domain_name: Default\n  project_domain_name: Default\n  roles: [admin]\n" \
    "$tag-admin-$i" "$pw" >> "$accounts"
done
# tempest's own identity-admin and quota-admin classes force dynamic credentials; this admin makes them.
provisioner_password="$(secret)"
commands+="user create --project admin --password $provisioner_password $tag-provisioner -f value -c id"$'\n'
commands+="role add --project admin --user $tag-provisioner admin"$'\n'
# tempest's identity admin tests use domain-scoped tokens of the Default domain (tempest.conf's
# admin_domain_scope): admin on the admin project's domain is rackseed's cloud admin too.
commands+="role add --domain default --user $tag-provisioner admin"$'\n'
# The interactive CLI goes on after a failed command: any error message fails the setup.
errors="$(printf '%s' "$commands" | openstack 2>&1 >/dev/null)"
if [ -n "$errors" ]; then
  echo "provisioning tempest's accounts failed: $errors" >&2
  exit 1
fi

compute_max="$(python3 - "$url/compute/v2.1" "$ca" <<'PY'
import json, ssl, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], context=ssl.create_default_context(cafile=sys.argv[2])) as r:
    print(json.load(r)["version"]["version"])
PY
)"
compute_min="${COMPUTE_MIN_MICROVERSION:-2.1}"
[ "$compute_min" = max ] && compute_min="$compute_max"

# tempest keeps a registry of workspaces by name (~/.tempest/workspace.yaml): use a unique name
# and drop the entry afterwards.
# Every tempest command runs inside the workspace: without a configuration, tempest logs to
# ./tempest.log, which would land in whatever directory called this script.
name="rackseed-$$-$(date +%s%N)"
cd "$workspace"
tempest init --name "$name" "$workspace/tempest" >/dev/null
trap 'tempest workspace remove --name "$name" >/dev/null 2>&1 || true' EXIT
cd "$workspace/tempest"
install -m 600 /dev/null etc/tempest.conf
sed -e "s|@URL@|$url|g" -e "s|@ACCOUNTS@|$accounts|g" -e "s|@CA_FILE@|$ca|g" -e "s|@WORKSPACE@|$workspace/tempest|g" \
  -e "s|@PROVISIONER@|$tag-provisioner|g" -e "s|@PROVISIONER_PASSWORD@|$provisioner_password|g" \
  -e "s|@IMAGE_REF@|$image_ref|g" -e "s|@IMAGE_REF_ALT@|$image_ref_alt|g" -e "s|@PUBLIC_NETWORK_ID@|$public_network_id|g" \
  -e "s|@COMPUTE_MIN_MICROVERSION@|$compute_min|g" -e "s|@COMPUTE_MAX_MICROVERSION@|$compute_max|g" \
  -e "s|@MIN_COMPUTE_NODES@|$compute_nodes|g" \
  "$here/tempest.conf.in" > etc/tempest.conf
tempest run --include-list "${INCLUDE_LIST:-$here/include-list.txt}" --exclude-list "$here/exclude-list.txt" \
  --worker-file "$here/workers.yaml" "${@:4}"
