import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, processRunning, startEtcd, waitFor } from '../bed/index.js';

describe('test bed: etcd', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps a write when one of three members is killed, and takes the member back', async () => {
    const client = new Etcd3({ hosts: [...cluster.endpoints] });
    try {
      await client.put('bed/before').value('1');
      const leader = await cluster.leader();
      const killedPid = cluster.members[leader]?.daemon?.pid ?? -1;
      await cluster.kill(leader);
      expect(processRunning(killedPid)).toBe(false);
      // The two survivors elect a new leader and keep serving the old value and new writes.
      const survivor = new Etcd3({ hosts: cluster.endpoints.filter((_, i) => i !== leader) });
      try {
        await waitFor('a new leader among the survivors', async () => (await cluster.leader()) !== leader, 15_000);
        expect(await survivor.get('bed/before').string()).toBe('1');
        await survivor.put('bed/during').value('2');
      } finally {
        survivor.close();
      }
      await cluster.restart(leader);
      const rejoined = new Etcd3({ hosts: [cluster.endpoints[leader] ?? ''] });
      try {
        await waitFor(
          'the restarted member to catch up',
          async () => (await rejoined.get('bed/during').string()) === '2',
          15_000,
        );
      } finally {
        rejoined.close();
      }
    } finally {
      client.close();
    }
  });

  it('uses distinct ports from another cluster started at the same time', async () => {
    const other = await startEtcd({ members: 1 });
    try {
      expect(cluster.endpoints).not.toContain(other.endpoints[0]);
      const client = new Etcd3({ hosts: [...other.endpoints] });
      try {
        expect(await client.get('bed/before').string()).toBeNull();
      } finally {
        client.close();
      }
    } finally {
      await other.stop();
    }
  });
});
