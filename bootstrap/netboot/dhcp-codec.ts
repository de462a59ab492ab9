/**
 * DHCP/BOOTP message codec (RFC 2131 §2, RFC 2132 options, RFC 3396 long options).
 * Pure: bytes ⇄ {@link DhcpPacket}. Bad input throws a {@link DhcpDecodeError}; nothing is
 * returned half-decoded.
 */
import { DhcpDecodeError } from './errors.js';

/** RFC 2131 §3: the magic cookie that starts the options field. */
export const MAGIC_COOKIE = 0x63825363;
/** RFC 2131 §2: fixed header length (236) + cookie (4). */
const FIXED_LEN = 240;
/** RFC 1542 §3.1.1 / RFC 2131 §2: BOOTP relays and old clients expect at least 300 bytes. */
const MIN_LEN = 300;

/** RFC 2132 option codes used by rackseed. */
export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77, // RFC 3004
  CLIENT_ARCH: 93, // RFC 4578 §2.1
  CLIENT_NDI: 94, // RFC 4578 §2.2
  CLIENT_UUID: 97, // RFC 4578 §2.3
  VENDOR_SPECIFIC: 43,
  IPXE_ENCAP: 175, // iPXE's encapsulated options (ipxe.org/howto/dhcpd)
  END: 255,
} as const;

/** RFC 2132 §9.6 message types. */
export const MSG = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** A decoded DHCP message. Options are raw bytes by code, in wire order; long options are joined (RFC 3396). */
export interface DhcpPacket {
  op: number; // 1 BOOTREQUEST, 2 BOOTREPLY
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number; // bit 15: BROADCAST (RFC 2131 §2, Figure 2)
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: Buffer; // 16 bytes as on the wire; the first hlen are the hardware address
  sname: string;
  file: string;
  options: Map<number, Buffer>;
}

function readIp(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function writeIp(buf: Buffer, at: number, ip: string): void {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new DhcpDecodeError('DHCP_ERR_BAD_HEADER', `cannot encode address ${JSON.stringify(ip)}`);
  }
  buf.set(parts, at);
}

function readCString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('latin1');
}

/**
 * Walks one options area (the options field, or `file`/`sname` when overloaded) and appends
 * each option to `into`, concatenating repeats (RFC 3396 §5). Returns the overload value
 * (option 52) when the area holds one.
 */
function readOptions(area: Buffer, into: Map<number, Buffer[]>, where: string): number | undefined {
  let overload: number | undefined;
  let i = 0;
  while (i < area.length) {
    const code = area[i] as number;
    if (code === OPT.PAD) {
      i += 1;
      continue;
    }
    if (code === OPT.END) return overload;
    if (i + 1 >= area.length) {
      throw new DhcpDecodeError('DHCP_ERR_TRUNCATED_OPTION', `option ${code} in ${where} has no length byte`);
    }
    const len = area[i + 1] as number;
    if (i + 2 + len > area.length) {
      throw new DhcpDecodeError(
        'DHCP_ERR_TRUNCATED_OPTION',
        `option ${code} in ${where} claims ${len} bytes but only ${area.length - i - 2} remain`,
      );
    }
    const data = area.subarray(i + 2, i + 2 + len);
    if (code === OPT.OVERLOAD) {
      // RFC 2131 §4.1: option 52 may only appear in the options field, once.
      if (where !== 'options' || overload !== undefined) {
        throw new DhcpDecodeError('DHCP_ERR_OPTION_OVERLOAD_LOOP', `option overload (52) repeated or inside ${where}`);
      }
      if (len !== 1 || (data[0] as number) < 1 || (data[0] as number) > 3) {
        throw new DhcpDecodeError('DHCP_ERR_BAD_OPTION', 'option overload (52) must be one byte of 1, 2 or 3');
      }
      overload = data[0] as number;
    } else {
      const list = into.get(code);
      if (list) list.push(data);
      else into.set(code, [data]);
    }
    i += 2 + len;
  }
  return overload;
}

