import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterBlobStore } from '../../appliance/blobs/index.js';
import { type BlobLocation, openBlobStore } from '../../appliance/dbmaster/index.js';
import { type CephCluster, startCeph } from '../bed/index.js';

let ceph: CephCluster;
let dir: string;

beforeAll(async () => {
  ceph = await startCeph();
  dir = await mkdtemp(join(tmpdir(), 'rackseed-blobs-'));
});

afterAll(async () => {
  await ceph?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const locations: [string, () => BlobLocation][] = [
  ['on Ceph', () => ({ kind: 'ceph', conf: ceph.conf, pool: ceph.pool, namespace: 'blobs' })],
  ['in a local directory (embedded default)', () => ({ kind: 'local', dir: join(dir, 'blobs') })],
];

describe.each(locations)('blob store %s', (_label, location) => {
  it('puts, streams, lists, sizes and removes blobs, with typed errors', async () => {
    const store = await openBlobStore(location());
    try {
      await store.put('small', Buffer.from('hello'));
      expect((await store.get('small')).toString()).toBe('hello');
      const big = randomBytes(9 * 1024 * 1024 + 17); // more than two 4 MiB stream pieces
      await store.putStream('image-1', Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
      expect(await store.size('image-1')).toBe(big.length);
      const hash = createHash('sha256');
      for await (const chunk of await store.getStream('image-1')) hash.update(chunk as Buffer);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
      expect(await store.list()).toEqual(['image-1', 'small']);
      await store.remove('small');
      expect(await store.list()).toEqual(['image-1']);
      await expect(store.get('small')).rejects.toMatchObject({ code: 'DB_ERR_BLOB_NOT_FOUND' });
      await expect(store.remove('small')).rejects.toMatchObject({ code: 'DB_ERR_BLOB_NOT_FOUND' });
      await expect(store.put('../escape', Buffer.alloc(1))).rejects.toMatchObject({ code: 'DB_ERR_BAD_REQUEST' });
    } finally {
      await store.close();
    }
  });
});

it('a local blob is written beside and renamed, so no partial file remains', async () => {
  const store = await openBlobStore({ kind: 'local', dir: join(dir, 'atomic') });
  await store.put('a', Buffer.from('x'));
  expect(await readdir(join(dir, 'atomic'))).toEqual(['a']);
});

it('image bytes on Ceph: pieces under a manifest, read whole and by a range across pieces', async () => {
  const named = await openBlobStore({ kind: 'ceph', conf: ceph.conf, pool: ceph.pool, namespace: 'images' });
  try {
    const store = clusterBlobStore(named, { pieceBytes: 1024 * 1024 });
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    await store.put('image-a', Readable.from([bytes.subarray(0, 70_000), bytes.subarray(70_000)]));
    expect(await named.list()).toHaveLength(1 + 4);
    const read = async (stream: Readable) => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    expect((await read(await store.get('image-a'))).equals(bytes)).toBe(true);
    const [start, end] = [1024 * 1024 - 10, 2 * 1024 * 1024 + 10];
    expect((await read(await store.get('image-a', { start, end }))).equals(bytes.subarray(start, end + 1))).toBe(true);
    await store.delete('image-a');
    expect(await named.list()).toEqual([]);
  } finally {
    await named.close();
  }
});
