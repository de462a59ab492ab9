import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Envelope, MachineHost, MachineSnapshotTooNewError, type PrefixView, Store } from '../../agent/index.js';
import { type EtcdCluster, Scope, startEtcd } from '../bed/index.js';
import { LEDGER } from './fixtures/ledger.js';
import { REPO } from './agent-helpers.js';

const run = promisify(execFile);

describe('machine host: replicated machines in etcd (real etcd)', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let scope: Scope;

  beforeAll(async () => {
    etcd = await startEtcd({ members: 1 });
    store = Store.connect(etcd.endpoints);
    scope = Scope.open('machine-host');
  });
  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
    await scope?.close();
  });

  it('applies 100 events raced by 3 agent processes exactly once each, in each agent’s order', async () => {
    const key = '/rackseed/machines/test/race';
    const host = new MachineHost(store, LEDGER, { ack: async () => ({ type: 'ledger.acked' }) });
    expect(await host.create(key)).toBe(true);
    expect(await host.create(key)).toBe(false);
    const go = join(scope.dir, 'go');
    const shares = { a: 34, b: 33, c: 33 };
    const workers = Object.entries(shares).map(([worker, count]) =>
      run(
        'node',
        [
          '--import',
          'tsx',
          'test/integration/fixtures/race-worker.ts',
          etcd.endpoints.join(','),
          key,
          worker,
          String(count),
          go,
        ],
        { cwd: REPO, timeout: 110_000 },
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // let all three load
    writeFileSync(go, '');
    const results = (await Promise.all(workers)).map(
      (r) => JSON.parse(r.stdout) as { worker: string; applied: number },
    );
    // Each worker applied each of its events once; its retries were no-ops.
    expect(Object.fromEntries(results.map((r) => [r.worker, r.applied]))).toEqual(shares);
    const state = await host.state(key);
    const log = (state?.context as { log: string[]; acks: number }).log;
    expect(log).toHaveLength(100);
    expect(new Set(log).size).toBe(100);
    for (const [worker, count] of Object.entries(shares)) {
      const mine = log.filter((id) => id.startsWith(`${worker}-`));
      expect(mine).toEqual(Array.from({ length: count }, (_, i) => `${worker}-${i}`));
    }
    // Every 10th entry asked for an effect; each ran and reported back exactly once.
    expect((state?.context as { acks: number }).acks).toBe(10);
    expect((await host.read(key))?.envelope.outbox).toEqual([]);
    // They really raced: the log switches between workers more than twice.
    const switches = log.filter((id, i) => i > 0 && id[0] !== log[i - 1]?.[0]).length;
    expect(switches).toBeGreaterThan(2);
  });

  it('restores after a restart: an effect that failed is run again by the next incarnation', async () => {
    const key = '/rackseed/machines/test/restore';
    const crashing = new MachineHost(store, LEDGER, {
      ack: async () => {
        throw new Error('the agent died before the effect finished');
      },
    });
    await crashing.create(key);
    for (let i = 0; i < 10; i++) await crashing.apply(key, { type: 'ledger.append', id: `e${i}` });
    expect((await crashing.read(key))?.envelope.outbox.map((e) => e.type)).toEqual(['ack']);
    let acks = 0;
    const restarted = new MachineHost(store, LEDGER, {
      ack: async () => {
        acks++;
        return { type: 'ledger.acked' };
      },
    });
    await restarted.resume('/rackseed/machines/test/');
    expect(acks).toBe(1);
    const after = await restarted.read(key);
    expect(after?.envelope.outbox).toEqual([]);
    expect(after?.envelope.snapshot.context).toMatchObject({ acks: 1 });
    expect((after?.envelope.snapshot.context as { log: string[] }).log).toHaveLength(10);
  });

  it('migrates old snapshots and refuses newer ones', async () => {
    const key = '/rackseed/machines/test/versions';
    const v1: Envelope = {
      machine: 'ledger',
      version: 1,
      seq: 0,
      snapshot: { value: 'open', context: { entries: ['x'] }, status: 'active' },
      recent: [],
      outbox: [],
      history: [],
    };
    await store.put(key, JSON.stringify(v1));
    const host = new MachineHost(
      store,
      {
        ...LEDGER,
        migrations: {
          1: (s) => ({ ...s, context: { log: (s.context as { entries: string[] }).entries, acks: 0 } }),
        },
      },
      {},
    );
    await host.apply(key, { type: 'ledger.append', id: 'y' });
    expect((await host.state(key))?.context).toEqual({ log: ['x', 'y'], acks: 0 });
    await store.put(key, JSON.stringify({ ...v1, version: 3 }));
    await expect(host.read(key)).rejects.toBeInstanceOf(MachineSnapshotTooNewError);
  });

  it('watches resume after compaction by listing the prefix again', async () => {
    const prefix = '/rackseed/test/compact/';
    await store.put(`${prefix}a`, '1');
    const old = await store.revision();
    await store.put(`${prefix}a`, '2');
    await store.put(`${prefix}b`, '3');
    await store.compact(await store.revision());
    const seen: string[] = [];
    const handle = await store.watchPrefix(
      prefix,
      {
        onChange: (c) => seen.push(`${c.type} ${c.entry.key.slice(prefix.length)}=${c.entry.value}`),
        onResync: (entries) =>
          seen.push(`resync ${entries.map((e) => `${e.key.slice(prefix.length)}=${e.value}`).join(',')}`),
      },
      old,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await store.put(`${prefix}c`, '4');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await handle.close();
    expect(seen).toEqual(['resync a=2,b=3', 'put c=4']);
  });

  it('keeps a prefix view current', async () => {
    const { PrefixView } = await import('../../agent/index.js');
    const changes: string[] = [];
    const view: PrefixView = await PrefixView.open(store, '/rackseed/test/view/', (key, previous, current) =>
      changes.push(`${key.split('/').pop()} ${previous?.value ?? '-'}→${current?.value ?? '-'}`),
    );
    await store.put('/rackseed/test/view/x', '1');
    await store.put('/rackseed/test/view/x', '2');
    await store.delete('/rackseed/test/view/x');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await view.close();
    expect(changes).toEqual(['x -→1', 'x 1→2', 'x 2→-']);
  });
});
