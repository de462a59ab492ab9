import type { IMemberAddResponse } from 'etcd3';
import type { CLUSTER_GENESIS_MACHINE } from '../statemachines/index.js';
import type { Elections } from './elections.js';
import { type EtcdMember, listMembers, majority } from './etcd-quorum.js';
import { type EtcdEndpoints, type EtcdJoin, keys, type NodeRecord } from './keys.js';
import type { MachineHost } from './machine-host.js';
import { parseJson, type Store } from './store/store.js';

/** One etcd member as the planner sees it. */
export interface MemberView {
  readonly id: string;
  readonly peerUrl: string;
  readonly learner: boolean;
  /** It answered a status request just now. */
  readonly healthy: boolean;
  /** A member that answered names it etcd's leader. */
  readonly leader: boolean;
  /** The node it belongs to, if known (its name once started, or the join instruction's node). */
  readonly node: string | undefined;
  /** Its node is fenced, or gone for longer than the grace period: the member is to be replaced. */
  readonly nodeDead: boolean;
}

/** A live node that may host a member and is not one. */
export interface CandidateView {
  readonly node: string;
  readonly peerUrl: string;
}

/** The one step the membership singleton takes next. */
export type MembershipAction =
  | { readonly type: 'none'; readonly reason: string }
  | { readonly type: 'add'; readonly node: string; readonly peerUrl: string }
  | { readonly type: 'promote'; readonly id: string; readonly node: string | undefined }
  /** `voterLost`: a voter whose node died (a demotion waits {@link DEMOTE_AFTER_LOSS_MS} after it). */
  | {
      readonly type: 'remove';
      readonly id: string;
      readonly node: string | undefined;
      readonly reason: string;
      readonly voterLost: boolean;
    };

/** The most voters rackseed runs; nodes beyond them use etcd as clients. */
export const MAX_VOTERS = 5;

const nameOf = (m: MemberView): string => m.node ?? m.id;

/** How long after a dead voter's removal the voters may be made odd by a demotion. */
export const DEMOTE_AFTER_LOSS_MS = 15_000;

/**
 * Decides the next membership change, one at a time (pure: the same views give the same step).
 * 1. A pending learner is promoted once it answers (etcd refuses until it has caught up), or
 *    removed if its node died; no other change while one is pending.
 * 2. A voter whose node died is removed, if the healthy voters left still make a quorum.
 * 3. The voters grow toward the largest odd number ≤ 5 that voters plus candidates allow,
 *    one learner at a time (1 → 3 → 5: an even count only between two promotions).
 * 4. Voters beyond that number (4 or 2 left by a removal, with no candidate to add) are demoted
 *    one at a time: the voter last by node name that is not the leader is removed, only while
 *    every voter answers and a leader is known. An even count tolerates no more failures than
 *    the odd count below it, and needs one more member up; the demoted node stays an etcd
 *    client, and a candidate the next time the voters grow. Not within
 *    {@link DEMOTE_AFTER_LOSS_MS} of a dead voter's removal (`sinceLossMs`): the failover that
 *    loss set off (a new DB master, fences, Ceph) is left to finish without another change of
 *    etcd's membership.
 * A promotion happens only if the healthy voters and the learner make a quorum of the larger cluster.
 */
