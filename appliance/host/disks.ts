import type { Readable } from 'node:stream';
import { HostImageNotBootableError } from './errors.js';
import { type Rbd, rootDiskName, stateImageName } from '../rbd/index.js';
import type { GuestDiskSource, GuestDisks } from './parts.js';
import type { ImageRef } from './types.js';

const GIB = 1024 ** 3;

/**
 * Guests' root disks on Ceph, copy-on-write clones of their images in the `vms` pool, and the
 * state of the suspended ones beside them (so that it outlives their node).
 */
export class RbdGuestDisks implements GuestDisks {
  constructor(
    private readonly rbd: Rbd,
    private readonly pool: string,
  ) {}

  async ensureRoot(id: string, image: ImageRef, diskGb: number): Promise<GuestDiskSource> {
    const name = rootDiskName(id);
    const disk = await this.rbd.info(this.pool, name);
    if (!disk) {
      if (!(await this.rbd.bootable(image.pool, image.name))) throw new HostImageNotBootableError(image.name);
      await this.rbd.cloneDisk(image, this.pool, name, diskGb * GIB);
    } else if (disk.size < diskGb * GIB) {
      await this.rbd.grow(this.pool, name, diskGb * GIB);
    }
    return { kind: 'rbd', pool: this.pool, image: name };
  }

  async snapshotRoot(id: string, snapshot: string): Promise<void> {
    await this.rbd.snapshot(this.pool, rootDiskName(id), snapshot);
  }

  async rollbackRoot(id: string, snapshot: string): Promise<void> {
    await this.rbd.rollback(this.pool, rootDiskName(id), snapshot);
  }

  async removeRootSnapshot(id: string, snapshot: string): Promise<void> {
    await this.rbd.removeSnapshot(this.pool, rootDiskName(id), snapshot);
  }

  async saveState(id: string, state: Readable): Promise<void> {
    await this.rbd.importStream(this.pool, stateImageName(id), state);
  }

  async hasState(id: string): Promise<boolean> {
    return (await this.rbd.info(this.pool, stateImageName(id))) !== null;
  }

  loadState(id: string): Readable {
    return this.rbd.exportImage(this.pool, stateImageName(id));
  }

  async removeState(id: string): Promise<void> {
    await this.rbd.removeImage(this.pool, stateImageName(id));
  }

  /**
   * Removes the disk; while a client that died still watches it (its watch times out after
   * 30 s), RBD refuses: tried again for up to a minute.
   */
  async removeRoot(id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.rbd.removeImage(this.pool, rootDiskName(id));
      } catch (error) {
        if ((error as { code?: string }).code !== 'RBD_ERR_BUSY' || attempt >= 30) throw error;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }
}
