/**
 * PXE and iPXE client detection from DHCP options (Intel PXE 2.1 §2.2, RFC 4578, ipxe.org).
 * Pure: reads a decoded packet, returns what kind of firmware sent it.
 */
import { type DhcpPacket, OPT } from './dhcp-codec.js';

/** The firmware families rackseed boots; each has its own iPXE binary. */
export type ClientArch = 'bios' | 'uefi-ia32' | 'uefi-x64' | 'arm64' | 'unknown';

/** What a DHCP client told us about itself. */
export interface ClientKind {
  /** Option 60 starts with "PXEClient" (PXE 2.1 §2.2.1). */
  pxe: boolean;
  /** iPXE: user class (77) "iPXE" or its encapsulated options (175). iPXE gets the HTTP script, not a binary. */
  ipxe: boolean;
  arch: ClientArch;
  /** Option 97 (RFC 4578 §2.3): type 0 then a 16-byte UUID, as hex; the ProxyDHCP reply must echo it. */
  guid: string | undefined;
}

// RFC 4578 §2.1 and the IANA "Processor Architecture Types" registry.
const ARCH_BY_TYPE: ReadonlyMap<number, ClientArch> = new Map<number, ClientArch>([
  [0, 'bios'],
  [6, 'uefi-ia32'],
  [7, 'uefi-x64'], // EFI BC
  [9, 'uefi-x64'],
  [11, 'arm64'],
]);

/** Classifies the sender of a request. */
export function classifyClient(packet: DhcpPacket): ClientKind {
  const vendor = packet.options.get(OPT.VENDOR_CLASS)?.toString('latin1') ?? '';
  const userClass = packet.options.get(OPT.USER_CLASS);
  // iPXE sends user class as the bare string "iPXE"; RFC 3004 clients length-prefix each class.
  const ipxe = packet.options.has(OPT.IPXE_ENCAP) || (userClass?.toString('latin1').includes('iPXE') ?? false);
  const archOpt = packet.options.get(OPT.CLIENT_ARCH);
  let arch: ClientArch = 'unknown';
  if (archOpt && archOpt.length >= 2) arch = ARCH_BY_TYPE.get(archOpt.readUInt16BE(0)) ?? 'unknown';
  else {
    // PXE 2.1 vendor class "PXEClient:Arch:xxxxx:UNDI:yyyzzz" when option 93 is missing.
    const m = /^PXEClient:Arch:(\d{5})/.exec(vendor);
    if (m) arch = ARCH_BY_TYPE.get(Number(m[1])) ?? 'unknown';
  }
  const uuid = packet.options.get(OPT.CLIENT_UUID);
  return {
    pxe: vendor.startsWith('PXEClient'),
    ipxe,
    arch,
    guid: uuid?.length === 17 && uuid[0] === 0 ? uuid.subarray(1).toString('hex') : undefined,
  };
}

/**
 * The client's SMBIOS GUID from option 97 (RFC 4578 §2.3: type 0, then 16 bytes) as 32 hex digits
 * in RFC 4122 order, the order Linux shows in /sys/class/dmi/id/product_uuid (and the BMC's
 * GUID, as the lab gives it). On the wire the first three fields are little-endian, as in an EFI
 * GUID: PXE 2.1 names no byte order, RFC 4578 follows EFI, and iPXE (dhcp_create_request) and
 * PXE ROMs send it so. Undefined when the option is absent or malformed, and for the all-zero and
 * all-one GUIDs, which SMBIOS uses for "not set" and "not present" (SMBIOS 3.x §7.2.1).
 */
export function smbiosGuid(packet: DhcpPacket): string | undefined {
  const uuid = packet.options.get(OPT.CLIENT_UUID);
  if (uuid?.length !== 17 || uuid[0] !== 0) return undefined;
  const b = uuid.subarray(1);
  if (b.every((x) => x === 0) || b.every((x) => x === 0xff)) return undefined;
  const swapped = Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
  return swapped.toString('hex');
}
