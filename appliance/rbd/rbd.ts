import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { childEnv } from '../../agent/process/index.js';
import {
  RbdConvertError,
  RbdError,
  rbdFailure,
  RbdHasChildrenError,
  RbdPoolFullError,
  RbdTooSmallError,
} from './errors.js';

const run = promisify(execFile);

/** The snapshot every Glance image has, protected, which servers' disks are cloned from. */
export const IMAGE_SNAPSHOT = 'snap';
/** A server's root disk in the `vms` pool, named as Nova's RBD driver names it. */
export const rootDiskName = (serverId: string) => `${serverId}_disk`;
/** A suspended server's memory and device state (QEMU's migration stream) in the `vms` pool. */
export const stateImageName = (serverId: string) => `${serverId}_state`;
/** The image metadata key that records whether an image's first sector carries a boot signature. */
const BOOT_SIGNATURE_KEY = 'rackseed.boot-signature';

/** How a client reaches Ceph: ceph.conf (which names the keyring) and the cephx id (`admin`, not `client.admin`). */
export interface RbdAccess {
  readonly conf: string;
  readonly id: string;
  readonly keyring?: string;
  /**
   * How long one RADOS operation may wait (s; default 30): librados waits for ever on a pool
   * that is full (its quota, or the cluster's full ratio) or has no OSD up; this ends it with
   * RBD_ERR_TIMED_OUT, or RBD_ERR_POOL_FULL where the pool is full.
   */
  readonly opTimeoutS?: number;
}

/** What `rbd info` tells of an image. */
export interface RbdImageInfo {
  readonly size: number;
  /** `pool/image@snap` of its parent, for a clone. */
  readonly parent: string | null;
}

/**
 * RBD images through Debian's `rbd` and `qemu-img` tools (C++, no Python): the operations
 * Glance's, Nova's and (later) Cinder's RBD drivers perform. Chosen over an N-API binding of
 * librbd because a server's life costs a handful of calls (clone, resize, remove: a fork each,
 * tens of milliseconds, measured by `make bench BENCH=rbd`), far below QEMU's own start, and
 * the tools stream image bytes and convert qcow2 with no code of ours. Idempotent where the
 * caller needs it: removing an absent image is not an error.
 */
export class Rbd {
  constructor(private readonly access: RbdAccess) {}

  /** What every `rbd` call is given: the client, and the bound on each RADOS operation. */
  get #common(): string[] {
    return [...this.#client, '--rados-osd-op-timeout', String(this.access.opTimeoutS ?? 30)];
  }

