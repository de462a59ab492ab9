import { keys, parseJson, PrefixView, type Store } from '../../agent/index.js';
import type { GuestState, HostInventory, RouterState } from '../host/index.js';
import type { ServerService } from './servers.js';

const GUEST_KEY = /\/guests\/([0-9a-f-]{36})$/;
const ROUTER_KEY = /\/routers\/([0-9a-f-]{36})$/;

/** What the compute service sees of the host services, followed live from etcd. */
export interface HostView {
  /** The live hosts' inventories (for scheduling and the hypervisors API). */
  inventories(): HostInventory[];
  /** Every router record, of live nodes and dead ones (a router's home is the node that records it). */
  routers(): RouterState[];
  /**
   * From now on, guests that their host recorded as `shutoff` or `crashed` on their own become
   * `powerLost` events on their servers' machines (applied only to an ACTIVE server: for any
   * other, a requested stop is under way or it moved on). The records as they stand now are
   * reported at once: they may have changed while nobody watched.
   */
  reportTo(servers: ServerService): void;
  /** Calls `listener` whenever a host's inventory appears, changes or expires. */
  onInventoryChange(listener: () => void): void;
  close(): Promise<void>;
}

/** Opens the view of every host service's records (`/rackseed/hosts/`). */
export async function watchHosts(store: Store): Promise<HostView> {
  let servers: ServerService | undefined;
  const inventoryListeners: (() => void)[] = [];
  const report = (state: GuestState) => {
    // `building` is a guest being made here (a spawn, or a server moving in), not a loss.
    if (!servers || (state.power !== 'shutoff' && state.power !== 'crashed')) return;
    // The DB master away: the next change, or the next API start, reports it again.
    void servers.report(state.id, { type: 'powerLost', crashed: state.power === 'crashed' }).catch(() => undefined);
  };
  const view = await PrefixView.open(store, keys.hosts, (key, previous, current) => {
    if (key.endsWith('/inventory')) for (const listener of inventoryListeners) listener();
    if (!current || !GUEST_KEY.test(key)) return;
    const state = parseJson<GuestState>(current);
    if (!previous || parseJson<GuestState>(previous).power !== state.power) report(state);
  });
  return {
    inventories: () =>
      [...view.entries.entries()]
        .filter(([key]) => key.endsWith('/inventory'))
        .map(([, entry]) => parseJson<HostInventory>(entry)),
    routers: () =>
      [...view.entries.entries()]
        .filter(([key]) => ROUTER_KEY.test(key))
        .map(([, entry]) => parseJson<RouterState>(entry)),
    reportTo: (service) => {
      servers = service;
      for (const [key, entry] of view.entries) if (GUEST_KEY.test(key)) report(parseJson<GuestState>(entry));
    },
    onInventoryChange: (listener) => inventoryListeners.push(listener),
    close: () => view.close(),
  };
}
