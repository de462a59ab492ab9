import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clusterBlobStore } from '../../appliance/blobs/index.js';
import { type BlobStore, openBlobStore } from '../../appliance/dbmaster/index.js';

const PIECE = 1000;

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A stream of `bytes` in uneven chunks, so that pieces never line up with them. */
const chunked = (bytes: Buffer) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / 333) }, (_, i) => bytes.subarray(i * 333, i * 333 + 333)),
  );

// The named blob store on a local directory stands in for RADOS here (same interface); the
// Ceph side is in test/integration/blobs.test.ts.
describe('image bytes in pieces under a manifest (the cluster blob store)', () => {
  let dir: string;
  let named: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackseed-pieces-'));
    named = await openBlobStore({ kind: 'local', dir });
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('stores a blob as pieces and reads it whole and by ranges across pieces', async () => {
    const store = clusterBlobStore(named, { pieceBytes: PIECE });
    const bytes = randomBytes(3 * PIECE + 17);
    expect(await store.put('img', chunked(bytes))).toEqual({ size: bytes.length });
    expect((await named.list()).filter((n) => n !== 'img')).toHaveLength(4);
    expect(await store.stat('img')).toEqual({ size: bytes.length });
    expect((await read(await store.get('img'))).equals(bytes)).toBe(true);
    for (const [start, end] of [
      [0, 0],
      [999, 1000],
      [10, 2999],
      [2500, bytes.length - 1],
      [3000, 99_999],
    ] as const) {
      const part = await read(await store.get('img', { start, end }));
      expect(part.equals(bytes.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
  });

  it('replaces a blob whole and leaves no piece of the old one', async () => {
    const store = clusterBlobStore(named, { pieceBytes: PIECE });
    await store.put('img', chunked(randomBytes(5 * PIECE)));
    const second = randomBytes(PIECE + 1);
    await store.put('img', chunked(second));
    expect((await read(await store.get('img'))).equals(second)).toBe(true);
    expect(await named.list()).toHaveLength(1 + 2);
  });

  it('keeps the old bytes and leaves nothing behind when an upload fails', async () => {
    const store = clusterBlobStore(named, { pieceBytes: PIECE });
    const first = randomBytes(1500);
    await store.put('img', chunked(first));
    const before = await named.list();
    const failing = Readable.from(
      (async function* () {
        yield randomBytes(2500);
        throw new Error('client went away');
      })(),
    );
    await expect(store.put('img', failing)).rejects.toThrow('client went away');
    expect(await named.list()).toEqual(before);
    expect((await read(await store.get('img'))).equals(first)).toBe(true);
  });

  it('answers null for a missing blob, deletes every piece, and stores an empty one', async () => {
    const store = clusterBlobStore(named, { pieceBytes: PIECE });
    expect(await store.stat('nothing')).toBeNull();
    await expect(store.get('nothing')).rejects.toMatchObject({ code: 'DB_ERR_BLOB_NOT_FOUND' });
    await store.put('img', chunked(randomBytes(2 * PIECE)));
    await store.delete('img');
    await store.delete('img');
    expect(await named.list()).toEqual([]);
    await store.put('empty', Readable.from([]));
    expect(await store.stat('empty')).toEqual({ size: 0 });
    expect((await read(await store.get('empty'))).length).toBe(0);
  });
});
