import type { NODE_MACHINE, NodeContext } from '../statemachines/index.js';
import { RackseedError } from './errors/index.js';
import type { Elections } from './elections.js';
import { EventLog, eventOp } from './events.js';
import { quorumWithout } from './etcd-quorum.js';
import { type BmcRecord, type FenceRecord, keys } from './keys.js';
import type { MachineHost } from './machine-host.js';
import { openRecord } from './sealed.js';
import { parseJson } from './store/store.js';
import type { Store } from './store/store.js';

/** A session kept open with one BMC, to ask it for the power again and again (a power watch's). */
export interface BmcPowerSession {
  powerState(): Promise<'on' | 'off'>;
  close(): Promise<void>;
}

/** Powers a node off (and tells whether it is off) through its BMC. */
export interface BmcPowerDriver {
  powerOff(bmc: BmcRecord): Promise<void>;
  powerState(bmc: BmcRecord): Promise<'on' | 'off'>;
  session(bmc: BmcRecord): Promise<BmcPowerSession>;
}

/** How to reach `node`'s BMC (its sealed record, opened), or undefined when none is known. */
export async function readBmc(store: Store, clusterKey: Buffer, node: string): Promise<BmcRecord | undefined> {
  const entry = await store.get(keys.bmc(node));
  return entry ? openRecord<BmcRecord>(clusterKey, entry.key, entry.value) : undefined;
}

/** The BMC could not be reached or refused; the node stays unfenced until it can be, or an operator confirms. */
export class FenceBmcError extends RackseedError {
  constructor(node: string, cause: unknown) {
    super(
      'FENCE_ERR_BMC_UNREACHABLE',
      `cannot power off ${node} through its BMC; once it is surely off, run: rackseed node fence ${node} --confirm`,
      { retryable: true, cause },
    );
  }
}

/** The node hosts an etcd voter the cluster cannot lose now: powering it off would take etcd down. */
export class FenceQuorumError extends RackseedError {
  constructor(node: string) {
    super(
      'FENCE_ERR_ETCD_QUORUM',
      `not fencing ${node}: it hosts an etcd voter and too few of the others answer to keep a quorum without it; retried every 2 s`,
      { retryable: true },
    );
  }
}

const RETRY_MS = 2_000;

/** A fence's outcome, for the agent's metrics. */
export type FenceOutcome =
  | { readonly type: 'fenced'; readonly node: string; readonly durationMs: number }
  | { readonly type: 'fence-failed'; readonly node: string; readonly code: string };

export interface FencerHooks {
  readonly log: (message: string) => void;
  /** Told at once that the BMC says a node is off (before the record is written), e.g. to mark its OSDs down. */
  readonly poweredOff?: (name: string) => void;
  /** Told each fence and each new failure. */
  readonly observe?: (outcome: FenceOutcome) => void;
}

/**
 * Fencing. When a node's registration vanishes while its node machine says it was up, the
 * fencer (a singleton) applies `node.lease.expired`; the machine's `fence` effect powers the
 * node off through its BMC, records `/rackseed/fenced/<node>` with the dead incarnation's
 * lease (which is what lets its singletons move), and reports `node.fenced`. A node whose
 * BMC cannot be reached stays failed, retried every 2 s, until an operator confirms it is off
 * (`rackseed node fence NODE --confirm`). Nor is a node powered off whose etcd voter the
 * cluster needs for its quorum (too few of the other voters answer): that would take etcd
 * down with it; it is retried until they do, or until its agent registers again. The
 * candidates for the fencer itself fence a dead fencer holder the same way, one at a time (a
 * leased lock per node). The moment the BMC says the node is off, `poweredOff` is told (the
 * agent marks its OSDs down: issue #15), before the record is written. A fence is an event of
 * the cluster's log (`node.fenced`, with its duration, in the record's write), and so is a
 * failure to fence (`node.fence.failed` with its code, once per node and code).
 */
export class Fencer {
  active = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly log: (message: string) => void;
  private readonly poweredOff: (name: string) => void;
  private readonly observe: (outcome: FenceOutcome) => void;
  private readonly events: EventLog;
  /** The code of each node's last failed fence, so that a retry's failure is not told again. */
  private readonly failures = new Map<string, string>();
  readonly nodeMachines: MachineHost<typeof NODE_MACHINE.machine>;

  constructor(
    private readonly store: Store,
    private readonly node: string,
    private readonly driver: BmcPowerDriver,
    /** Opens the sealed BMC records (see sealed.ts). */
    private readonly clusterKey: Buffer,
    private readonly elections: Elections,
    hostFor: (
      fence: (params: { name: string; lease: string }) => Promise<{ type: string }>,
    ) => MachineHost<typeof NODE_MACHINE.machine>,
    private readonly lease: () => string,
    hooks: FencerHooks,
  ) {
    this.nodeMachines = hostFor((params) => this.fence(params.name, params.lease));
    this.log = hooks.log;
    this.poweredOff = hooks.poweredOff ?? (() => {});
    this.observe = hooks.observe ?? (() => {});
    this.events = new EventLog(store, node, hooks.log);
  }

