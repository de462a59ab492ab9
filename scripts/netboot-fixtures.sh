#!/usr/bin/env bash
# Builds the netboot test fixtures once and caches them in .cache/netboot/ (gitignored):
#   vmlinuz    Debian's cloud kernel, from images/kernel.sh (its cache is shared with make image)
#   initrd.gz  a busybox-static initramfs whose /init brings eth0 up by DHCP and prints
#              "RACKSEED-NODE-READY mac=… ip=… token=…" on the serial console, then powers off.
# Recipe: ../shared/research/rack-sim-feasibility.md §2.2. Prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/.cache/netboot
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.gz" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KERNEL=$(images/kernel.sh)
M=$KERNEL/modules
cd "$WORK"
mkdir -p root/{bin,sbin,etc/udhcpc,proc,sys,dev,tmp,run,lib/modules}
cp /bin/busybox root/bin/busybox
for a in $(root/bin/busybox --list); do [ -e "root/bin/$a" ] || ln -s busybox "root/bin/$a"; done
# Order matters: virtio_ring before virtio (research §2.2).
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_modern_dev.ko \
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko net/core/failover.ko \
  drivers/net/net_failover.ko drivers/net/virtio_net.ko; do cp "$M/$m" root/lib/modules/; done
cat > root/init <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
TOKEN=; for w in $(cat /proc/cmdline); do case "$w" in rackseed.token=*) TOKEN=${w#rackseed.token=};; esac; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up; ip link set eth0 up   # udhcpc busy-loops on a down link (research §2.2)
udhcpc -s /etc/udhcpc/default.script -i eth0 -t 10 -T 1 -n -q >/dev/null 2>&1 || echo "DHCP-FAILED"
echo "RACKSEED-NODE-READY mac=$(cat /sys/class/net/eth0/address) ip=$(cat /run/ip 2>/dev/null) token=$TOKEN"
poweroff -f
INIT
cat > root/etc/udhcpc/default.script <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface"; echo "$ip" > /run/ip ;;
esac
exit 0
SCRIPT
chmod +x root/init root/etc/udhcpc/default.script
(cd root && find . | cpio -o -H newc --quiet | gzip -9) > "$OUT/initrd.gz"
cp "$KERNEL/vmlinuz" "$OUT/vmlinuz"
echo "$OUT"
