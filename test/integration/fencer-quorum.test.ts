import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Elections,
  Fencer,
  FenceQuorumError,
  keys,
  listEvents,
  MachineHost,
  sealRecord,
  Store,
} from '../../agent/index.js';
import { IpmiPowerDriver } from '../../bootstrap/index.js';
import { NODE_MACHINE } from '../../statemachines/index.js';
import { type EtcdCluster, type SimulatedRack, startEtcd, startSimulatedBmcs } from '../bed/index.js';

// A fencer on a real three-member etcd, whose members are named m1…m3 like the nodes that host
// them, and two ipmi_sim BMCs for m1 and m2: powering off a node whose voter the cluster needs
// for its quorum would take etcd down, so the fencer refuses it and the BMC is never told to.
describe('fencer: never costs etcd its quorum (real etcd, ipmi_sim)', () => {
  let etcd: EtcdCluster;
  let rack: SimulatedRack;
  let store: Store;
  let elections: Elections;
  let fencer: Fencer;
  let clusterKey: Buffer;
  const logged: string[] = [];

  beforeAll(async () => {
    [etcd, rack] = await Promise.all([startEtcd({ members: 3 }), startSimulatedBmcs({ count: 2 })]);
    store = Store.connect(etcd.endpoints);
    clusterKey = randomBytes(32);
    for (const bmc of rack.bmcs) {
      const key = keys.bmc(`m${bmc.index}`);
      const record = { host: bmc.host, port: bmc.port, user: bmc.user, password: bmc.password };
      await store.put(key, sealRecord(clusterKey, key, record));
      await bmc.ipmitool(['chassis', 'power', 'on']);
    }
    elections = await Elections.open(store, 'fencer-node', {
      elected: () => {},
      deposed: () => {},
      nodeGone: () => {},
      changed: () => {},
    });
    fencer = new Fencer(
      store,
      'fencer-node',
      new IpmiPowerDriver(),
      clusterKey,
      elections,
      (fence) => new MachineHost(store, NODE_MACHINE, { fence: fence as never }),
      () => '0',
      { log: (message) => logged.push(message) },
    );
  });

  afterAll(async () => {
    await elections?.close();
    await store?.close();
    await rack?.stop();
    await etcd?.stop();
  });

  it('powers off a voter’s node while the other two voters answer', async () => {
    const result = await fencer.fence('m1', 'lease-of-m1');
    expect(result).toEqual({ type: 'node.fenced', method: 'bmc' });
    expect(await rack.bmcs[0]?.power()).toBe('off');
    expect(await store.get(keys.fenced('m1'))).toBeDefined();
  });

  it('refuses to power off a voter’s node when only one other voter answers, and leaves the BMC alone', async () => {
    await etcd.kill(0); // m1's member: its node was just fenced
    const result = await fencer.fence('m2', 'lease-of-m2');
    expect(result).toEqual({ type: 'node.fence.failed', error: new FenceQuorumError('m2').message });
    expect(logged.some((line) => line.startsWith('FENCE_ERR_ETCD_QUORUM'))).toBe(true);
    expect(await rack.bmcs[1]?.power()).toBe('on');
    expect(await rack.bmcs[1]?.events()).not.toContain('power off');
    expect(await store.get(keys.fenced('m2'))).toBeUndefined();
  });

  it('fences it once the lost voter answers again', async () => {
    await etcd.restart(0);
    const result = await fencer.fence('m2', 'lease-of-m2');
    expect(result).toEqual({ type: 'node.fenced', method: 'bmc' });
    expect(await rack.bmcs[1]?.power()).toBe('off');
  });

  it('does not fence twice: a fence another agent recorded, not yet in its watched view, is read under the lock', async () => {
    const powerOffs = async () => (await rack.bmcs[1]?.events())?.filter((e) => e.includes('power off')).length ?? 0;
    const before = await powerOffs();
    // A second fencer (a candidate when the holder died) whose view of the fence records lags.
    const stale = { fenceRecord: () => undefined } as unknown as Elections;
    const late = new Fencer(
      store,
      'late-node',
      new IpmiPowerDriver(),
      clusterKey,
      stale,
      (fence) => new MachineHost(store, NODE_MACHINE, { fence: fence as never }),
      () => '0',
      { log: (message) => logged.push(message) },
    );
    expect(await late.fence('m2', 'lease-of-m2')).toEqual({ type: 'node.fenced', method: 'bmc' });
    expect(await powerOffs()).toBe(before);
    const fenced = (await listEvents(store, { node: 'm2' })).events.filter((e) => e.type === 'node.fenced');
    expect(fenced).toHaveLength(1);
  });
});
