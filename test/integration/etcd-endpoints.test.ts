import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followEtcdEndpoints, keys, Store } from '../../agent/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';
import { waitFor } from '../../bootstrap/index.js';

// A client started with one member's URL (a service started while the seed was etcd's only
// member) follows the voters the membership keeper publishes, and outlives that member.
describe('a client follows the published etcd endpoints (real etcd)', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let following: { close(): Promise<void> } | undefined;

  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await following?.close();
    await store?.close();
    await etcd?.stop();
  });

  it('moves to the voters the record names and keeps working once its first member is gone', async () => {
    const leader = await etcd.leader();
    const first = [0, 1, 2].find((i) => i !== leader) ?? 0;
    const others = etcd.endpoints.filter((_, i) => i !== first);
    store = Store.connect([etcd.endpoints[first] ?? '']);
    const changes: string[][] = [];
    following = await followEtcdEndpoints(store, (urls) => changes.push([...urls]));
    await store.put(keys.etcdEndpoints, JSON.stringify({ clientUrls: others }));
    await waitFor(
      'the client to take the published voters',
      () => store.endpoints.join() === others.join(),
      10_000,
      50,
    );
    expect(changes).toEqual([others]);
    await etcd.kill(first);
    await store.put('/test/after', 'served by the others');
    expect((await store.get('/test/after'))?.value).toBe('served by the others');
  });

  it('ignores a record that is not JSON and goes on with the endpoints it has', async () => {
    const before = store.endpoints.join();
    await store.put(keys.etcdEndpoints, 'not json');
    await store.put('/test/still', 'yes');
    expect((await store.get('/test/still'))?.value).toBe('yes');
    expect(store.endpoints.join()).toBe(before);
  });
});
