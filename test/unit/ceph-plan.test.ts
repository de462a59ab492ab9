import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CephAction,
  type CephMonView,
  type CephOsdView,
  type CephView,
  cephxKey,
  newCephIdentity,
  planCeph,
  RACKSEED_POOL,
  MON_REPLACE_AFTER_FENCE_MS,
  OSD_OUT_AFTER_FENCE_MS,
  renderCephConf,
  replicasFor,
} from '../../agent/index.js';

/** The pools the keeper makes (rackseed's, images, vms), all at one size. */
const allPools = (size: number, minSize: number) =>
  [RACKSEED_POOL, 'images', 'vms'].map((name) => ({ name, size, minSize }));
const base: CephView = {
  answering: true,
  mons: [],
  monmap: [],
  candidates: [],
  osds: [],
  pools: [],
  replicas: undefined,
};
const mon = (node: string, over: Partial<CephMonView> = {}): CephMonView => ({
  node,
  inQuorum: true,
  fencedFor: undefined,
  ...over,
});
const osd = (id: number, node: string, over: Partial<CephOsdView> = {}): CephOsdView => ({
  id,
  node,
  up: true,
  in: true,
  fencedFor: undefined,
  ...over,
});
const candidates = (...nodes: string[]) => nodes.map((node) => ({ node, addr: `v2:${node}:3300` }));

/** Plays the planner against a simulated cluster until it rests; returns the actions taken. */
function settle(start: CephView, nodes: readonly string[]): { view: CephView; actions: CephAction[] } {
  let view = start;
  const actions: CephAction[] = [];
  for (let step = 0; step < 50; step++) {
    const assigned = new Set(view.mons.map((m) => m.node));
    const action = planCeph({ ...view, candidates: candidates(...nodes.filter((n) => !assigned.has(n))) });
    if (action.type === 'none') return { view, actions };
    actions.push(action);
    switch (action.type) {
      case 'add-mon':
        view = { ...view, mons: [...view.mons, mon(action.node)] };
        break;
      case 'remove-mon':
        view = {
          ...view,
          mons: view.mons.filter((m) => m.node !== action.node),
          monmap: view.monmap.filter((m) => m.name !== action.node),
        };
        break;
      case 'osd-down':
        view = { ...view, osds: view.osds.map((o) => (o.id === action.id ? { ...o, up: false } : o)) };
        break;
      case 'osd-out':
        view = { ...view, osds: view.osds.map((o) => (o.id === action.id ? { ...o, in: false } : o)) };
        break;
      case 'osd-in':
        view = { ...view, osds: view.osds.map((o) => (o.id === action.id ? { ...o, in: true } : o)) };
        break;
      case 'replicas':
        view = { ...view, replicas: action.replicas };
        break;
      case 'create-pool':
        view = { ...view, pools: [...view.pools, { name: action.pool, ...(view.replicas ?? replicasFor(1)) }] };
        break;
      case 'pool-size':
        view = {
          ...view,
          pools: view.pools.map((p) => (p.name === action.pool ? { name: p.name, ...action.replicas } : p)),
        };
        break;
    }
  }
  throw new Error('the planner did not come to rest in 50 steps');
}

