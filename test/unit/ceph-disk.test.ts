import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLANK_HEAD_BYTES, clearOsdLabel, type DeviceReader, findOsdDisk } from '../../agent/ceph/index.js';

const GiB = 1024 ** 3;
const UUID = '0d3c7a52-5d4e-4f53-9a55-2f1b3a9c6e01';

/** A bluestore label as `ceph-osd --mkfs` writes it at offset 0 (BlueStore.cc): two text lines, then binary. */
const label = (uuid: string) => {
  const head = Buffer.alloc(BLANK_HEAD_BYTES);
  head.write(`bluestore block device\n${uuid}\n\x02\x01\x16`, 'latin1');
  return head;
};

// A fake /sys/block (the shape Linux 6.1 gives it) and fake device heads: the finder reads nothing else.
describe('findOsdDisk: the first blank whole disk, never one with data', () => {
  let sysfs: string;
  let heads: Map<string, Buffer>;
  const read: DeviceReader = (device, bytes) => {
    const head = heads.get(device);
    if (!head) throw new Error(`ENOENT: ${device}`);
    return head.subarray(0, bytes);
  };
  /** A block device in the fake sysfs; whole disks have a `device` link, as virtio/SCSI/NVMe ones do. */
  const disk = (
    name: string,
    o: {
      bytes?: number;
      removable?: boolean;
      ro?: boolean;
      partitions?: string[];
      holder?: string;
      whole?: boolean;
    } = {},
  ) => {
    const dir = join(sysfs, 'block', name);
    mkdirSync(join(dir, 'holders'), { recursive: true });
    writeFileSync(join(dir, 'size'), `${(o.bytes ?? 8 * GiB) / 512}\n`);
    writeFileSync(join(dir, 'removable'), o.removable ? '1\n' : '0\n');
    writeFileSync(join(dir, 'ro'), o.ro ? '1\n' : '0\n');
    if (o.whole !== false) symlinkSync('../../virtio1', join(dir, 'device'));
    for (const p of o.partitions ?? []) {
      mkdirSync(join(dir, p));
      writeFileSync(join(dir, p, 'partition'), '1\n');
    }
    if (o.holder) mkdirSync(join(dir, 'holders', o.holder));
    heads.set(`/dev/${name}`, Buffer.alloc(BLANK_HEAD_BYTES));
  };

  beforeEach(() => {
    sysfs = mkdtempSync(join(tmpdir(), 'rackseed-sysfs-'));
    mkdirSync(join(sysfs, 'block'));
    mkdirSync(join(sysfs, 'virtio1'));
    heads = new Map();
  });
  afterEach(() => rmSync(sysfs, { recursive: true, force: true }));

  it('takes the first blank whole disk by name and says why it passed over the others', () => {
    disk('vdc');
    disk('vdb');
    disk('vda', { partitions: ['vda1', 'vda2'] });
    disk('loop0', { whole: false }); // virtual: not even considered
    disk('sr0', { removable: true, ro: true, bytes: 700 * 1024 ** 2 });
    const search = findOsdDisk('auto', { sysfs, read });
    expect(search.disk).toEqual({ device: '/dev/vdb', bytes: 8 * GiB, state: 'blank' });
    expect(search.rejected).toEqual(['sr0: removable', 'vda: has partitions (vda1, vda2)']);
  });

  it('never takes a disk with data, another OSD, or one too small, read-only, removable or held', () => {
    disk('sda');
    const data = Buffer.alloc(BLANK_HEAD_BYTES);
    data[BLANK_HEAD_BYTES - 1] = 1; // one byte at the end of the first MiB is enough
    heads.set('/dev/sda', data);
    disk('sdb');
    heads.set('/dev/sdb', label('11111111-2222-4333-8444-555555555555'));
    disk('sdc', { bytes: 4 * GiB - 512 });
    disk('sdd', { ro: true });
    disk('sde', { removable: true });
    disk('sdf', { holder: 'dm-0' });
    const search = findOsdDisk('auto', { sysfs, read, osdUuid: UUID });
    expect(search.disk).toBeUndefined();
    expect(search.rejected).toEqual([
      'sda: not blank (data in its first MiB)',
      'sdb: holds another OSD',
      `sdc: too small (${4 * GiB - 512} bytes)`,
      'sdd: read-only',
      'sde: removable',
      'sdf: held by another device',
    ]);
  });

  it("takes back the disk that carries this node's own OSD (made before a restart)", () => {
    disk('vda');
    heads.set('/dev/vda', label(UUID));
    disk('vdb');
    expect(findOsdDisk('auto', { sysfs, read, osdUuid: UUID }).disk).toEqual({
      device: '/dev/vda',
      bytes: 8 * GiB,
      state: 'ours',
    });
    // Without the uuid (the intent lost) the label is someone else's: the blank disk is taken.
    expect(findOsdDisk('auto', { sysfs, read }).disk?.device).toBe('/dev/vdb');
  });

  it('looks only at a named device, whole or not, under the same checks', () => {
    disk('loop7', { whole: false, bytes: 5 * GiB });
    disk('vda', { partitions: ['vda1'] });
    expect(findOsdDisk('/dev/loop7', { sysfs, read }).disk).toEqual({
      device: '/dev/loop7',
      bytes: 5 * GiB,
      state: 'blank',
    });
    expect(findOsdDisk('/dev/vda', { sysfs, read }).rejected).toEqual(['vda: has partitions (vda1)']);
    expect(findOsdDisk('/dev/vda1', { sysfs, read }).rejected).toEqual(['vda1: not a whole disk']);
    heads.delete('/dev/loop7');
    expect(findOsdDisk('/dev/loop7', { sysfs, read }).rejected).toEqual(['loop7: unreadable (ENOENT: /dev/loop7)']);
  });

  it('reports a machine without disks', () => {
    disk('loop0', { whole: false });
    expect(findOsdDisk('auto', { sysfs, read })).toEqual({ disk: undefined, rejected: ['no whole disk'] });
  });

  it('blanks the first MiB of its own unfinished OSD only, and nothing past it', () => {
    const file = join(sysfs, 'disk.img');
    const content = Buffer.concat([label(UUID), Buffer.from('past the first MiB')]);
    writeFileSync(file, content);
    clearOsdLabel({ device: file, bytes: content.length, state: 'blank' });
    expect(readFileSync(file).equals(content)).toBe(true);
    clearOsdLabel({ device: file, bytes: content.length, state: 'ours' });
    const after = readFileSync(file);
    expect(after.subarray(0, BLANK_HEAD_BYTES).every((b) => b === 0)).toBe(true);
    expect(after.subarray(BLANK_HEAD_BYTES).toString()).toBe('past the first MiB');
  });
});
