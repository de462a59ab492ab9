import { randomUUID } from 'node:crypto';
import {
  type Entry,
  type FenceRecord,
  keys,
  type NodeTls,
  parseJson,
  PrefixView,
  type Store,
} from '../../agent/index.js';
import type { CloudDb } from '../db/index.js';
import { HostClient, type GuestState, type PowerRequest } from '../host/index.js';
import type { HostView } from './host-view.js';
import type { HostComputeDriver } from './host-driver.js';
import { hostCapacities, type PlacementConfig, schedulableHosts } from './placement.js';
import { machineOf, type ServerService } from './servers.js';

/** How often guests that could not move yet are tried again. */
const RETRY_MS = 5_000;
/** A server still building this long after its host's fence has lost the process that drove its spawn. */
const ORPHANED_BUILD_MS = 15_000;

export interface EvacuationOptions {
  readonly store: Store;
  readonly db: CloudDb;
  readonly hosts: HostView;
  readonly servers: ServerService;
  /** Its inventory of the live hosts. */
  readonly driver: HostComputeDriver;
  /** The node's certificate, which the host services ask for. */
  readonly tls: NodeTls;
  /** The placement setting in force. */
  readonly placement: () => PlacementConfig;
  /**
   * Cuts a dead host off Ceph (`osd blocklist add` of its address), so that its QEMUs, should
   * any still run, can never write the disks again. Called before any of its guests moves.
   */
  readonly blocklist: (address: string) => Promise<void>;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * Restarts a fenced node's servers on other nodes, from their RBD disks, with the same ids,
 * ports and disks (a singleton of the cluster: the compute keeper). Fence first: it acts only
 * on nodes with a fence record (powered off through their BMC, or confirmed off by an
 * operator) and no live host service, and blocklists the dead host on Ceph before the first
 * of its guests starts elsewhere, so two QEMUs never write one disk. Each guest is claimed on
 * a new host (its allocation moved atomically), started there as it was (running or shut
 * off), and its record under the dead node removed. A guest that no host can take puts its
 * server in ERROR with the scheduler's fault; one that its new host refuses for good (not
 * retryable: its image, its size) stays in ERROR with that refusal; the others (and a server
 * still building, its spawn in flight) are tried again until they move.
 */
export class Evacuation {
  #fenced: PrefixView | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  readonly #blocklisted = new Set<string>();
  #closed = false;

  constructor(private readonly options: EvacuationOptions) {}