describe('Ceph planner', () => {
  it('makes the first monitor on the first candidate by name, as a new cluster', () => {
    expect(planCeph({ ...base, answering: false, candidates: candidates('h3', 'h1', 'h2') })).toEqual({
      type: 'add-mon',
      node: 'h1',
      addr: 'v2:h1:3300',
      initial: true,
    });
    expect(planCeph(base)).toMatchObject({ type: 'none' });
  });

  it('does nothing else while the monitors have no quorum', () => {
    expect(planCeph({ ...base, answering: false, mons: [mon('h1')], candidates: candidates('h2') })).toMatchObject({
      type: 'none',
      reason: expect.stringContaining('quorum'),
    });
  });

  it('grows to three monitors one at a time, each waited for until it is in the quorum', () => {
    const joining = { ...base, mons: [mon('h1'), mon('h2', { inQuorum: false })], candidates: candidates('h3') };
    expect(planCeph(joining)).toMatchObject({ type: 'none', reason: expect.stringContaining('h2'), waiting: true });
    const { view, actions } = settle({ ...base, answering: true }, ['h1', 'h2', 'h3', 'h4', 'h5']);
    expect(actions.filter((a) => a.type === 'add-mon').map((a) => a.type === 'add-mon' && [a.node, a.initial])).toEqual(
      [
        ['h1', true],
        ['h2', false],
        ['h3', false],
      ],
    );
    expect(view.mons.map((m) => m.node)).toEqual(['h1', 'h2', 'h3']);
  });

  it('marks a fenced node’s OSD down at once (writes wait on it); out, and its monitor replaced, only once the failover is past', () => {
    const fenced = (fencedFor: number): CephView => ({
      ...base,
      mons: [mon('h1'), mon('h2', { fencedFor, inQuorum: false }), mon('h3')],
      osds: [osd(0, 'h1'), osd(1, 'h2', { fencedFor }), osd(2, 'h3'), osd(3, 'h4')],
      replicas: replicasFor(3),
      pools: allPools(3, 2),
    });
    expect(planCeph({ ...fenced(0), candidates: candidates('h4') })).toEqual({ type: 'osd-down', id: 1, node: 'h2' });
    const early = settle(fenced(MON_REPLACE_AFTER_FENCE_MS - 1), ['h1', 'h3', 'h4']);
    expect(early.actions.map((a) => a.type)).toEqual(['osd-down']);
    expect(planCeph(early.view)).toMatchObject({ type: 'none', waiting: true, reason: expect.stringContaining('h2') });
    // The monitor first (a second loss before its replacement joins would cost the quorum)…
    const replaced = settle(fenced(MON_REPLACE_AFTER_FENCE_MS), ['h1', 'h3', 'h4']);
    expect(replaced.actions.map((a) => a.type)).toEqual(['osd-down', 'remove-mon', 'add-mon']);
    expect(replaced.view.mons.map((m) => m.node)).toEqual(['h1', 'h3', 'h4']);
    expect(replaced.view.osds.find((o) => o.id === 1)).toMatchObject({ up: false, in: true });
    // …the OSD out later (its placement groups peer again).
    const { view, actions } = settle(fenced(OSD_OUT_AFTER_FENCE_MS), ['h1', 'h3', 'h4']);
    expect(actions.map((a) => a.type)).toEqual(['osd-down', 'osd-out', 'remove-mon', 'add-mon']);
    expect(view.mons.map((m) => m.node)).toEqual(['h1', 'h3', 'h4']);
    expect(view.osds.find((o) => o.id === 1)).toMatchObject({ up: false, in: false });
  });

  it('removes a monitor the monmap kept that no node hosts and that is out of the quorum, then grows to 3 again', () => {
    // h2 was fenced and its assignment deleted, but the monmap still has it: MON_DOWN forever.
    const start: CephView = {
      ...base,
      mons: [mon('h1'), mon('h3')],
      monmap: [
        { name: 'h1', inQuorum: true },
        { name: 'h2', inQuorum: false },
        { name: 'h3', inQuorum: true },
      ],
      replicas: replicasFor(3),
      pools: allPools(3, 2),
      osds: [osd(0, 'h1'), osd(1, 'h3'), osd(2, 'h4')],
    };
    expect(planCeph({ ...start, candidates: candidates('h4') })).toEqual({
      type: 'remove-mon',
      node: 'h2',
      why: 'unassigned',
    });
    const { view, actions } = settle(start, ['h1', 'h3', 'h4']);
    expect(actions.map((a) => a.type)).toEqual(['remove-mon', 'add-mon']);
    expect(view.monmap.map((m) => m.name)).toEqual(['h1', 'h3']);
    expect(view.mons.map((m) => m.node)).toEqual(['h1', 'h3', 'h4']);
  });

  it('leaves an unassigned monitor that is in the quorum, and the monmap’s only monitor, alone', () => {
    const mons = [mon('h1'), mon('h2'), mon('h3')];
    const inQuorum = [...mons.map((m) => ({ name: m.node, inQuorum: true })), { name: 'h9', inQuorum: true }];
    expect(planCeph({ ...base, mons, monmap: inQuorum })).toMatchObject({ type: 'none' });
    expect(planCeph({ ...base, mons: [], monmap: [{ name: 'h9', inQuorum: false }] })).toMatchObject({
      type: 'none',
    });
  });

  it('lets a monitor that is still joining hold back only the next monitor, not the OSD steps', () => {
    const mons = [mon('h1'), mon('h2', { inQuorum: false })];
    const osds = [osd(0, 'h1'), osd(1, 'h3', { fencedFor: 0 })];
    expect(planCeph({ ...base, mons, osds, candidates: candidates('h4') })).toMatchObject({ type: 'osd-down', id: 1 });
  });

  it('never removes the last monitor', () => {
    const mons = [mon('h1', { fencedFor: OSD_OUT_AFTER_FENCE_MS })];
    expect(planCeph({ ...base, mons })).toMatchObject({ type: 'none' });
  });

  it('marks a fenced node’s OSD down, then out, and a live node’s OSD that is up again in', () => {
    const mons = [mon('h1'), mon('h2'), mon('h3')];
    const long = OSD_OUT_AFTER_FENCE_MS;
    expect(planCeph({ ...base, mons, osds: [osd(0, 'h1'), osd(1, 'h2', { fencedFor: long })] })).toEqual({
      type: 'osd-down',
      id: 1,
      node: 'h2',
    });
    expect(planCeph({ ...base, mons, osds: [osd(1, 'h2', { fencedFor: long, up: false })] })).toEqual({
      type: 'osd-out',
      id: 1,
      node: 'h2',
    });
    expect(planCeph({ ...base, mons, osds: [osd(1, 'h2', { in: false })] })).toEqual({
      type: 'osd-in',
      id: 1,
      node: 'h2',
    });
    // Down but not fenced: left to Ceph (it may be a restart).
    expect(
      planCeph({ ...base, mons, osds: [osd(1, 'h2', { up: false })], replicas: replicasFor(1), pools: [] }),
    ).toEqual({
      type: 'create-pool',
      pool: RACKSEED_POOL,
      application: 'rados',
    });
  });

  it('sets replicas from the OSD hosts that are in: 1/1, 2/1, then 3/2 from three hosts on', () => {
    expect([1, 2, 3, 4, 9].map(replicasFor)).toEqual([
      { size: 1, minSize: 1 },
      { size: 2, minSize: 1 },
      { size: 3, minSize: 2 },
      { size: 3, minSize: 2 },
      { size: 3, minSize: 2 },
    ]);
    const mons = [mon('h1'), mon('h2'), mon('h3')];
    const osds = [osd(0, 'h1'), osd(1, 'h2'), osd(2, 'h3'), osd(3, 'h4')];
    const { view, actions } = settle(
      { ...base, mons, osds, pools: [{ name: 'device_health_metrics', size: 1, minSize: 1 }] },
      ['h1', 'h2', 'h3', 'h4'],
    );
    expect(actions.map((a) => a.type)).toEqual(['replicas', 'create-pool', 'create-pool', 'create-pool', 'pool-size']);
    // rackseed's own pool first, then RBD's for images and servers' disks.
    expect(actions.slice(1, 4)).toEqual([
      { type: 'create-pool', pool: RACKSEED_POOL, application: 'rados' },
      { type: 'create-pool', pool: 'images', application: 'rbd' },
      { type: 'create-pool', pool: 'vms', application: 'rbd' },
    ]);
    expect(actions[4]).toMatchObject({ pool: 'device_health_metrics', fromSize: 1 });
    expect(view.pools.every((p) => p.size === 3 && p.minSize === 2)).toBe(true);
    expect(planCeph(view)).toMatchObject({ type: 'none', waiting: false });
  });

  it('shrinks replicas when a fenced host’s OSD went out (4 → 2 hosts)', () => {
    const mons = [mon('h1'), mon('h3'), mon('h4')];
    const osds = [
      osd(0, 'h1'),
      osd(1, 'h2', { fencedFor: OSD_OUT_AFTER_FENCE_MS, up: false, in: false }),
      osd(2, 'h3'),
    ];
    const pools = allPools(3, 2);
    expect(planCeph({ ...base, mons, osds, pools, replicas: replicasFor(3) })).toEqual({
      type: 'replicas',
      replicas: { size: 2, minSize: 1 },
    });
    expect(planCeph({ ...base, mons, osds, pools, replicas: replicasFor(2) })).toEqual({
      type: 'pool-size',
      pool: 'images', // pools are resized in name order
      fromSize: 3,
      replicas: { size: 2, minSize: 1 },
    });
  });
});

