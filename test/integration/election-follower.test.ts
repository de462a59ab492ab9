import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElectionFollower } from '../../appliance/dbmaster/leader.js';
import { waitFor } from '../../bootstrap/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

// How the DB master's candidates and every API's client follow the `db-master` election, on a
// real etcd: the leader is the candidate key created first, whatever order a watch batch has.
describe('election follower (real etcd)', () => {
  let cluster: EtcdCluster;
  let etcd: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    etcd = new Etcd3({ hosts: [...cluster.endpoints] });
  });

  afterAll(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('follows the first candidate when two campaign at once in an empty election', async () => {
    // Both keys are put without waiting between them, so the follower's watch usually gets
    // them in one batch: etcd3's ElectionObserver then followed the second, a standby.
    for (let round = 0; round < 8; round++) {
      const name = `together-${round}`;
      const seen: (string | undefined)[] = [];
      const follower = await ElectionFollower.follow(etcd, name, (leader) => seen.push(leader));
      try {
        expect(follower.leader()).toBeUndefined();
        const namespace = etcd.namespace(`election/${name}/`);
        await Promise.all([namespace.put('a').value('leader'), namespace.put('b').value('standby')]);
        const first = (await namespace.getAll().sort('Create', 'Ascend').limit(1).strings()) as Record<string, string>;
        const expected = Object.values(first)[0];
        await waitFor('the follower to see a leader', () => follower.leader() !== undefined, 5_000, 10);
        expect(follower.leader()).toBe(expected);
        // A standby's key never shows as the leader, not even for a moment.
        expect(seen.filter((value) => value !== undefined)).toEqual([expected]);
      } finally {
        await follower.close();
      }
    }
  });

  it('sees the leader’s announcements, then the next candidate when the leader resigns', async () => {
    const election = etcd.election('handover', 2);
    const first = election.campaign('first');
    await first.wait();
    const second = election.campaign('second');
    const seen: (string | undefined)[] = [];
    const follower = await ElectionFollower.follow(etcd, 'handover', (leader) => seen.push(leader));
    try {
      expect(follower.leader()).toBe('first');
      await first.proclaim('first, lock at v1:10.0.0.1:0/42');
      await waitFor('the announcement', () => follower.leader() === 'first, lock at v1:10.0.0.1:0/42', 5_000, 10);
      await first.resign();
      await second.wait();
      await waitFor('the next candidate', () => follower.leader() === 'second', 5_000, 10);
      await second.resign();
      await waitFor('no leader', () => follower.leader() === undefined, 5_000, 10);
      expect(seen).toEqual(['first', 'first, lock at v1:10.0.0.1:0/42', 'second', undefined]);
    } finally {
      await follower.close();
    }
  });
});
