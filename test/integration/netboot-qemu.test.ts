import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../bed/index.js';
import { type NetbootLab, REPO, startNetbootLab } from './netboot-lab.js';

// QEMU's built-in iPXE (TCG, BIOS) PXE-boots a busybox initramfs from `rackseed netboot serve`:
// DHCP (iPXE detected, HTTP script URL) → per-MAC iPXE script → kernel + initrd over HTTP → marker.
describe('netboot: QEMU iPXE boots the image', () => {
  let nb: NetbootLab;
  const mac = '52:54:00:6e:62:01';

  beforeAll(async () => {
    const files = execFileSync(join(REPO, 'scripts/netboot-fixtures.sh'), { encoding: 'utf8' }).trim();
    nb = await startNetbootLab({ hosts: 0, filesDir: files, extraArgs: ['--cmdline', 'console=ttyS0 quiet panic=-1'] });
    const br = nb.lab.bridgeNetns;
    await nb.lab.exec(br, ['ip', 'tuntap', 'add', 'dev', 'tap1', 'mode', 'tap']);
    await nb.lab.exec(br, ['ip', 'link', 'set', 'tap1', 'master', 'br0', 'up']);
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('boots to the marker with the token from its script', async () => {
    const serial = join(nb.dir, 'node1.serial');
    const qemu = nb.lab.spawn(nb.lab.bridgeNetns, 'qemu-node1', [
      'qemu-system-x86_64',
      '-machine',
      'pc,accel=tcg',
      '-m',
      '256',
      '-smp',
      '1',
      '-nographic',
      '-monitor',
      'none',
      '-serial',
      `file:${serial}`,
      '-no-reboot',
      '-boot',
      'n',
      '-netdev',
      'tap,id=n0,ifname=tap1,script=no,downscript=no',
      '-device',
      `virtio-net-pci,netdev=n0,mac=${mac}`,
    ]);
    try {
      const line = await waitFor(
        'RACKSEED-NODE-READY on the serial console',
        () => {
          const found = /RACKSEED-NODE-READY .*/.exec(readFileSync(serial, 'utf8'))?.[0];
          if (!found && !qemu.alive()) throw new Error(`QEMU exited: ${readFileSync(serial, 'utf8').slice(-500)}`);
          return found;
        },
        110_000,
        500,
      );
      const ipxeAck = nb.events().find((e) => e.type === 'dhcp.ack' && e.mac === mac);
      expect(ipxeAck?.detail).toBe(`boot http://${nb.serverIp}:8080/boot/${mac.replaceAll(':', '-')}.ipxe`);
      expect(line).toMatch(new RegExp(`mac=${mac} ip=${ipxeAck?.ip?.replaceAll('.', '\\.')} token=[0-9a-f]{32}`));
      const fetched = nb
        .events()
        .filter((e) => e.mac === mac && e.type.startsWith('http.'))
        .map((e) => e.type + ' ' + e.detail);
      expect(fetched).toEqual(
        expect.arrayContaining([expect.stringMatching(/^http\.script /), 'http.file vmlinuz', 'http.file initrd.gz']),
      );
    } finally {
      await qemu.stop(0);
    }
  });
});
