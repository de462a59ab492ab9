import { describe, expect, it } from 'vitest';
import { type CandidateView, DEMOTE_AFTER_LOSS_MS, type MemberView, planMembership } from '../../agent/index.js';

const voter = (node: string, over: Partial<MemberView> = {}): MemberView => ({
  id: `id-${node}`,
  peerUrl: `http://${node}:2380`,
  learner: false,
  healthy: true,
  leader: false,
  node,
  nodeDead: false,
  ...over,
});
const learner = (node: string, over: Partial<MemberView> = {}) => voter(node, { learner: true, ...over });
const candidate = (node: string): CandidateView => ({ node, peerUrl: `http://${node}:2380` });

/**
 * Plays the planner against a simulated cluster: adds become learners, promotions voters; the
 * live nodes of `pool` that are not members are the candidates (a removed one included).
 */
function grow(start: MemberView[], pool: string[]): number[] {
  let members = start;
  const counts = [members.filter((m) => !m.learner).length];
  for (let step = 0; step < 20; step++) {
    const names = new Set(members.map((m) => m.node));
    const action = planMembership(members, pool.filter((n) => !names.has(n)).map(candidate));
    if (action.type === 'none') break;
    if (action.type === 'add') members = [...members, learner(action.node)];
    if (action.type === 'promote') members = members.map((m) => (m.id === action.id ? { ...m, learner: false } : m));
    if (action.type === 'remove') members = members.filter((m) => m.id !== action.id);
    expect(members.filter((m) => m.learner).length).toBeLessThanOrEqual(1);
    counts.push(members.filter((m) => !m.learner).length);
  }
  return [...new Set(counts)];
}

describe('etcd membership planner', () => {
  it('grows 1 → 3 → 5 through learners, and stops at five voters', () => {
    expect(grow([voter('n1', { leader: true })], ['n2', 'n3', 'n4', 'n5', 'n6', 'n7'])).toEqual([1, 2, 3, 4, 5]);
  });

  it('never starts growing to an even count: one candidate next to one or three voters is left a client', () => {
    expect(planMembership([voter('n1')], [candidate('n2')])).toMatchObject({ type: 'none' });
    expect(planMembership([voter('n1'), voter('n2'), voter('n3')], [candidate('n4')])).toMatchObject({
      type: 'none',
    });
    expect(planMembership([voter('n1')], [candidate('n3'), candidate('n2')])).toEqual({
      type: 'add',
      node: 'n2',
      peerUrl: 'http://n2:2380',
    });
  });

  it('adds no second learner while one is pending, and promotes it only once it answers', () => {
    const members = [voter('n1'), learner('n2', { healthy: false })];
    expect(planMembership(members, [candidate('n3')])).toMatchObject({ type: 'none' });
    expect(planMembership([voter('n1'), learner('n2')], [candidate('n3')])).toMatchObject({
      type: 'promote',
      id: 'id-n2',
    });
  });

  it('removes a learner whose node died', () => {
    expect(planMembership([voter('n1'), learner('n2', { nodeDead: true })], [])).toMatchObject({
      type: 'remove',
      id: 'id-n2',
    });
  });

  it('replaces a dead voter: removes it while quorum holds, then adds a candidate', () => {
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => voter(n));
    const dead = five.map((m) => (m.node === 'n3' ? { ...m, nodeDead: true, healthy: false } : m));
    expect(planMembership(dead, [candidate('n6')])).toMatchObject({ type: 'remove', id: 'id-n3' });
    const four = dead.filter((m) => m.node !== 'n3');
    expect(planMembership(four, [candidate('n6')])).toMatchObject({ type: 'add', node: 'n6' });
  });

  it('never removes a voter when the healthy ones left would not make a quorum', () => {
    const three = [voter('n1'), voter('n2', { healthy: false }), voter('n3', { nodeDead: true, healthy: false })];
    expect(planMembership(three, [candidate('n4')])).toMatchObject({ type: 'none' });
    expect(planMembership([voter('n1', { nodeDead: true })], [candidate('n2'), candidate('n3')])).toMatchObject({
      type: 'none',
    });
  });

  it('does not promote when the healthy voters and the learner would not make a quorum of the larger cluster', () => {
    const members = [voter('n1'), voter('n2', { healthy: false }), learner('n3')];
    expect(planMembership(members, [])).toMatchObject({ type: 'promote' }); // 2 of 3 healthy after promote
    const worse = [voter('n1'), voter('n2', { healthy: false }), voter('n3', { healthy: false }), learner('n4')];
    expect(planMembership(worse, [])).toMatchObject({ type: 'none' });
  });

  describe('keeps the voters odd after a loss (issue 16)', () => {
    const four = (leader: string) => ['n1', 'n2', 'n3', 'n4'].map((n) => voter(n, { leader: n === leader }));

    it('demotes one of four voters when no node can be added: the last by name that is not the leader', () => {
      expect(planMembership(four('n1'), [])).toEqual({
        type: 'remove',
        id: 'id-n4',
        node: 'n4',
        reason: 'demoted, 4 voters to 3',
        voterLost: false,
      });
      expect(planMembership(four('n4'), [])).toMatchObject({ type: 'remove', id: 'id-n3' });
    });

    it('demotes nobody within 15 s of a voter’s loss: the failover it set off finishes first', () => {
      const five = [...four('n1'), voter('n5', { nodeDead: true, healthy: false })];
      expect(planMembership(five, [])).toMatchObject({ type: 'remove', id: 'id-n5', voterLost: true });
      expect(planMembership(four('n1'), [], DEMOTE_AFTER_LOSS_MS - 1)).toMatchObject({
        type: 'none',
        reason: expect.stringContaining("after a voter's loss"),
      });
      expect(planMembership(four('n1'), [], DEMOTE_AFTER_LOSS_MS)).toMatchObject({ type: 'remove', id: 'id-n4' });
    });

    it('demotes one of two voters, never the leader', () => {
      expect(planMembership([voter('n1'), voter('n2', { leader: true })], [])).toMatchObject({
        type: 'remove',
        id: 'id-n1',
        reason: 'demoted, 2 voters to 1',
      });
    });

    it('grows to five instead when a candidate is ready', () => {
      expect(planMembership(four('n1'), [candidate('n5')])).toMatchObject({ type: 'add', node: 'n5' });
    });

    it('demotes nobody while a voter does not answer, or no leader is known', () => {
      const silent = four('n1').map((m) => (m.node === 'n2' ? { ...m, healthy: false } : m));
      expect(planMembership(silent, [])).toMatchObject({ type: 'none' });
      expect(planMembership(four('none'), [])).toMatchObject({ type: 'none' });
    });

    it('leaves the demoted node a client while three voters are the most the nodes allow', () => {
      const three = four('n1').filter((m) => m.node !== 'n4');
      expect(planMembership(three, [candidate('n4')])).toMatchObject({ type: 'none', reason: '3 voter(s), steady' });
    });

    it('goes 5 → 4 → 3 when a voter dies with no node to replace it, and back to 5 as a node joins', () => {
      const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => voter(n, { leader: n === 'n1' }));
      const lost = five.map((m) => (m.node === 'n2' ? { ...m, nodeDead: true, healthy: false } : m));
      expect(grow(lost, ['n1', 'n3', 'n4', 'n5'])).toEqual([5, 4, 3]);
      // n5 was demoted; n6 joins: they are the candidates, and both become voters.
      const three = five.filter((m) => ['n1', 'n3', 'n4'].includes(m.node ?? ''));
      expect(grow(three, ['n1', 'n3', 'n4', 'n5', 'n6'])).toEqual([3, 4, 5]);
    });
  });
});
