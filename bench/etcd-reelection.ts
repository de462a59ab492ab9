import { startEtcd, waitFor } from '../test/bed/index.js';

/**
 * etcd's own leader re-election, the floor of any failover built on it: `rounds` times, kill -9
 * of the leader of a 3-member cluster, milliseconds until another member leads.
 */
export async function etcdReelection(rounds: number): Promise<number[]> {
  const etcd = await startEtcd({ members: 3 });
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const old = await etcd.leader();
      const t0 = performance.now();
      await etcd.kill(old);
      await waitFor('a new etcd leader', async () => (await etcd.leader().catch(() => -1)) >= 0, 20_000, 20);
      times.push(performance.now() - t0);
      await etcd.restart(old);
    }
  } finally {
    await etcd.stop();
  }
  return times;
}