export function planMembership(
  members: readonly MemberView[],
  candidates: readonly CandidateView[],
  sinceLossMs = Number.POSITIVE_INFINITY,
): MembershipAction {
  const voters = members.filter((m) => !m.learner);
  const healthyVoters = voters.filter((m) => m.healthy).length;
  const learner = members.find((m) => m.learner);
  if (learner) {
    if (learner.nodeDead)
      return { type: 'remove', id: learner.id, node: learner.node, reason: 'its node is gone', voterLost: false };
    if (!learner.healthy) return { type: 'none', reason: `learner ${learner.node ?? learner.id} is not up yet` };
    if (healthyVoters + 1 < majority(voters.length + 1)) {
      return { type: 'none', reason: 'too few healthy voters to promote without risking quorum' };
    }
    return { type: 'promote', id: learner.id, node: learner.node };
  }
  const dead = voters.find((m) => m.nodeDead);
  if (dead) {
    const healthyLeft = voters.filter((m) => m !== dead && m.healthy).length;
    if (voters.length > 1 && healthyLeft >= majority(voters.length - 1)) {
      return { type: 'remove', id: dead.id, node: dead.node, reason: 'its node is gone', voterLost: true };
    }
    return { type: 'none', reason: `voter ${dead.node ?? dead.id} is dead but removing it would lose quorum` };
  }
  const pool = Math.min(MAX_VOTERS, voters.length + candidates.length);
  const target = pool % 2 === 1 ? pool : pool - 1;
  const next = [...candidates].sort((a, b) => a.node.localeCompare(b.node))[0];
  if (voters.length < target && next) return { type: 'add', node: next.node, peerUrl: next.peerUrl };
  if (voters.length > target) {
    const demoted = voters
      .filter((m) => !m.leader)
      .sort((a, b) => nameOf(a).localeCompare(nameOf(b)))
      .at(-1);
    if (sinceLossMs < DEMOTE_AFTER_LOSS_MS) {
      return {
        type: 'none',
        reason: `${voters.length} voters, to be ${target}: ${DEMOTE_AFTER_LOSS_MS / 1000} s after a voter's loss`,
      };
    }
    if (!demoted || !voters.some((m) => m.leader) || voters.some((m) => !m.healthy)) {
      return {
        type: 'none',
        reason: `${voters.length} voters, to be ${target}: waiting for every voter and a leader to answer`,
      };
    }
    return {
      type: 'remove',
      id: demoted.id,
      node: demoted.node,
      reason: `demoted, ${voters.length} voters to ${target}`,
      voterLost: false,
    };
  }
  return { type: 'none', reason: `${voters.length} voter(s), steady` };
}

const TICK_MS = 500;
const ADD_RETRY_MS = 5_000;

/**
 * The `etcd-membership` singleton: every 500 ms it reads the member list and the nodes, asks
 * {@link planMembership} for one step and takes it (MemberAdd as learner plus the join
 * instruction under `/rackseed/etcd/join/<node>`, MemberPromote, MemberRemove), publishes the
 * voters' client URLs (every agent's endpoints) and feeds the voter count to the
 * cluster-genesis machine.
 */
