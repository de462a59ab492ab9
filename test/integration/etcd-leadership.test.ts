import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdLeadershipMover, Store } from '../../agent/index.js';
import { waitFor } from '../../bootstrap/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

// A real three-member etcd whose members are named m1…m3 like the nodes that host them, and the
// `db-master` election: the agent of the node that leads etcd moves the leadership away only
// while its node holds the DB master, so that one power loss does not cost both.
describe('etcd leadership: kept off the DB master’s node (real etcd)', () => {
  let etcd: EtcdCluster;
  let store: Store;
  const logged: string[] = [];

  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
    store = Store.connect(etcd.endpoints);
  });

  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });

  const mover = (index: number) => {
    const member = etcd.members[index];
    if (!member) throw new Error(`no member ${index}`);
    return new EtcdLeadershipMover(
      store,
      member.name,
      () => member.clientUrl,
      ['db-master'],
      (m) => logged.push(m),
    );
  };

  it('leaves the leadership where it is while the DB master is on another node, and moves it off the DB master’s node', async () => {
    const leader = await etcd.leader();
    const leaderName = etcd.members[leader]?.name ?? '';
    const campaign = store.client.election('db-master').campaign(JSON.stringify({ node: 'elsewhere' }));
    await campaign.wait();
    expect(await mover(leader).step()).toBeUndefined();
    expect(await etcd.leader()).toBe(leader);

    await campaign.proclaim(JSON.stringify({ node: leaderName }));
    // The first other voter by name that answers.
    const expected = etcd.members.map((m) => m.name).find((name) => name !== leaderName);
    expect(await mover(leader).step()).toBe(expected);
    const moved = await waitFor(
      'etcd led by another member',
      async () => {
        const now = await etcd.leader().catch(() => leader);
        return now === leader ? undefined : now;
      },
      10_000,
      100,
    );
    expect(etcd.members[moved]?.name).toBe(expected);
    expect(logged).toContain(`moved etcd's leadership to ${expected}: this node holds db-master`);
    // The old leader's node still holds the DB master, but no longer leads: nothing to do.
    expect(await mover(leader).step()).toBeUndefined();
    // Nor does the new leader's node, which does not hold it.
    expect(await mover(moved).step()).toBeUndefined();
    expect(await etcd.leader()).toBe(moved);
    await campaign.resign();
  });
});
