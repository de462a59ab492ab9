#!/usr/bin/env bash
# Fetches Debian's cloud kernel package (apt-get download + dpkg-deb -x: nothing is installed
# on this machine) and caches it under .cache/images/kernel/. Prints the directory holding
# `vmlinuz` and `modules/` (the package's lib/modules/<version>/kernel tree).
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
[ -n "$PKG" ] || { echo "images: cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2; exit 1; }
OUT=$PWD/.cache/images/kernel/$PKG
if [ ! -s "$OUT/vmlinuz" ]; then
  WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
  (cd "$WORK" && apt-get download -q "$PKG" >&2 && dpkg-deb -x ./*.deb x)
  mkdir -p "$OUT"
  cp "$WORK"/x/boot/vmlinuz-* "$OUT/vmlinuz"
  mv "$WORK"/x/lib/modules/*/kernel "$OUT/modules"
fi
echo "$OUT"
