import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { IPMI_ERRORS, IpmiError } from './errors.js';

/**
 * The cipher suites rackseed speaks (IPMI v2.0 §22.15.2 table 22-20). Suite 0 (no
 * authentication) and the MD5 suites are refused on purpose.
 */
export interface CipherSuite {
  readonly id: 3 | 17;
  /** Authentication algorithm number (§13.28): 1 RAKP-HMAC-SHA1, 3 RAKP-HMAC-SHA256. */
  readonly authAlg: number;
  /** Integrity algorithm number (§13.28.4): 1 HMAC-SHA1-96, 4 HMAC-SHA256-128. */
  readonly integrityAlg: number;
  /** Confidentiality algorithm number (§13.28.5): 1 AES-CBC-128. */
  readonly confidentialityAlg: number;
  readonly hash: 'sha1' | 'sha256';
  /** Length of RAKP 2/3 key exchange codes: the full HMAC. */
  readonly rakpCodeLength: number;
  /** Length of RAKP 4's ICV and of every packet AuthCode (§13.28.1, §13.28.4). */
  readonly icvLength: number;
}

export const CIPHER_SUITES: Readonly<Record<3 | 17, CipherSuite>> = {
  3: { id: 3, authAlg: 1, integrityAlg: 1, confidentialityAlg: 1, hash: 'sha1', rakpCodeLength: 20, icvLength: 12 },
  17: { id: 17, authAlg: 3, integrityAlg: 4, confidentialityAlg: 1, hash: 'sha256', rakpCodeLength: 32, icvLength: 16 },
};

/** The suite with this id, or a typed error naming the ones we accept. */
export function cipherSuite(id: number): CipherSuite {
  if (id === 3 || id === 17) return CIPHER_SUITES[id];
  throw new IpmiError(
    IPMI_ERRORS.cipherSuite,
    `cipher suite ${id} is not supported: use 3 (HMAC-SHA1, AES-128) or 17 (HMAC-SHA256, AES-128)`,
  );
}

/** The suite whose algorithms are these three, if any. */
export function suiteForAlgorithms(auth: number, integrity: number, confidentiality: number): CipherSuite | undefined {
  return Object.values(CIPHER_SUITES).find(
    (s) => s.authAlg === auth && s.integrityAlg === integrity && s.confidentialityAlg === confidentiality,
  );
}

