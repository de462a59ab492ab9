/**
 * Keystone's credential encryption at rest: a credential's blob (an EC2 secret key, a TOTP
 * seed…) is kept in the cloud database sealed with the cloud's credential key (AES-256-GCM,
 * the credential's id as associated data, so a sealed blob moved to another row does not open),
 * and shown in clear through the API only. The key is not in the database: one machine keeps it
 * in its data directory, a cluster's nodes derive it from the cluster key (the agent writes it
 * for the API, mode 0600). A database file or backup alone holds no usable secret.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { RackseedError } from '../../../agent/errors/index.js';
import type { CloudDb, Credential } from '../../db/index.js';

/** A stored blob sealed by this module starts so (then base64 of nonce, ciphertext and tag). */
const SEALED = 'rackseed-sealed:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed blob that does not open with the cloud's key (another cloud's key, or altered). */
export class CredentialSealError extends RackseedError {
  constructor(id: string) {
    super(
      'API_ERR_CREDENTIAL_SEALED',
      `credential ${id} does not open with this cloud's credential key: the key changed, or the row was altered`,
    );
  }
}

/** The 32-byte key from its file's contents (64 hex characters). */
export function credentialKeyFrom(text: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new RangeError('a credential key is 64 hex characters (32 bytes)');
  return Buffer.from(hex, 'hex');
}

export function sealBlob(key: Buffer, id: string, blob: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(id));
  const sealed = Buffer.concat([cipher.update(blob, 'utf8'), cipher.final()]);
  return SEALED + Buffer.concat([nonce, sealed, cipher.getAuthTag()]).toString('base64');
}

export function openBlob(key: Buffer, id: string, stored: string): string {
  if (!stored.startsWith(SEALED)) throw new CredentialSealError(id);
  const raw = Buffer.from(stored.slice(SEALED.length), 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new CredentialSealError(id);
  }
}

/** The credentials group as the API uses it: blobs in clear here, sealed in the database. */
export function sealedCredentials(store: CloudDb['credentials'], key: Buffer): CloudDb['credentials'] {
  const open = (c: Credential): Credential => ({ ...c, blob: openBlob(key, c.id, c.blob) });
  return {
    create: async (c) => open(await store.create({ ...c, blob: sealBlob(key, c.id, c.blob) })),
    get: async (id) => {
      const found = await store.get(id);
      return found ? open(found) : null;
    },
    list: async (filter) => (await store.list(filter)).map(open),
    update: async (id, patch) =>
      open(
        await store.update(id, patch.blob === undefined ? patch : { ...patch, blob: sealBlob(key, id, patch.blob) }),
      ),
    delete: (id) => store.delete(id),
  };
}

/** Seals the blobs stored in clear (written before rackseed sealed them); how many. Run at start. */
export async function sealStoredCredentials(db: CloudDb, key: Buffer): Promise<number> {
  let sealed = 0;
  for (const c of await db.credentials.list({})) {
    if (c.blob.startsWith(SEALED)) continue;
    await db.credentials.update(c.id, { blob: sealBlob(key, c.id, c.blob) });
    sealed++;
  }
  return sealed;
}
