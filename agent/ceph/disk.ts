import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * Where a node's OSD keeps its data. Absent: bluestore on a sparse file in the data dir (lab
 * nodes in namespaces and test beds: they share this machine's /sys/block and must never touch
 * one of its disks). `auto`: the first blank whole disk (see {@link findOsdDisk}). A device's
 * kernel path (`/dev/vdb`, not a /dev/disk/by-* link): that device, under the same checks.
 */
export type OsdDiskPolicy = 'auto' | `/dev/${string}`;

/** Reads the first `bytes` of a block device (`/dev/<name>`). */
export type DeviceReader = (device: string, bytes: number) => Buffer;

/** The disk an OSD takes: blank, or carrying the bluestore label of this node's OSD. */
export interface OsdDisk {
  readonly device: string;
  readonly bytes: number;
  readonly state: 'blank' | 'ours';
}

/** What {@link findOsdDisk} found: the disk taken, and why every other one was not. */
export interface OsdDiskSearch {
  readonly disk: OsdDisk | undefined;
  /** `vda: has partitions`, one per disk passed over. */
  readonly rejected: readonly string[];
}

/** The smallest disk an OSD takes. */
const OSD_DISK_MIN_BYTES = 4 * 1024 ** 3;
/** How much of a disk must be zero for it to count as blank. */
export const BLANK_HEAD_BYTES = 1024 ** 2;

/** The first line of a bluestore label (BlueStore.cc, `bluestore_bdev_label_t`: the label at offset 0). */
const BLUESTORE_LABEL = 'bluestore block device\n';

/** Reads the head of `/dev/<name>` (O_RDONLY: looking never changes a disk). */
const readDevice: DeviceReader = (device, bytes) => {
  const fd = openSync(device, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    let got = 0;
    while (got < bytes) {
      const n = readSync(fd, buffer, got, bytes - got, got);
      if (n === 0) break;
      got += n;
    }
    return buffer.subarray(0, got);
  } finally {
    closeSync(fd);
  }
};

/**
 * Blanks the first MiB of a disk that {@link findOsdDisk} found carrying this node's own OSD
 * label: that OSD's mkfs never finished (its data dir has no ready record), and bluestore's mkfs
 * would take the label for a made store ("already created") and then find no OSD files.
 */
export function clearOsdLabel(disk: OsdDisk): void {
  if (disk.state !== 'ours') return;
  const fd = openSync(disk.device, 'r+');
  try {
    writeSync(fd, Buffer.alloc(BLANK_HEAD_BYTES), 0, BLANK_HEAD_BYTES, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Finds the disk for this node's OSD under `policy`. `auto` scans `<sysfs>/block` in name order
 * for whole disks (those with a `device` link: no loop, RAM, device-mapper or MD devices); a
 * device path is looked at alone. A disk is taken when it is not removable, not read-only, has
 * no partitions and no holders, has at least {@link OSD_DISK_MIN_BYTES}, and either its first
 * MiB is all zero or it starts with the bluestore label of the OSD `osdUuid` (this node's,
 * made before a restart). A disk with anything else on it is never taken.
 */
export function findOsdDisk(
  policy: OsdDiskPolicy,
  options: { sysfs?: string; read?: DeviceReader; osdUuid?: string } = {},
): OsdDiskSearch {
  const sysfs = options.sysfs ?? '/sys';
  const read = options.read ?? readDevice;
  const rejected: string[] = [];
  let names: string[];
  if (policy === 'auto') {
    names = readdirSync(join(sysfs, 'block'))
      .filter((name) => existsSync(join(sysfs, 'block', name, 'device')))
      .sort();
  } else {
    names = [basename(policy)];
  }
  for (const name of names) {
    const why = rejection(sysfs, name, read, options.osdUuid);
    if (typeof why === 'string') rejected.push(`${name}: ${why}`);
    else return { disk: why, rejected };
  }
  if (names.length === 0) rejected.push('no whole disk');
  return { disk: undefined, rejected };
}

/** Why disk `name` is not for the OSD, or the disk. */
function rejection(sysfs: string, name: string, read: DeviceReader, osdUuid: string | undefined): string | OsdDisk {
  const dir = join(sysfs, 'block', name);
  const attr = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const sectors = attr('size');
  if (sectors === undefined) return 'not a whole disk';
  if (attr('removable') === '1') return 'removable';
  if (attr('ro') === '1') return 'read-only';
  const entries = readdirSync(dir);
  const partitions = entries.filter((e) => existsSync(join(dir, e, 'partition')));
  if (partitions.length > 0) return `has partitions (${partitions.join(', ')})`;
  if (existsSync(join(dir, 'holders')) && readdirSync(join(dir, 'holders')).length > 0) return 'held by another device';
  const bytes = Number(sectors) * 512; // sysfs `size` counts 512-byte sectors whatever the block size
  if (bytes < OSD_DISK_MIN_BYTES) return `too small (${bytes} bytes)`;
  const device = `/dev/${name}`;
  let head: Buffer;
  try {
    head = read(device, BLANK_HEAD_BYTES);
  } catch (error) {
    return `unreadable (${error instanceof Error ? error.message : String(error)})`;
  }
  if (osdUuid && head.subarray(0, 64).toString('latin1').startsWith(`${BLUESTORE_LABEL}${osdUuid}\n`))
    return { device, bytes, state: 'ours' };
  if (head.length < BLANK_HEAD_BYTES) return 'unreadable (short read)';
  if (head.some((byte) => byte !== 0)) {
    return head.subarray(0, BLUESTORE_LABEL.length).toString('latin1') === BLUESTORE_LABEL
      ? 'holds another OSD'
      : 'not blank (data in its first MiB)';
  }
  return { device, bytes, state: 'blank' };
}
