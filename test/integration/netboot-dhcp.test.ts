import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../bed/index.js';
import { FileLeaseStore } from '../../bootstrap/netboot/leases.js';
import { type NetbootLab, startNetbootLab } from './netboot-lab.js';

// Real DHCP clients (ISC dhclient, busybox udhcpc) in their own namespaces against
// `rackseed netboot serve` on the lab bridge: obtain, renew, release; bad packets in between.
describe('netboot DHCP with real clients', () => {
  let nb: NetbootLab;
  // A client hook script that configures the address (so unicast renewals work) and logs what happened.
  const hook = (file: string, log: string): string => {
    writeFileSync(
      file,
      [
        '#!/bin/sh',
        `echo "$reason $1 $new_ip_address $ip" >> ${log}`,
        'case "$reason$1" in',
        '  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface" ;;',
        '  bound|renew) ip addr replace "$ip/24" dev "$interface" ;;',
        'esac',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(file, 0o755);
    return file;
  };

  beforeAll(async () => {
    nb = await startNetbootLab({ hosts: 2, extraArgs: ['--lease-seconds', '6'] });
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('ISC dhclient obtains a lease, renews it by unicast at T1, and releases it', async () => {
    const host = nb.lab.host('h1');
    const log = join(nb.dir, 'dhclient-hook.log');
    const argv = ['dhclient', '-4', '-v', '-sf', hook(join(nb.dir, 'dhclient-hook.sh'), log)];
    const files = ['-lf', join(nb.dir, 'dhclient.leases'), '-pf', join(nb.dir, 'dhclient.pid')];
    nb.lab.spawn(host.netns, 'dhclient', [...argv, '-d', ...files, 'eth0']);
    const ack = await nb.waitEvent('dhclient ACK', (e) => e.type === 'dhcp.ack' && e.mac === host.mac);
    expect(ack.ip).toMatch(/\.1\d\d$/);
    // T1 = 3 s: a second ACK for the same address is the renewal.
    await nb.waitEvent(
      'dhclient renewal',
      () => nb.events().filter((e) => e.type === 'dhcp.ack' && e.mac === host.mac).length >= 2,
      20_000,
    );
    // The server logs its ACK before the client has run its hook: wait for the client's side too.
    await waitFor('dhclient ran its RENEW hook', () => /RENEW/.test(readFileSync(log, 'utf8')), 5000);
    const leases = await FileLeaseStore.read(join(nb.dir, 'leases.jsonl'));
    expect(leases).toContainEqual(expect.objectContaining({ mac: host.mac, ip: ack.ip }));
    await nb.lab.exec(host.netns, [...argv, '-r', ...files, 'eth0']);
    await nb.waitEvent('dhclient RELEASE', (e) => e.type === 'dhcp.release' && e.mac === host.mac);
    await waitFor(
      'lease removed from the file',
      async () => !(await FileLeaseStore.read(join(nb.dir, 'leases.jsonl'))).some((l) => l.mac === host.mac),
      5000,
    );
  });

  it('survives garbage on port 67 (logged with its code), then busybox udhcpc obtains, renews and releases', async () => {
    const host = nb.lab.host('h2');
    // Bad input from the client side: a wrong magic cookie and a truncated option.
    const script = `
      const s = require('node:dgram').createSocket('udp4');
      const good = Buffer.alloc(300); good[0] = 1; good[2] = 6; good.writeUInt32BE(0x63825363, 236);
      const badCookie = Buffer.from(good); badCookie.writeUInt32BE(0xdeadbeef, 236);
      const truncated = Buffer.from(good); truncated.set([53, 1, 1, 12, 200, 65], 240);
      s.bind(() => { s.setBroadcast(true);
        s.send(badCookie, 67, '255.255.255.255', () => s.send(truncated, 67, '255.255.255.255', () => s.close())); });`;
    await nb.lab.exec(host.netns, ['ip', 'route', 'add', '255.255.255.255', 'dev', 'eth0']);
    await nb.lab.exec(host.netns, [process.execPath, '-e', script]);
    await nb.waitEvent(
      'bad cookie logged',
      (e) => e.type === 'dhcp.rejected' && /DHCP_ERR_BAD_COOKIE/.test(e.detail ?? ''),
    );
    await nb.waitEvent(
      'truncated option logged',
      (e) => e.type === 'dhcp.rejected' && /DHCP_ERR_TRUNCATED_OPTION/.test(e.detail ?? ''),
    );

    const log = join(nb.dir, 'udhcpc-hook.log');
    const udhcpc = nb.lab.spawn(host.netns, 'udhcpc', [
      'udhcpc',
      '-f',
      '-i',
      'eth0',
      '-t',
      '5',
      '-T',
      '1',
      '-s',
      hook(join(nb.dir, 'udhcpc-hook.sh'), log),
    ]);
    const ack = await nb.waitEvent('udhcpc ACK', (e) => e.type === 'dhcp.ack' && e.mac === host.mac);
    await waitFor('address configured', async () =>
      (await nb.lab.exec(host.netns, ['ip', '-4', 'addr', 'show', 'eth0'])).stdout.includes(`${ack.ip}/24`),
    );
    process.kill(udhcpc.pid, 'SIGUSR1'); // renew now
    await nb.waitEvent(
      'udhcpc renewal',
      () => nb.events().filter((e) => e.type === 'dhcp.ack' && e.mac === host.mac).length >= 2,
    );
    process.kill(udhcpc.pid, 'SIGUSR2'); // release
    await nb.waitEvent('udhcpc RELEASE', (e) => e.type === 'dhcp.release' && e.mac === host.mac);
    await udhcpc.stop();
    expect(nb.server.alive()).toBe(true);
  });
});
