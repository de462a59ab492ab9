import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../agent/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

// The store on a real three-member etcd with one member down.
describe('store: members that answer with an error stay in use (real etcd)', () => {
  let etcd: EtcdCluster;
  let store: Store;

  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
    const leader = await etcd.leader();
    const down = [0, 1, 2].find((i) => i !== leader) ?? 2;
    await etcd.kill(down);
    store = Store.connect(etcd.endpoints.filter((_, i) => i !== down));
  });
  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });

  it('keeps calling members that refused a member add (etcdserver: unhealthy cluster)', async () => {
    // A membership keeper retries a refused add every 500 ms; etcd3's default per-member circuit
    // breaker counted those refusals and shut every call out of both members for 5 s.
    for (let i = 0; i < 8; i++) {
      await expect(
        store.client.cluster.memberAdd({ peerURLs: [`http://127.0.0.1:${40_000 + i}`], isLearner: true }),
      ).rejects.toThrow(/unhealthy cluster/);
    }
    await store.put('/test/after-refusals', 'still served');
    expect((await store.get('/test/after-refusals'))?.value).toBe('still served');
  });
});
