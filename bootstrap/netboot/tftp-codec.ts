/**
 * TFTP packet codec (RFC 1350 §5, RFC 2347 option extension). Pure: bytes ⇄ {@link TftpPacket};
 * bad input throws a {@link TftpDecodeError}.
 */
import { TftpDecodeError } from './errors.js';

/** RFC 1350 §5 opcodes, RFC 2347 OACK. */
export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 §5 error codes (8 from RFC 2347: option negotiation refused). */
export const TFTP_ERROR = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS: 2,
  DISK_FULL: 3,
  ILLEGAL: 4,
  UNKNOWN_TID: 5,
  EXISTS: 6,
  NO_USER: 7,
  OPTIONS: 8,
} as const;

export type TftpPacket =
  | { op: 1 | 2; filename: string; mode: string; options: Map<string, string> }
  | { op: 3; block: number; data: Buffer }
  | { op: 4; block: number }
  | { op: 5; code: number; message: string }
  | { op: 6; options: Map<string, string> };

/** Splits NUL-terminated strings; the last must be terminated. */
function strings(buf: Buffer): string[] {
  if (buf.length === 0) return [];
  if (buf[buf.length - 1] !== 0)
    throw new TftpDecodeError('TFTP_ERR_BAD_REQUEST', 'string field is not NUL-terminated');
  return buf.subarray(0, -1).toString('latin1').split('\0');
}

/** RFC 2347: option names are case-insensitive; values are kept as sent. */
function optionMap(parts: string[]): Map<string, string> {
  if (parts.length % 2 !== 0) throw new TftpDecodeError('TFTP_ERR_BAD_REQUEST', 'option without a value');
  const map = new Map<string, string>();
  for (let i = 0; i < parts.length; i += 2) map.set((parts[i] as string).toLowerCase(), parts[i + 1] as string);
  return map;
}

/** Decodes one TFTP datagram. */
export function decodeTftp(buf: Buffer): TftpPacket {
  if (buf.length < 4) throw new TftpDecodeError('TFTP_ERR_SHORT_PACKET', `${buf.length} bytes is too short for TFTP`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP.RRQ:
    case OP.WRQ: {
      const [filename, mode, ...rest] = strings(buf.subarray(2));
      if (!filename || !mode) throw new TftpDecodeError('TFTP_ERR_BAD_REQUEST', 'request without file name or mode');
      return { op, filename, mode: mode.toLowerCase(), options: optionMap(rest) };
    }
    case OP.DATA:
      return { op, block: buf.readUInt16BE(2), data: Buffer.from(buf.subarray(4)) };
    case OP.ACK:
      return { op, block: buf.readUInt16BE(2) };
    case OP.ERROR: {
      const [message = ''] = buf.length > 4 ? strings(buf.subarray(4)) : [];
      return { op, code: buf.readUInt16BE(2), message };
    }
    case OP.OACK:
      return { op, options: optionMap(strings(buf.subarray(2))) };
    default:
      throw new TftpDecodeError('TFTP_ERR_BAD_OPCODE', `opcode ${op} is not TFTP`);
  }
}

function stringsBytes(parts: readonly string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'latin1');
}

/** Encodes one TFTP datagram. */
export function encodeTftp(packet: TftpPacket): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(packet.op, 0);
  switch (packet.op) {
    case OP.RRQ:
    case OP.WRQ:
      return Buffer.concat([
        head.subarray(0, 2),
        stringsBytes([packet.filename, packet.mode, ...[...packet.options].flat()]),
      ]);
    case OP.DATA:
      head.writeUInt16BE(packet.block, 2);
      return Buffer.concat([head, packet.data]);
    case OP.ACK:
      head.writeUInt16BE(packet.block, 2);
      return head;
    case OP.ERROR:
      head.writeUInt16BE(packet.code, 2);
      return Buffer.concat([head, stringsBytes([packet.message])]);
    case OP.OACK:
      return Buffer.concat([head.subarray(0, 2), stringsBytes([...packet.options].flat())]);
  }
}
