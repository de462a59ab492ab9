import { describe, expect, it } from 'vitest';
import { HostUnavailableError, NoRouterHomeError, rendezvous, RouterHomes } from '../../appliance/compute/index.js';
import type { HostInventory, RouterRequest, RouterState } from '../../appliance/host/index.js';

const ID = '6f1c1f5e-0c7a-4a53-9a39-5b1c2d3e4f50';
const request = (name: string): RouterRequest => ({ name, gateway: null, interfaces: [], floatingIps: [], routes: [] });
const inventory = (node: string): HostInventory => ({
  ...{ node, url: `https://${node}:8774`, vcpus: 4, memoryMb: 4096, diskGb: 40 },
  ...{ accel: 'tcg', hypervisorVersion: 8_000_000 },
});
const record = (node: string, wanted: RouterRequest, fault: RouterState['fault'] = null): RouterState => ({
  ...{ id: ID, node, request: wanted, fault, updatedAt: '2026-12-07T00:00:00Z' },
});

/** RouterHomes over `live` nodes and `records`, with the calls it makes to the nodes written down. */
function homes(options: { live: string[]; records?: RouterState[]; wanted: RouterRequest | null }) {
  const calls: string[] = [];
  const subject = new RouterHomes(
    async () => options.wanted,
    { inventories: () => options.live.map(inventory), routers: () => options.records ?? [] },
    (host) => ({
      putRouter: async (id, body) => void calls.push(`put ${host.node} ${id} ${body.name}`),
      deleteRouter: async (id) => void calls.push(`delete ${host.node} ${id}`),
    }),
  );
  return { subject, calls };
}

describe("routers' homes", () => {
  it('puts a new router on the node rendezvous hashing ranks first, the same from every caller', async () => {
    const live = ['n1', 'n2', 'n3', 'n4'];
    const first = homes({ live, wanted: request('r') });
    const second = homes({ live: [...live].reverse(), wanted: request('r') });
    expect(await first.subject.apply(ID)).toBe(rendezvous(ID, live));
    expect(await second.subject.apply(ID)).toBe(rendezvous(ID, live));
    expect(first.calls).toEqual([`put ${rendezvous(ID, live)} ${ID} r`]);
    expect(second.calls).toEqual(first.calls);
  });

  it('leaves a router its home holds as asked, and carries a change (or a failed make) to that home only', async () => {
    const same = homes({ live: ['n1', 'n2'], records: [record('n2', request('r'))], wanted: request('r') });
    expect(await same.subject.apply(ID)).toBe('n2');
    expect(same.calls).toEqual([]);
    const changed = homes({ live: ['n1', 'n2'], records: [record('n2', request('r'))], wanted: request('r2') });
    await changed.subject.apply(ID);
    expect(changed.calls).toEqual([`put n2 ${ID} r2`]);
    const failed = homes({
      live: ['n1', 'n2'],
      records: [record('n2', request('r'), { code: 'HOST_ERR_X', message: 'x' })],
      wanted: request('r'),
    });
    await failed.subject.apply(ID);
    expect(failed.calls).toEqual([`put n2 ${ID} r`]);
  });

  it('removes a router gone from the database from the live nodes that hold it', async () => {
    const gone = homes({
      live: ['n1', 'n2'],
      records: [record('n1', request('r')), record('n3', request('r'))],
      wanted: null,
    });
    expect(await gone.subject.apply(ID)).toBeNull();
    expect(gone.calls).toEqual([`delete n1 ${ID}`]);
  });

  it('keeps a router on a home that is down until it is fenced, then makes it on a live node', async () => {
    const records = [record('n1', request('r'))];
    const down = homes({ live: ['n2', 'n3'], records, wanted: request('r') });
    await expect(down.subject.apply(ID)).rejects.toBeInstanceOf(HostUnavailableError);
    expect(down.calls).toEqual([]);
    const fenced = homes({ live: ['n2', 'n3'], records, wanted: request('r') });
    const home = await fenced.subject.apply(ID, new Set(['n1']));
    expect(home).toBe(rendezvous(ID, ['n2', 'n3']));
    expect(fenced.calls).toEqual([`put ${home} ${ID} r`]);
  });

  it('keeps one home when two live nodes hold the router, and removes it from the other', async () => {
    const two = homes({
      live: ['n1', 'n2', 'n3'],
      records: [record('n3', request('r')), record('n1', request('r'))],
      wanted: request('r'),
    });
    expect(await two.subject.apply(ID)).toBe('n3');
    expect(two.calls).toEqual([`delete n1 ${ID}`]);
  });

  it('refuses, retryable, when no host service is up', async () => {
    const none = homes({ live: [], wanted: request('r') });
    const error = await none.subject.apply(ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoRouterHomeError);
    expect(error).toMatchObject({ code: 'COMPUTE_ERR_NO_ROUTER_HOME', retryable: true });
  });

  it('moves only the routers of a node that goes, and spreads them over the nodes', () => {
    const ids = Array.from({ length: 400 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const before = new Map(ids.map((id) => [id, rendezvous(id, ['n1', 'n2', 'n3', 'n4'])]));
    const after = new Map(ids.map((id) => [id, rendezvous(id, ['n1', 'n2', 'n4'])]));
    for (const id of ids) if (before.get(id) !== 'n3') expect(after.get(id)).toBe(before.get(id));
    const counts = ['n1', 'n2', 'n3', 'n4'].map((n) => [...before.values()].filter((h) => h === n).length);
    for (const count of counts) expect(count).toBeGreaterThan(60); // 100 each on average
  });
});