/** Decodes one DHCP/BOOTP datagram. Throws {@link DhcpDecodeError} when it is not a well-formed DHCP message. */
export function decodeDhcp(buf: Buffer): DhcpPacket {
  if (buf.length < FIXED_LEN) {
    throw new DhcpDecodeError('DHCP_ERR_SHORT_PACKET', `${buf.length} bytes is shorter than a DHCP header (240)`);
  }
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) {
    throw new DhcpDecodeError(
      'DHCP_ERR_BAD_COOKIE',
      `magic cookie 0x${buf.readUInt32BE(236).toString(16)} is not DHCP's`,
    );
  }
  const op = buf[0] as number;
  const hlen = buf[2] as number;
  if ((op !== 1 && op !== 2) || hlen > 16) {
    throw new DhcpDecodeError('DHCP_ERR_BAD_HEADER', `op ${op} / hlen ${hlen} is not a BOOTP message`);
  }
  const parts = new Map<number, Buffer[]>();
  const overload = readOptions(buf.subarray(FIXED_LEN), parts, 'options');
  // RFC 2132 §9.3: 1 = file holds options, 2 = sname, 3 = both; file is read before sname.
  if (overload === 1 || overload === 3) readOptions(buf.subarray(108, 236), parts, 'file');
  if (overload === 2 || overload === 3) readOptions(buf.subarray(44, 108), parts, 'sname');
  const options = new Map<number, Buffer>();
  for (const [code, list] of parts) options.set(code, Buffer.concat(list));
  return {
    op,
    htype: buf[1] as number,
    hlen,
    hops: buf[3] as number,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: readIp(buf, 12),
    yiaddr: readIp(buf, 16),
    siaddr: readIp(buf, 20),
    giaddr: readIp(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 44)),
    sname: overload === 2 || overload === 3 ? '' : readCString(buf, 44, 64),
    file: overload === 1 || overload === 3 ? '' : readCString(buf, 108, 128),
    options,
  };
}

/**
 * A client's request (BOOTREQUEST) of message type `type`, encoded: `mac` as its hardware
 * address, the reply asked for by broadcast (RFC 2131 §4.1: a client without an address).
 */
export function clientRequest(request: {
  xid: number;
  mac: Buffer;
  type: number;
  options?: readonly [number, Buffer][];
  ciaddr?: string;
}): Buffer {
  const chaddr = Buffer.alloc(16);
  request.mac.copy(chaddr);
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: 0x8000,
    ciaddr: request.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map([[OPT.MESSAGE_TYPE, Buffer.from([request.type])], ...(request.options ?? [])]),
  });
}

/**
 * Encodes a message. Options longer than 255 bytes are split into consecutive instances
 * (RFC 3396 §7); the message is padded to 300 bytes. `sname` and `file` must fit their fields.
 */
export function encodeDhcp(packet: DhcpPacket): Buffer {
  const opts: Buffer[] = [];
  for (const [code, data] of packet.options) {
    if (code === OPT.PAD || code === OPT.END || code === OPT.OVERLOAD || code < 0 || code > 255) {
      throw new DhcpDecodeError('DHCP_ERR_BAD_OPTION', `option code ${code} cannot be encoded as data`);
    }
    if (data.length === 0) opts.push(Buffer.from([code, 0]));
    for (let at = 0; at < data.length; at += 255) {
      const chunk = data.subarray(at, at + 255);
      opts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  opts.push(Buffer.from([OPT.END]));
  const body = Buffer.concat(opts);
  const buf = Buffer.alloc(Math.max(MIN_LEN, FIXED_LEN + body.length));
  const sname = Buffer.from(packet.sname, 'latin1');
  const file = Buffer.from(packet.file, 'latin1');
  if (sname.length > 63 || file.length > 127 || packet.chaddr.length > 16) {
    throw new DhcpDecodeError('DHCP_ERR_BAD_HEADER', 'sname, file or chaddr does not fit its field');
  }
  buf[0] = packet.op;
  buf[1] = packet.htype;
  buf[2] = packet.hlen;
  buf[3] = packet.hops;
  buf.writeUInt32BE(packet.xid >>> 0, 4);
  buf.writeUInt16BE(packet.secs, 8);
  buf.writeUInt16BE(packet.flags, 10);
  writeIp(buf, 12, packet.ciaddr);
  writeIp(buf, 16, packet.yiaddr);
  writeIp(buf, 20, packet.siaddr);
  writeIp(buf, 24, packet.giaddr);
  packet.chaddr.copy(buf, 28);
  sname.copy(buf, 44);
  file.copy(buf, 108);
  buf.writeUInt32BE(MAGIC_COOKIE, 236);
  body.copy(buf, FIXED_LEN);
  return buf;
}

/** The client's hardware address as `aa:bb:cc:dd:ee:ff` (lowercase). */
export function macOf(packet: DhcpPacket): string {
  return [...packet.chaddr.subarray(0, Math.min(packet.hlen, 16))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':');
}

/** Option 53, or undefined for a plain BOOTP message. */
export function messageTypeOf(packet: DhcpPacket): number | undefined {
  const v = packet.options.get(OPT.MESSAGE_TYPE);
  return v?.length === 1 ? v[0] : undefined;
}

/** A 4-byte address option (50, 54) as a dotted quad, or undefined when absent or malformed. */
export function ipOption(packet: DhcpPacket, code: number): string | undefined {
  const v = packet.options.get(code);
  return v?.length === 4 ? readIp(v, 0) : undefined;
}

/** Encodes one or more addresses as an option value. */
export function ipBytes(...ips: string[]): Buffer {
  const buf = Buffer.alloc(4 * ips.length);
  ips.forEach((ip, i) => writeIp(buf, 4 * i, ip));
  return buf;
}

/** A 32-bit unsigned option value (51, 58, 59). */
export function u32Bytes(n: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(n >>> 0);
  return buf;
}
