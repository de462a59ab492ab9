#!/usr/bin/env bash
# make setup: installs what rackseed and its tests need on Debian 12, as root. Idempotent and
# fast when done: apt only runs when a package is missing, npm ci only when the lockfile changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real parts the tests start (etcd, Ceph, OpenIPMI, Prometheus) and the tools they drive (the
# openstack CLI and tempest test the API; Horizon, openstack-dashboard without its apache2 package,
# runs under Django's own server in test/integration/horizon.test.ts).
DEBIAN_PACKAGES=(
  etcd-server etcd-client
  ceph-mon ceph-osd ceph-mgr ceph-common librados-dev libsqlite3-mod-ceph sqlite3
  openipmi ipmitool
  isc-dhcp-client udhcpc tftp-hpa atftp curl qemu-system-x86 ipxe-qemu ipxe dnsmasq-base busybox-static cpio zstd
  radvd tcpdump ovmf grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools
  iproute2 iputils-ping uuid-runtime procps openssl
  qemu-block-extra qemu-utils dropbear-bin sudo nftables openssh-client
  python3-openstackclient tempest prometheus openstack-dashboard
  chromium
  nodejs npm make g++ cmake python3
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
# nodejs/npm may come from elsewhere than Debian (as on the CI image): a working node is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do [[ $pkg == nodejs || $pkg == npm ]] || filtered+=("$pkg"); done
  missing=("${filtered[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q -o DPkg::Lock::Timeout=600
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
  # On a host with systemd, Debian's etcd-server starts a system etcd on :2379; rackseed runs its own.
  # Likewise Debian's prometheus (:9090): the tests run their own, on their own ports.
  for unit in etcd prometheus; do
    if [ -d /run/systemd/system ] && systemctl is-enabled "$unit" >/dev/null 2>&1; then systemctl disable --now "$unit" || true; fi
  done
fi

# Node packages: only when package-lock.json is newer than what node_modules was installed from.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# The librados addon (appliance/rados/native), built offline by cmake-js against librados-dev;
# cmake-js' own build directory makes a re-run incremental.
npx cmake-js compile --directory appliance/rados/native --log-level warn

# Compile the CLI and the agent (incremental: a no-op when nothing changed).
npx tsc -p tsconfig.build.json
