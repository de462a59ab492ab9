/**
 * One live feed of the rack per API process, shared by every dashboard that follows it
 * ({@link RackFeed}): while at least one listens, it watches the etcd prefixes the rack view
 * depends on and follows the event log; a burst of changes becomes one new snapshot, read
 * {@link RackFeedOptions.coalesceMs} after the first change, and sent only when it differs from
 * the last. When the last listener leaves, every watch is closed: an idle API holds none.
 */
import { followEvents, listEvents, type Store, type WatchHandle } from '../../../agent/index.js';
import type { RackEvent, RackSnapshot } from './web/wire.js';

/** What a listener is told: the rack, the newest events at first, then each new event. */
export interface RackListener {
  snapshot(rack: RackSnapshot): void;
  events(events: readonly RackEvent[]): void;
  event(event: RackEvent): void;
}

export interface RackFeedOptions {
  /** How long after a first change the rack is read again (the changes meanwhile ride along). */
  readonly coalesceMs: number;
  /**
   * How often the rack is read again with no change seen: etcd's leader and the servers'
   * states (the cloud database) change without a key under the watched prefixes.
   */
  readonly refreshMs: number;
  /** How many of the newest events a new listener is given. */
  readonly recentEvents: number;
  /** Where a failed read or watch is told (the API's log). */
  readonly log: (message: string, error: unknown) => void;
}

export const DEFAULT_FEED_OPTIONS: Omit<RackFeedOptions, 'log'> = {
  coalesceMs: 100,
  refreshMs: 5_000,
  recentEvents: 50,
};

/** The feed's state while someone listens. */
class Running {
  readonly watches: WatchHandle[] = [];
  recent: RackEvent[] = [];
  last: RackSnapshot | null = null;
  lastText = '';
  pending: NodeJS.Timeout | null = null;
  refresh: NodeJS.Timeout | null = null;
  reading = false;
  dirty = false;
  closed = false;
}

/** The text a snapshot is compared by: all but its time. */
const contentOf = ({ at: _at, ...rest }: RackSnapshot) => JSON.stringify(rest);

export class RackFeed {
  readonly #listeners = new Set<RackListener>();
  /** Subscribers, those still waiting for the feed to start included. */
  #users = 0;
  #running: Promise<Running> | null = null;
  #watches = 0;
  readonly #options: RackFeedOptions;

  constructor(
    private readonly store: Store,
    /** The etcd prefixes whose changes change the rack. */
    private readonly prefixes: readonly string[],
    /** Reads the rack now. */
    private readonly read: () => Promise<RackSnapshot>,
    options: Partial<RackFeedOptions> & Pick<RackFeedOptions, 'log'>,
  ) {
    this.#options = { ...DEFAULT_FEED_OPTIONS, ...options };
  }

  /** Open etcd watches (0 when nobody listens). */
  get watches(): number {
    return this.#watches;
  }

  /** Listeners following the feed. */
  get listeners(): number {
    return this.#listeners.size;
  }

  /**
   * Follows the rack: `listener` gets the newest events and the rack at once, then every
   * change. Resolves the function that stops following (the last one to stop closes the watches).
   */
  async subscribe(listener: RackListener): Promise<() => Promise<void>> {
    this.#users++;
    let running: Running;
    try {
      running = await (this.#running ??= this.#start());
    } catch (error) {
      await this.#leave();
      throw error;
    }
    this.#listeners.add(listener);
    listener.events(running.recent);
    if (running.last) listener.snapshot(running.last);
    let left = false;
    return async () => {
      if (left) return;
      left = true;
      this.#listeners.delete(listener);
      await this.#leave();
    };
  }

  /** Stops the feed whoever listens (the API shuts down). */
  async close(): Promise<void> {
    this.#listeners.clear();
    this.#users = 0;
    await this.#stop();
  }

  async #leave(): Promise<void> {
    this.#users = Math.max(0, this.#users - 1);
    if (this.#users === 0) await this.#stop();
  }

  async #stop(): Promise<void> {
    const running = this.#running;
    this.#running = null;
    const r = await running?.catch(() => null);
    if (r) await this.#close(r);
  }

  async #watch(open: () => Promise<WatchHandle>, into: Running): Promise<void> {
    const handle = await open();
    this.#watches++;
    into.watches.push(handle);
  }

  async #start(): Promise<Running> {
    const r = new Running();
    try {
      const { events, revision } = await listEvents(this.store, { limit: this.#options.recentEvents });
      r.recent = events;
      // Every watch starts after the revision the events were listed at, and the rack is read
      // meanwhile (at that revision or later): a change after it is replayed by the watches and
      // reads the rack again, so none is missed, and the first snapshot waits for no watch.
      const from = String(BigInt(revision) + 1n);
      const [opened, read] = await Promise.all([
        Promise.allSettled([
          this.#watch(() => followEvents(this.store, revision, {}, (event) => this.#event(r, event)), r),
          ...this.prefixes.map((prefix) =>
            this.#watch(
              () =>
                this.store.watchPrefix(
                  prefix,
                  { onChange: () => this.#changed(r), onResync: () => this.#changed(r) },
                  from,
                ),
              r,
            ),
          ),
        ]),
        this.read().then(
          (rack) => ({ rack }),
          (error: unknown) => ({ error }),
        ),
      ]);
      const failed = opened.find((o) => o.status === 'rejected');
      if (failed) throw failed.reason;
      if ('error' in read) throw read.error;
      const { rack } = read;
      r.last = rack;
      r.lastText = contentOf(rack);
      r.refresh = setInterval(() => this.#changed(r), this.#options.refreshMs);
      return r;
    } catch (error) {
      await this.#close(r);
      this.#running = null;
      throw error;
    }
  }

  async #close(r: Running): Promise<void> {
    r.closed = true;
    if (r.pending) clearTimeout(r.pending);
    if (r.refresh) clearInterval(r.refresh);
    const watches = r.watches.splice(0);
    await Promise.all(watches.map((w) => w.close().catch(() => {})));
    this.#watches -= watches.length;
  }

  #event(r: Running, event: RackEvent): void {
    if (r.closed) return;
    r.recent.push(event);
    if (r.recent.length > this.#options.recentEvents) r.recent.shift();
    for (const listener of this.#listeners) listener.event(event);
  }

  /** Something changed: read the rack again soon, once for a burst. */
  #changed(r: Running): void {
    if (r.closed) return;
    if (r.reading) {
      r.dirty = true;
      return;
    }
    r.pending ??= setTimeout(() => {
      r.pending = null;
      void this.#reread(r);
    }, this.#options.coalesceMs);
  }

  async #reread(r: Running): Promise<void> {
    r.reading = true;
    r.dirty = false;
    try {
      const rack = await this.read();
      const text = contentOf(rack);
      if (!r.closed && text !== r.lastText) {
        r.last = rack;
        r.lastText = text;
        for (const listener of this.#listeners) listener.snapshot(rack);
      }
    } catch (error) {
      this.#options.log('dashboard: reading the rack failed; trying again at the next change', error);
    } finally {
      r.reading = false;
      if (r.dirty) this.#changed(r);
    }
  }
}
