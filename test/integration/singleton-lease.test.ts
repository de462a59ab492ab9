import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Elections, keys, Store, type KeptLease } from '../../agent/index.js';
import { followLease } from '../../agent/singleton-lease.js';
import { Supervisor } from '../../agent/supervisor.js';
import { waitFor } from '../../bootstrap/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

// A node's singleton through its lease's ups and downs, on a real etcd: the claim is the real
// one the elections write; the lease's signals are driven by the test (a real lease's waver
// needs etcd's leader to stall for just the right time).
describe('singletons follow their node’s lease (real etcd)', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let elections: Elections;
  let supervisor: Supervisor;
  let lease: KeptLease;
  let dataDir: string;
  const signals = new EventEmitter();
  const runs: { start: number; stop?: number }[] = [];
  let registered = 0;

  beforeAll(async () => {
    etcd = await startEtcd({ members: 1 });
    store = Store.connect(etcd.endpoints);
    dataDir = mkdtempSync(join(tmpdir(), 'singleton-lease-'));
    lease = await store.grantLease(30);
    await store.put(keys.node('n1'), JSON.stringify({ name: 'n1', lease: lease.id }), lease.id);
    elections = await Elections.open(store, 'n1', {
      elected: (service) => supervisor.send(service, { type: 'service.elected' }),
      deposed: (service) => void supervisor.disable(service).then(() => enable(service)),
      nodeGone: () => {},
      changed: () => {},
    });
    const enable = (service: string) => supervisor.send(service, { type: 'service.enable' });
    supervisor = new Supervisor(
      [
        {
          name: 'solo',
          placement: 'singleton',
          start: () => {
            const run: { start: number; stop?: number } = { start: performance.now() };
            runs.push(run);
            let end: (reason: string) => void = () => {};
            const exited = new Promise<string>((resolve) => (end = resolve));
            return {
              exited,
              // It takes a while to stop, as a real process does between SIGTERM and its exit.
              stop: async () => {
                await new Promise((resolve) => setTimeout(resolve, 150));
                run.stop = performance.now();
                end('stopped');
              },
            };
          },
        },
      ],
      { node: 'n1', dataDir, log: () => {} },
      {
        resign: (service) => void elections.resign(service),
        changed: (service, health) => elections.campaign(service, health.state === 'candidate'),
      },
    );
    followLease(
      { id: lease.id, on: (event, listener) => void signals.on(event, listener) },
      {
        elections,
        supervisor,
        singletons: () => ['solo'],
        enable,
        register: async () => {
          registered++;
        },
        log: () => {},
      },
    );
    elections.setLease(lease.id, true);
    enable('solo');
    await waitFor('solo to run', () => supervisor.state('solo') === 'running', 10_000, 10);
  });

  afterAll(async () => {
    await supervisor?.disableAll();
    await elections?.close();
    await lease?.revoke().catch(() => {});
    await store?.close();
    await etcd?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const claim = () => store.get(keys.singleton('solo'));

  it('stops a singleton while its lease wavers, keeps its claim, and starts it again in place', async () => {
    const before = await claim();
    expect(JSON.parse(before?.value ?? '{}')).toMatchObject({ node: 'n1', lease: lease.id });
    signals.emit('expiring');
    await waitFor('solo suspended', () => supervisor.state('solo') === 'suspended', 5_000, 10);
    expect(runs[0]?.stop).toBeDefined();
    expect((await claim())?.modRevision).toBe(before?.modRevision);

    signals.emit('renewed');
    await waitFor('solo running again', () => supervisor.state('solo') === 'running', 5_000, 10);
    expect(runs).toHaveLength(2);
    expect((await claim())?.modRevision).toBe(before?.modRevision);
  });

  it('starts it again only once its previous run has stopped, when the lease comes back at once', async () => {
    signals.emit('expiring');
    signals.emit('renewed'); // while the run is still stopping
    expect(supervisor.state('solo')).toBe('resuming');
    await waitFor('solo running again', () => supervisor.state('solo') === 'running', 5_000, 10);
    expect(runs).toHaveLength(3);
    expect(runs[2]?.start).toBeGreaterThanOrEqual(runs[1]?.stop ?? Number.POSITIVE_INFINITY);
  });

  it('does not start it again if its claim went to another node meanwhile', async () => {
    signals.emit('expiring');
    await waitFor('solo suspended', () => supervisor.state('solo') === 'suspended', 5_000, 10);
    // An operator moved it (`rackseed` rewrites the claim), or the node was fenced and taken over.
    const taken = JSON.stringify({ node: 'n2', lease: '1', since: new Date().toISOString() });
    await store.put(keys.singleton('solo'), taken);
    await waitFor('solo back to a candidate', () => supervisor.state('solo') === 'candidate', 5_000, 10);
    signals.emit('renewed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(supervisor.state('solo')).toBe('candidate');
    expect(runs).toHaveLength(3);
    expect((await claim())?.value).toBe(taken);
    await store.delete(keys.singleton('solo'));
    await waitFor('solo claimed again', () => supervisor.state('solo') === 'running', 5_000, 10);
  });

  it('gives its claim up when the lease is lost, then registers the node again', async () => {
    signals.emit('expiring');
    signals.emit('lost');
    await waitFor('the node registering again', () => registered === 1, 5_000, 10);
    expect(supervisor.state('solo')).toBe('stopped');
    expect(runs.every((run) => run.stop !== undefined)).toBe(true);
    await waitFor('the claim given up', async () => (await claim()) === undefined, 5_000, 20);
  });
});