export class MembershipKeeper {
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private lastReason = '';
  private lastVoters = -1;
  /** No member add before this time (etcd refused the last one). */
  private addAfter = 0;
  /** When this keeper first saw each node unregistered. */
  private readonly missingSince = new Map<string, number>();
  /** When this keeper last removed a dead voter (its node gone). */
  private lastLossAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: Store,
    private readonly elections: Elections,
    private readonly genesis: MachineHost<typeof CLUSTER_GENESIS_MACHINE.machine>,
    private readonly log: (message: string) => void,
    private readonly graceMs = 20_000,
  ) {}

  start(): void {
    this.active = true;
    this.lastVoters = -1;
    this.missingSince.clear();
    void this.loop();
  }

  stop(): void {
    this.active = false;
    clearTimeout(this.timer);
  }

  private async loop(): Promise<void> {
    if (!this.active) return;
    try {
      await this.tick();
    } catch (error) {
      this.note(`membership step failed: ${String(error)}`);
    }
    if (this.active) this.timer = setTimeout(() => void this.loop(), TICK_MS);
  }

  private note(reason: string): void {
    if (reason !== this.lastReason) this.log(reason);
    this.lastReason = reason;
  }

  private async tick(): Promise<void> {
    const [members, joins, machines] = await Promise.all([
      listMembers(this.store),
      this.store.list(`${keys.etcd}join/`),
      this.store.list(keys.nodeMachines),
    ]);
    const joinOf = new Map<string, string>(); // member id → node
    for (const entry of joins.entries) {
      joinOf.set(parseJson<EtcdJoin>(entry).memberId, entry.key.slice(`${keys.etcd}join/`.length));
    }
    const machineState = new Map<string, string>();
    for (const entry of machines.entries) {
      const envelope = parseJson<{ snapshot: { value: unknown } }>(entry);
      machineState.set(entry.key.slice(keys.nodeMachines.length), String(envelope.snapshot.value));
    }
    const records = new Map<string, NodeRecord>();
    for (const entry of this.elections.nodes.entries.values()) {
      const record = parseJson<NodeRecord>(entry);
      records.set(record.name, record);
    }
    const now = Date.now();
    for (const name of machineState.keys()) {
      if (records.has(name)) this.missingSince.delete(name);
      else if (!this.missingSince.has(name)) this.missingSince.set(name, now);
    }
    const dead = (node: string | undefined): boolean => {
      if (node === undefined) return true; // an unstarted learner nobody was told to start
      if (records.has(node) || !machineState.has(node)) return false; // live, or not one of our nodes
      return machineState.get(node) === 'fenced' || now - (this.missingSince.get(node) ?? now) > this.graceMs;
    };
    const statuses = await Promise.all(
      members.map((m) => (m.clientURLs[0] ? this.store.memberStatus(m.clientURLs[0], 500) : undefined)),
    );
    const leaders = new Set(statuses.map((s) => s?.leader));
    const views: MemberView[] = members.map((m, i) => {
      const node = m.name || joinOf.get(m.ID);
      return {
        id: m.ID,
        peerUrl: m.peerURLs[0] ?? '',
        learner: m.isLearner,
        healthy: statuses[i] !== undefined,
        leader: leaders.has(m.ID),
        node,
        nodeDead: dead(node),
      };
    });
    const memberPeers = new Set(members.flatMap((m) => m.peerURLs));
    const memberNodes = new Set(views.map((v) => v.node));
    const candidates: CandidateView[] = [...records.values()].flatMap((r) =>
      r.etcd && !memberNodes.has(r.name) && !memberPeers.has(r.etcd.peerUrl) && machineState.get(r.name) === 'ready'
        ? [{ node: r.name, peerUrl: r.etcd.peerUrl }]
        : [],
    );
    await this.publish(members);
    const action = planMembership(views, candidates, Date.now() - this.lastLossAt);
    switch (action.type) {
      case 'none':
        this.note(action.reason);
        return;
      case 'add': {
        if (Date.now() < this.addAfter) return;
        let added: IMemberAddResponse;
        try {
          added = await this.store.client.cluster.memberAdd({ peerURLs: [action.peerUrl], isLearner: true });
        } catch (error) {
          // etcd refuses until its leader has been connected to every voter for 5 s.
          this.addAfter = Date.now() + ADD_RETRY_MS;
          this.note(`etcd refused to add ${action.node} (${(error as Error).message}); retrying in 5 s`);
          return;
        }
        const id = added.member.ID;
        const initialCluster = added.members
          .map((m) => `${m.ID === id ? action.node : m.name}=${m.peerURLs[0] ?? ''}`)
          .join(',');
        const join: EtcdJoin = { memberId: id, initialCluster, at: new Date().toISOString() };
        await this.store.put(keys.etcdJoin(action.node), JSON.stringify(join));
        this.note(`added ${action.node} (${action.peerUrl}) as learner ${id}`);
        return;
      }
      case 'promote':
        try {
          await this.store.client.cluster.memberPromote({ ID: action.id });
          this.note(`promoted ${action.node ?? action.id} to voter`);
        } catch (error) {
          this.note(`learner ${action.node ?? action.id} not promoted yet: ${(error as Error).message}`);
        }
        return;
      case 'remove':
        await this.store.client.cluster.memberRemove({ ID: action.id });
        if (action.voterLost) this.lastLossAt = Date.now();
        if (action.node !== undefined) await this.store.delete(keys.etcdJoin(action.node));
        this.note(`removed member ${action.id} of ${action.node ?? 'an unknown node'}: ${action.reason}`);
        return;
    }
  }

  /** Publishes the voters' client URLs and tells the cluster-genesis machine how many voters there are. */
  private async publish(members: readonly EtcdMember[]): Promise<void> {
    const voters = members.filter((m) => !m.isLearner && m.clientURLs.length > 0);
    const endpoints: EtcdEndpoints = { clientUrls: voters.flatMap((m) => m.clientURLs).sort() };
    const value = JSON.stringify(endpoints);
    const current = await this.store.get(keys.etcdEndpoints);
    if (current?.value !== value) await this.store.put(keys.etcdEndpoints, value);
    const count = members.filter((m) => !m.isLearner).length;
    if (count !== this.lastVoters) {
      await this.genesis.create(keys.clusterGenesis);
      await this.genesis.apply(keys.clusterGenesis, { type: 'etcd.voters.changed', voters: count });
      this.lastVoters = count;
    }
  }
}
