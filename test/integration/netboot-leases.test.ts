import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLeaseStore } from '../../bootstrap/netboot/leases.js';
import { type NetbootLab, startNetbootLab } from './netboot-lab.js';

// The file lease store is written (fsync + rename) before the ACK leaves: a server killed with
// SIGKILL right after an ACK comes back knowing the lease, and never hands that address to
// another client.
describe('netboot lease store survives a crash', () => {
  let nb: NetbootLab;

  beforeAll(async () => {
    nb = await startNetbootLab({ hosts: 2 });
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  /** Runs busybox udhcpc once (asking for `wanted` if given) and returns the address it was ACKed. */
  const lease = async (host: string, wanted?: string): Promise<string> => {
    const { netns, mac } = nb.lab.host(host);
    const before = nb.events().filter((e) => e.type === 'dhcp.ack' && e.mac === mac).length;
    const argv = ['udhcpc', '-f', '-q', '-n', '-i', 'eth0', '-t', '5', '-T', '1', '-s', '/bin/true'];
    await nb.lab.exec(netns, wanted ? [...argv, '-r', wanted] : argv, 30_000);
    const acks = nb.events().filter((e) => e.type === 'dhcp.ack' && e.mac === mac);
    expect(acks.length).toBeGreaterThan(before);
    return acks.at(-1)?.ip ?? '';
  };

  it('honours a lease ACKed just before SIGKILL', async () => {
    const h1 = nb.lab.host('h1');
    const udhcpc = nb.lab.spawn(h1.netns, 'udhcpc-h1', ['udhcpc', '-f', '-i', 'eth0', '-s', '/bin/true']);
    const ack = await nb.waitEvent('ACK for h1', (e) => e.type === 'dhcp.ack' && e.mac === h1.mac, 20_000);
    await nb.crashAndRestart();
    await udhcpc.stop();
    const stored = await FileLeaseStore.read(join(nb.dir, 'leases.jsonl'));
    expect(stored).toContainEqual(expect.objectContaining({ mac: h1.mac, ip: ack.ip }));

    // Another client asks for exactly that address: it gets a different one.
    const other = await lease('h2', ack.ip);
    expect(other).not.toBe(ack.ip);
    expect(nb.events().filter((e) => e.mac === nb.lab.host('h2').mac && e.ip === ack.ip)).toEqual([]);
    // The owner asks for it again (INIT-REBOOT) and keeps it.
    expect(await lease('h1', ack.ip)).toBe(ack.ip);
  });
});
