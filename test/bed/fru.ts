/**
 * Builds an IPMI FRU image (Platform Management FRU Information Storage Definition v1.0) with
 * a chassis, a board and a product area, for the lab BMCs. Each string is a type/length byte
 * `0xC0 | length` (8-bit ASCII, §13.1) followed by its bytes; each area is padded to a multiple
 * of 8 bytes and ends with a zero-sum checksum (§16.2, §10–11).
 */
export interface FruContents {
  chassisType: number;
  chassisPartNumber: string;
  chassisSerial: string;
  /** Minutes since 1996-01-01 00:00 UTC (§11, board mfg date/time). */
  boardMfgMinutes: number;
  boardManufacturer: string;
  boardProductName: string;
  boardSerial: string;
  boardPartNumber: string;
  productManufacturer: string;
  productName: string;
  productPartNumber: string;
  productVersion: string;
  productSerial: string;
  productAssetTag: string;
}

function field(text: string): number[] {
  const bytes = [...Buffer.from(text, 'latin1')];
  if (bytes.length > 63) throw new Error(`FRU field too long: ${text}`);
  return [0xc0 | bytes.length, ...bytes];
}

function zeroSum(bytes: readonly number[]): number {
  return (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
}

/** Closes an area: end marker 0xC1, pad to a multiple of 8 with the checksum last, fill in the length. */
function area(head: number[], fields: number[]): number[] {
  const body = [...head, ...fields, 0xc1];
  while ((body.length + 1) % 8 !== 0) body.push(0);
  body[1] = (body.length + 1) / 8; // area length in multiples of 8 bytes
  return [...body, zeroSum(body)];
}

/** The FRU image, padded with zeros to `size` bytes. */
export function buildFru(c: FruContents, size = 256): Buffer {
  const chassis = area([0x01, 0, c.chassisType], [...field(c.chassisPartNumber), ...field(c.chassisSerial)]);
  const minutes = [c.boardMfgMinutes & 0xff, (c.boardMfgMinutes >> 8) & 0xff, (c.boardMfgMinutes >> 16) & 0xff];
  const board = area(
    [0x01, 0, 0x00, ...minutes],
    [
      ...field(c.boardManufacturer),
      ...field(c.boardProductName),
      ...field(c.boardSerial),
      ...field(c.boardPartNumber),
      ...field(''),
    ],
  );
  const product = area(
    [0x01, 0, 0x00],
    [
      ...field(c.productManufacturer),
      ...field(c.productName),
      ...field(c.productPartNumber),
      ...field(c.productVersion),
      ...field(c.productSerial),
      ...field(c.productAssetTag),
      ...field(''),
    ],
  );
  const chassisOffset = 1; // in multiples of 8 bytes, right after the 8-byte common header
  const boardOffset = chassisOffset + chassis.length / 8;
  const productOffset = boardOffset + board.length / 8;
  const header = [0x01, 0, chassisOffset, boardOffset, productOffset, 0, 0];
  const image = [...header, zeroSum(header), ...chassis, ...board, ...product];
  if (image.length > size) throw new Error(`FRU image of ${image.length} bytes exceeds ${size}`);
  return Buffer.concat([Buffer.from(image), Buffer.alloc(size - image.length)]);
}
