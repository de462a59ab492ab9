/**
 * IPMI v2.0 over LAN, bytes ⇄ typed values: RMCP (§13.1), ASF presence ping/pong (DSP0136
 * §3.2.4), the IPMI v1.5 and v2.0/RMCP+ session wrappers (§13.6, §13.8), IPMI LAN messages
 * (§13.8 table 13-8/13-9) and the RMCP+ session setup payloads (§13.17–§13.23). Pure: every
 * decoder returns a whole value or throws {@link IpmiDecodeError}.
 */
import { IPMI_ERRORS, IpmiDecodeError } from './errors.js';

/** RMCP header, §13.1.3: version 1.0 = 0x06; class 0x06 ASF, 0x07 IPMI; seq 0xFF = no RMCP ACK. */
export const RMCP_VERSION = 0x06;
export const RMCP_CLASS_ASF = 0x06;
export const RMCP_CLASS_IPMI = 0x07;
export const RMCP_SEQ_NO_ACK = 0xff;
/** ASF IANA enterprise number 4542, DSP0136 §3.2.2. */
export const ASF_IANA = 4542;
export const ASF_TYPE_PING = 0x80;
export const ASF_TYPE_PONG = 0x40;
/** Session header auth type/format, §13.6: 0x00 none (v1.5), 0x06 RMCP+ (v2.0). */
export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCP_PLUS = 0x06;
/** RMCP+ payload types, §13.27.3. */
export const PAYLOAD = {
  ipmi: 0x00,
  openSessionRequest: 0x10,
  openSessionResponse: 0x11,
  rakp1: 0x12,
  rakp2: 0x13,
  rakp3: 0x14,
  rakp4: 0x15,
} as const;
/** Next Header byte after the integrity pad, §13.28.4. */
const NEXT_HEADER = 0x07;

/** Every packet rackseed sends or accepts on UDP 623. */
export type RmcpPacket = AsfPing | AsfPong | Ipmi15Packet | RmcpPlusPacket;

export interface AsfPing {
  kind: 'asf-ping';
  tag: number;
}

/** ASF presence pong, DSP0136 §3.2.4.3. */
export interface AsfPong {
  kind: 'asf-pong';
  tag: number;
  /** IANA of the OEM who defined `oem` (4542 when none). */
  iana: number;
  oem: number;
  /** Bit 7: IPMI supported; bits 3:0 ASF version (1 = 1.0). */
  entities: number;
  /** Bit 5: RMCP security extensions (RMCP+); bit 7: DASH. */
  interactions: number;
}

/** An IPMI v1.5 session wrapper with auth type none: only used outside a session (§13.6). */
export interface Ipmi15Packet {
  kind: 'ipmi15';
  sessionSeq: number;
  sessionId: number;
  message: Uint8Array;
}

/** An IPMI v2.0 / RMCP+ session wrapper, §13.6 table 13-8. `payload` is as on the wire (encrypted or not). */
export interface RmcpPlusPacket {
  kind: 'rmcp+';
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sessionSeq: number;
  payload: Uint8Array;
  /** The AuthCode (empty unless authenticated). */
  authCode: Uint8Array;
}

/** A decoded RMCP+ packet with the bytes its AuthCode covers (AuthType … Next Header). */
export interface DecodedRmcpPlus extends RmcpPlusPacket {
  covered: Uint8Array;
}

