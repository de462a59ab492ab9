import { randomBytes } from 'node:crypto';
import { keys } from './keys.js';
import type { Change, Entry, Op, Store, WatchHandle } from './store/store.js';

/**
 * The cluster's event log: what happened and when, for `rackseed events` and the dashboard's
 * timeline. Every node machine transition, fence (and fence failure, with its stable code),
 * singleton election (a failover when it takes over from a fenced holder), DB master takeover
 * and provisioner decision is one event. Events live in etcd under `/rackseed/events/`, one
 * key each, replicated like every other record; a key starts with the event's time, so the
 * keys list in time order. Where an event comes with a state change (a transition, a fence
 * record, a singleton claim), it is written in the same transaction ({@link eventOp}): it is
 * there exactly once, and only if the change is. The log is bounded: every agent trims it to
 * the newest {@link MAX_EVENTS} every {@link TRIM_EVERY_MS}.
 */

/** How many events the log keeps (the oldest go first). */
export const MAX_EVENTS = 2_000;
/** How often each agent trims the log. */
export const TRIM_EVERY_MS = 30_000;

export interface ClusterEvent {
  /** When it happened (ISO 8601, ms). */
  readonly at: string;
  /** What happened: `node.transition`, `node.fenced`, `node.fence.failed`, `singleton.elected`… */
  readonly type: string;
  /** The node it is about, when it is about one. */
  readonly node?: string;
  /** Who recorded it (a node's name, or `operator`). */
  readonly by: string;
  /** A failure's stable error code. */
  readonly code?: string;
  /** What it took, when it is an operation that took time (a fence, a takeover). */
  readonly durationMs?: number;
  readonly detail: string;
}

/** An event as its recorder gives it: `at` defaults to now. */
export type NewEvent = Omit<ClusterEvent, 'at' | 'by'> & { readonly at?: string };

/** Orders the events one process records within the same millisecond. */
let recorded = 0;

/** The key and value of `event` as recorded by `by`: its time, its recorder, a sequence, a nonce. */
export function eventEntry(event: NewEvent, by: string): { key: string; value: string } {
  const at = event.at ?? new Date().toISOString();
  const record: ClusterEvent = { ...event, at, by };
  const sequence = String(++recorded).padStart(10, '0');
  return {
    key: `${keys.events}${at}/${by}/${sequence}${randomBytes(4).toString('hex')}`,
    value: JSON.stringify(record),
  };
}

/** The put of `event`, for a transaction that makes the change it reports. */
export function eventOp(event: NewEvent, by: string): Op {
  const { key, value } = eventEntry(event, by);
  return { put: key, value };
}

/** Reads an event's entry; undefined for anything else under the prefix. */
export function parseEvent(entry: Entry): ClusterEvent | undefined {
  try {
    const event = JSON.parse(entry.value) as Partial<ClusterEvent>;
    return typeof event.at === 'string' && typeof event.type === 'string' && typeof event.detail === 'string'
      ? (event as ClusterEvent)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Which events a reader wants: those about (or recorded by) `node`, the newest `limit`. */
export interface EventFilter {
  readonly node?: string;
  readonly limit?: number;
}

const matches = (event: ClusterEvent, filter: EventFilter) =>
  filter.node === undefined || event.node === filter.node || event.by === filter.node;

/** The events in the log, oldest first, and the revision they were read at (to follow from). */
export async function listEvents(
  store: Store,
  filter: EventFilter = {},
): Promise<{ events: ClusterEvent[]; revision: string }> {
  const { entries, revision } = await store.list(keys.events); // in key order: by time
  const events = entries.map(parseEvent).filter((e): e is ClusterEvent => e !== undefined && matches(e, filter));
  return { events: filter.limit === undefined ? events : events.slice(-filter.limit), revision };
}

/**
 * Calls `onEvent` with each event recorded after `revision`, in the order etcd committed them.
 * After a gap the watch could not replay (compaction), the events it missed are listed first.
 */
export async function followEvents(
  store: Store,
  revision: string,
  filter: EventFilter,
  onEvent: (event: ClusterEvent) => void,
): Promise<WatchHandle> {
  const seen = new Set<string>();
  const deliver = (entry: Entry) => {
    if (seen.has(entry.key)) return;
    seen.add(entry.key);
    if (seen.size > MAX_EVENTS * 2) seen.delete(seen.values().next().value as string);
    const event = parseEvent(entry);
    if (event && matches(event, filter)) onEvent(event);
  };
  return store.watchPrefix(
    keys.events,
    {
      onChange: (change: Change) => {
        if (change.type === 'put') deliver(change.entry);
      },
      onResync: (entries) => {
        for (const entry of [...entries].sort((a, b) => a.key.localeCompare(b.key))) deliver(entry);
      },
    },
    String(BigInt(revision) + 1n),
  );
}

/**
 * A recorder's side of the log: {@link EventLog.record} writes an event on its own (no change
 * to make with it), in the background, never failing its caller; {@link EventLog.trim} keeps
 * the log bounded.
 */
export class EventLog {
  constructor(
    private readonly store: Store,
    /** Who records: this node's name. */
    readonly by: string,
    private readonly log: (message: string) => void,
  ) {}

  record(event: NewEvent): void {
    const { key, value } = eventEntry(event, this.by);
    this.store.put(key, value).catch((error: unknown) => this.log(`could not record ${event.type}: ${String(error)}`));
  }

  /** Deletes the oldest events beyond {@link MAX_EVENTS}; resolves how many went. */
  async trim(): Promise<number> {
    return this.store.trimPrefix(keys.events, MAX_EVENTS);
  }
}