export function hmac(hash: CipherSuite['hash'], key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac(hash, key);
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

/** Constant-time comparison; false when the lengths differ. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Kuid: the user password as a 20-byte key, zero padded (IPMI v2.0 §13.31). */
export function passwordKey(password: string): Uint8Array {
  const bytes = Buffer.from(password, 'latin1');
  if (bytes.length > 20)
    throw new IpmiError(IPMI_ERRORS.invalidArgument, 'an IPMI v2.0 password is at most 20 characters');
  const key = new Uint8Array(20);
  key.set(bytes);
  return key;
}

/** The session keys both ends derive from RAKP (IPMI v2.0 §13.31, §13.32). */
export interface SessionKeys {
  readonly sik: Uint8Array;
  /** Integrity key K1 = HMAC(SIK, 0x01 × 20). */
  readonly k1: Uint8Array;
  /** Confidentiality key K2 = HMAC(SIK, 0x02 × 20); AES-CBC-128 uses its first 16 bytes. */
  readonly k2: Uint8Array;
}

/** The inputs both ends share once RAKP 1 and 2 are exchanged. IDs are little endian on the wire. */
export interface RakpContext {
  readonly suite: CipherSuite;
  /** SIDm: the remote console's session ID. */
  readonly consoleSessionId: number;
  /** SIDc: the managed system's (BMC's) session ID. */
  readonly bmcSessionId: number;
  /** Rm: the console random number (16 bytes). */
  readonly consoleRandom: Uint8Array;
  /** Rc: the BMC random number (16 bytes). */
  readonly bmcRandom: Uint8Array;
  /** GUIDc: the BMC's GUID as sent in RAKP 2 (16 bytes). */
  readonly bmcGuid: Uint8Array;
  /** ROLEm: RAKP 1's requested-role byte, lookup bit included. */
  readonly role: number;
  readonly userName: string;
  /** Kuid, from {@link passwordKey}. */
  readonly userKey: Uint8Array;
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function roleAndName(ctx: RakpContext): Uint8Array {
  const name = Buffer.from(ctx.userName, 'latin1');
  return new Uint8Array([ctx.role, name.length, ...name]);
}

/** RAKP 2 key exchange code: HMAC(Kuid, SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULENGTHm | UNAMEm) — §13.31. */
export function rakp2Code(ctx: RakpContext): Uint8Array {
  return hmac(
    ctx.suite.hash,
    ctx.userKey,
    u32le(ctx.consoleSessionId),
    u32le(ctx.bmcSessionId),
    ctx.consoleRandom,
    ctx.bmcRandom,
    ctx.bmcGuid,
    roleAndName(ctx),
  );
}

/** RAKP 3 key exchange code: HMAC(Kuid, Rc | SIDm | ROLEm | ULENGTHm | UNAMEm) — §13.31. */
export function rakp3Code(ctx: RakpContext): Uint8Array {
  return hmac(ctx.suite.hash, ctx.userKey, ctx.bmcRandom, u32le(ctx.consoleSessionId), roleAndName(ctx));
}

/** SIK = HMAC(Kg, Rm | Rc | ROLEm | ULENGTHm | UNAMEm), Kg = Kuid when no BMC key is set — §13.31, §13.32. */
export function deriveKeys(ctx: RakpContext): SessionKeys {
  const sik = hmac(ctx.suite.hash, ctx.userKey, ctx.consoleRandom, ctx.bmcRandom, roleAndName(ctx));
  return {
    sik,
    k1: hmac(ctx.suite.hash, sik, new Uint8Array(20).fill(0x01)),
    k2: hmac(ctx.suite.hash, sik, new Uint8Array(20).fill(0x02)),
  };
}

/** RAKP 4 integrity check value: HMAC(SIK, Rm | SIDc | GUIDc), truncated (12 bytes SHA1, 16 SHA256) — §13.31, §13.28.1. */
export function rakp4Icv(ctx: RakpContext, keys: SessionKeys): Uint8Array {
  return hmac(ctx.suite.hash, keys.sik, ctx.consoleRandom, u32le(ctx.bmcSessionId), ctx.bmcGuid).subarray(
    0,
    ctx.suite.icvLength,
  );
}

/** A packet AuthCode: HMAC(K1, AuthType … Next Header), truncated — §13.28.4. */
export function packetAuthCode(suite: CipherSuite, keys: SessionKeys, covered: Uint8Array): Uint8Array {
  return hmac(suite.hash, keys.k1, covered).subarray(0, suite.icvLength);
}

/**
 * AES-CBC-128 payload encryption (§13.29): IV, then ciphertext of the data followed by pad
 * bytes 1, 2, 3… and the pad length, so the whole is a multiple of 16.
 */
export function encryptPayload(keys: SessionKeys, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const padLength = (16 - ((data.length + 1) % 16)) % 16;
  const plain = new Uint8Array(data.length + padLength + 1);
  plain.set(data);
  for (let i = 0; i < padLength; i++) plain[data.length + i] = i + 1;
  plain[plain.length - 1] = padLength;
  const cipher = createCipheriv('aes-128-cbc', keys.k2.subarray(0, 16), iv).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([iv, cipher.update(plain), cipher.final()]));
}

/** Inverse of {@link encryptPayload}; throws IPMI_ERR_MALFORMED on a bad size or pad. */
export function decryptPayload(keys: SessionKeys, payload: Uint8Array): Uint8Array {
  if (payload.length < 32 || payload.length % 16 !== 0) {
    throw new IpmiError(IPMI_ERRORS.malformed, `encrypted payload of ${payload.length} bytes is not IV + n×16`);
  }
  const decipher = createDecipheriv('aes-128-cbc', keys.k2.subarray(0, 16), payload.subarray(0, 16));
  decipher.setAutoPadding(false);
  const plain = new Uint8Array(Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]));
  const padLength = plain[plain.length - 1] ?? 0;
  if (padLength > 15) throw new IpmiError(IPMI_ERRORS.malformed, `confidentiality pad length ${padLength} > 15`);
  return plain.subarray(0, plain.length - 1 - padLength);
}
