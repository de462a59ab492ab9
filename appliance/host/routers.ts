import { keys, type Store } from '../../agent/index.js';
import { HostRouterNotFoundError } from './errors.js';
import { checkRouter } from './network/router-rules.js';
import type { RouterRequest, RouterState } from './types.js';

/** Routers' plumbing on this node (appliance/host/network's GuestNetwork). */
export interface RouterPlumbing {
  /** Makes the router as `request` says (namespace, legs and their networks, routes, NAT; only what differs), announcing its new addresses. */
  applyRouter(id: string, request: RouterRequest): Promise<void>;
  /** Removes the router's namespace and legs, and the networks they leave with no port; nothing to do if it is gone. */
  removeRouter(id: string): Promise<void>;
}

/** What {@link HostRouters} works with: this node's name, etcd for the records, and the plumbing. */
export interface HostRoutersOptions {
  readonly node: string;
  readonly store: Store;
  readonly plumbing: RouterPlumbing;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * The routers homed on this node, the host service's side of them: each PUT replaces a
 * router's whole state and is idempotent; calls on one router run one at a time. Its record in
 * etcd (`keys.hostRouter`, not leased: the network service finds a dead home's routers there
 * and moves them) is written once the plumbing is made, or with the fault that stopped it. A
 * restarted service makes every recorded router again ({@link restoreAll}).
 */
export class HostRouters {
  readonly #states = new Map<string, RouterState>();
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(private readonly options: HostRoutersOptions) {}

  /** Makes every router this node's records name again (idempotent: those still there change nothing); a failure is recorded as the router's fault. */
  async restoreAll(): Promise<{ routers: number; faulty: number }> {
    const { entries } = await this.options.store.list(keys.hostRouters(this.options.node));
    let faulty = 0;
    for (const entry of entries) {
      const state = JSON.parse(entry.value) as RouterState;
      this.#states.set(state.id, state);
      await this.put(state.id, state.request).catch(() => faulty++);
    }
    this.#log('host.routers.restored', { routers: entries.length, faulty });
    return { routers: entries.length, faulty };
  }

  /** Makes router `id` here as `request` says; refused before anything changes if the request is malformed (HOST_ERR_BAD_ROUTER). */
  async put(id: string, request: RouterRequest): Promise<RouterState> {
    checkRouter(id, request);
    return this.#serial(id, async () => {
      try {
        await this.options.plumbing.applyRouter(id, request);
      } catch (error) {
        const fault = {
          code: (error as { code?: string }).code ?? 'HOST_ERR_ROUTER',
          message: error instanceof Error ? error.message : String(error),
        };
        await this.#record(id, request, fault);
        this.#log('host.router.fault', { id, ...fault });
        throw error;
      }
      const state = await this.#record(id, request, null);
      this.#log('host.router.made', {
        id,
        interfaces: request.interfaces.length,
        floatingIps: request.floatingIps.length,
      });
      return state;
    });
  }

  /** The router's record as last written. */
  get(id: string): RouterState {
    const state = this.#states.get(id);
    if (!state) throw new HostRouterNotFoundError(id);
    return state;
  }

  /** Every router homed here. */
  list(): RouterState[] {
    return [...this.#states.values()];
  }

  /** Removes the router from this node (its namespace, legs, and the networks left with no port) and its record; nothing to do if it is unknown. */
  async delete(id: string): Promise<void> {
    await this.#serial(id, async () => {
      await this.options.plumbing.removeRouter(id);
      await this.options.store.delete(keys.hostRouter(this.options.node, id));
      this.#states.delete(id);
      this.#log('host.router.removed', { id });
    });
  }

  async #record(id: string, request: RouterRequest, fault: RouterState['fault']): Promise<RouterState> {
    const state: RouterState = { id, node: this.options.node, request, fault, updatedAt: new Date().toISOString() };
    await this.options.store.put(keys.hostRouter(this.options.node, id), JSON.stringify(state));
    this.#states.set(id, state);
    return state;
  }

  async #serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.#locks.get(id) ?? Promise.resolve()).then(work, work);
    const settled = mine.catch(() => undefined);
    this.#locks.set(id, settled);
    void settled.then(() => {
      if (this.#locks.get(id) === settled) this.#locks.delete(id);
    });
    return mine;
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.options.log?.(event, { node: this.options.node, ...fields });
  }
}
