import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Rbd, rootDiskName } from './rbd.js';

/**
 * Glance's bootable copies on RBD (the API's `BootableImages`): each raw or qcow2 image as a raw
 * RBD image named by its id in `pool`, with the protected snapshot servers' disks clone.
 */
export class RbdBootableImages {
  constructor(
    private readonly rbd: Rbd,
    private readonly pool: string,
    /** Where servers' root disks are (`vms`), for server snapshots. */
    private readonly disksPool: string,
  ) {}

  /** A server's root disk as it is now, copied (flattened) into a new bootable image `id`; its size. */
  async snapshot(serverId: string, id: string): Promise<{ virtualSize: number }> {
    const virtualSize = await this.rbd.snapshotToImage(
      { pool: this.disksPool, name: rootDiskName(serverId) },
      { pool: this.pool, name: id },
    );
    return { virtualSize };
  }

  /** The bytes of image `id`'s bootable copy (raw), or null if it has none. */
  async read(id: string): Promise<Readable | null> {
    return (await this.rbd.info(this.pool, id)) ? this.rbd.exportSnapshot(this.pool, id) : null;
  }

  async create(id: string, format: 'raw' | 'qcow2', bytes: () => Promise<Readable>): Promise<{ virtualSize: number }> {
    if (format === 'raw') return this.rbd.importImage(this.pool, id, { format, stream: await bytes() });
    // qcow2 needs random access: staged in a private temporary file, converted, removed.
    const dir = await mkdtemp(join(tmpdir(), 'rackseed-image-'));
    try {
      const file = join(dir, 'image.qcow2');
      await pipeline(await bytes(), createWriteStream(file, { mode: 0o600 }));
      return await this.rbd.importImage(this.pool, id, { format, file });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  remove(id: string): Promise<void> {
    return this.rbd.removeImage(this.pool, id);
  }
}
