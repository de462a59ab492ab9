/**
 * The "firmware" of a lab node in netns mode, as a POSIX shell script run inside the node's
 * network namespace when its BMC powers it on. It does what a PXE ROM with iPXE does, with real
 * packets: DHCP as an iPXE client (vendor class PXEClient, client architecture 0 = BIOS, user
 * class "iPXE", the node's SMBIOS GUID as option 97 in iPXE's byte order), so the DHCP server
 * answers with the HTTP URL of the node's iPXE script; then it fetches that script, and the
 * kernel and initrd it names, over HTTP. Instead of booting that kernel it runs the boot command it was given (again when it
 * fails, as the image's /init does), with the kernel command line in RACKSEED_CMDLINE, the GUID
 * in RACKSEED_GUID (a real node reads /sys/class/dmi/id/product_uuid) and STATE_DIR in
 * RACKSEED_STATE_DIR (nodes in namespaces share one file system): in the lab that is `rackseed
 * node boot`, the entry the image's /init calls.
 *
 *   firmware.sh STATE_DIR GUID_HEX BOOT_COMMAND...
 */
export const NETNS_FIRMWARE_SCRIPT = `#!/bin/sh
d=$1; guid=$2; shift 2
say() { echo "rackseed-firmware: $*"; }
ip link set lo up; ip link set eth0 up   # busybox udhcpc busy-loops on a down link
cat > "$d/udhcpc.hook" <<'HOOK'
#!/bin/sh
# udhcpc hook: apply the lease and keep what the boot needs.
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface"
    { echo "ip=$ip"; echo "bootfile=\${bootfile:-$boot_file}"; echo "siaddr=$siaddr"; } > "$LEASE_FILE" ;;
esac
exit 0
HOOK
chmod +x "$d/udhcpc.hook"
export LEASE_FILE="$d/lease"
rm -f "$LEASE_FILE"
# RFC 4578: option 93 (architecture 0: BIOS), 97 (type 0 + the 16-byte GUID, its first three
# fields little-endian as iPXE sends them); iPXE's user class (77).
wire=$(echo "$guid" | sed 's/^\\(..\\)\\(..\\)\\(..\\)\\(..\\)\\(..\\)\\(..\\)\\(..\\)\\(..\\)/\\4\\3\\2\\1\\6\\5\\8\\7/')
until udhcpc -i eth0 -n -q -t 3 -T 2 -s "$d/udhcpc.hook" -V PXEClient:Arch:00000:UNDI:002001 \\
    -x 0x5d:0000 -x 0x61:00"$wire" -x 0x4d:69505845 >/dev/null 2>&1 && [ -s "$LEASE_FILE" ]; do
  say "no DHCP offer yet"; sleep 1
done
. "$LEASE_FILE"
mac=$(cat /sys/class/net/eth0/address)
say "DHCP: $mac has $ip, boot file $bootfile"
case "$bootfile" in
  http://*) ;;
  *) say "the boot file is not an iPXE script over HTTP: $bootfile"; exit 1 ;;
esac
until wget -q -O "$d/boot.ipxe" "$bootfile"; do say "cannot fetch $bootfile"; sleep 1; done
kernel=$(awk '$1 == "kernel" { print $2 }' "$d/boot.ipxe")
cmdline=$(awk '$1 == "kernel" { $1 = ""; $2 = ""; sub(/^ +/, ""); print }' "$d/boot.ipxe")
initrd=$(awk '$1 == "initrd" { print $2 }' "$d/boot.ipxe")
for f in "$kernel" "$initrd"; do
  wget -q -O /dev/null "$f" || { say "cannot fetch $f"; exit 1; }
done
say "booted: kernel $kernel, initrd $initrd"
export RACKSEED_CMDLINE="$cmdline" RACKSEED_GUID="$guid" RACKSEED_STATE_DIR="$d"
# A node in a namespace sees this machine's disks: its OSD stays on a sparse file, whatever the caller's environment says.
unset RACKSEED_OSD_DISK
${rerunOnFailure('"$@"')}
`;

/**
 * Shell lines that run `command` again whenever it fails (its agent crashed or was killed), as
 * the netboot image's /init does; a clean exit ends them.
 */
export function rerunOnFailure(command: string): string {
  return `while :; do
  ${command}; rc=$?
  [ $rc -eq 0 ] && exit 0
  echo "rackseed-lab: the boot command exited ($rc): running it again"; sleep 0.5
done`;
}
