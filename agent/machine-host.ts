import { type AnyStateMachine, type EventObject, initialTransition, transition } from 'xstate';
import type { MachineDefinition, PersistedSnapshot } from '../statemachines/index.js';
import { RackseedError } from './errors/index.js';
import { StoreConflictError } from './store/errors.js';
import { eventOp } from './events.js';
import { type Op, type Store, parseJson } from './store/store.js';

/** How many applied event ids an envelope remembers, to drop a retried event it already applied. */
const RECENT_EVENTS = 256;
/** How many transitions an envelope keeps for `rackseed status`. */
const HISTORY = 8;
const MAX_ATTEMPTS = 200;

/** An effect a transition asked for, kept until an agent has run it. */
export interface PendingEffect {
  readonly id: string;
  readonly type: string;
  readonly params: unknown;
}

/** One transition, as `rackseed status` shows it. */
export interface TransitionRecord {
  readonly at: string;
  readonly event: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** What one etcd key holds for one machine. */
export interface Envelope {
  readonly machine: string;
  readonly version: number;
  /** How many events were applied; effect ids derive from it. */
  readonly seq: number;
  readonly snapshot: PersistedSnapshot;
  readonly recent: readonly string[];
  readonly outbox: readonly PendingEffect[];
  readonly history: readonly TransitionRecord[];
}

/** The snapshot was written by a newer rackseed than this one. */
export class MachineSnapshotTooNewError extends RackseedError {
  constructor(key: string, version: number, supported: number) {
    super(
      'MACHINE_ERR_SNAPSHOT_TOO_NEW',
      `${key} holds a version ${version} snapshot; this agent reads up to ${supported}: upgrade it`,
    );
  }
}

/** An event was sent to a machine that does not exist yet. */
export class MachineNotFoundError extends RackseedError {
  constructor(key: string) {
    super('MACHINE_ERR_NOT_FOUND', `no machine at ${key}; create it first`);
  }
}

/**
 * An effect's implementation: idempotent (it may run more than once, e.g. after a restart),
 * it resolves with the event that reports its result, if any.
 */
export type EffectHandler = (params: never, key: string) => Promise<EventObject | void>;

/** The result of {@link MachineHost.apply}. */
export interface Applied {
  /** False when the event id had already been applied (nothing changed). */
  readonly applied: boolean;
  readonly envelope: Envelope;
}

/** A state value as one word (`ready`), or a nested one as JSON. */
const stateName = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

function persisted(machine: AnyStateMachine, snapshot: unknown): PersistedSnapshot {
  const p = machine.getPersistedSnapshot(snapshot as never) as PersistedSnapshot;
  return { value: p.value, context: p.context, status: p.status };
}

/**
 * Hosts replicated instances of one pure machine in etcd, one key each. An event is applied
 * by reading the key, computing the next snapshot with xstate's pure `transition()`, and
 * writing it back in a transaction that compares the key's mod revision: when agents race,
 * exactly one write wins and the others retry on the new snapshot, so every event is
 * applied exactly once, in some order. Events carry an id, remembered in the envelope, so a
 * retry after an unknown outcome is not applied twice. The named actions a transition
 * returns are kept in the envelope's outbox in the same write, run by `effects` after the
 * commit (and again by {@link resume} after a crash), and their result events are fed back.
 */
export class MachineHost<M extends AnyStateMachine> {
  constructor(
    private readonly store: Store,
    private readonly definition: MachineDefinition<M>,
    private readonly effects: Readonly<Record<string, EffectHandler>> = {},
    /** Who applies events here (a node's name, `operator`): the recorder of the transitions' events. */
    private readonly by = 'rackseed',
  ) {}

  private get machine(): AnyStateMachine {
    return this.definition.machine;
  }

  /** Reads and migrates the envelope at `key`, or undefined if there is none. */
  async read(key: string): Promise<{ envelope: Envelope; modRevision: string } | undefined> {
    const entry = await this.store.get(key);
    if (!entry) return undefined;
    return { envelope: this.migrate(key, parseJson<Envelope>(entry)), modRevision: entry.modRevision };
  }

  /** Brings an envelope written by an older rackseed up to this machine's version. */
  migrate(key: string, envelope: Envelope): Envelope {
    const { version, migrations } = this.definition;
    if (envelope.version > version) throw new MachineSnapshotTooNewError(key, envelope.version, version);
    let snapshot = envelope.snapshot;
    for (let v = envelope.version; v < version; v++) {
      const step = migrations[v];
      if (!step) throw new MachineSnapshotTooNewError(key, envelope.version, version);
      snapshot = step(snapshot);
    }
    return { ...envelope, version, snapshot };
  }