  async start(): Promise<void> {
    this.#fenced = await PrefixView.open(this.options.store, keys.fencedAll, () => this.#kick());
    // A node is often fenced before its host service's inventory (a 5 s lease) expires: the
    // expiry is what lets its guests move.
    this.options.hosts.onInventoryChange(() => this.#kick());
    this.#kick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#fenced?.close();
    await this.#running;
  }

  /** Runs a pass now (after any pass in progress), and again in RETRY_MS while guests are left. */
  #kick(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#running = this.#running.then(async () => {
      const left = await this.#pass().catch((error: unknown) => {
        this.#log('compute.evacuation.error', { error: String(error) });
        return 1;
      });
      if (left > 0 && !this.#closed) this.#timer = setTimeout(() => this.#kick(), RETRY_MS);
    });
  }

  /** One pass over every fenced node without a live host service; how many guests are left. */
  async #pass(): Promise<number> {
    const live = new Set(this.options.hosts.inventories().map((h) => h.node));
    let left = 0;
    for (const fence of this.#fenced?.entries.values() ?? []) {
      const dead = {
        node: fence.key.slice(keys.fencedAll.length),
        fencedAt: Date.parse(parseJson<FenceRecord>(fence).at),
      };
      if (live.has(dead.node)) continue;
      const { entries } = await this.options.store.list(keys.hostGuests(dead.node));
      const recorded = new Set<string>();
      for (const entry of entries) {
        const guest = parseJson<GuestState>(entry);
        recorded.add(guest.id);
        if (!(await this.#move(dead, guest.id, { entry, guest }))) left++;
      }
      // Servers placed on the node whose spawn never reached it (it died first): no record there.
      for (const server of await this.options.db.servers.list({ host: dead.node }, { limit: 100_000 })) {
        if (!recorded.has(server.id) && !(await this.#move(dead, server.id))) left++;
      }
    }
    return left;
  }

  /**
   * Moves one server of a dead node, from its guest record there if it has one (else its
   * request is made again from the database); false if it must be tried again.
   */
  async #move(
    dead: { node: string; fencedAt: number },
    id: string,
    recorded?: { entry: Entry; guest: GuestState },
  ): Promise<boolean> {
    const { node } = dead;
    let server = await this.options.db.servers.get(id);
    if (!server || server.state === 'deleted' || server.state === 'deleting') {
      if (recorded) await this.options.store.delete(recorded.entry.key);
      return true;
    }
    if (server.state === 'building') {
      // Its spawn call ends within a second of the host's inventory going, and reports: wait for
      // it. Still building long after the fence, it has lost the API process that drove it (on
      // the dead node, or cut off from the database): out of BUILD, into ERROR, and on.
      if (Date.now() - dead.fencedAt < ORPHANED_BUILD_MS) return false;
      await this.options.servers.report(id, {
        type: 'hostLost',
        message: `The server's host ${node} was fenced while the server was being built`,
      });
      server = await this.options.db.servers.get(id);
      if (server?.state !== 'error') return false;
    }
    const guest = recorded?.guest;
    if (guest?.hostAddress && !this.#blocklisted.has(guest.hostAddress)) {
      await this.options.blocklist(guest.hostAddress);
      this.#blocklisted.add(guest.hostAddress);
      this.#log('compute.evacuation.blocklisted', { node, address: guest.hostAddress });
    }
    const inventories = this.options.hosts.inventories().filter((h) => h.node !== node);
    let target: string;
    try {
      const hosts = schedulableHosts(this.options.driver.hosts(), await this.options.db.computeServices.list());
      const capacities = hostCapacities(hosts, this.options.placement());
      ({ host: target } = await this.options.db.servers.place(id, capacities, { exclude: [node] }));
    } catch (error) {
      if ((error as { code?: string }).code !== 'DB_ERR_NO_VALID_HOST') throw error;
      await this.options.servers.report(id, {
        type: 'hostLost',
        message: `The server's host ${node} was fenced and no other host can take it: ${(error as Error).message}`,
      });
      return false;
    }
    const inventory = inventories.find((h) => h.node === target);
    if (!inventory) return false;
    // As the server was: a server stopped by its owner stays stopped, a suspended one suspended
    // (its state is on Ceph, for the new host to run it on from); one that was running or
    // paused, or that its dying host saw "crash" (QEMU killed with the node's power), runs again.
    const { context } = machineOf(server);
    const off = server.state === 'shutoff' || (server.state === 'snapshotting' && context.snapshotStopped === true);
    const stopped = off && context.crashed !== true;
    const suspended =
      server.state === 'suspended' || (server.state === 'snapshotting' && context.snapshotOf === 'suspended');
    const power: PowerRequest = suspended ? 'suspended' : stopped ? 'shutoff' : 'running';
    const request = guest ? { ...guest.request, power } : await this.options.driver.request(server, power);
    // An instance action of the cloud's own (no user), as Nova records an evacuation.
    const requestId = `req-${randomUUID()}`;
    const startTime = new Date().toISOString();
    await this.options.db.actions.record({
      ...{ serverId: id, requestId, action: 'evacuate', userId: null, projectId: server.projectId, startTime },
    });
    // And its migration record (Nova's os-migrations lists evacuations).
    const migration = await this.options.db.migrations.record({
      ...{ uuid: randomUUID(), serverId: id, migrationType: 'evacuation', sourceHost: node, destHost: target },
      ...{ status: 'accepted', flavorId: server.flavorId, newFlavorId: server.flavorId },
      ...{ oldFlavor: null, newFlavor: null },
      ...{ projectId: server.projectId, userId: null },
      createdAt: startTime,
    });
    try {
      await new HostClient(inventory.url, this.options.tls).put(id, request);
    } catch (error) {
      const at = new Date().toISOString();
      await this.options.db.actions.finish(id, 'evacuate', 'Error', 'Error', at);
      await this.options.db.migrations.finish(migration.uuid, 'error', at);
      // Tried again next pass from its record; one without (its claim has moved to the new host)
      // stays in ERROR there, which a hard reboot retries.
      if ((error as { retryable?: boolean }).retryable !== false && recorded) throw error;
      // The new host refused it for good (its image, its size): it stays where it is, in ERROR.
      if (recorded) await this.options.store.delete(recorded.entry.key);
      await this.options.servers.report(id, {
        type: 'hostLost',
        message: `The server's host ${node} was fenced and ${target} could not start it: ${(error as Error).message}`,
      });
      this.#log('compute.evacuation.refused', { server: id, from: node, to: target, error: String(error) });
      return true;
    }
    const done = new Date().toISOString();
    await this.options.db.actions.finish(id, 'evacuate', 'Success', null, done);
    await this.options.db.migrations.finish(migration.uuid, 'done', done);
    if (recorded) await this.options.store.delete(recorded.entry.key);
    if (power === 'running' && server.state !== 'active') await this.options.servers.report(id, { type: 'evacuated' });
    this.#log('compute.evacuation.moved', { server: id, from: node, to: target, power });
    return true;
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.options.log?.(event, fields);
  }
}
