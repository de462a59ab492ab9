import { randomBytes, randomUUID } from 'node:crypto';
import { type CephIdentity, keys } from '../keys.js';
import { openRecord, sealRecord } from '../sealed.js';
import type { Store } from '../store/store.js';

/** A time as Ceph's utime_t holds it (src/include/utime.h): whole seconds and nanoseconds. */
export interface Utime {
  readonly sec: number;
  readonly nsec: number;
}

function utimeNow(): Utime {
  const now = Date.now();
  return { sec: Math.floor(now / 1000), nsec: (now % 1000) * 1_000_000 };
}

/**
 * A cephx secret as `ceph-authtool --gen-print-key` prints it: base64 of the encoded
 * CryptoKey (src/auth/Crypto.cc `CryptoKey::encode`): u16 type (1 = CEPH_CRYPTO_AES),
 * utime_t created (u32 seconds, u32 nanoseconds), u16 length, then the 16 secret bytes, all
 * little-endian.
 */
export function cephxKey(secret: Buffer = randomBytes(16), created: Utime = utimeNow()): string {
  if (secret.length !== 16) throw new RangeError(`a cephx secret is 16 bytes, not ${secret.length}`);
  const header = Buffer.alloc(12);
  header.writeUInt16LE(1, 0);
  header.writeUInt32LE(created.sec, 2);
  header.writeUInt32LE(created.nsec, 6);
  header.writeUInt16LE(secret.length, 10);
  return Buffer.concat([header, secret]).toString('base64');
}

/** A new identity: fsid (random unless given) and the three keys a cluster starts from. */
export function newCephIdentity(fsid: string = randomUUID()): CephIdentity {
  return { fsid, monKey: cephxKey(), adminKey: cephxKey(), bootstrapOsdKey: cephxKey() };
}

/** Opens the cluster's Ceph identity, or undefined if none was made yet. */
export function openCephIdentity(clusterKey: Buffer, stored: string | undefined): CephIdentity | undefined {
  return stored === undefined ? undefined : openRecord<CephIdentity>(clusterKey, keys.cephIdentity, stored);
}

/**
 * Returns the cluster's Ceph identity, making it first if there is none (with `fsid` if
 * given: the seed's): the new one is written only if the key is still absent (an etcd
 * transaction), so of two agents racing, one wins and both return its identity.
 */
export async function ensureCephIdentity(store: Store, clusterKey: Buffer, fsid?: string): Promise<CephIdentity> {
  const existing = openCephIdentity(clusterKey, (await store.get(keys.cephIdentity))?.value);
  if (existing) return existing;
  const made = newCephIdentity(fsid);
  const sealed = sealRecord(clusterKey, keys.cephIdentity, made);
  if (
    await store.txn(
      [{ key: keys.cephIdentity, target: 'create', value: 0 }],
      [{ put: keys.cephIdentity, value: sealed }],
    )
  )
    return made;
  const winner = openCephIdentity(clusterKey, (await store.get(keys.cephIdentity))?.value);
  if (!winner) throw new Error('the Ceph identity vanished right after another agent wrote it');
  return winner;
}