  /** Powers `name` off and records that its incarnation `lease` is fenced; returns the node machine event. */
  async fence(
    name: string,
    lease: string,
  ): Promise<{ type: 'node.fenced'; method: 'bmc' } | { type: 'node.fence.failed'; error: string }> {
    const done = this.elections.fenceRecord(name);
    if (done?.lease === lease) return { type: 'node.fenced', method: 'bmc' };
    const started = Date.now();
    const lock = keys.fencing(name);
    const locked = await this.store.txn(
      [{ key: lock, target: 'create', value: 0 }],
      [{ put: lock, value: this.node, lease: this.lease() }],
    );
    if (!locked) return { type: 'node.fence.failed', error: 'another agent is fencing it' };
    try {
      // Another agent may have fenced it between our look at the (watched) record and the lock:
      // etcd's own record, read under the lock, says so (a second power-off and event otherwise).
      const recorded = await this.store.get(keys.fenced(name));
      if (recorded && parseJson<FenceRecord>(recorded).lease === lease) return { type: 'node.fenced', method: 'bmc' };
      let bmc: BmcRecord | undefined;
      try {
        bmc = await readBmc(this.store, this.clusterKey, name);
      } catch (error) {
        const message = error instanceof RackseedError ? `${error.code}: ${error.message}` : String(error);
        this.failed(name, error instanceof RackseedError ? error.code : 'FENCE_ERR_BMC_RECORD', message);
        return { type: 'node.fence.failed', error: message };
      }
      if (!bmc) return { type: 'node.fence.failed', error: 'no BMC is known for it' };
      if (!(await quorumWithout(this.store, name))) {
        const error = new FenceQuorumError(name);
        this.failed(name, error.code, error.message);
        return { type: 'node.fence.failed', error: error.message };
      }
      try {
        await this.driver.powerOff(bmc);
        if ((await this.driver.powerState(bmc)) !== 'off') throw new Error('still powered on after power off');
      } catch (cause) {
        const error = new FenceBmcError(name, cause);
        this.failed(name, error.code, error.message);
        return { type: 'node.fence.failed', error: error.message };
      }
      this.poweredOff(name);
      const record: FenceRecord = { lease, method: 'bmc', at: new Date().toISOString(), by: this.node };
      const durationMs = Date.now() - started;
      await this.store.txn(
        [{ key: lock, target: 'value', value: this.node }],
        [
          { put: keys.fenced(name), value: JSON.stringify(record) },
          eventOp(
            { type: 'node.fenced', node: name, durationMs, detail: `powered off through its BMC in ${durationMs} ms` },
            this.node,
          ),
        ],
        [{ put: keys.fenced(name), value: JSON.stringify(record) }],
      );
      this.failures.delete(name);
      this.observe({ type: 'fenced', node: name, durationMs });
      this.log(`fenced ${name} (incarnation ${lease}) through its BMC`);
      return { type: 'node.fenced', method: 'bmc' };
    } finally {
      await this.store.delete(lock).catch(() => {});
    }
  }

  /** Logs a failed fence; tells the event log and the observer once per node and code (it is retried every 2 s). */
  private failed(node: string, code: string, message: string): void {
    this.log(`${code}: ${message}`);
    if (this.failures.get(node) === code) return;
    this.failures.set(node, code);
    this.events.record({ type: 'node.fence.failed', node, code, detail: message });
    this.observe({ type: 'fence-failed', node, code });
  }

  /** A node's registration vanished: mark it failed (which fences it) if we are the ones to act. */
  async nodeGone(name: string, lease: string): Promise<void> {
    const fencerClaim = this.elections.claim('fencer');
    const fencerDied = fencerClaim?.node === name && fencerClaim.lease === lease;
    if (!this.active && !fencerDied) return;
    if (name === this.node) return;
    await this.nodeMachines
      .apply(keys.nodeMachine(name), { type: 'node.lease.expired', lease }, { eventId: `expired:${lease}` })
      .catch((error: unknown) => this.log(`could not mark ${name} failed: ${String(error)}`));
  }

  /** Starts fencing duty (this node holds the fencer singleton). */
  start(): void {
    this.active = true;
    void this.sweep();
  }

  stop(): void {
    this.active = false;
    clearTimeout(this.retryTimer);
  }

  /** Fences every node that is up in its machine but not registered, and retries failed ones. */
  private async sweep(): Promise<void> {
    if (!this.active) return;
    try {
      const { entries } = await this.store.list(keys.nodeMachines);
      for (const entry of entries) {
        const envelope = this.nodeMachines.migrate(entry.key, parseJson(entry));
        const state = envelope.snapshot.value as string;
        const context = envelope.snapshot.context as unknown as NodeContext;
        if (context.name === this.node || context.lease === '') continue;
        if (['joining', 'ready', 'draining'].includes(state) && !this.elections.alive(context.name, context.lease)) {
          await this.nodeGone(context.name, context.lease);
        } else if (state === 'failed') {
          const result = await this.fence(context.name, context.lease);
          if (result.type === 'node.fenced') {
            await this.nodeMachines.apply(entry.key, result, { eventId: `fenced:${context.lease}` });
          }
        }
      }
    } catch (error) {
      this.log(`fencer sweep failed: ${String(error)}`);
    }
    if (this.active) this.retryTimer = setTimeout(() => void this.sweep(), RETRY_MS);
  }
}