/** Bounds-checked little-endian reader; every overrun is IPMI_ERR_TRUNCATED. */
export class Reader {
  private offset = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get position(): number {
    return this.offset;
  }
  get remaining(): number {
    return this.bytes.length - this.offset;
  }
  private need(n: number): void {
    if (this.offset + n > this.bytes.length) {
      throw new IpmiDecodeError(
        IPMI_ERRORS.truncated,
        `${this.what}: needs ${this.offset + n} bytes, got ${this.bytes.length}`,
      );
    }
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u32be(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }
  bytesOf(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  rest(): Uint8Array {
    return this.bytesOf(this.remaining);
  }
  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }
}

/** Growable little-endian writer. */
export class Writer {
  private readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u32be(v: number): this {
    return this.u8(v >>> 24)
      .u8(v >>> 16)
      .u8(v >>> 8)
      .u8(v);
  }
  bytes(b: Uint8Array | readonly number[]): this {
    for (const x of b) this.parts.push(x & 0xff);
    return this;
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function malformed(message: string): never {
  throw new IpmiDecodeError(IPMI_ERRORS.malformed, message);
}

/**
 * Encodes a packet. An authenticated RMCP+ packet needs `sign`, which receives the covered
 * bytes (AuthType … Next Header, §13.28.4) and returns the AuthCode.
 */
export function encodePacket(packet: RmcpPacket, sign?: (covered: Uint8Array) => Uint8Array): Uint8Array {
  const w = new Writer().u8(RMCP_VERSION).u8(0).u8(RMCP_SEQ_NO_ACK);
  switch (packet.kind) {
    case 'asf-ping':
      // DSP0136 §3.2.4.2: IANA, type, tag, reserved, data length 0.
      return w.u8(RMCP_CLASS_ASF).u32be(ASF_IANA).u8(ASF_TYPE_PING).u8(packet.tag).u8(0).u8(0).done();
    case 'asf-pong':
      return w
        .u8(RMCP_CLASS_ASF)
        .u32be(ASF_IANA)
        .u8(ASF_TYPE_PONG)
        .u8(packet.tag)
        .u8(0)
        .u8(16)
        .u32be(packet.iana)
        .u32be(packet.oem)
        .u8(packet.entities)
        .u8(packet.interactions)
        .zeros(6)
        .done();
    case 'ipmi15':
      // §13.6 table 13-7 with auth type none: no AuthCode field.
      if (packet.message.length > 255) malformed('an IPMI v1.5 message is at most 255 bytes');
      return w
        .u8(RMCP_CLASS_IPMI)
        .u8(AUTH_TYPE_NONE)
        .u32(packet.sessionSeq)
        .u32(packet.sessionId)
        .u8(packet.message.length)
        .bytes(packet.message)
        .done();
    case 'rmcp+': {
      w.u8(RMCP_CLASS_IPMI);
      const start = w.length;
      // §13.6 table 13-8: payload type byte = encrypted(7) | authenticated(6) | type(5:0).
      w.u8(AUTH_TYPE_RMCP_PLUS)
        .u8((packet.encrypted ? 0x80 : 0) | (packet.authenticated ? 0x40 : 0) | (packet.payloadType & 0x3f))
        .u32(packet.sessionId)
        .u32(packet.sessionSeq)
        .u16(packet.payload.length)
        .bytes(packet.payload);
      if (!packet.authenticated) return w.done();
      if (sign === undefined) throw new TypeError('an authenticated RMCP+ packet needs a signer');
      // §13.28.4: pad with 0xFF so AuthType … Next Header is a multiple of 4 bytes.
      const padLength = (4 - ((w.length - start + 2) % 4)) % 4;
      for (let i = 0; i < padLength; i++) w.u8(0xff);
      w.u8(padLength).u8(NEXT_HEADER);
      const bytes = w.done();
      return concat(bytes, sign(bytes.subarray(start)));
    }
  }
}

/** An RMCP+ packet outside any session (session id and sequence 0, §13.6): session setup payloads. */
export function encodeSessionless(payloadType: number, payload: Uint8Array): Uint8Array {
  return encodePacket({
    kind: 'rmcp+',
    payloadType,
    encrypted: false,
    authenticated: false,
    sessionId: 0,
    sessionSeq: 0,
    payload,
    authCode: new Uint8Array(0),
  });
}

/** Decodes one UDP datagram. */
export function decodePacket(bytes: Uint8Array): RmcpPacket | DecodedRmcpPlus {
  const r = new Reader(bytes, 'RMCP packet');
  if (r.u8() !== RMCP_VERSION) malformed('not RMCP version 1.0');
  r.skip(1);
  const seq = r.u8();
  const cls = r.u8();
  if (cls === RMCP_CLASS_ASF) return decodeAsf(r);
  if ((cls & 0x80) !== 0 || seq !== RMCP_SEQ_NO_ACK) malformed('RMCP ACKs are not used by IPMI');
  if (cls !== RMCP_CLASS_IPMI) malformed(`unknown RMCP class 0x${cls.toString(16)}`);
  const start = r.position;
  const authType = r.u8();
  if (authType === AUTH_TYPE_NONE) {
    const sessionSeq = r.u32();
    const sessionId = r.u32();
    const length = r.u8();
    const message = r.bytesOf(length);
    return { kind: 'ipmi15', sessionSeq, sessionId, message };
  }
  if (authType !== AUTH_TYPE_RMCP_PLUS) malformed(`IPMI v1.5 auth type ${authType} is refused (only RMCP+)`);
  const typeByte = r.u8();
  const payloadType = typeByte & 0x3f;
  if (payloadType === 0x02) malformed('OEM explicit payloads are not supported');
  const sessionId = r.u32();
  const sessionSeq = r.u32();
  const payload = r.bytesOf(r.u16());
  const authenticated = (typeByte & 0x40) !== 0;
  let authCode: Uint8Array = new Uint8Array(0);
  let covered = bytes.subarray(start, r.position);
  if (authenticated) {
    const padLength = (4 - ((r.position - start + 2) % 4)) % 4;
    const pad = r.bytesOf(padLength);
    if (pad.some((b) => b !== 0xff)) malformed('integrity pad bytes must be 0xFF');
    if (r.u8() !== padLength) malformed('integrity pad length does not match the payload');
    if (r.u8() !== NEXT_HEADER) malformed('next header must be 0x07');
    covered = bytes.subarray(start, r.position);
    authCode = r.rest();
    if (authCode.length === 0) malformed('authenticated packet without an AuthCode');
  } else if (r.remaining !== 0) {
    malformed(`${r.remaining} bytes after an unauthenticated payload`);
  }
  return {
    kind: 'rmcp+',
    payloadType,
    encrypted: (typeByte & 0x80) !== 0,
    authenticated,
    sessionId,
    sessionSeq,
    payload,
    authCode,
    covered,
  };
}

function decodeAsf(r: Reader): AsfPing | AsfPong {
  if (r.u32be() !== ASF_IANA) malformed('ASF message with a foreign IANA number');
  const type = r.u8();
  const tag = r.u8();
  r.skip(1);
  const length = r.u8();
  const data = new Reader(r.bytesOf(length), 'ASF pong');
  if (type === ASF_TYPE_PING) return { kind: 'asf-ping', tag };
  if (type !== ASF_TYPE_PONG) malformed(`unsupported ASF message type 0x${type.toString(16)}`);
  const iana = data.u32be();
  const oem = data.u32be();
  const entities = data.u8();
  const interactions = data.u8();
  data.skip(6);
  return { kind: 'asf-pong', tag, iana, oem, entities, interactions };
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Two's complement checksum of §13.8: the bytes plus the checksum sum to 0 mod 256. */
export function checksum(bytes: Uint8Array | readonly number[]): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** Well-known addresses, §5.5: the BMC is 0x20, a remote console software ID 0x81. */
export const BMC_ADDR = 0x20;
export const CONSOLE_ADDR = 0x81;

/** An IPMI request message, §13.8 table 13-9. */
export interface IpmiRequest {
  rsAddr: number;
  netFn: number;
  rsLun: number;
  rqAddr: number;
  rqSeq: number;
  rqLun: number;
  cmd: number;
  data: Uint8Array;
}

/** An IPMI response message, §13.8 table 13-10. `netFn` is the response (odd) netFn. */
export interface IpmiResponse {
  rqAddr: number;
  netFn: number;
  rqLun: number;
  rsAddr: number;
  rqSeq: number;
  rsLun: number;
  cmd: number;
  completionCode: number;
  data: Uint8Array;
}

function encodeMessage(a: number, netFn: number, lunA: number, b: number, seq: number, lunB: number, body: Uint8Array) {
  const head = [a & 0xff, ((netFn & 0x3f) << 2) | (lunA & 3)];
  const tail = [b & 0xff, ((seq & 0x3f) << 2) | (lunB & 3), ...body];
  return Uint8Array.from([...head, checksum(head), ...tail, checksum(tail)]);
}

function decodeMessage(bytes: Uint8Array, what: string, minBody: number) {
  if (bytes.length < 5 + minBody + 1) {
    throw new IpmiDecodeError(IPMI_ERRORS.truncated, `${what}: ${bytes.length} bytes is too short`);
  }
  if (checksum(bytes.subarray(0, 2)) !== bytes[2]) {
    throw new IpmiDecodeError(IPMI_ERRORS.checksum, `${what}: header checksum mismatch`);
  }
  if (checksum(bytes.subarray(3, bytes.length - 1)) !== bytes[bytes.length - 1]) {
    throw new IpmiDecodeError(IPMI_ERRORS.checksum, `${what}: data checksum mismatch`);
  }
  const at = (i: number) => bytes[i] ?? 0;
  return {
    a: at(0),
    netFn: at(1) >> 2,
    lunA: at(1) & 3,
    b: at(3),
    seq: at(4) >> 2,
    lunB: at(4) & 3,
    body: bytes.slice(5, bytes.length - 1),
  };
}

export function encodeIpmiRequest(m: IpmiRequest): Uint8Array {
  return encodeMessage(m.rsAddr, m.netFn, m.rsLun, m.rqAddr, m.rqSeq, m.rqLun, concat(Uint8Array.of(m.cmd), m.data));
}

export function decodeIpmiRequest(bytes: Uint8Array): IpmiRequest {
  const m = decodeMessage(bytes, 'IPMI request', 1);
  return {
    rsAddr: m.a,
    netFn: m.netFn,
    rsLun: m.lunA,
    rqAddr: m.b,
    rqSeq: m.seq,
    rqLun: m.lunB,
    cmd: m.body[0] ?? 0,
    data: m.body.slice(1),
  };
}

export function encodeIpmiResponse(m: IpmiResponse): Uint8Array {
  return encodeMessage(
    m.rqAddr,
    m.netFn,
    m.rqLun,
    m.rsAddr,
    m.rqSeq,
    m.rsLun,
    concat(Uint8Array.of(m.cmd, m.completionCode), m.data),
  );
}

export function decodeIpmiResponse(bytes: Uint8Array): IpmiResponse {
  const m = decodeMessage(bytes, 'IPMI response', 2);
  return {
    rqAddr: m.a,
    netFn: m.netFn,
    rqLun: m.lunA,
    rsAddr: m.b,
    rqSeq: m.seq,
    rsLun: m.lunB,
    cmd: m.body[0] ?? 0,
    completionCode: m.body[1] ?? 0,
    data: m.body.slice(2),
  };
}

/** RMCP+ Open Session Request, §13.17. Algorithms are the numbers of §13.28. */
export interface OpenSessionRequest {
  tag: number;
  /** Requested maximum privilege (0 = highest the proposed algorithms allow). */
  maxPrivilege: number;
  consoleSessionId: number;
  authAlg: number;
  integrityAlg: number;
  confidentialityAlg: number;
}

/** RMCP+ Open Session Response, §13.18. On a non-zero status the BMC may send only the first 8 bytes. */
export interface OpenSessionResponse {
  tag: number;
  status: number;
  maxPrivilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
  authAlg: number;
  integrityAlg: number;
  confidentialityAlg: number;
}

/** RAKP Message 1, §13.20. `role` carries the name-only-lookup bit (4) and the privilege (3:0). */
export interface Rakp1 {
  tag: number;
  bmcSessionId: number;
  consoleRandom: Uint8Array;
  role: number;
  userName: string;
}

/** RAKP Message 2, §13.21. */
export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom: Uint8Array;
  bmcGuid: Uint8Array;
  keyExchangeCode: Uint8Array;
}

/** RAKP Message 3, §13.22. */
export interface Rakp3 {
  tag: number;
  status: number;
  bmcSessionId: number;
  keyExchangeCode: Uint8Array;
}

/** RAKP Message 4, §13.23. */
export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  integrityCheckValue: Uint8Array;
}

function algorithmRecord(w: Writer, type: number, alg: number): void {
  // §13.17 tables 13-17..19: payload type, 2 reserved, length 8, algorithm, 3 reserved.
  w.u8(type).u16(0).u8(8).u8(alg).zeros(3);
}

function readAlgorithmRecord(r: Reader, type: number): number {
  if (r.u8() !== type) malformed(`algorithm record of type ${type} expected`);
  r.skip(2);
  const length = r.u8();
  if (length !== 8) malformed(`algorithm record length ${length}, 8 expected`);
  const alg = r.u8() & 0x3f;
  r.skip(3);
  return alg;
}

export function encodeOpenSessionRequest(m: OpenSessionRequest): Uint8Array {
  const w = new Writer().u8(m.tag).u8(m.maxPrivilege).u16(0).u32(m.consoleSessionId);
  algorithmRecord(w, 0, m.authAlg);
  algorithmRecord(w, 1, m.integrityAlg);
  algorithmRecord(w, 2, m.confidentialityAlg);
  return w.done();
}

export function decodeOpenSessionRequest(bytes: Uint8Array): OpenSessionRequest {
  const r = new Reader(bytes, 'Open Session Request');
  const tag = r.u8();
  const maxPrivilege = r.u8() & 0x0f;
  r.skip(2);
  const consoleSessionId = r.u32();
  const authAlg = readAlgorithmRecord(r, 0);
  const integrityAlg = readAlgorithmRecord(r, 1);
  const confidentialityAlg = readAlgorithmRecord(r, 2);
  return { tag, maxPrivilege, consoleSessionId, authAlg, integrityAlg, confidentialityAlg };
}

export function encodeOpenSessionResponse(m: OpenSessionResponse): Uint8Array {
  const w = new Writer().u8(m.tag).u8(m.status).u8(m.maxPrivilege).u8(0).u32(m.consoleSessionId);
  if (m.status !== 0) return w.done();
  w.u32(m.bmcSessionId);
  algorithmRecord(w, 0, m.authAlg);
  algorithmRecord(w, 1, m.integrityAlg);
  algorithmRecord(w, 2, m.confidentialityAlg);
  return w.done();
}

export function decodeOpenSessionResponse(bytes: Uint8Array): OpenSessionResponse {
  const r = new Reader(bytes, 'Open Session Response');
  const tag = r.u8();
  const status = r.u8();
  const maxPrivilege = r.u8() & 0x0f;
  r.skip(1);
  const consoleSessionId = r.u32();
  if (status !== 0) {
    return {
      tag,
      status,
      maxPrivilege,
      consoleSessionId,
      bmcSessionId: 0,
      authAlg: 0,
      integrityAlg: 0,
      confidentialityAlg: 0,
    };
  }
  const bmcSessionId = r.u32();
  const authAlg = readAlgorithmRecord(r, 0);
  const integrityAlg = readAlgorithmRecord(r, 1);
  const confidentialityAlg = readAlgorithmRecord(r, 2);
  return { tag, status, maxPrivilege, consoleSessionId, bmcSessionId, authAlg, integrityAlg, confidentialityAlg };
}

export function encodeRakp1(m: Rakp1): Uint8Array {
  const name = Buffer.from(m.userName, 'latin1');
  if (name.length > 16) throw new IpmiDecodeError(IPMI_ERRORS.malformed, 'an IPMI user name is at most 16 bytes');
  if (m.consoleRandom.length !== 16) throw new IpmiDecodeError(IPMI_ERRORS.malformed, 'Rm must be 16 bytes');
  return new Writer()
    .u8(m.tag)
    .zeros(3)
    .u32(m.bmcSessionId)
    .bytes(m.consoleRandom)
    .u8(m.role)
    .u16(0)
    .u8(name.length)
    .bytes(name)
    .done();
}

export function decodeRakp1(bytes: Uint8Array): Rakp1 {
  const r = new Reader(bytes, 'RAKP 1');
  const tag = r.u8();
  r.skip(3);
  const bmcSessionId = r.u32();
  const consoleRandom = r.bytesOf(16);
  const role = r.u8();
  r.skip(2);
  const length = r.u8();
  if (length > 16) malformed(`RAKP 1 user name length ${length} > 16`);
  const userName = Buffer.from(r.bytesOf(length)).toString('latin1');
  return { tag, bmcSessionId, consoleRandom, role, userName };
}

export function encodeRakp2(m: Rakp2): Uint8Array {
  const w = new Writer().u8(m.tag).u8(m.status).u16(0).u32(m.consoleSessionId);
  if (m.status !== 0) return w.done();
  return w.bytes(m.bmcRandom).bytes(m.bmcGuid).bytes(m.keyExchangeCode).done();
}

export function decodeRakp2(bytes: Uint8Array): Rakp2 {
  const r = new Reader(bytes, 'RAKP 2');
  const tag = r.u8();
  const status = r.u8();
  r.skip(2);
  const consoleSessionId = r.u32();
  if (status !== 0) {
    const empty = new Uint8Array(0);
    return { tag, status, consoleSessionId, bmcRandom: empty, bmcGuid: empty, keyExchangeCode: empty };
  }
  return { tag, status, consoleSessionId, bmcRandom: r.bytesOf(16), bmcGuid: r.bytesOf(16), keyExchangeCode: r.rest() };
}

export function encodeRakp3(m: Rakp3): Uint8Array {
  return new Writer().u8(m.tag).u8(m.status).u16(0).u32(m.bmcSessionId).bytes(m.keyExchangeCode).done();
}

export function decodeRakp3(bytes: Uint8Array): Rakp3 {
  const r = new Reader(bytes, 'RAKP 3');
  const tag = r.u8();
  const status = r.u8();
  r.skip(2);
  return { tag, status, bmcSessionId: r.u32(), keyExchangeCode: r.rest() };
}

export function encodeRakp4(m: Rakp4): Uint8Array {
  return new Writer().u8(m.tag).u8(m.status).u16(0).u32(m.consoleSessionId).bytes(m.integrityCheckValue).done();
}

export function decodeRakp4(bytes: Uint8Array): Rakp4 {
  const r = new Reader(bytes, 'RAKP 4');
  const tag = r.u8();
  const status = r.u8();
  r.skip(2);
  return { tag, status, consoleSessionId: r.u32(), integrityCheckValue: r.rest() };
}
