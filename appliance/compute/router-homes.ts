import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { HostInventory, RouterRequest } from '../host/index.js';
import { HostUnavailableError, NoRouterHomeError } from './errors.js';
import type { HostView } from './host-view.js';

/** What a router's home is asked to do (the host service client's router calls). */
export interface RouterHost {
  putRouter(id: string, request: RouterRequest): Promise<unknown>;
  deleteRouter(id: string): Promise<void>;
}

/**
 * Where the cloud's routers live, as Neutron's legacy L3 agent scheduler binds each router to
 * one agent: a router's home is the one node whose host service records it
 * (`/rackseed/hosts/<node>/routers/<id>`), so the nodes' records are the only bindings and no
 * table can disagree with them.
 *
 * A router without a home gets the live node that rendezvous hashing ranks first for its id:
 * every API process picks the same node without asking anyone (two quick changes of a new router
 * cannot land on two nodes while the first's record is still on its way), and routers spread
 * over the nodes. A home that is down keeps its routers until it is fenced: only then are they
 * made elsewhere (fence first, as with guests), by the network keeper (router-keeper.ts).
 */
export class RouterHomes {
  constructor(
    /** The router as the database says it should be now (null: it is gone), as router-request.ts reads it. */
    private readonly requestOf: (routerId: string) => Promise<RouterRequest | null>,
    private readonly hosts: Pick<HostView, 'inventories' | 'routers'>,
    private readonly client: (host: HostInventory) => RouterHost,
  ) {}

  /**
   * Makes the router what the database says on its home (chosen if it has none), and removes it
   * from any other live node; removes it everywhere if it is gone from the database. The homes
   * in `fenced` are dead for good: their records are passed over (the keeper deletes them).
   * Rejects with {@link HostUnavailableError} while a home that is not fenced is down. Resolves
   * with the router's home, or null if it is gone.
   */
  async apply(routerId: string, fenced: ReadonlySet<string> = new Set()): Promise<string | null> {
    const wanted = await this.requestOf(routerId);
    const live = new Map(this.hosts.inventories().map((host) => [host.node, host]));
    const holders = this.hosts.routers().filter((state) => state.id === routerId && !fenced.has(state.node));
    const down = holders.find((state) => !live.has(state.node));
    if (wanted && down) throw new HostUnavailableError(down.node);
    let home: string | undefined;
    if (wanted) {
      const current = holders.find((state) => live.has(state.node));
      home = current?.node ?? rendezvous(routerId, [...live.keys()]);
      const host = home === undefined ? undefined : live.get(home);
      if (!host) throw new NoRouterHomeError(routerId);
      if (!current || current.fault || !isDeepStrictEqual(current.request, wanted))
        await this.client(host).putRouter(routerId, wanted);
    }
    for (const state of holders) {
      const host = live.get(state.node);
      if (host && state.node !== home) await this.client(host).deleteRouter(routerId);
    }
    return home ?? null;
  }
}

/** The node that ranks first for `key` (highest hash of key and node): stable while the nodes are. */
export function rendezvous(key: string, nodes: readonly string[]): string | undefined {
  let best: { node: string; score: string } | undefined;
  for (const node of nodes) {
    const score = createHash('sha256').update(`${key}\0${node}`).digest('hex');
    if (!best || score > best.score) best = { node, score };
  }
  return best?.node;
}