  /** Creates the machine at `key` in its initial state unless it exists; resolves whether it created it. */
  async create(key: string, input?: unknown): Promise<boolean> {
    const [snapshot, actions] = initialTransition(this.machine, input as never);
    const envelope: Envelope = {
      machine: this.machine.id,
      version: this.definition.version,
      seq: 0,
      snapshot: persisted(this.machine, snapshot),
      recent: [],
      outbox: this.pending(actions, 0),
      history: [],
    };
    const created = await this.store.txn(
      [{ key, target: 'create', value: 0 }],
      [{ put: key, value: JSON.stringify(envelope) }],
    );
    if (created) await this.runEffects(key, envelope.outbox);
    return created;
  }

  private pending(actions: readonly { type: string; params: unknown }[], seq: number): PendingEffect[] {
    return actions
      .filter((a) => a.type in this.effects)
      .map((a, i) => ({ id: `${seq}.${i}`, type: a.type, params: a.params ?? null }));
  }

  /**
   * Applies `event` to the machine at `key` exactly once. `eventId` (default: none) makes a
   * retried call a no-op; `completes` removes that effect from the outbox in the same write.
   * Effects the transition asked for are run after the commit unless `runEffects` is false.
   */
  async apply(
    key: string,
    event: EventObject & Record<string, unknown>,
    options: { eventId?: string; completes?: string; runEffects?: boolean } = {},
  ): Promise<Applied> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.read(key);
      if (!current) throw new MachineNotFoundError(key);
      const { envelope, modRevision } = current;
      if (options.eventId !== undefined && envelope.recent.includes(options.eventId)) {
        return { applied: false, envelope };
      }
      const snapshot = this.machine.resolveState(envelope.snapshot as never);
      const [next, actions] = transition(this.machine, snapshot, event as never);
      const seq = envelope.seq + 1;
      const added = this.pending(actions, seq);
      const nextSnapshot = persisted(this.machine, next);
      const at = new Date().toISOString();
      const moved = JSON.stringify(nextSnapshot.value) !== JSON.stringify(envelope.snapshot.value);
      const updated: Envelope = {
        ...envelope,
        seq,
        snapshot: nextSnapshot,
        recent:
          options.eventId === undefined ? envelope.recent : [...envelope.recent, options.eventId].slice(-RECENT_EVENTS),
        outbox: [...envelope.outbox.filter((e) => e.id !== options.completes), ...added],
        history: moved
          ? [
              ...envelope.history,
              { at, event: event.type, from: envelope.snapshot.value, to: nextSnapshot.value },
            ].slice(-HISTORY)
          : envelope.history,
      };
      const committed = await this.store.txn(
        [{ key, target: 'mod', value: modRevision }],
        [
          { put: key, value: JSON.stringify(updated) },
          ...(moved ? [this.transitionEvent(key, at, event, envelope.snapshot.value, nextSnapshot.value)] : []),
        ],
      );
      if (!committed) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));
        continue;
      }
      if (options.runEffects !== false) await this.runEffects(key, added);
      return { applied: true, envelope: updated };
    }
    throw new StoreConflictError(key, MAX_ATTEMPTS);
  }

  /** The event log's record of a transition, written with it: `node.transition` for a node's machine. */
  private transitionEvent(key: string, at: string, event: EventObject, from: unknown, to: unknown): Op {
    const subject = key.slice(key.lastIndexOf('/') + 1);
    const error = (event as { error?: unknown }).error;
    const why = `${event.type}${typeof error === 'string' ? `: ${error}` : ''}`;
    return eventOp(
      {
        at,
        type: `${this.machine.id}.transition`,
        ...(this.machine.id === 'node' ? { node: subject } : {}),
        detail: `${this.machine.id === 'node' ? '' : `${subject}: `}${stateName(from)} → ${stateName(to)} (${why})`,
      },
      this.by,
    );
  }

  /** Runs effects and feeds their results back; a failed effect stays in the outbox for {@link resume}. */
  private async runEffects(key: string, effects: readonly PendingEffect[]): Promise<void> {
    for (const effect of effects) {
      const handler = this.effects[effect.type];
      if (!handler) continue;
      let result: EventObject | void;
      try {
        result = await handler(effect.params as never, key);
      } catch {
        continue; // stays pending: resume() runs it again
      }
      await this.apply(key, result ?? { type: 'xstate.effect.done' }, {
        eventId: `effect:${effect.id}`,
        completes: effect.id,
      });
    }
  }

  /** After a restart: runs every effect still pending in the machines under `prefix`. */
  async resume(prefix: string): Promise<void> {
    const { entries } = await this.store.list(prefix);
    for (const entry of entries) {
      const envelope = this.migrate(entry.key, parseJson<Envelope>(entry));
      await this.runEffects(entry.key, envelope.outbox);
    }
  }

  /** The current state value and context of the machine at `key`. */
  async state(key: string): Promise<{ value: unknown; context: unknown } | undefined> {
    const current = await this.read(key);
    return current && { value: current.envelope.snapshot.value, context: current.envelope.snapshot.context };
  }
}
