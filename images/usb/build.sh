#!/usr/bin/env bash
# make usb-image: builds the rackseed USB seed image into .cache/images/usb/:
#   rackseed-seed.img  a hybrid disk image (ISO 9660 + MBR + GPT with an EFI system partition, made
#                      by grub-mkrescue and xorriso: no loop device) that boots by BIOS and UEFI
#                      into GRUB, whose one entry boots the netboot image's kernel and initramfs
#                      with rackseed.role=seed: /init runs `rackseed seed --config
#                      /etc/rackseed/seed.yaml`
#   manifest.json      size, sha256 and what went in
# Usage: images/usb/build.sh [SEED_YAML]   (default images/usb/seed.yaml; it is baked in)
# GRUB loads /boot/seed.cpio before the netboot initramfs: seed.yaml, and the netboot kernel and
# initrd the seed serves to the other servers (a second copy: the cloud kernel has no USB storage
# driver to read the key with). GRUB 2.06's own `newc:` entries are malformed for Linux 6.1.
# Reproducible like the netboot image: SOURCE_DATE_EPOCH (the last commit's time) fixes every
# timestamp, and the ISO's dates and GUIDs; the EFI partition's FAT serial is fixed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
SEED_YAML=$(realpath "${1:-images/usb/seed.yaml}")
NETBOOT=$ROOT_DIR/.cache/images/netboot
OUT=$ROOT_DIR/.cache/images/usb
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
images/netboot/build.sh

# The seed's own address: the first of provisioning.subnet (the seed checks the rest).
ADDRESS=$(node --input-type=module -e '
  import { readFileSync } from "node:fs"; import { parse } from "yaml";
  const subnet = parse(readFileSync(process.argv[1], "utf8"))?.provisioning?.subnet ?? "";
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m || Number(m[5]) > 30) { console.error(`images: ${process.argv[1]}: provisioning.subnet must be a.b.c.d/nn, nn <= 30`); process.exit(1); }
  const n = ((((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0) & (~0 << (32 - m[5]))) + 1;
  console.log(`${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".")}/${m[5]}`);
' "$SEED_YAML")

STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/boot/grub" "$STAGE/cpio/etc/rackseed" "$STAGE/cpio/srv/rackseed/image"
cp "$NETBOOT/vmlinuz" "$NETBOOT/initrd.img" "$STAGE/boot/"
cp "$NETBOOT/vmlinuz" "$NETBOOT/initrd.img" "$STAGE/cpio/srv/rackseed/image/"
cp "$SEED_YAML" "$STAGE/cpio/etc/rackseed/seed.yaml"
# What only the seed runs: radvd (so iPXE skips its IPv6 wait) and the iPXE binaries it serves.
mkdir -p "$STAGE/cpio/usr/bin" "$STAGE/cpio/usr/lib/ipxe"
cp /usr/sbin/radvd "$STAGE/cpio/usr/bin/"
cp -L /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/ipxe.efi "$STAGE/cpio/usr/lib/ipxe/"
find "$STAGE/cpio" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$STAGE/cpio" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet -R 0:0) > "$STAGE/boot/seed.cpio"
rm -rf "$STAGE/cpio"
cat > "$STAGE/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=2
set default=0
menuentry 'rackseed seed' {
  echo 'rackseed-usb: booting the seed'
  linux /boot/vmlinuz console=tty0 console=ttyS0,115200 rackseed.role=seed rackseed.address=$ADDRESS
  initrd /boot/seed.cpio /boot/initrd.img
}
CFG
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUT"
# Fixed dates, GPT GUIDs from the volume date, and a fixed FAT serial for the EFI partition
# (grub-mkrescue calls mformat, which would pick a random one).
mkdir -p "$STAGE.bin"; printf '#!/bin/sh\nexec /usr/bin/mformat -N 5eed5eed "$@"\n' > "$STAGE.bin/mformat"; chmod +x "$STAGE.bin/mformat"
PATH=$STAGE.bin:$PATH grub-mkrescue -o "$OUT/rackseed-seed.img" "$STAGE" -- -volid RACKSEED_SEED \
  -volume_date uuid "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)" -volume_date all_file_dates "=$SOURCE_DATE_EPOCH" \
  -boot_image any gpt_disk_guid=volume_date_uuid >"$STAGE.log" 2>&1 || { cat "$STAGE.log" >&2; rm -rf "$STAGE.log" "$STAGE.bin"; exit 1; }
rm -rf "$STAGE.bin"
rm -f "$STAGE.log"
node -e '
  const fs = require("fs"), crypto = require("crypto"), [out, netboot, address] = process.argv.slice(1);
  const b = fs.readFileSync(`${out}/rackseed-seed.img`);
  const m = { image: { file: "rackseed-seed.img", bytes: b.length, sha256: crypto.createHash("sha256").update(b).digest("hex") },
    netboot: JSON.parse(fs.readFileSync(`${netboot}/manifest.json`, "utf8")), seedAddress: address,
    sourceDateEpoch: Number(process.env.SOURCE_DATE_EPOCH) };
  fs.writeFileSync(`${out}/manifest.json`, JSON.stringify(m, null, 2) + "\n");
  console.log(`USB seed image ${out}/rackseed-seed.img: ${(m.image.bytes / 1048576).toFixed(1)} MB, sha256 ${m.image.sha256}`);
' "$OUT" "$NETBOOT" "$ADDRESS"
