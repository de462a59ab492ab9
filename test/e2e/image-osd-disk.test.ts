import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sparseFile } from '../bed/index.js';
import { netbootImage } from './netboot-image.js';

const UUID = '0d3c7a52-5d4e-4f53-9a55-2f1b3a9c6e01';
const FIND = (options: string) =>
  `node -e "import('/opt/rackseed/dist/agent/ceph/disk.js').then((m) => console.log('T find ' + JSON.stringify(m.findOsdDisk('auto'${options}))))"`;

/**
 * Run instead of the image's /init (rdinit=): the drivers as /init loads them, then the agent's
 * disk finder on the guest's real sysfs and bluestore's mkfs on the disk it found, as LocalCeph
 * does (a `block` link, no block file made; no monitor needed with --no-mon-config).
 */
const CHECK = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /run /tmp /root; mount -t tmpfs tmpfs /run
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do insmod /lib/modules/$m.ko; done
${FIND('')}
disk=$(node -e "import('/opt/rackseed/dist/agent/ceph/disk.js').then((m) => console.log(m.findOsdDisk('auto').disk.device))")
mkdir -p /tmp/osd /tmp/run
printf '[global]\\nfsid = 9a1c5e2b-1111-4222-8333-444455556666\\nrun dir = /tmp/run\\n[osd]\\nosd data = /tmp/osd\\nosd objectstore = bluestore\\nbluestore block create = true\\nbluestore fsck on mkfs = false\\nlog file = /tmp/osd.log\\n' > /tmp/ceph.conf
ln -s "$disk" /tmp/osd/block
ceph-osd --no-mon-config -c /tmp/ceph.conf -i 0 --mkfs --osd-uuid ${UUID} --bluestore-block-create=false >/dev/null 2>&1
echo "T mkfs $? on $disk"
${FIND(`, { osdUuid: '${UUID}' }`)}
poweroff -f
`;

// The netboot image in a QEMU guest (TCG) with two virtio disks, vda holding data and vdb blank:
// the agent's finder passes over vda and takes vdb, Debian's ceph-osd makes bluestore on it from
// inside the image (its libraries, no udev), and then the finder sees vdb as this OSD's own.
describe("the netboot image's OSD disk, in a QEMU guest", () => {
  let dir: string;
  let serial = '';

  beforeAll(() => {
    const image = netbootImage();
    dir = mkdtempSync(join(tmpdir(), 'rackseed-e2e-image-osd-'));
    // A second archive, before the image's (after a zstd archive the kernel found no valid magic
    // in one run of two, by the image's size): the kernel unpacks both, /check.sh joins the image.
    mkdirSync(join(dir, 'extra'));
    writeFileSync(join(dir, 'extra', 'check.sh'), CHECK, { mode: 0o755 });
    const extra = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], {
      cwd: join(dir, 'extra'),
      input: 'check.sh\n',
    });
    writeFileSync(join(dir, 'initrd'), Buffer.concat([extra, readFileSync(join(image, 'initrd.img'))]));
    const vda = sparseFile(join(dir, 'vda.img'), 8 * 1024 ** 3, Buffer.from('some file system\n'));
    const vdb = sparseFile(join(dir, 'vdb.img'), 8 * 1024 ** 3);
    execFileSync(
      'qemu-system-x86_64',
      [
        ...[
          '-machine',
          'pc,accel=tcg',
          '-cpu',
          'max',
          '-m',
          '2048',
          '-smp',
          '2',
          '-nographic',
          '-monitor',
          'none',
          '-no-reboot',
        ],
        ...['-kernel', join(image, 'vmlinuz'), '-initrd', join(dir, 'initrd')],
        ...['-append', 'console=ttyS0 quiet rdinit=/check.sh panic=-1'],
        ...['-serial', `file:${join(dir, 'console.log')}`],
        ...['-drive', `file=${vda},if=virtio,format=raw,cache=unsafe`],
        ...['-drive', `file=${vdb},if=virtio,format=raw,cache=unsafe`],
      ],
      { timeout: 240_000, stdio: 'ignore' },
    );
    serial = readFileSync(join(dir, 'console.log'), 'utf8');
  }, 600_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes over the disk with data and takes the blank one', () => {
    // Not anchored: the firmware's terminal escapes start the console's first line.
    const found = /T find (\{.*\})/.exec(serial)?.[1];
    expect(found && JSON.parse(found)).toEqual({
      disk: { device: '/dev/vdb', bytes: 8 * 1024 ** 3, state: 'blank' },
      rejected: ['vda: not blank (data in its first MiB)'],
    });
  });

  it('makes bluestore on it from inside the image, and then knows it as its own OSD', () => {
    expect(serial).toMatch(/^T mkfs 0 on \/dev\/vdb\r?$/m);
    const again = [...serial.matchAll(/T find (\{.*\})/g)][1]?.[1];
    expect(again && JSON.parse(again)).toMatchObject({ disk: { device: '/dev/vdb', state: 'ours' } });
  });
});
