import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CephMonRecord, ensureCephIdentity, keys, Store } from '../../agent/index.js';
import { LocalCeph, monAddr } from '../../agent/ceph/index.js';
import { connectCephMonitors } from '../../appliance/rados/index.js';
import { type EtcdCluster, Scope, sparseFile, startEtcd, waitFor } from '../bed/index.js';

const GiB = 1024 ** 3;

/** A sparse file of `bytes` attached to a free loop device; `head` is written at its start. */
function loopDevice(dir: string, name: string, bytes: number, head?: Buffer): string {
  const file = sparseFile(join(dir, name), bytes, head);
  return execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
}

// LocalCeph, as a netbooted node runs it with `--osd-disk`, against a real etcd and real Ceph
// daemons: its monitor makes a one-node cluster, and its OSD's bluestore is made on a real block
// device (a loop device over a sparse file) instead of a file in the data dir. Monitors bind a
// random 127/8 address: port 3300 is fixed and other tests run Ceph on this machine at once.
describe('Ceph: an OSD on a whole disk', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let scope: Scope;
  const loops: string[] = [];
  const nodes: LocalCeph[] = [];
  const logs = new Map<string, string[]>();
  const clusterKey = randomBytes(32);
  const host = `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`;

  const localCeph = (name: string, osdDisk: `/dev/${string}`) => {
    const lines: string[] = [];
    logs.set(name, lines);
    const ceph = new LocalCeph({
      name,
      dataDir: join(scope.dir, name),
      host,
      store,
      clusterKey,
      osdDisk,
      connect: connectCephMonitors,
      log: (line) => lines.push(line),
    });
    nodes.push(ceph);
    return ceph;
  };
  const osdDump = async (ceph: LocalCeph) =>
    (
      JSON.parse((await ceph.command({ prefix: 'osd dump', format: 'json' })).toString()) as {
        osds: { osd: number; up: number; in: number; uuid: string; up_from: number }[];
      }
    ).osds;

  beforeAll(async () => {
    etcd = await startEtcd();
    store = Store.connect(etcd.endpoints);
    scope = Scope.open('ceph-osd-disk');
    await ensureCephIdentity(store, clusterKey);
    const mon: CephMonRecord = { node: 'd1', addr: monAddr(host), initial: true, at: new Date().toISOString() };
    await store.put(keys.cephMon('d1'), JSON.stringify(mon));
  });
  afterAll(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    for (const loop of loops) execFileSync('losetup', ['-d', loop]);
    await store?.close();
    await etcd?.stop();
    await scope?.close();
  });

  it('makes bluestore on a blank device through <osd data>/block; the OSD comes up and in', async () => {
    const loop = loopDevice(scope.dir, 'disk-d1.img', 5 * GiB);
    loops.push(loop);
    const d1 = localCeph('d1', loop as `/dev/${string}`);
    await d1.start();
    const osds = await waitFor(
      'osd.0 up and in',
      async () => {
        const dump = await osdDump(d1).catch(() => []);
        return dump.length === 1 && dump[0]?.up === 1 && dump[0].in === 1 ? dump : undefined;
      },
      50_000,
      1_000,
    );
    expect(readlinkSync(join(d1.paths.osd, 'block'))).toBe(loop);
    expect(logs.get('d1')).toContain(`ceph: made osd.0 (bluestore on ${loop}, 5.0 GiB, blank)`);
    // The device carries the label of this OSD (BlueStore.cc: text at offset 0), not the data dir.
    const intent = JSON.parse(readFileSync(join(d1.paths.dir, 'osd-intent.json'), 'utf8')) as { uuid: string };
    expect(osds[0]?.uuid).toBe(intent.uuid);
    const head = execFileSync('head', ['-c', '64', loop]).toString('latin1');
    expect(head.startsWith(`bluestore block device\n${intent.uuid}\n`)).toBe(true);
    expect(existsSync(join(d1.paths.osd, 'block.db'))).toBe(false);
  });

  it('refuses a device with data on it: no OSD is made, and it says why once', async () => {
    const data = Buffer.from('a file system, say\n');
    const loop = loopDevice(scope.dir, 'disk-d2.img', 5 * GiB, data);
    loops.push(loop);
    const d2 = localCeph('d2', loop as `/dev/${string}`);
    await d2.start();
    const name = loop.slice('/dev/'.length);
    const line = `ceph: no OSD on this node: no disk fit for it (${loop}: ${name}: not blank (data in its first MiB))`;
    await waitFor('d2 to give up on its disk', () => logs.get('d2')?.includes(line), 30_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 4_500)); // two more rounds: still said once
    expect(logs.get('d2')?.filter((l) => l === line)).toHaveLength(1);
    expect(existsSync(join(d2.paths.osd, 'block'))).toBe(false);
    expect((await osdDump(d2)).map((o) => o.osd)).toEqual([0]);
    // Nothing was written to it.
    expect(execFileSync('head', ['-c', String(data.length), loop])).toEqual(data);
  });

  it('takes back its own labelled device when its mkfs did not finish (OSD dir lost): the same OSD, made again', async () => {
    const [d1] = nodes;
    if (!d1) throw new Error('no d1');
    const upFrom = (await osdDump(d1))[0]?.up_from ?? 0;
    await d1.stop();
    nodes.splice(nodes.indexOf(d1), 1);
    rmSync(d1.paths.osd, { recursive: true, force: true });
    const again = localCeph('d1', loops[0] as `/dev/${string}`);
    await again.start();
    const line = `ceph: made osd.0 (bluestore on ${loops[0]}, 5.0 GiB, its own unfinished one, blanked)`;
    await waitFor('osd.0 made again', () => logs.get('d1')?.includes(line), 50_000, 500);
    await waitFor(
      'osd.0 up again',
      async () => {
        const dump = await osdDump(again).catch(() => []);
        return dump.length === 1 && dump[0]?.up === 1 && dump[0].up_from > upFrom ? true : undefined;
      },
      30_000,
      1_000,
    );
  });
});
