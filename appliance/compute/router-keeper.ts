import { keys, PrefixView, type Store } from '../../agent/index.js';
import type { CloudDb } from '../db/index.js';
import type { HostView } from './host-view.js';
import type { RouterHomes } from './router-homes.js';

/** How often every router is checked against its home's record (a change whose carrying failed). */
const SWEEP_MS = 30_000;
/** How soon a pass that left routers behind (a home down, not yet fenced) runs again. */
const RETRY_MS = 5_000;

export interface RouterKeeperOptions {
  readonly store: Store;
  readonly db: CloudDb;
  readonly hosts: Pick<HostView, 'inventories' | 'routers' | 'onInventoryChange'>;
  readonly homes: RouterHomes;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * Keeps every router on a live home (a singleton of the cluster, next to the evacuation of
 * servers): when a router's home is fenced and its host service gone, the router is made on
 * another node (its floating IPs answer from there, its SNAT leaves from there) and the dead
 * node's record of it is removed. Fence first, as for guests: a home that is only unreachable
 * keeps its routers. Every {@link SWEEP_MS} each router is also brought to what the database
 * says, and a record of a router the database no longer has is removed: a change that its API
 * call could not carry (its home was restarting) lands at the latest then.
 */
export class RouterKeeper {
  #fenced: PrefixView | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(private readonly options: RouterKeeperOptions) {}

  async start(): Promise<void> {
    this.#fenced = await PrefixView.open(this.options.store, keys.fencedAll, () => this.#kick());
    this.options.hosts.onInventoryChange(() => this.#kick());
    this.#kick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#fenced?.close();
    await this.#running;
  }

  /** Runs a pass now (after any pass in progress), then again in RETRY_MS if routers were left, else in SWEEP_MS. */
  #kick(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#running = this.#running.then(async () => {
      const left = await this.#pass().catch((error: unknown) => {
        this.#log('network.routers.error', { error: String(error) });
        return 1;
      });
      if (!this.#closed) this.#timer = setTimeout(() => this.#kick(), left > 0 ? RETRY_MS : SWEEP_MS);
    });
  }

  /** One pass over every router of the database and of the nodes' records; how many are left for later. */
  async #pass(): Promise<number> {
    const live = new Set(this.options.hosts.inventories().map((host) => host.node));
    const fenced = new Set(
      [...(this.#fenced?.entries.keys() ?? [])]
        .map((key) => key.slice(keys.fencedAll.length))
        .filter((n) => !live.has(n)),
    );
    const records = this.options.hosts.routers();
    const ids = new Set([...(await this.options.db.routers.ids()), ...records.map((state) => state.id)]);
    let left = 0;
    for (const id of ids) {
      let home: string | null;
      try {
        home = await this.options.homes.apply(id, fenced);
      } catch (error) {
        left++;
        this.#log('network.routers.left', { router: id, error: String(error) });
        continue;
      }
      for (const state of records.filter((s) => s.id === id && fenced.has(s.node))) {
        await this.options.store.delete(keys.hostRouter(state.node, id));
        this.#log(home ? 'network.routers.moved' : 'network.routers.released', {
          router: id,
          from: state.node,
          to: home,
        });
      }
    }
    return left;
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.options.log?.(event, fields);
  }
}
