import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNetworkLab,
  type NetworkLab,
  Scope,
  type SimulatedRack,
  startSimulatedBmcs,
  waitFor,
} from '../bed/index.js';
import { BIN, build, claims, overlaps, RECORDER, status, writeClusterKey } from './agent-helpers.js';

// Three nodes in their own network namespaces on a lab bridge; etcd and the BMCs live in the
// bridge's namespace, so cutting a node's link cuts it off from etcd but not its BMC from
// the others. The cut-off holder must stop its singleton before anyone else starts it.
describe('agent: a node cut off from the network stops its singletons before they move', () => {
  let lab: NetworkLab;
  let rack: SimulatedRack;
  let scope: Scope;
  let log: string;
  let etcd: string[];

  beforeAll(async () => {
    build();
    scope = Scope.open('agent-partition');
    lab = await createNetworkLab({ hosts: 3 });
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    etcd = [`http://${lab.gateway}:2379`];
    lab.spawn(lab.bridgeNetns, 'etcd', [
      'etcd',
      '--name',
      'lab',
      '--data-dir',
      join(scope.dir, 'etcd'),
      '--listen-client-urls',
      etcd[0] ?? '',
      '--advertise-client-urls',
      etcd[0] ?? '',
      '--listen-peer-urls',
      `http://${lab.gateway}:2380`,
      '--initial-advertise-peer-urls',
      `http://${lab.gateway}:2380`,
      '--initial-cluster',
      `lab=http://${lab.gateway}:2380`,
    ]);
    await waitFor(
      'etcd in the bridge namespace',
      () =>
        lab
          .exec(lab.bridgeNetns, ['etcdctl', '--endpoints', etcd.join(','), 'endpoint', 'health'])
          .then(() => true)
          .catch(() => false),
      20_000,
      200,
    );
    const addresses = [200, 201, 202].map((n) => `${net}.${n}`);
    for (const address of addresses)
      await lab.exec(lab.bridgeNetns, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'br0']);
    log = join(scope.dir, 'claims.log');
    writeFileSync(log, '');
    const clusterKeyFile = writeClusterKey(scope.dir);
    rack = await startSimulatedBmcs({
      count: 3,
      netns: lab.bridgeNetns,
      addresses,
      onPowerOn: ({ index }) =>
        `exec ip netns exec ${lab.host(`h${index}`).netns} node ${BIN} agent --config ${join(scope.dir, `h${index}.yaml`)}`,
    });
    for (const bmc of rack.bmcs) {
      const dir = join(scope.dir, `h${bmc.index}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'bmc-password'), `${bmc.password}\n`);
      writeFileSync(
        join(scope.dir, `h${bmc.index}.yaml`),
        JSON.stringify({
          name: `h${bmc.index}`,
          etcd,
          dataDir: dir,
          leaseTtl: 2,
          clusterKeyFile,
          bmc: { host: bmc.host, port: bmc.port, user: bmc.user, passwordFile: join(dir, 'bmc-password') },
          services: [{ name: 'db', placement: 'singleton', command: ['sh', RECORDER, log] }],
        }),
      );
      await bmc.ipmitool(['chassis', 'power', 'on']);
    }
    await waitFor(
      'three ready nodes, with db held',
      () => {
        const s = status(etcd, lab.bridgeNetns);
        return s.nodes.filter((n) => n.state === 'ready').length === 3 && !!s.singletons.db && !!s.singletons.fencer;
      },
      30_000,
      300,
    );
  });

  afterAll(async () => {
    await rack?.stop();
    await lab?.destroy();
    await scope?.close();
  });

  it('stops the singleton on the cut-off node first, then fences it, then starts it elsewhere', async () => {
    const holder = status(etcd, lab.bridgeNetns).singletons.db ?? '';
    const bmc = rack.bmcs[Number(holder.slice(1)) - 1];
    if (!bmc) throw new Error('no BMC for the holder');
    await lab.setLink(holder, 'down');
    await waitFor(
      'db to be held by another node',
      () => {
        const s = status(etcd, lab.bridgeNetns);
        return !!s.singletons.db && s.singletons.db !== holder;
      },
      30_000,
      200,
    );
    const runs = claims(log);
    const cut = runs.filter((r) => r.node === holder);
    const next = runs.find((r) => r.node !== holder);
    // The cut-off node stopped its own run (SIGTERM from its agent, not the power-off's SIGKILL)…
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.every((r) => r.stop !== undefined)).toBe(true);
    // …before the next holder started, and no two runs ever overlapped.
    expect(next?.start).toBeGreaterThan(cut.at(-1)?.stop ?? Number.POSITIVE_INFINITY);
    expect(overlaps(runs)).toEqual([]);
    // And it was fenced through its BMC.
    expect(await bmc.events()).toContain('power off');
    expect(status(etcd, lab.bridgeNetns).nodes.find((n) => n.name === holder)?.fenced?.method).toBe('bmc');
  });
});
