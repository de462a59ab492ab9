import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { RackseedError } from './errors/index.js';

/**
 * Secrets kept in etcd (BMC passwords) are sealed with the cluster key: AES-256-GCM, a random
 * 96-bit nonce per record, and the record's etcd key as associated data, so a sealed value
 * copied to another key does not open. The cluster key is never in etcd: every agent is
 * given it as a file (`--cluster-key-file`).
 */

/** The cluster key file is missing or does not hold 32 bytes (raw, hex or base64). */
export class ClusterKeyError extends RackseedError {
  constructor(what: string, cause?: unknown) {
    super(
      'SECRET_ERR_BAD_KEY',
      `the cluster key ${what}; it must hold 32 random bytes, raw or as hex or base64 text (openssl rand -hex 32)`,
      { cause },
    );
  }
}

/** A sealed value did not open: another cluster key sealed it, or it was altered or moved to another key. */
export class SealedValueError extends RackseedError {
  constructor(etcdKey: string, cause?: unknown) {
    super(
      'SECRET_ERR_UNSEAL_FAILED',
      `the sealed value at ${etcdKey} does not open with this cluster key: give every agent the same --cluster-key-file, or write the record again`,
      { cause },
    );
  }
}

/** What a sealed record looks like in etcd. */
interface SealedValue {
  readonly v: 1;
  readonly alg: 'aes-256-gcm';
  readonly nonce: string;
  readonly data: string;
  readonly tag: string;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12; // NIST SP 800-38D §8.2.2: a random 96-bit IV

/** Parses a cluster key: 32 raw bytes, or 64 hex digits, or base64 of 32 bytes. */
export function parseClusterKey(content: Buffer): Buffer {
  const text = content.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length === KEY_BYTES) return decoded;
  }
  if (content.length === KEY_BYTES) return Buffer.from(content);
  throw new ClusterKeyError(`holds ${content.length} bytes that are neither raw, hex nor base64 of 32 bytes`);
}

/** Reads the cluster key file. */
export function readClusterKey(file: string): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    throw new ClusterKeyError(`file ${file} cannot be read (${(error as NodeJS.ErrnoException).code})`, error);
  }
  return parseClusterKey(content);
}

/** Seals `value` (as JSON) for the etcd key `etcdKey`; returns the string to store there. */
export function sealRecord(clusterKey: Buffer, etcdKey: string, value: unknown): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', clusterKey, nonce);
  cipher.setAAD(Buffer.from(etcdKey, 'utf8'));
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const sealed: SealedValue = {
    v: 1,
    alg: 'aes-256-gcm',
    nonce: nonce.toString('base64'),
    data: data.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
  return JSON.stringify(sealed);
}

/** Opens a value sealed by {@link sealRecord} for `etcdKey`; throws {@link SealedValueError} if it does not open. */
export function openRecord<T>(clusterKey: Buffer, etcdKey: string, stored: string): T {
  try {
    const sealed = JSON.parse(stored) as SealedValue;
    if (sealed.v !== 1 || sealed.alg !== 'aes-256-gcm') throw new Error(`unknown format ${sealed.v}/${sealed.alg}`);
    const decipher = createDecipheriv('aes-256-gcm', clusterKey, Buffer.from(sealed.nonce, 'base64'), {
      authTagLength: 16, // refuse truncated tags
    });
    decipher.setAAD(Buffer.from(etcdKey, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as T;
  } catch (error) {
    throw new SealedValueError(etcdKey, error);
  }
}

/**
 * A secret the cluster's own services share, derived from the cluster key for one purpose
 * (HMAC-SHA256 of the purpose's name): every node can make it, nothing stores it in etcd, and
 * one purpose's secret tells nothing of another's or of the key. 64 hex characters.
 */
export function derivedSecret(clusterKey: Buffer, purpose: 'api-credential-key'): string {
  return createHmac('sha256', clusterKey).update(`rackseed/${purpose}/v1`).digest('hex');
}

/**
 * Writes the purpose's derived secret to `file` (mode 0600, a line of hex), for a service the
 * agent starts that must not hold the cluster key itself (the API's credential key); `file`.
 */
export function writeDerivedSecret(clusterKey: Buffer, purpose: 'api-credential-key', file: string): string {
  writeFileSync(file, `${derivedSecret(clusterKey, purpose)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