describe('cephx keys', () => {
  it('encodes like ceph-authtool --gen-print-key (golden from Ceph 16.2.15 on this machine)', () => {
    // `ceph-authtool --gen-print-key` → AQB71wFrRwDyBhAAo2rwcThEz5EWvos91QF3oQ== (2026-11-21)
    const golden = Buffer.from('AQB71wFrRwDyBhAAo2rwcThEz5EWvos91QF3oQ==', 'base64');
    const secret = golden.subarray(12);
    const created = { sec: golden.readUInt32LE(2), nsec: golden.readUInt32LE(6) };
    expect(cephxKey(secret, created)).toBe('AQB71wFrRwDyBhAAo2rwcThEz5EWvos91QF3oQ==');
  });

  it('always has the AES type, 16 secret bytes and the creation time', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(2 ** 32 - 1),
        fc.nat(999_999_999),
        (bytes, sec, nsec) => {
          const key = Buffer.from(cephxKey(Buffer.from(bytes), { sec, nsec }), 'base64');
          expect(key).toHaveLength(28);
          expect([key.readUInt16LE(0), key.readUInt32LE(2), key.readUInt32LE(6), key.readUInt16LE(10)]).toEqual([
            1,
            sec,
            nsec,
            16,
          ]);
          expect(key.subarray(12)).toEqual(Buffer.from(bytes));
        },
      ),
    );
    expect(() => cephxKey(Buffer.alloc(15))).toThrow(RangeError);
  });

  it('makes a fresh identity each time', () => {
    const [a, b] = [newCephIdentity(), newCephIdentity()];
    expect(a.fsid).not.toBe(b.fsid);
    expect(new Set([a.monKey, a.adminKey, a.bootstrapOsdKey, b.adminKey]).size).toBe(4);
  });
});

describe('ceph.conf', () => {
  it('binds to the node’s address with msgr v2 only, names every monitor and places the OSD under its host', () => {
    const identity = newCephIdentity();
    const conf = renderCephConf({
      identity,
      node: 'h2',
      host: '10.0.0.11',
      monAddrs: ['v2:10.0.0.12:3300', 'v2:10.0.0.10:3300'],
      paths: {
        dir: '/d',
        conf: '/d/ceph.conf',
        adminKeyring: '/d/k',
        bootstrapOsdKeyring: '/d/b',
        mon: '/d/mon',
        mgr: '/d/mgr',
        osd: '/d/osd',
        run: '/d/run',
        log: '/d/log',
      },
    });
    expect(conf).toContain(`fsid = ${identity.fsid}\n`);
    expect(conf).toContain('mon host = [v2:10.0.0.10:3300] [v2:10.0.0.12:3300]\n');
    expect(conf).toContain('public addr = 10.0.0.11\n');
    expect(conf).toContain('ms bind msgr1 = false\n');
    expect(conf).toContain('crush location = root=default host=h2\n');
    expect(conf).not.toContain(identity.adminKey);
  });
});
