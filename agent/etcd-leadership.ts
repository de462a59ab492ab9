import { electionLeader } from './status.js';
import type { Store } from './store/store.js';

const TICK_MS = 1_000;
/** After a move, the next is considered no sooner: the new leader settles first. */
const AFTER_MOVE_MS = 5_000;
/** A member that does not answer its status in this long is not a target. */
const STATUS_TIMEOUT_MS = 500;

/**
 * Keeps etcd's leadership off the node that holds the DB master (issue #15). A power loss of
 * etcd's leader costs an etcd election (about 1.5 s here), and the new leader then extends
 * every lease by etcd's election timeout: the DB master's 2 s lease ended 4.5 to 5.6 s after
 * the loss of a node that led both, against about 2 s when the etcd leader lived elsewhere. So
 * one power loss should cost one of the two, not both.
 *
 * Each agent whose own etcd member leads while its node holds one of `elections` (leaders of
 * services' own elections, named by `{ "node": … }`) hands the leadership to another voter
 * that answers (etcd's MoveLeader, which only the leader takes: it is asked over the local
 * member's HTTP gateway). The target is the first such voter by name. A node with no member,
 * or whose member does not lead, does nothing; a failed move is logged and tried again on a
 * later tick.
 */
export class EtcdLeadershipMover {
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private notBefore = 0;

  constructor(
    private readonly store: Store,
    private readonly node: string,
    /** This node's etcd member's client URL, while it has one. */
    private readonly localClientUrl: () => string | undefined,
    private readonly elections: readonly string[],
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    if (this.elections.length === 0) return;
    this.active = true;
    void this.loop();
  }

  stop(): void {
    this.active = false;
    clearTimeout(this.timer);
  }

  private async loop(): Promise<void> {
    try {
      await this.step();
    } catch (error) {
      this.log(`could not move etcd's leadership: ${String(error)}`);
      this.notBefore = Date.now() + AFTER_MOVE_MS;
    }
    if (this.active) this.timer = setTimeout(() => void this.loop(), TICK_MS);
  }

  /** One look: moves the leadership if this node leads etcd and holds one of the elections. */
  async step(): Promise<string | undefined> {
    const url = this.localClientUrl();
    if (url === undefined || Date.now() < this.notBefore) return undefined;
    const own = await this.store.memberStatus(url, STATUS_TIMEOUT_MS);
    if (own?.leader === undefined || own.leader !== own.header?.member_id) return undefined;
    const holders = await Promise.all(this.elections.map((name) => electionLeader(this.store, name)));
    const held = this.elections.filter((_, i) => holders[i] === this.node);
    if (held.length === 0) return undefined;
    const { members } = await this.store.client.cluster.memberList({});
    const others = members
      .filter((m) => !m.isLearner && m.ID !== own.leader && m.clientURLs[0] !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
    const answering = await Promise.all(
      others.map((m) => this.store.memberStatus(m.clientURLs[0] ?? '', STATUS_TIMEOUT_MS)),
    );
    const target = others.find((_, i) => answering[i] !== undefined);
    if (!target) return undefined;
    this.notBefore = Date.now() + AFTER_MOVE_MS;
    await this.store.transferLeadership(url, target.ID, 2_000);
    this.log(`moved etcd's leadership to ${target.name}: this node holds ${held.join(', ')}`);
    return target.name;
  }
}