  /** Who the client is: `--conf`, `--id`, `--keyring` (for `ceph` too). */
  get #client(): string[] {
    return [
      ...['--conf', this.access.conf, '--id', this.access.id],
      ...(this.access.keyring ? ['--keyring', this.access.keyring] : []),
    ];
  }

  async #rbd(args: readonly string[]): Promise<string> {
    try {
      return (
        await run('rbd', [...this.#common, ...args], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024, env: childEnv() })
      ).stdout;
    } catch (error) {
      throw rbdFailure(args, String((error as { stderr?: string }).stderr ?? (error as Error).message), error);
    }
  }

  /** The images of a pool. */
  async list(pool: string): Promise<string[]> {
    return JSON.parse(await this.#rbd(['ls', '--format', 'json', pool])) as string[];
  }

  /** Size and parent of an image, or null if there is none. */
  async info(pool: string, name: string): Promise<RbdImageInfo | null> {
    try {
      const info = JSON.parse(await this.#rbd(['info', '--format', 'json', `${pool}/${name}`])) as {
        size: number;
        parent?: { pool: string; image: string; snapshot: string };
      };
      return {
        size: info.size,
        parent: info.parent ? `${info.parent.pool}/${info.parent.image}@${info.parent.snapshot}` : null,
      };
    } catch (error) {
      if ((error as RbdError).code === 'RBD_ERR_NOT_FOUND') return null;
      throw error;
    }
  }

  /**
   * A Glance image from its bytes: raw streamed in as is, qcow2 converted to raw by `qemu-img`
   * (`file` must then be a local path: qcow2 needs random access), then snapshotted and the
   * snapshot protected. Records whether its first sector carries a boot signature. Nothing is
   * left behind when it fails. Returns the image's (virtual) size.
   */
  async importImage(
    pool: string,
    name: string,
    source: { format: 'raw'; stream: Readable } | { format: 'qcow2'; file: string },
  ): Promise<{ virtualSize: number; bootable: boolean }> {
    const spec = `${pool}/${name}`;
    try {
      if (source.format === 'raw') await this.#importStream(spec, source.stream);
      else await this.#convert(source.file, pool, name);
      const bootable = await this.#bootSignature(pool, name);
      await this.#rbd(['image-meta', 'set', spec, BOOT_SIGNATURE_KEY, String(bootable)]);
      await this.#rbd(['snap', 'create', `${spec}@${IMAGE_SNAPSHOT}`]);
      await this.#rbd(['snap', 'protect', `${spec}@${IMAGE_SNAPSHOT}`]);
      const info = await this.info(pool, name);
      return { virtualSize: info?.size ?? 0, bootable };
    } catch (error) {
      await this.removeImage(pool, name).catch(() => undefined);
      throw error;
    }
  }

  /** Whether the image's first sector carries a boot signature (recorded at import; true if unknown). */
  async bootable(pool: string, name: string): Promise<boolean> {
    try {
      return (await this.#rbd(['image-meta', 'get', `${pool}/${name}`, BOOT_SIGNATURE_KEY])).trim() !== 'false';
    } catch (error) {
      if ((error as RbdError).code === 'RBD_ERR_NOT_FOUND' && (await this.info(pool, name))) return true;
      throw error;
    }
  }

  /**
   * A server's disk: a copy-on-write clone of `image@snap`, grown to `sizeBytes` when that is
   * larger (never shrunk: a smaller size is RBD_ERR_TOO_SMALL, and nothing is made); with
   * `flatten`, a whole copy that depends on the image no more. One not made whole is removed.
   */
  async cloneDisk(
    image: { pool: string; name: string; flatten?: boolean },
    pool: string,
    name: string,
    sizeBytes: number,
  ): Promise<void> {
    const parent = await this.info(image.pool, image.name);
    if (!parent) throw new RbdError('RBD_ERR_NOT_FOUND', `no image ${image.pool}/${image.name}`);
    if (sizeBytes < parent.size) throw new RbdTooSmallError(`${image.pool}/${image.name}`, parent.size, sizeBytes);
    try {
      await this.#rbd(['clone', `${image.pool}/${image.name}@${IMAGE_SNAPSHOT}`, `${pool}/${name}`]);
    } catch (error) {
      if ((error as { code?: string }).code === 'RBD_ERR_TIMED_OUT' && (await this.#full(pool)))
        throw new RbdPoolFullError(pool, error);
      throw error;
    }
    try {
      if (sizeBytes > parent.size) await this.grow(pool, name, sizeBytes);
      if (image.flatten) await this.#rbd(['flatten', '--no-progress', `${pool}/${name}`]);
    } catch (error) {
      await this.removeImage(pool, name).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Grows an image to `sizeBytes`; nothing to do at its own size. Never shrinks it: `rbd resize`
   * refuses a smaller size without `--allow-shrink`.
   */
  async grow(pool: string, name: string, sizeBytes: number): Promise<void> {
    await this.#rbd(['resize', '--size', `${Math.ceil(sizeBytes / 1024)}K`, `${pool}/${name}`]);
  }

  /** Takes snapshot `snap` of an image, unless it has one of that name. */
  async snapshot(pool: string, name: string, snap: string): Promise<void> {
    const snaps = await this.#snapshots(`${pool}/${name}`);
    if (!snaps) throw new RbdError('RBD_ERR_NOT_FOUND', `no image ${pool}/${name}`);
    if (!snaps.some((s) => s.name === snap)) await this.#rbd(['snap', 'create', `${pool}/${name}@${snap}`]);
  }

  /**
   * Takes the image back to snapshot `snap` (its data and its size), then removes the snapshot;
   * nothing to do if there is no such snapshot (rolled back already). Nothing may have the image open.
   */
  async rollback(pool: string, name: string, snap: string): Promise<void> {
    const snaps = await this.#snapshots(`${pool}/${name}`);
    if (!snaps) throw new RbdError('RBD_ERR_NOT_FOUND', `no image ${pool}/${name}`);
    if (!snaps.some((s) => s.name === snap)) return;
    await this.#rbd(['snap', 'rollback', '--no-progress', `${pool}/${name}@${snap}`]);
    await this.#rbd(['snap', 'rm', '--no-progress', `${pool}/${name}@${snap}`]);
  }

  /** Removes snapshot `snap` of an image; nothing to do if either is gone. */
  async removeSnapshot(pool: string, name: string, snap: string): Promise<void> {
    const snaps = await this.#snapshots(`${pool}/${name}`);
    if (snaps?.some((s) => s.name === snap))
      await this.#rbd(['snap', 'rm', '--no-progress', `${pool}/${name}@${snap}`]);
  }

  /** Whether the pool takes no more writes: its quota is reached, or the cluster is full. */
  async #full(pool: string): Promise<boolean> {
    let stdout: string;
    try {
      ({ stdout } = await run('ceph', [...this.#client, 'osd', 'dump', '--format', 'json'], {
        timeout: 30_000,
        env: childEnv(),
      }));
    } catch {
      return false; // no answer (or no `ceph` tool): not known to be full
    }
    const map = JSON.parse(stdout) as { flags?: string; pools?: { pool_name: string; flags_names?: string }[] };
    const flags = [map.flags, map.pools?.find((p) => p.pool_name === pool)?.flags_names].join(',').split(',');
    return flags.includes('full') || flags.includes('full_quota');
  }

  /** The clones of `pool/name@snap` (`pool/image` each). */
  async children(pool: string, name: string): Promise<string[]> {
    const list = JSON.parse(await this.#rbd(['children', '--format', 'json', `${pool}/${name}@${IMAGE_SNAPSHOT}`])) as {
      pool: string;
      image: string;
    }[];
    return list.map((c) => `${c.pool}/${c.image}`);
  }

  /**
   * Removes an image and its snapshots; nothing to do if it is gone. Refuses
   * (RbdHasChildrenError) while its snapshot has clones.
   */
  async removeImage(pool: string, name: string): Promise<void> {
    const spec = `${pool}/${name}`;
    const snaps = await this.#snapshots(spec);
    if (snaps === null) return;
    for (const snap of snaps) {
      if (!snap.protected) continue;
      const children = await this.children(pool, name).catch(() => []);
      if (children.length > 0) throw new RbdHasChildrenError(spec, children);
      await this.#rbd(['snap', 'unprotect', `${spec}@${snap.name}`]);
    }
    if (snaps.length > 0) await this.#rbd(['snap', 'purge', spec]);
    await this.#rbd(['rm', '--no-progress', spec]);
  }

  /**
   * A consistent, independent copy of a disk as a new Glance image (a server snapshot): a
   * snapshot of the disk, deep-copied to `dst`, which gets its own protected snapshot. The
   * temporary snapshot is removed.
   */
  async snapshotToImage(src: { pool: string; name: string }, dst: { pool: string; name: string }): Promise<number> {
    const temp = `${src.pool}/${src.name}@to-${dst.name}`;
    const target = `${dst.pool}/${dst.name}`;
    await this.#rbd(['snap', 'create', temp]);
    try {
      await this.#rbd(['deep', 'cp', '--flatten', '--no-progress', temp, target]);
      await this.#rbd(['image-meta', 'set', target, BOOT_SIGNATURE_KEY, 'true']);
      await this.#rbd(['snap', 'create', `${target}@${IMAGE_SNAPSHOT}`]);
      await this.#rbd(['snap', 'protect', `${target}@${IMAGE_SNAPSHOT}`]);
      return (await this.info(dst.pool, dst.name))?.size ?? 0;
    } catch (error) {
      await this.removeImage(dst.pool, dst.name).catch(() => undefined);
      throw error;
    } finally {
      await this.#rbd(['snap', 'rm', '--no-progress', temp]).catch(() => undefined);
    }
  }

  /** The bytes of `pool/name@snap` (raw), streamed; the stream fails if `rbd export` does. */
  exportSnapshot(pool: string, name: string, snap = IMAGE_SNAPSHOT): Readable {
    return this.exportImage(pool, `${name}@${snap}`);
  }

  /** The bytes of `pool/name` (an image, or `image@snap`), streamed; the stream fails if `rbd export` does. */
  exportImage(pool: string, name: string): Readable {
    const child = spawn('rbd', [...this.#common, 'export', '--no-progress', `${pool}/${name}`, '-'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(),
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      if (code !== 0)
        child.stdout.destroy(rbdFailure(['export', `${pool}/${name}`], stderr, new Error(`exit ${code}`)));
    });
    return child.stdout;
  }

  /** The snapshots of an image, or null if the image does not exist. */
  async #snapshots(spec: string): Promise<{ name: string; protected: boolean }[] | null> {
    try {
      const snaps = JSON.parse(await this.#rbd(['snap', 'ls', '--format', 'json', spec])) as {
        name: string;
        protected: string;
      }[];
      return snaps.map((s) => ({ name: s.name, protected: s.protected === 'true' }));
    } catch (error) {
      if ((error as RbdError).code === 'RBD_ERR_NOT_FOUND') return null;
      throw error;
    }
  }

  /** A new image `pool/name` of the stream's bytes; an image of that name that exists fails it. */
  async importStream(pool: string, name: string, stream: Readable): Promise<void> {
    await this.#importStream(`${pool}/${name}`, stream);
  }

  async #importStream(spec: string, stream: Readable): Promise<void> {
    const args = ['import', '--no-progress', '--image-format', '2', '-', spec];
    const child = spawn('rbd', [...this.#common, ...args], { stdio: ['pipe', 'ignore', 'pipe'], env: childEnv() });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exit = once(child, 'close') as Promise<[number | null]>;
    try {
      await pipeline(stream, child.stdin);
    } catch (error) {
      child.kill('SIGKILL');
      await exit;
      throw rbdFailure(args, stderr || String(error), error);
    }
    const [code] = await exit;
    if (code !== 0) throw rbdFailure(args, stderr, new Error(`rbd import exited ${code}`));
  }

  async #convert(file: string, pool: string, name: string): Promise<void> {
    const target = `rbd:${pool}/${name}:conf=${this.access.conf}:id=${this.access.id}${this.access.keyring ? `:keyring=${this.access.keyring}` : ''}`;
    try {
      await run('qemu-img', ['info', '-f', 'qcow2', '--output', 'json', file], { timeout: 60_000, env: childEnv() });
    } catch (error) {
      throw new RbdConvertError(
        `the image's bytes are not qcow2 (qemu-img info: ${String((error as { stderr?: string }).stderr ?? '').trim()})`,
        error,
      );
    }
    try {
      await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', file, target], {
        timeout: 3_600_000,
        env: childEnv(),
      });
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? '');
      throw /No space|quota/i.test(stderr)
        ? rbdFailure(['import', name], stderr, error)
        : new RbdConvertError(`qemu-img could not convert the qcow2 image to raw: ${stderr.trim()}`, error);
    }
  }

  /** Whether the first sector ends with 0x55 0xAA, the boot signature a BIOS looks for. */
  async #bootSignature(pool: string, name: string): Promise<boolean> {
    const child = spawn('rbd', [...this.#common, 'export', '--no-progress', `${pool}/${name}`, '-'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: childEnv(),
    });
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= 512) break;
    }
    child.kill('SIGKILL');
    const sector = Buffer.concat(chunks);
    return sector.length >= 512 && sector[510] === 0x55 && sector[511] === 0xaa;
  }
}
