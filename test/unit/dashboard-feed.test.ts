import { describe, expect, it } from 'vitest';
import type { Change, Entry, Store, WatchHandlers } from '../../agent/index.js';
import { RackFeed, type RackListener } from '../../appliance/api/dashboard/feed.js';
import type { RackEvent, RackSnapshot } from '../../appliance/api/dashboard/web/wire.js';

/** The part of a Store the feed uses, in memory: prefixes listed and watched, watches counted. */
class MemoryStore {
  readonly watches = new Map<string, WatchHandlers>();
  revision = 10;
  events: Entry[] = [];
  async list(prefix: string) {
    return { entries: prefix === '/rackseed/events/' ? this.events : [], revision: String(this.revision) };
  }
  async watchPrefix(prefix: string, handlers: WatchHandlers) {
    if (this.watches.has(prefix)) throw new Error(`two watches on ${prefix}`);
    this.watches.set(prefix, handlers);
    return { close: async () => void this.watches.delete(prefix) };
  }
  change(prefix: string, key = `${prefix}x`): void {
    const change: Change = {
      type: 'put',
      entry: { key, value: '{}', modRevision: '1', createRevision: '1', lease: '0' },
    };
    this.watches.get(prefix)?.onChange(change);
  }
  recordEvent(event: RackEvent): void {
    const entry = {
      key: `/rackseed/events/${event.at}`,
      value: JSON.stringify(event),
      modRevision: '1',
      createRevision: '1',
      lease: '0',
    };
    this.watches.get('/rackseed/events/')?.onChange({ type: 'put', entry });
  }
}

const rack = (nodes: string[]): RackSnapshot => ({
  at: new Date().toISOString(),
  nodes: nodes.map((name) => ({
    name,
    phase: 'ready',
    power: 'on',
    ready: true,
    why: null,
    registered: true,
    fenced: null,
    services: {},
    etcd: null,
    singletons: [],
    servers: [],
  })),
  etcd: { leader: null, members: [] },
  singletons: [],
  ceph: null,
  unplaced: [],
});

function recorder() {
  const got = { snapshots: [] as RackSnapshot[], events: [] as RackEvent[], recent: [] as (readonly RackEvent[])[] };
  const listener: RackListener = {
    snapshot: (s) => got.snapshots.push(s),
    event: (e) => got.events.push(e),
    events: (es) => got.recent.push(es),
  };
  return { got, listener };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PREFIXES = ['/rackseed/machines/', '/rackseed/nodes/'];

describe('the dashboard rack feed', () => {
  it('watches only while someone listens, and shares one set of watches', async () => {
    const store = new MemoryStore();
    let reads = 0;
    const feed = new RackFeed(store as unknown as Store, PREFIXES, async () => (reads++, rack(['n1'])), {
      log: () => {},
    });
    expect(feed.watches).toBe(0);
    const a = recorder();
    const b = recorder();
    const leaveA = await feed.subscribe(a.listener);
    const leaveB = await feed.subscribe(b.listener);
    expect(feed.watches).toBe(3); // the events and both prefixes, once
    expect([...store.watches.keys()].sort()).toEqual(['/rackseed/events/', ...PREFIXES].sort());
    expect(reads).toBe(1);
    expect(a.got.snapshots).toHaveLength(1);
    expect(b.got.snapshots).toHaveLength(1);
    await leaveA();
    expect(feed.watches).toBe(3);
    await leaveB();
    await leaveB(); // twice is once
    expect(feed.watches).toBe(0);
    expect(store.watches.size).toBe(0);
    expect(feed.listeners).toBe(0);
  });

  it('reads once for a burst of changes, and sends a snapshot only when the rack changed', async () => {
    const store = new MemoryStore();
    let nodes = ['n1'];
    let reads = 0;
    const feed = new RackFeed(store as unknown as Store, PREFIXES, async () => (reads++, rack(nodes)), {
      log: () => {},
      coalesceMs: 30,
    });
    const { got, listener } = recorder();
    const leave = await feed.subscribe(listener);
    nodes = ['n1', 'n2'];
    for (let i = 0; i < 20; i++) store.change(PREFIXES[i % 2] ?? '');
    await sleep(120);
    expect(reads).toBe(2);
    expect(got.snapshots.map((s) => s.nodes.length)).toEqual([1, 2]);
    store.change(PREFIXES[0] ?? ''); // read again, same rack: nothing sent
    await sleep(120);
    expect(reads).toBe(3);
    expect(got.snapshots).toHaveLength(2);
    await leave();
  });

  it('gives a new listener the newest events, then each new one', async () => {
    const store = new MemoryStore();
    const old: RackEvent = {
      at: '2026-12-06T07:00:00.000Z',
      type: 'node.transition',
      by: 'n1',
      node: 'n1',
      detail: 'ready',
    };
    store.events = [
      {
        key: `/rackseed/events/${old.at}`,
        value: JSON.stringify(old),
        modRevision: '1',
        createRevision: '1',
        lease: '0',
      },
    ];
    const feed = new RackFeed(store as unknown as Store, PREFIXES, async () => rack([]), { log: () => {} });
    const { got, listener } = recorder();
    const leave = await feed.subscribe(listener);
    expect(got.recent).toEqual([[old]]);
    const fresh: RackEvent = { ...old, at: '2026-12-06T07:00:01.000Z', type: 'node.fenced', detail: 'fenced' };
    store.recordEvent(fresh);
    expect(got.events).toEqual([fresh]);
    await leave();
  });

  it('closes what it opened when its first read fails, and starts again on the next listener', async () => {
    const store = new MemoryStore();
    let fail = true;
    const feed = new RackFeed(
      store as unknown as Store,
      PREFIXES,
      async () => {
        if (fail) throw new Error('etcd away');
        return rack(['n1']);
      },
      { log: () => {} },
    );
    await expect(feed.subscribe(recorder().listener)).rejects.toThrow('etcd away');
    expect(feed.watches).toBe(0);
    fail = false;
    const leave = await feed.subscribe(recorder().listener);
    expect(feed.watches).toBe(3);
    await leave();
    expect(feed.watches).toBe(0);
  });
});
