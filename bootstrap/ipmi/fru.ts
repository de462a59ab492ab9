/**
 * FRU inventory images, "IPMI Platform Management FRU Information Storage Definition" v1.0:
 * the common header (§8), board info area (§11), product info area (§12) and type/length
 * encoded fields (§13). Pure.
 */
import { IPMI_ERRORS, IpmiDecodeError } from './errors.js';
import { checksum } from './codec.js';

export interface FruBoard {
  /** Minutes since 1996-01-01 00:00 UTC (§11), as an ISO date; undefined when unspecified (0). */
  manufacturedAt?: string;
  manufacturer: string;
  product: string;
  serial: string;
  partNumber: string;
}

export interface FruProduct {
  manufacturer: string;
  name: string;
  partNumber: string;
  version: string;
  serial: string;
  assetTag: string;
}

export interface FruInventory {
  board?: FruBoard;
  product?: FruProduct;
}

function fail(
  code: typeof IPMI_ERRORS.truncated | typeof IPMI_ERRORS.malformed | typeof IPMI_ERRORS.checksum,
  m: string,
): never {
  throw new IpmiDecodeError(code, `FRU: ${m}`);
}

const FRU_EPOCH_MS = Date.UTC(1996, 0, 1);
const END_OF_FIELDS = 0xc1;

/** Decodes one type/length field (§13.1) at `offset`; returns the text and the next offset. */
function readField(bytes: Uint8Array, offset: number): { text: string; next: number } | undefined {
  const tl = bytes[offset];
  if (tl === undefined) fail(IPMI_ERRORS.truncated, 'area ends inside its fields');
  if (tl === END_OF_FIELDS) return undefined;
  const length = tl & 0x3f;
  if (offset + 1 + length > bytes.length) fail(IPMI_ERRORS.truncated, 'a field runs past its area');
  const raw = bytes.subarray(offset + 1, offset + 1 + length);
  let text: string;
  switch (tl >> 6) {
    case 0: // binary
      text = Buffer.from(raw).toString('hex');
      break;
    case 1: // BCD plus: 0-9, space, dash, period
      text = [...raw]
        .flatMap((b) => [b >> 4, b & 0x0f])
        .map((d) => '0123456789 -.???'[d] ?? '?')
        .join('');
      break;
    case 2: {
      // 6-bit ASCII packed, least significant bits first: 4 characters in 3 bytes
      const chars: string[] = [];
      for (let c = 0; c < Math.floor((raw.length * 4) / 3); c++) {
        const bit = c * 6;
        const pair = (raw[bit >> 3] ?? 0) | ((raw[(bit >> 3) + 1] ?? 0) << 8);
        chars.push(String.fromCharCode(((pair >> (bit & 7)) & 0x3f) + 0x20));
      }
      text = chars.join('');
      break;
    }
    default: // 8-bit ASCII + Latin-1 (English)
      text = Buffer.from(raw).toString('latin1');
  }
  return { text: text.trimEnd(), next: offset + 1 + length };
}

function readArea(image: Uint8Array, offset8: number, what: string): { bytes: Uint8Array; fields: string[] } {
  const start = offset8 * 8;
  if (start + 2 > image.length) fail(IPMI_ERRORS.truncated, `${what} area starts past the image`);
  const length = (image[start + 1] ?? 0) * 8;
  if (length < 8 || start + length > image.length) fail(IPMI_ERRORS.truncated, `${what} area length ${length}`);
  const bytes = image.subarray(start, start + length);
  if (checksum(bytes.subarray(0, length - 1)) !== bytes[length - 1])
    fail(IPMI_ERRORS.checksum, `${what} area checksum`);
  if (bytes[0] !== 1) fail(IPMI_ERRORS.malformed, `${what} area format version ${bytes[0]}`);
  const first = what === 'board' ? 6 : 3;
  const fields: string[] = [];
  for (let at = first; ;) {
    const field = readField(bytes, at);
    if (field === undefined) break;
    fields.push(field.text);
    at = field.next;
  }
  return { bytes, fields };
}

/** Decodes a FRU image's board and product areas (other areas are ignored). */
export function decodeFru(image: Uint8Array): FruInventory {
  if (image.length < 8) fail(IPMI_ERRORS.truncated, 'common header is 8 bytes');
  if (checksum(image.subarray(0, 7)) !== image[7]) fail(IPMI_ERRORS.checksum, 'common header checksum');
  if (((image[0] ?? 0) & 0x0f) !== 1) fail(IPMI_ERRORS.malformed, 'common header format version');
  const out: FruInventory = {};
  const boardAt = image[3] ?? 0;
  const productAt = image[4] ?? 0;
  if (boardAt !== 0) {
    const { bytes, fields } = readArea(image, boardAt, 'board');
    const minutes = (bytes[3] ?? 0) | ((bytes[4] ?? 0) << 8) | ((bytes[5] ?? 0) << 16);
    const [manufacturer = '', product = '', serial = '', partNumber = ''] = fields;
    out.board = { manufacturer, product, serial, partNumber };
    if (minutes !== 0) out.board.manufacturedAt = new Date(FRU_EPOCH_MS + minutes * 60_000).toISOString();
  }
  if (productAt !== 0) {
    const { fields } = readArea(image, productAt, 'product');
    const [manufacturer = '', name = '', partNumber = '', version = '', serial = '', assetTag = ''] = fields;
    out.product = { manufacturer, name, partNumber, version, serial, assetTag };
  }
  return out;
}

function area(prefix: number[], fields: string[]): number[] {
  const body = [1, 0, ...prefix];
  for (const f of fields) {
    // A one-byte 8-bit field would have type/length 0xC1, the end marker (§13.1): pad it.
    const b = Buffer.from(f.length === 1 ? `${f} ` : f, 'latin1');
    if (b.length > 63) throw new IpmiDecodeError(IPMI_ERRORS.malformed, 'FRU: a field is at most 63 bytes');
    body.push(0xc0 | b.length, ...b);
  }
  body.push(END_OF_FIELDS);
  while ((body.length + 1) % 8 !== 0) body.push(0);
  body[1] = (body.length + 1) / 8;
  body.push(checksum(body));
  return body;
}

/** Encodes a FRU image with a board and a product area, 8-bit ASCII fields (the simulator's FRU). */
export function encodeFru(inv: Required<FruInventory>): Uint8Array {
  const minutes = inv.board.manufacturedAt
    ? Math.round((Date.parse(inv.board.manufacturedAt) - FRU_EPOCH_MS) / 60_000)
    : 0;
  const b = inv.board;
  const p = inv.product;
  const board = area(
    [0x19, minutes & 0xff, (minutes >> 8) & 0xff, (minutes >> 16) & 0xff],
    [b.manufacturer, b.product, b.serial, b.partNumber, ''],
  );
  const product = area([0x19], [p.manufacturer, p.name, p.partNumber, p.version, p.serial, p.assetTag, '']);
  const header = [1, 0, 0, 1, 1 + board.length / 8, 0, 0];
  header.push(checksum(header));
  return Uint8Array.from([...header, ...board, ...product]);
}
