import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RackseedError } from '../../agent/errors/index.js';

export interface BlobStat {
  size: number;
}

/** Bytes by key. Keys are ids the caller made (UUIDs); values are written whole or not at all. */
export interface BlobStore {
  /** Stores the stream under `key`, replacing what was there only once all of it arrived. */
  put(key: string, data: Readable): Promise<BlobStat>;
  /** Streams the bytes of `key`, or of the inclusive byte range [start, end]. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  delete(key: string): Promise<void>;
  /** The blob's size, or null when there is none. */
  stat(key: string): Promise<BlobStat | null>;
}

class BlobKeyError extends RackseedError {
  constructor(key: string) {
    super('BLOB_ERR_BAD_KEY', `blob key ${JSON.stringify(key)} is not a plain name`);
  }
}

/** A BlobStore on a local directory: one file per key, written to a temporary name then renamed. */
export class LocalBlobStore implements BlobStore {
  constructor(private readonly dir: string) {}

  #path(key: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(key) || key.startsWith('.')) throw new BlobKeyError(key);
    return join(this.dir, key);
  }

  async put(key: string, data: Readable): Promise<BlobStat> {
    const path = this.#path(key);
    await mkdir(this.dir, { recursive: true });
    const partial = `${path}.partial-${process.pid}-${Date.now()}`;
    try {
      await pipeline(data, createWriteStream(partial, { flags: 'wx' }));
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return { size: (await stat(path)).size };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.#path(key);
    await stat(path);
    return createReadStream(path, range);
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async stat(key: string): Promise<BlobStat | null> {
    try {
      return { size: (await stat(this.#path(key))).size };
    } catch {
      return null;
    }
  }
}
