import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_MACHINE } from '../../statemachines/index.js';
import {
  type ClusterEvent,
  EventLog,
  eventEntry,
  followEvents,
  keys,
  listEvents,
  MachineHost,
  MAX_EVENTS,
  Store,
} from '../../agent/index.js';
import { type EtcdCluster, startEtcd, waitFor } from '../bed/index.js';
import { BIN, build } from './agent-helpers.js';

// The cluster's event log on a real etcd: transitions recorded with the change they report
// (exactly once), events an agent records, the filters and the follow of `rackseed events`,
// and the bound.
describe('events: the cluster event log in etcd', () => {
  let etcd: EtcdCluster;
  let store: Store;
  const cli = (...argv: string[]) =>
    execFileSync('node', [BIN, ...argv, '--etcd', etcd.endpoints.join(',')], { encoding: 'utf8', timeout: 15_000 });

  beforeAll(async () => {
    build();
    etcd = await startEtcd({ members: 1 });
    store = Store.connect(etcd.endpoints);
  });

  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });

  it("records a node machine's transition in the same write, once even when the event is applied again", async () => {
    const host = new MachineHost(store, NODE_MACHINE, {}, 'seed');
    await host.create(keys.nodeMachine('node-1'), { name: 'node-1' });
    await host.apply(keys.nodeMachine('node-1'), { type: 'node.registered', lease: '7' }, { eventId: 'r1' });
    await host.apply(keys.nodeMachine('node-1'), { type: 'node.registered', lease: '7' }, { eventId: 'r1' });
    await host.apply(keys.nodeMachine('node-1'), { type: 'node.netboot.started' }); // no transition from joining
    const { events } = await listEvents(store, { node: 'node-1' });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'node.transition',
        node: 'node-1',
        by: 'seed',
        detail: 'discovered → joining (node.registered)',
      }),
    ]);
  });

  it('lists events oldest first, by node, the newest N; the CLI prints them as lines or JSON', async () => {
    const log = new EventLog(store, 'node-2', () => {});
    log.record({ type: 'node.fenced', node: 'node-3', durationMs: 812, detail: 'powered off through its BMC' });
    log.record({ type: 'node.fence.failed', node: 'node-4', code: 'FENCE_ERR_BMC_UNREACHABLE', detail: 'no BMC' });
    await waitFor('both events', async () => (await listEvents(store, { node: 'node-2' })).events.length === 2, 5_000);
    const { events } = await listEvents(store);
    expect(events.map((e) => e.at)).toEqual([...events.map((e) => e.at)].sort());
    expect((await listEvents(store, { node: 'node-4' })).events.map((e) => e.code)).toEqual([
      'FENCE_ERR_BMC_UNREACHABLE',
    ]);
    expect((await listEvents(store, { limit: 1 })).events).toEqual([events.at(-1)]);

    const lines = cli('events', '--node', 'node-3').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ node-3 +node\.fenced +powered off through its BMC \(by node-2\)$/);
    const json = cli('--json', 'events', '--limit', '2')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ClusterEvent);
    expect(json.map((e) => e.type)).toEqual(['node.fenced', 'node.fence.failed']);
    expect(() => cli('events', '--limit', 'many')).toThrow(/--limit many is not a count/);
  });

  it('follows new events in the order etcd committed them, each once, after the ones listed', async () => {
    const { revision } = await listEvents(store);
    const seen: ClusterEvent[] = [];
    const watch = await followEvents(store, revision, { node: 'node-9' }, (e) => seen.push(e));
    try {
      for (const detail of ['one', 'two', 'three']) {
        const { key, value } = eventEntry({ type: 'test.step', node: 'node-9', detail }, 'test');
        await store.put(key, value);
      }
      const other = eventEntry({ type: 'test.step', node: 'node-8', detail: 'not followed' }, 'test');
      await store.put(other.key, other.value);
      await waitFor('three followed events', () => seen.length === 3, 5_000, 50);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen.map((e) => e.detail)).toEqual(['one', 'two', 'three']);
    } finally {
      await watch.close();
    }
  });

  it(`is bounded: a trim keeps the newest ${MAX_EVENTS}`, async () => {
    const before = (await listEvents(store)).events.length;
    expect(await new EventLog(store, 'test', () => {}).trim()).toBe(0); // under the bound
    // Past the bound: the oldest go, in one range delete.
    const extra = MAX_EVENTS - before + 5;
    for (let i = 0; i < extra; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, extra - i) }, (_, j) => {
          const at = new Date(Date.UTC(2030, 0, 1) + i + j).toISOString();
          const { key, value } = eventEntry({ at, type: 'test.fill', detail: String(i + j) }, 'test');
          return store.put(key, value);
        }),
      );
    }
    const oldest = (await listEvents(store)).events.slice(0, 5);
    expect(await new EventLog(store, 'test', () => {}).trim()).toBe(5);
    const { events } = await listEvents(store);
    expect(events).toHaveLength(MAX_EVENTS);
    for (const gone of oldest) expect(events).not.toContainEqual(gone);
    expect(events.at(-1)?.detail).toBe(String(extra - 1));
  });
});
