import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NetbootLab, REPO, startNetbootLab, startQemuNode } from './netboot-lab.js';

// QEMU's built-in iPXE (TCG; SeaBIOS, and OVMF for UEFI) PXE-boots a busybox initramfs from `rackseed netboot serve`:
// DHCP (iPXE detected, HTTP script URL) → per-MAC iPXE script → kernel + initrd over HTTP → marker.
// radvd, started by the server, answers iPXE's router solicitations (no 13 s IPv6 wait).
describe('netboot: QEMU iPXE boots the image', () => {
  let nb: NetbootLab;

  beforeAll(async () => {
    const files = execFileSync(join(REPO, 'scripts/netboot-fixtures.sh'), { encoding: 'utf8' }).trim();
    nb = await startNetbootLab({ hosts: 0, filesDir: files, extraArgs: ['--cmdline', 'console=ttyS0 quiet panic=-1'] });
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('boots to the marker with the token from its script, with router advertisements on', async () => {
    expect(nb.events().find((e) => e.type === 'ra.started')?.detail).toMatch(/^radvd pid \d+ on br0$/);
    const node = await startQemuNode(nb.lab, nb.dir, 1);
    try {
      const line = await node.ready();
      const ipxeAck = nb.events().find((e) => e.type === 'dhcp.ack' && e.mac === node.mac);
      expect(ipxeAck?.detail).toBe(
        `bios iPXE: boot http://${nb.serverIp}:8080/boot/${node.mac.replaceAll(':', '-')}.ipxe`,
      );
      expect(line).toMatch(new RegExp(`mac=${node.mac} ip=${ipxeAck?.ip?.replaceAll('.', '\\.')} token=[0-9a-f]{32}`));
      const fetched = nb
        .events()
        .filter((e) => e.mac === node.mac && e.type.startsWith('http.'))
        .map((e) => e.type + ' ' + e.detail);
      expect(fetched).toEqual(
        expect.arrayContaining([expect.stringMatching(/^http\.script /), 'http.file vmlinuz', 'http.file initrd.gz']),
      );
    } finally {
      await node.daemon.stop(0);
    }
  });

  it('boots the same way under UEFI (OVMF): iPXE as a UEFI driver asks as x64 UEFI', async () => {
    const node = await startQemuNode(nb.lab, nb.dir, 2, 'uefi');
    try {
      const line = await node.ready();
      expect(line).toMatch(new RegExp(`mac=${node.mac} ip=\\S+ token=[0-9a-f]{32}`));
      const offer = nb.events().find((e) => e.type === 'dhcp.offer' && e.mac === node.mac);
      expect(offer?.detail).toBe(
        `uefi-x64 iPXE: boot http://${nb.serverIp}:8080/boot/${node.mac.replaceAll(':', '-')}.ipxe`,
      );
    } finally {
      await node.daemon.stop(0);
    }
  });
});
