import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RadosCluster, RadosError, type RadosPool } from '../rados/index.js';
import { DB_ERRORS, DbError } from './errors.js';

/** Where the cloud's blobs (image bytes, backups) live: a RADOS pool namespace, or a directory. */
export type BlobLocation =
  | { kind: 'ceph'; conf: string; keyring?: string; clientName?: string; pool: string; namespace: string }
  | { kind: 'local'; dir: string };

/** Named byte blobs; the same interface on Ceph and, in the embedded default, on a directory. */
export interface BlobStore {
  put(name: string, data: Buffer): Promise<void>;
  /** Streams `source` into the blob (replacing it). */
  putStream(name: string, source: Readable): Promise<void>;
  get(name: string): Promise<Buffer>;
  /** Streams the blob, or its inclusive byte range [start, end]. */
  getStream(name: string, range?: { start: number; end: number }): Promise<Readable>;
  size(name: string): Promise<number>;
  remove(name: string): Promise<void>;
  list(): Promise<string[]>;
  close(): Promise<void>;
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) {
    throw new DbError(DB_ERRORS.BAD_REQUEST, `bad blob name ${JSON.stringify(name)}: use [A-Za-z0-9._-]`);
  }
  return name;
}

function notFound(name: string, error: unknown): never {
  const missing =
    (error instanceof RadosError && error.code === 'RADOS_ERR_NOT_FOUND') ||
    (error as { code?: unknown })?.code === 'ENOENT';
  if (missing) throw new DbError(DB_ERRORS.BLOB_NOT_FOUND, `no blob named ${name}`, { cause: error });
  throw error;
}

/** Opens the blob store at `location`. */
export async function openBlobStore(location: BlobLocation): Promise<BlobStore> {
  if (location.kind === 'local') return directoryStore(location.dir);
  const cluster = await RadosCluster.connect({
    conf: location.conf,
    ...(location.keyring ? { keyring: location.keyring } : {}),
    ...(location.clientName ? { clientName: location.clientName } : {}),
  });
  try {
    return radosStore(cluster, await cluster.openPool(location.pool, { namespace: location.namespace }));
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

function radosStore(cluster: RadosCluster, pool: RadosPool): BlobStore {
  return {
    // async: a bad name rejects the promise instead of throwing at the call.
    put: async (name, data) => pool.writeFull(checkName(name), data),
    putStream: async (name, source) => pipeline(source, pool.createWriteStream(checkName(name))),
    get: async (name) => pool.read(checkName(name)).catch((e: unknown) => notFound(name, e)),
    getStream: async (name, range) => {
      await pool.stat(checkName(name)).catch((e: unknown) => notFound(name, e));
      return pool.createReadStream(name, range ?? {});
    },
    size: async (name) => (await pool.stat(checkName(name)).catch((e: unknown) => notFound(name, e))).size,
    remove: async (name) => pool.remove(checkName(name)).catch((e: unknown) => notFound(name, e)),
    list: async () => (await pool.list()).map((o) => o.oid).sort(),
    close: async () => {
      await pool.close();
      await cluster.close();
    },
  };
}

function directoryStore(dir: string): BlobStore {
  const ready = mkdir(dir, { recursive: true });
  const path = (name: string) => join(dir, checkName(name));
  // Written beside, then renamed: a reader never sees half a blob, a crash leaves none.
  const staged = async (name: string, write: (file: string) => Promise<void>) => {
    await ready;
    const file = `${path(name)}.partial`;
    await write(file);
    await rename(file, path(name));
  };
  return {
    put: (name, data) => staged(name, (file) => writeFile(file, data)),
    putStream: (name, source) => staged(name, (file) => pipeline(source, createWriteStream(file))),
    get: async (name) => readFile(path(name)).catch((e: unknown) => notFound(name, e)),
    getStream: async (name, range) => {
      await stat(path(name)).catch((e: unknown) => notFound(name, e));
      return createReadStream(path(name), range);
    },
    size: async (name) => (await stat(path(name)).catch((e: unknown) => notFound(name, e))).size,
    remove: async (name) => rm(path(name)).catch((e: unknown) => notFound(name, e)),
    list: async () => {
      await ready;
      return (await readdir(dir)).filter((f) => !f.endsWith('.partial')).sort();
    },
    close: async () => {},
  };
}
