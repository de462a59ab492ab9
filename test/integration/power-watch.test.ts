import { randomBytes } from 'node:crypto';
import { Election } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KeptLease,
  keys,
  PrefixView,
  readBmc,
  releaseLeases,
  sealRecord,
  Store,
  watchNeighbourPower,
} from '../../agent/index.js';
import { IpmiPowerDriver } from '../../bootstrap/index.js';
import { type EtcdCluster, type SimulatedRack, startEtcd, startSimulatedBmcs, waitFor } from '../bed/index.js';

// The power watch on a real etcd and three ipmi_sim BMCs: nodes m1, m2, m3 registered under
// leases of their own (as agents register), each watching the next one's BMC. A node whose BMC
// says off is told lost once, by its one watcher, and releaseLeases revokes its registration
// and its DB master candidacy, and nobody else's.
describe('power watch: a node whose BMC says off is gone at once (real etcd, ipmi_sim)', () => {
  let etcd: EtcdCluster;
  let rack: SimulatedRack;
  let store: Store;
  let nodes: PrefixView;
  let clusterKey: Buffer;
  const leases = new Map<string, KeptLease>();
  const watches = new Map<string, { close(): Promise<void> }>();
  const told: { by: string; node: string; lease: string }[] = [];
  const logged: string[] = [];

  const register = async (name: string) => {
    const lease = await store.grantLease(3);
    leases.set(name, lease);
    await store.put(
      keys.node(name),
      JSON.stringify({ name, lease: lease.id, startedAt: new Date().toISOString() }),
      lease.id,
    );
    return lease;
  };
  const watch = (self: string, roundMs = 100) =>
    watches.set(
      self,
      watchNeighbourPower({
        self,
        nodes,
        bmc: (node) => readBmc(store, clusterKey, node),
        driver: new IpmiPowerDriver(),
        lost: (node, lease) => told.push({ by: self, node, lease }),
        log: (message) => logged.push(`${self}: ${message}`),
        roundMs,
      }),
    );

  beforeAll(async () => {
    [etcd, rack] = await Promise.all([startEtcd({ members: 1 }), startSimulatedBmcs({ count: 3 })]);
    store = Store.connect(etcd.endpoints);
    clusterKey = randomBytes(32);
    for (const bmc of rack.bmcs) {
      const key = keys.bmc(`m${bmc.index}`);
      await store.put(
        key,
        sealRecord(clusterKey, key, { host: bmc.host, port: bmc.port, user: bmc.user, password: bmc.password }),
      );
      await bmc.ipmitool(['chassis', 'power', 'on']);
    }
    for (const name of ['m1', 'm2', 'm3']) await register(name);
    nodes = await PrefixView.open(store, keys.nodes, () => {});
  });

  afterAll(async () => {
    await Promise.all([...watches.values()].map((w) => w.close()));
    await nodes?.close();
    for (const lease of leases.values()) await lease.revoke().catch(() => {});
    await store?.close();
    await rack?.stop();
    await etcd?.stop();
  });

  it('tells the one watcher of a node that is powered off, once, with the incarnation still registered', async () => {
    for (const self of ['m1', 'm2', 'm3']) watch(self);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a few rounds, all on
    expect(told).toEqual([]);
    await rack.bmcs[1]?.ipmitool(['chassis', 'power', 'off']); // m2
    await waitFor('m2 told lost', () => told.length > 0, 5_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 500)); // rounds go on: no second word
    expect(told).toEqual([{ by: 'm1', node: 'm2', lease: leases.get('m2')?.id }]);
    expect(logged).toEqual([]);
  });

  it('revokes the lost node’s registration and its DB master candidacy, and nobody else’s', async () => {
    // Candidacies as the DB masters make them: a key of their own lease each, naming the node.
    const candidacy = async (node: string) => {
      const lease = await store.grantLease(2);
      await store.put(`${Election.prefix}/db-master/${lease.id}`, JSON.stringify({ node }), lease.id);
      return lease;
    };
    const [m3Candidacy, m2Candidacy] = [await candidacy('m3'), await candidacy('m2')];
    const lost = told[0];
    if (!lost) throw new Error('nothing was told');
    expect(await releaseLeases(store, lost.node, ['db-master'], lost.lease)).toBe(2);
    await watches.get('m2')?.close(); // its agent is dead with it
    expect(await store.get(keys.node('m2'))).toBeUndefined();
    expect(await store.get(`${Election.prefix}/db-master/${m2Candidacy.id}`)).toBeUndefined();
    expect(await store.get(keys.node('m1'))).toBeDefined();
    expect(await store.get(keys.node('m3'))).toBeDefined();
    expect(await store.get(`${Election.prefix}/db-master/${m3Candidacy.id}`)).toBeDefined();
    // A lease that already ended is no error.
    expect(await releaseLeases(store, lost.node, ['db-master'], lost.lease)).toBe(1);
    await m3Candidacy.revoke();
  });

  it('moves on to the next node once the lost one is unregistered, and tells its new incarnation', async () => {
    // m1 now watches m3; m3 is powered off and told by m1 (m2 is gone).
    await rack.bmcs[2]?.ipmitool(['chassis', 'power', 'off']);
    await waitFor('m3 told lost by m1', () => told.some((t) => t.node === 'm3'), 5_000, 50);
    expect(told.filter((t) => t.node === 'm3')).toEqual([{ by: 'm1', node: 'm3', lease: leases.get('m3')?.id }]);
    // m2 comes back on and registers again: a new incarnation is watched afresh (by m1 again, the next after it).
    const first = leases.get('m2')?.id;
    await rack.bmcs[1]?.ipmitool(['chassis', 'power', 'on']);
    const again = await register('m2');
    await rack.bmcs[1]?.ipmitool(['chassis', 'power', 'off']);
    await waitFor('m2’s new incarnation told lost', () => told.some((t) => t.lease === again.id), 5_000, 50);
    expect(told.filter((t) => t.node === 'm2')).toEqual([
      { by: 'm1', node: 'm2', lease: first },
      { by: 'm1', node: 'm2', lease: again.id },
    ]);
  });

  it('a BMC that refuses the session or is unknown is said once and tells nothing', async () => {
    await Promise.all([...watches.values()].map((w) => w.close()));
    watches.clear();
    const before = told.length;
    // m4 registered with a BMC record whose password is wrong; m5 with none. m3's watcher is
    // m4's, m4's is m5's.
    const bmc = rack.bmcs[0];
    if (!bmc) throw new Error('no BMC');
    const key = keys.bmc('m4');
    await store.put(
      key,
      sealRecord(clusterKey, key, { host: bmc.host, port: bmc.port, user: bmc.user, password: 'wrong' }),
    );
    await register('m4');
    await register('m5');
    await rack.bmcs[0]?.ipmitool(['chassis', 'power', 'off']);
    watch('m3');
    watch('m4');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(told.length).toBe(before);
    expect(logged.filter((line) => line.startsWith('m3: cannot watch m4'))).toHaveLength(1);
    expect(logged.filter((line) => line.startsWith('m4: no BMC is known for m5'))).toHaveLength(1);
  });
});
