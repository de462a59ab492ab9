import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NetbootLab, REPO, startNetbootLab, startQemuNode } from './netboot-lab.js';

// QEMU's built-in iPXE (TCG; SeaBIOS, and OVMF for UEFI) PXE-boots a busybox initramfs from `rackseed netboot serve`:
// DHCP (iPXE detected, HTTP script URL) → per-MAC iPXE script → kernel + initrd over HTTP → marker.
// radvd, started by the server, answers iPXE's router solicitations (no 13 s IPv6 wait).
// A client of the lab network that is not a MAC's lease holder gets no script (no token) for it.
describe('netboot: QEMU iPXE boots the image', () => {
  let nb: NetbootLab;

  beforeAll(async () => {
    const files = execFileSync(join(REPO, 'scripts/netboot-fixtures.sh'), { encoding: 'utf8' }).trim();
    nb = await startNetbootLab({ hosts: 1, filesDir: files, extraArgs: ['--cmdline', 'console=ttyS0 quiet panic=-1'] });
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('boots to the marker with the token from its script, with router advertisements on', async () => {
    expect(nb.events().find((e) => e.type === 'ra.started')?.detail).toMatch(/^radvd pid \d+ on br0$/);
    const uuid = '5a17ab00-0000-0001-8000-0000006e6201';
    const node = await startQemuNode(nb.lab, nb.dir, 1, 'bios', uuid);
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
      // iPXE's lease recorded the SMBIOS UUID from option 97 as Linux shows it (product_uuid):
      // the token is bound to it. (The initramfs's own DHCP client sends none; the journal has both.)
      const saved = readFileSync(join(nb.dir, 'leases.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { op: string; lease?: { mac: string; guid?: string } })
        .filter((e) => e.op === 'save' && e.lease?.mac === node.mac);
      expect(saved.map((e) => e.lease?.guid)).toContain(uuid.replaceAll('-', ''));
    } finally {
      await node.daemon.stop(0);
    }
  });

  // The bug (issue #14): `GET /boot/<any-mac>.ipxe` handed a fresh token to whoever asked.
  it("refuses a boot script, with 403 and a logged event, to a client that holds no lease or asks for another MAC's", async () => {
    const h1 = nb.lab.host('h1');
    const net = nb.serverIp.split('.').slice(0, 3).join('.');
    const script = async (mac: string) => {
      const url = `http://${nb.serverIp}:8080/boot/${mac.replaceAll(':', '-')}.ipxe`;
      const { stdout } = await nb.lab.exec(h1.netns, ['curl', '-s', '-m', '10', '-w', '\n%{http_code}', url]);
      const status = Number(stdout.slice(stdout.lastIndexOf('\n') + 1));
      return { status, body: stdout.slice(0, stdout.lastIndexOf('\n')) };
    };
    const refusals = () => nb.events().filter((e) => e.type === 'http.rejected');

    // An address set by hand, outside the pool: no lease, so not even its own MAC's script.
    await nb.lab.exec(h1.netns, ['ip', 'addr', 'add', `${net}.50/24`, 'dev', 'eth0']);
    const own = await script(h1.mac);
    expect(own.status).toBe(403);
    expect(own.body).toMatch(/^NETBOOT_ERR_NOT_LEASE_HOLDER: /);
    expect(own.body).not.toMatch(/token/);
    await nb.waitEvent('the refusal of h1', (e) => e.type === 'http.rejected' && e.ip === `${net}.50`);
    expect(refusals()).toContainEqual(
      expect.objectContaining({
        mac: h1.mac,
        ip: `${net}.50`,
        detail: `NETBOOT_ERR_NOT_LEASE_HOLDER: ${h1.mac} holds no lease`,
      }),
    );

    // With a lease of its own (busybox udhcpc), h1 still gets no other MAC's script: not the
    // QEMU node's, which holds its lease from the test above.
    await nb.lab.exec(h1.netns, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    const hook = join(nb.dir, 'udhcpc-h1.sh');
    writeFileSync(hook, '#!/bin/sh\ncase "$1" in bound|renew) ip addr replace "$ip/24" dev "$interface" ;; esac\n');
    chmodSync(hook, 0o755);
    await nb.lab.exec(h1.netns, ['udhcpc', '-f', '-q', '-n', '-i', 'eth0', '-t', '5', '-T', '1', '-s', hook], 30_000);
    const ack = nb.events().find((e) => e.type === 'dhcp.ack' && e.mac === h1.mac);
    const node = nb.events().find((e) => e.type === 'dhcp.ack' && e.mac !== h1.mac);
    expect(ack?.ip).toMatch(/\.1\d\d$/);
    expect(node?.ip).toBeDefined();
    const stolen = await script(node?.mac ?? '');
    expect(stolen.status).toBe(403);
    await nb.waitEvent('the refusal of the QEMU node', (e) => e.type === 'http.rejected' && e.ip === ack?.ip);
    expect(refusals()).toContainEqual({
      time: expect.any(String) as string,
      type: 'http.rejected',
      mac: node?.mac,
      ip: ack?.ip,
      detail: `NETBOOT_ERR_NOT_LEASE_HOLDER: ${node?.mac} is leased ${node?.ip}`,
    });
    // Its own script it gets, from its leased address.
    const mine = await script(h1.mac);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatch(new RegExp(`rackseed\\.mac=${h1.mac} rackseed\\.token=[0-9a-f]{32}`));
    expect(
      nb
        .events()
        .filter((e) => e.type === 'http.script')
        .map((e) => [e.mac, e.ip]),
    ).not.toContainEqual([node?.mac, ack?.ip]);
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
