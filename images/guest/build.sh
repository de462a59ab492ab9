#!/usr/bin/env bash
# make guest-image: builds the tenants' guest image into .cache/images/guest/:
#   guest.raw      one raw, bootable disk: partition 1 a hybrid ISO (GRUB for BIOS, made by
#                  grub-mkrescue and xorriso: no loop device) holding Debian's cloud kernel and a
#                  small initramfs (virtio drivers, then switch_root); partition 2 the root file
#                  system, ext4 made by mke2fs -d (busybox with its init, dropbear, curl, sudo,
#                  lsblk and their libraries), read-write, so what a guest writes stays on its disk
#   manifest.json  size, sha256 and the hash of what went in
# (GUEST_IMAGE_OUT=dir builds into dir instead: the reproducibility test).
# Debian packages and this folder only. Reproducible: SOURCE_DATE_EPOCH (the newest input's
# commit time) fixes every timestamp, the ext4 UUID and hash seed are fixed, the ISO's dates
# too. Rebuilt only when its inputs change (this folder, the packages' versions).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
OUT=${GUEST_IMAGE_OUT:-$ROOT_DIR/.cache/images/guest}
KERNEL=$(images/kernel.sh)
PROGRAMS=(/usr/sbin/dropbear /usr/bin/dropbearkey /usr/bin/sudo /usr/bin/curl /usr/bin/lsblk)
EPOCH=$(git log -1 --format=%ct -- images/guest 2>/dev/null || true)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-${EPOCH:-0}}
INPUTS=$( (cat images/guest/*; echo "$SOURCE_DATE_EPOCH"; basename "$KERNEL"; dpkg-query -W busybox-static dropbear-bin sudo curl util-linux grub-pc-bin xorriso e2fsprogs) | sha256sum | cut -d' ' -f1)
if [ -s "$OUT/guest.raw" ] && grep -q "\"inputs\": \"$INPUTS\"" "$OUT/manifest.json" 2>/dev/null; then
  echo "guest image $OUT/guest.raw is current"
  exit 0
fi
STAGE=$(mktemp -d); [ -n "${KEEP_STAGE:-}" ] || trap 'rm -rf "$STAGE" "$STAGE.bin"' EXIT
started=$SECONDS

# The initramfs: busybox, the virtio block drivers, /init.
I=$STAGE/initramfs
mkdir -p "$I"/{bin,proc,sys,dev,root,lib/modules}
cp /bin/busybox "$I/bin/"
for a in sh mount umount insmod switch_root seq sleep mkdir echo; do ln -s busybox "$I/bin/$a"; done
install -m 0755 images/guest/init "$I/init"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/block/virtio_blk; do
  cp "$KERNEL/modules/$m.ko" "$I/lib/modules/"
done

# The root file system.
R=$STAGE/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,etc/sudoers.d,proc,sys,dev,run,tmp,root,home/cloud,lib/modules,var/log}
cp /bin/busybox "$R/bin/"
for a in $("$R/bin/busybox" --list-full); do [ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"; done
for m in net/core/failover drivers/net/net_failover drivers/net/virtio_net drivers/char/hw_random/virtio-rng \
  drivers/acpi/button drivers/input/evdev; do
  cp "$KERNEL/modules/$m.ko" "$R/lib/modules/"
done
install -m 0755 images/guest/rc "$R/etc/rc"
install -m 0755 images/guest/udhcpc.script "$R/etc/udhcpc.script"
install -m 0644 images/guest/inittab "$R/etc/inittab"
printf '#!/bin/sh\npoweroff\n' > "$R/etc/acpi/PWRF/00000080"; chmod 0755 "$R/etc/acpi/PWRF/00000080"
for p in "${PROGRAMS[@]}"; do rm -f "$R$p"; cp "$p" "$R$p"; done
chmod 4755 "$R/usr/bin/sudo"
copy_libs() {
  ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
    [ -e "$R$lib" ] && continue
    mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
  done
}
for p in "${PROGRAMS[@]}"; do copy_libs "$p"; done
# sudo loads its policy plugin and PAM modules at run time.
mkdir -p "$R/usr/libexec/sudo" "$R/etc/pam.d" "$R/lib/x86_64-linux-gnu/security"
cp -L /usr/libexec/sudo/sudoers.so /usr/libexec/sudo/libsudo_util.so.0 "$R/usr/libexec/sudo/"
copy_libs /usr/libexec/sudo/sudoers.so
cp -L /lib/x86_64-linux-gnu/security/pam_permit.so "$R/lib/x86_64-linux-gnu/security/"
printf 'auth sufficient pam_permit.so\naccount sufficient pam_permit.so\nsession sufficient pam_permit.so\n' > "$R/etc/pam.d/sudo"
printf 'root:x:0:0:root:/root:/bin/sh\ncloud:x:1000:1000:cloud:/home/cloud:/bin/sh\n' > "$R/etc/passwd"
printf 'root:*:19000::::::\ncloud:*:19000::::::\n' > "$R/etc/shadow"; chmod 0600 "$R/etc/shadow"
printf 'root:x:0:\ncloud:x:1000:\n' > "$R/etc/group"
printf 'root ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n' > "$R/etc/sudoers"; chmod 0440 "$R/etc/sudoers"
printf 'cloud ALL=(ALL) NOPASSWD: ALL\n' > "$R/etc/sudoers.d/cloud"; chmod 0440 "$R/etc/sudoers.d/cloud"
printf 'rackseed-guest\n' > "$R/etc/hostname"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' > "$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' > "$R/etc/hosts"
chown -R 1000:1000 "$R/home/cloud"

# Partition 2: the root as ext4, sized to what it holds plus room to write.
find "$R" "$I" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
used=$(du -sm "$R" | cut -f1)
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -t ext4 -d "$R" -L guest-root -U 5eed0000-0000-4000-8000-00000000000a \
  -E hash_seed=5eed0000-0000-4000-8000-00000000000b,root_owner=0:0 -N 2048 "$STAGE/root.ext4" "$((used + 10))M"
# mke2fs -d copies each file's ctime and atime, which no tool can set on the source: fixed here.
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\.||') | while read -r path; do
  printf 'sif "%s" ctime @%s\nsif "%s" atime @%s\n' "$path" "$SOURCE_DATE_EPOCH" "$path" "$SOURCE_DATE_EPOCH"
done > "$STAGE/times.debugfs"
printf 'sif / ctime @%s\nsif / atime @%s\nsif /lost+found ctime @%s\nsif /lost+found atime @%s\n' \
  "$SOURCE_DATE_EPOCH" "$SOURCE_DATE_EPOCH" "$SOURCE_DATE_EPOCH" "$SOURCE_DATE_EPOCH" >> "$STAGE/times.debugfs"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$STAGE/times.debugfs" "$STAGE/root.ext4" >"$STAGE/debugfs.log" 2>&1 ||
  { cat "$STAGE/debugfs.log" >&2; exit 1; }

# Partition 1: GRUB (BIOS), the kernel and the initramfs, as a hybrid ISO; the root appended.
B=$STAGE/iso
mkdir -p "$B/boot/grub"
cp "$KERNEL/vmlinuz" "$B/boot/vmlinuz"
(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet -R 0:0 | gzip -9n) > "$B/boot/initrd.img"
cat > "$B/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry 'rackseed guest' {
  linux /boot/vmlinuz console=ttyS0,115200 no_timer_check quiet
  initrd /boot/initrd.img
}
CFG
find "$B" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUT" "$STAGE.bin"
printf '#!/bin/sh\nexec /usr/bin/mformat -N 5eed5eed "$@"\n' > "$STAGE.bin/mformat"; chmod +x "$STAGE.bin/mformat"
PATH=$STAGE.bin:$PATH grub-mkrescue -d /usr/lib/grub/i386-pc --install-modules="linux normal iso9660 biosdisk serial terminal echo" --fonts= --locales= --themes= -o "$OUT/guest.raw" "$B" -- -volid RACKSEED_GUEST \
  -volume_date uuid "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)" -volume_date all_file_dates "=$SOURCE_DATE_EPOCH" \
  -volume_date c "=$SOURCE_DATE_EPOCH" -volume_date m "=$SOURCE_DATE_EPOCH" -volume_date x "=$SOURCE_DATE_EPOCH" -volume_date f "=$SOURCE_DATE_EPOCH" \
  -append_partition 2 0x83 "$STAGE/root.ext4" >"$STAGE/mkrescue.log" 2>&1 || { cat "$STAGE/mkrescue.log" >&2; exit 1; }
seconds=$((SECONDS - started))
node -e '
  const fs = require("fs"), crypto = require("crypto"), [out, inputs, seconds] = process.argv.slice(1);
  const b = fs.readFileSync(`${out}/guest.raw`);
  const m = { image: { file: "guest.raw", bytes: b.length, sha256: crypto.createHash("sha256").update(b).digest("hex") },
    budgetBytes: 64 * 1024 * 1024, inputs, sourceDateEpoch: Number(process.env.SOURCE_DATE_EPOCH), buildSeconds: Number(seconds) };
  fs.writeFileSync(`${out}/manifest.json`, JSON.stringify(m, null, 2) + "\n");
  console.log(`guest image ${out}/guest.raw: ${(m.image.bytes / 1048576).toFixed(1)} MB of ${m.budgetBytes / 1048576}, sha256 ${m.image.sha256}, built in ${m.buildSeconds} s`);
  if (m.image.bytes > m.budgetBytes) { console.error("images: the guest image is over its budget"); fs.rmSync(out, { recursive: true }); process.exit(1); }
' "$OUT" "$INPUTS" "$seconds"
