#!/usr/bin/env bash
# make image: builds the rackseed netboot image, kernel + initramfs, into .cache/images/netboot/:
#   vmlinuz         Debian's cloud kernel
#   initrd.img      busybox, the Node.js runtime, rackseed (compiled, production node_modules,
#                   native addons, the librados addon), etcd, the Ceph daemons and libcephsqlite
#                   (the DB master's SQLite VFS), with the shared libraries they load; a newc
#                   cpio compressed with zstd -12 (Debian's cloud kernel has CONFIG_RD_ZSTD=y;
#                   -19 made it 12% smaller in 68 s on 2 cores instead of 6 s, which every CI run paid)
#   manifest.json   sizes, sha256 sums, and what went in
# Everything comes from Debian packages and this repository; the output is reproducible: files
# are sorted, their times set to SOURCE_DATE_EPOCH (the last commit's time), and a zstd frame
# holds no name or time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
OUT=$ROOT_DIR/.cache/images/netboot
ZSTD_LEVEL=12
KERNEL=$(images/kernel.sh)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
mkdir -p "$R"/{bin,sbin,usr/bin,etc/udhcpc,proc,sys,dev,run,tmp,lib/modules,lib64,opt/rackseed,var/lib}

# busybox and the init scripts
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
install -m 0755 images/netboot/init "$R/init"
install -m 0755 images/netboot/udhcpc.script "$R/etc/udhcpc/default.script"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover \
  drivers/net/virtio_net drivers/block/virtio_blk drivers/firmware/qemu_fw_cfg; do
  cp "$KERNEL/modules/$m.ko" "$R/lib/modules/"
done

# programs and every shared library they load (as resolved on this machine)
PROGRAMS=(/usr/bin/node /usr/bin/etcd /usr/bin/ceph-mon /usr/bin/ceph-osd /usr/bin/monmaptool /usr/bin/ceph-authtool
  /usr/bin/openssl)
for p in "${PROGRAMS[@]}"; do cp "$p" "$R/usr/bin/"; done
# openssl (the seed's identity: CA and certificates) reads its default configuration.
mkdir -p "$R/usr/lib/ssl"; cp /etc/ssl/openssl.cnf "$R/usr/lib/ssl/openssl.cnf"
copy_libs() {
  ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
    [ -e "$R$lib" ] && continue
    mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
  done
}
for p in "${PROGRAMS[@]}"; do copy_libs "$p"; done
# Ceph loads its compressor/crypto/erasure-code plugins at run time.
mkdir -p "$R/usr/lib/x86_64-linux-gnu"
cp -a /usr/lib/x86_64-linux-gnu/ceph "$R/usr/lib/x86_64-linux-gnu/"
for so in "$R"/usr/lib/x86_64-linux-gnu/ceph/*/*.so*; do copy_libs "$so"; done
# libcephsqlite (libsqlite3-mod-ceph): the DB master loads it by this path (appliance/dbmaster/location.ts).
cp /usr/lib/x86_64-linux-gnu/libcephsqlite.so "$R/usr/lib/x86_64-linux-gnu/"
copy_libs /usr/lib/x86_64-linux-gnu/libcephsqlite.so

# rackseed: compiled code and production dependencies with their native addons
npx tsc -p tsconfig.build.json
cp -a package.json package-lock.json bin dist "$R/opt/rackseed/"
# The librados addon (scripts/setup.sh builds it), where appliance/rados/native.ts looks from dist/.
ADDON=appliance/rados/native/build/Release/rados.node
[ -s "$ADDON" ] || { echo "images: $ADDON is missing (run make setup)" >&2; exit 1; }
mkdir -p "$R/opt/rackseed/$(dirname "$ADDON")"; cp "$ADDON" "$R/opt/rackseed/$ADDON"
cp -a node_modules "$R/opt/rackseed/"
# The librados addon (appliance/rados/native, built by make setup): the agent asks the Ceph monitors through it.
mkdir -p "$R/opt/rackseed/appliance/rados/native/build/Release"
cp appliance/rados/native/build/Release/rados.node "$R/opt/rackseed/appliance/rados/native/build/Release/"
(cd "$R/opt/rackseed" && npm prune --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null 2>&1)
find "$R/opt/rackseed/node_modules" \( -name '*.md' -o -name '*.map' -o -name '*.ts' -not -name '*.d.ts' \) -delete
rm -rf "$R/opt/rackseed/node_modules/better-sqlite3/deps" "$R/opt/rackseed/node_modules/better-sqlite3/src" \
  "$R/opt/rackseed/node_modules/better-sqlite3/build/Release/obj" "$R/opt/rackseed/node_modules/better-sqlite3/build/Release/.deps"
for addon in $(find "$R/opt/rackseed" -name '*.node'); do copy_libs "$addon"; done

# reproducible archive
mkdir -p "$OUT"
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# zstd from a pipe: its frames are the same whatever the thread count (-T0), with no size, name or time in them.
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet -R 0:0 | zstd -q -$ZSTD_LEVEL -T0) > "$OUT/initrd.img"
cp "$KERNEL/vmlinuz" "$OUT/vmlinuz"
unpacked=$(du -sb "$R" | cut -f1)
node -e '
  const fs = require("fs"), crypto = require("crypto"), out = process.argv[1];
  const file = (f) => { const b = fs.readFileSync(`${out}/${f}`); return { bytes: b.length, sha256: crypto.createHash("sha256").update(b).digest("hex") }; };
  const m = { kernel: file("vmlinuz"), initramfs: { ...file("initrd.img"), unpackedBytes: Number(process.argv[2]), compression: `zstd -${process.argv[3]}` },
    budgetBytes: 80 * 1024 * 1024, sourceDateEpoch: Number(process.env.SOURCE_DATE_EPOCH), node: process.version };
  fs.writeFileSync(`${out}/manifest.json`, JSON.stringify(m, null, 2) + "\n");
  const mb = (n) => (n / 1048576).toFixed(1) + " MB";
  console.log(`netboot image in ${out}: kernel ${mb(m.kernel.bytes)}, initramfs ${mb(m.initramfs.bytes)} (${m.initramfs.compression}; ${mb(m.initramfs.unpackedBytes)} unpacked; budget ${mb(m.budgetBytes)})`);
  if (m.initramfs.bytes > m.budgetBytes) { console.error("images: the initramfs is over its budget"); process.exit(1); }
' "$OUT" "$unpacked" "$ZSTD_LEVEL"
