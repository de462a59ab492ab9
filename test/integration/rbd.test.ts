import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rbd } from '../../appliance/rbd/index.js';
import { type CephCluster, startCeph } from '../bed/index.js';

// Glance images, servers' disks and snapshots as RBD images, on a real cephx cluster.
let ceph: CephCluster;
let rbd: Rbd;
let dir: string;
const MIB = 1024 * 1024;

/** `size` bytes of a known pattern, with a boot signature at 510 if `boot`. */
function disk(size: number, seed: number, boot = true): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) bytes.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  if (boot) bytes.set([0x55, 0xaa], 510);
  return bytes;
}
/** `length` bytes at `offset` of an image, read through QEMU's rbd driver (qemu-block-extra) as a guest's QEMU would. */
function readThroughQemu(spec: string, offset: number, length: number): Buffer {
  const out = join(dir, `read-${Date.now()}.raw`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `rbd:${spec}:conf=${ceph.conf}:id=admin`, out]);
  return readFileSync(out).subarray(offset, offset + length);
}

beforeAll(async () => {
  ceph = await startCeph({ auth: 'cephx' });
  for (const pool of ['images', 'vms']) {
    await ceph.ceph(['osd', 'pool', 'create', pool, '8']);
    await ceph.ceph(['osd', 'pool', 'application', 'enable', pool, 'rbd']);
  }
  rbd = new Rbd({ conf: ceph.conf, id: 'admin' });
  dir = mkdtempSync(join(tmpdir(), 'rackseed-rbd-'));
});

afterAll(async () => {
  await ceph?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('RBD images and disks', () => {
  it('imports a raw image with a protected snapshot, clones a disk grown to a size, and refuses to remove a parent', async () => {
    const bytes = disk(4 * MIB, 1);
    expect(await rbd.importImage('images', 'img-a', { format: 'raw', stream: Readable.from([bytes]) })).toEqual({
      virtualSize: 4 * MIB,
      bootable: true,
    });
    expect(await rbd.bootable('images', 'img-a')).toBe(true);
    await rbd.cloneDisk({ pool: 'images', name: 'img-a' }, 'vms', 'srv-a_disk', 16 * MIB);
    expect(await rbd.info('vms', 'srv-a_disk')).toEqual({ size: 16 * MIB, parent: 'images/img-a@snap' });
    expect(await rbd.children('images', 'img-a')).toEqual(['vms/srv-a_disk']);
    // QEMU's rbd driver reads the image's bytes through the clone.
    expect(readThroughQemu('vms/srv-a_disk', MIB, 64 * 1024)).toEqual(bytes.subarray(MIB, MIB + 64 * 1024));
    await expect(rbd.removeImage('images', 'img-a')).rejects.toMatchObject({ code: 'RBD_ERR_HAS_CHILDREN' });
    expect(await rbd.info('images', 'img-a')).not.toBeNull();
    await rbd.removeImage('vms', 'srv-a_disk');
    await rbd.removeImage('vms', 'srv-a_disk'); // idempotent
    await rbd.removeImage('images', 'img-a');
    expect(await rbd.list('images')).toEqual([]);
    expect(await rbd.list('vms')).toEqual([]);
  });

  it('refuses a disk smaller than its image and leaves nothing behind', async () => {
    await rbd.importImage('images', 'img-b', { format: 'raw', stream: Readable.from([disk(8 * MIB, 2)]) });
    await expect(rbd.cloneDisk({ pool: 'images', name: 'img-b' }, 'vms', 'srv-b_disk', 4 * MIB)).rejects.toMatchObject({
      code: 'RBD_ERR_TOO_SMALL',
    });
    await expect(rbd.cloneDisk({ pool: 'images', name: 'nope' }, 'vms', 'srv-c_disk', 4 * MIB)).rejects.toMatchObject({
      code: 'RBD_ERR_NOT_FOUND',
    });
    expect(await rbd.list('vms')).toEqual([]);
    await rbd.removeImage('images', 'img-b');
  });

  it('records an image without a boot signature as not bootable', async () => {
    await rbd.importImage('images', 'img-noboot', { format: 'raw', stream: Readable.from([disk(MIB, 3, false)]) });
    expect(await rbd.bootable('images', 'img-noboot')).toBe(false);
    await rbd.removeImage('images', 'img-noboot');
  });

  it('converts qcow2 to raw (the bytes read back equal) and refuses bytes that are not qcow2', async () => {
    const bytes = disk(4 * MIB, 4);
    writeFileSync(join(dir, 'src.raw'), bytes);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(dir, 'src.raw'), join(dir, 'src.qcow2')]);
    expect(await rbd.importImage('images', 'img-q', { format: 'qcow2', file: join(dir, 'src.qcow2') })).toEqual({
      virtualSize: 4 * MIB,
      bootable: true,
    });
    expect(readThroughQemu('images/img-q', 2 * MIB, 64 * 1024)).toEqual(bytes.subarray(2 * MIB, 2 * MIB + 64 * 1024));
    await rbd.removeImage('images', 'img-q');
    await expect(
      rbd.importImage('images', 'img-bad', { format: 'qcow2', file: join(dir, 'src.raw') }),
    ).rejects.toMatchObject({
      code: 'RBD_ERR_CONVERT',
    });
    expect(await rbd.list('images')).toEqual([]);
  });

  it('snapshots a disk to an independent image that keeps the bytes of that moment', async () => {
    const bytes = disk(4 * MIB, 5);
    await rbd.importImage('images', 'img-s', { format: 'raw', stream: Readable.from([bytes]) });
    await rbd.cloneDisk({ pool: 'images', name: 'img-s' }, 'vms', 'srv-s_disk', 4 * MIB);
    const size = await rbd.snapshotToImage({ pool: 'vms', name: 'srv-s_disk' }, { pool: 'images', name: 'snap-s' });
    expect(size).toBe(4 * MIB);
    // The disk changes afterwards; the snapshot image does not, and stands on its own.
    execFileSync('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0x07 0 64k',
      `rbd:vms/srv-s_disk:conf=${ceph.conf}:id=admin`,
    ]);
    expect(readThroughQemu('vms/srv-s_disk', 0, 64 * 1024)).toEqual(Buffer.alloc(64 * 1024, 7));
    expect((await rbd.info('images', 'snap-s'))?.parent).toBeNull();
    expect(readThroughQemu('images/snap-s', 0, 64 * 1024)).toEqual(bytes.subarray(0, 64 * 1024));
    await rbd.removeImage('vms', 'srv-s_disk');
    await rbd.removeImage('images', 'img-s');
    await rbd.removeImage('images', 'snap-s');
    expect(await rbd.list('images')).toEqual([]);
  });
});
