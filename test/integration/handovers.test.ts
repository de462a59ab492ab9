import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../agent/index.js';
import { watchHandovers } from '../../agent/handovers.js';
import { waitFor } from '../../bootstrap/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

// The DB master's election on a real etcd, as its candidates run it (etcd3's Election), watched
// by a node's agent: each time the leader leaves another node, that node is named once.
describe('handovers of the services’ own elections (real etcd)', () => {
  let etcd: EtcdCluster;
  let store: Store;

  beforeAll(async () => {
    etcd = await startEtcd({ members: 1 });
    store = Store.connect(etcd.endpoints);
  });

  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });

  it('names the node a leader left, not the candidates that never led, nor this node itself', async () => {
    const election = store.client.election('db-master', 2);
    const onA = election.campaign(JSON.stringify({ node: 'a', url: 'https://a' }));
    await onA.wait();
    const left: string[] = [];
    const watch = await watchHandovers(store, 'c', ['db-master', 'other'], (node) => left.push(node));
    try {
      const onB = election.campaign(JSON.stringify({ node: 'b' }));
      const onC = election.campaign(JSON.stringify({ node: 'c' }));
      await onA.proclaim(JSON.stringify({ node: 'a', lockAddress: 'v1:10.0.0.1:0/1' })); // still a
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(left).toEqual([]);
      await onA.resign();
      await onB.wait();
      await waitFor('a named', () => left.length > 0, 5_000, 10);
      await onB.resign(); // c, this node, leads next
      await onC.wait();
      await waitFor('b named', () => left.length > 1, 5_000, 10);
      await onC.resign(); // this node itself left: nothing to ask
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(left).toEqual(['a', 'b']);
    } finally {
      await watch.close();
    }
  });
});
