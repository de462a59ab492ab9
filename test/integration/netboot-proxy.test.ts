import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, waitFor } from '../bed/index.js';
import { type NetbootLab, REPO, startNetbootLab, startQemuNode } from './netboot-lab.js';

// ProxyDHCP beside a site DHCP server: Debian's dnsmasq hands out addresses (and nothing about
// booting) from a host of the lab; `rackseed netboot serve --proxy` on the bridge adds only the
// PXE answers (port 67 offer, port 4011 ACK). QEMU's iPXE boots through both.
describe('netboot: ProxyDHCP beside dnsmasq', () => {
  let nb: NetbootLab;
  let site: Daemon;
  let siteLeases = '';

  beforeAll(async () => {
    const files = execFileSync(join(REPO, 'scripts/netboot-fixtures.sh'), { encoding: 'utf8' }).trim();
    nb = await startNetbootLab({
      hosts: 1,
      filesDir: files,
      extraArgs: ['--proxy', '--cmdline', 'console=ttyS0 quiet panic=-1'],
    });
    const net = nb.serverIp.split('.').slice(0, 3).join('.');
    const { netns } = nb.lab.host('h1');
    await nb.lab.exec(netns, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
    siteLeases = join(nb.dir, 'site.leases');
    site = nb.lab.spawn(netns, 'site-dnsmasq', [
      'dnsmasq',
      '--keep-in-foreground',
      '--port=0',
      '--interface=eth0',
      '--bind-interfaces',
      '--user=root',
      `--dhcp-range=${net}.50,${net}.60,255.255.255.0,1h`,
      `--dhcp-leasefile=${siteLeases}`,
      '--dhcp-authoritative',
      '--no-ping',
      '--log-dhcp',
      '--log-facility=-',
      `--pid-file=${join(nb.dir, 'site.pid')}`,
    ]);
    await waitFor('site dnsmasq on port 67', async () =>
      (await nb.lab.exec(netns, ['ss', '-uln'])).stdout.includes(':67 '),
    );
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('QEMU boots with its address from dnsmasq and its boot script from rackseed', async () => {
    const node = await startQemuNode(nb.lab, nb.dir, 1);
    try {
      const line = await node.ready();
      const ip = /ip=(\S+)/.exec(line)?.[1] ?? '';
      expect(ip).toMatch(/\.(5\d|60)$/); // the site's pool, not ours
      expect(readFileSync(siteLeases, 'utf8')).toContain(node.mac);
      const ours = nb.events().filter((e) => e.mac === node.mac);
      const url = `http://${nb.serverIp}:8080/boot/${node.mac.replaceAll(':', '-')}.ipxe`;
      expect(ours).toContainEqual(
        expect.objectContaining({ type: 'proxydhcp.offer', detail: `bios iPXE: boot ${url}` }),
      );
      // This iPXE takes the boot file from the ProxyDHCP offer; a port 4011 request would get an ACK.
      expect(ours.some((e) => e.type === 'dhcp.offer' || e.type === 'dhcp.ack')).toBe(false);
      // Files are named after the MAC whose script was fetched from that address.
      expect(ours.map((e) => `${e.type} ${e.detail}`)).toEqual(
        expect.arrayContaining([`http.script /boot/${node.mac.replaceAll(':', '-')}.ipxe`, 'http.file vmlinuz']),
      );
      expect(line).toMatch(/token=[0-9a-f]{32}/);
      expect(site.alive()).toBe(true);
    } finally {
      await node.daemon.stop(0);
    }
  });
});
