import { initialTransition, transition } from 'xstate';
import {
  SERVER_MACHINE_VERSION,
  type ServerContext,
  type ServerEvent,
  type ServerStateValue,
  serverMachine,
} from '../../statemachines/index.js';
import type { CloudDb, Migration, Nic, Server, ServerQuota } from '../db/index.js';
import type { ComputeDriver } from './driver.js';
import { ServerStateError } from './errors.js';
import { DEFAULT_PLACEMENT, hostCapacities, type PlacementConfig, schedulableHosts } from './placement.js';

interface StoredMachine {
  version: number;
  value: ServerStateValue;
  context: ServerContext;
}

/** A server's machine snapshot as stored in its row. */
export function machineOf(server: Pick<Server, 'machine'>): StoredMachine {
  return JSON.parse(server.machine) as StoredMachine;
}

interface Logger {
  error(obj: object, msg: string): void;
}

/** Who asked (an instance action's request, user and project). */
export interface Requester {
  readonly requestId: string;
  /** Null for the cloud itself (an evacuation). */
  readonly userId: string | null;
  readonly projectId: string;
}

/** Nova's instance action of each effect (an owner's event is named as its action: `stop`, `delete`…). */
const ACTION_OF_EFFECT: Record<string, string> = {
  spawn: 'create',
  powerOff: 'stop',
  powerOn: 'start',
  reboot: 'reboot',
  pause: 'pause',
  unpause: 'unpause',
  suspend: 'suspend',
  resume: 'resume',
  rebuild: 'rebuild',
  resize: 'resize',
  confirmResize: 'confirmResize',
  revertResize: 'revertResize',
  shelve: 'shelve',
  unshelve: 'unshelve',
  destroy: 'delete',
};

/** The images a shelve makes of servers' disks and an unshelve drops (Glance's; on RBD in a cluster). */
export interface ShelvedImages {
  /** Copies the server's root disk into image `imageId` (recorded `saving` by the API), which goes active. */
  save(server: Server, imageId: string): Promise<void>;
  /** Deletes the image and its bytes, as Glance's delete does; nothing to do if it is gone. */
  remove(imageId: string): Promise<void>;
}

/** Where no shelve is taken (a service built without Glance's images): each call refuses. */
const NO_SHELVED_IMAGES: ShelvedImages = {
  save: () => Promise.reject(new Error('this compute service has no image store to shelve into')),
  remove: () => Promise.reject(new Error('this compute service has no image store')),
};

/** How many times an event is judged again on a row that another transition changed meanwhile. */
const STALE_ATTEMPTS = 5;

/** A migration that the server's resize, cold migration, or decision on one is about. */
const RESIZE_STATUSES: Record<string, readonly Migration['status'][]> = {
  resize: ['pre-migrating'],
  confirmResize: ['finished'],
  revertResize: ['finished'],
};

/** A create's one host: forced (an admin's "ZONE:HOST", past the service filter) or asked for (2.74). */
export interface Destination {
  readonly host: string;
  readonly forced: boolean;
}

/**
 * Drives servers through the server machine: persists each transition (only if the row is
 * still in the state it was read in), runs the effects the machine names through the
 * compute driver, and feeds the results back as events.
 */
export class ServerService {
  #inFlight = new Set<Promise<void>>();
  /** The refreshes running (a project's firewalls, a router), and whether to run each once more. */
  readonly #refreshes = new Map<string, { again: boolean }>();

  constructor(
    private readonly db: CloudDb,
    readonly driver: ComputeDriver,
    private readonly log: Logger,
    /** The placement setting in force (read at each scheduling: it may change while the service runs). */
    private readonly placement: () => PlacementConfig = () => DEFAULT_PLACEMENT,
    private readonly images: ShelvedImages = NO_SHELVED_IMAGES,
  ) {}

  /** Creates the server in BUILD and starts spawning it. */
  async create(
    server: Omit<Server, 'state' | 'machine' | 'host' | 'addresses' | 'flavor'>,
    nics: readonly Nic[],
    quota: ServerQuota,
    by: Requester,
    /**
     * Only this host: an admin's "ZONE:HOST" forces it past the service filter (a disabled or
     * forced-down host is taken); 2.74's `host` asks for it, filtered as any host. Either way it
     * must still have room.
     */
    destination?: Destination,
  ): Promise<Server> {
    const [snapshot, actions] = initialTransition(serverMachine);
    const created = await this.db.servers.create(
      {
        ...server,
        host: '', // the spawn effect schedules it
        addresses: [],
        state: String(snapshot.value),
        machine: JSON.stringify({ version: SERVER_MACHINE_VERSION, value: snapshot.value, context: snapshot.context }),
      },
      nics,
      quota,
    );
    await this.db.actions.record({ serverId: created.id, action: 'create', ...by, startTime: created.createdAt });
    // Its ports' addresses joined groups that other ports' rules may name.
    this.refreshFirewalls(created.projectId);
    this.#run(
      created,
      actions.map((a) => a.type),
      destination,
    );
    return created;
  }

  /**
   * Sends an owner's event (`stop`, `start`, `reboot`, `rebuild`, `delete`), recorded as an
   * instance action of `by`'s, named `action` (the event's own name unless given: a backup is a
   * `createImage` event); throws ServerStateError if refused.
   */
  async send(server: Server, event: ServerEvent, by: Requester, action: string = event.type): Promise<Server> {
    return this.#apply(server, event, true, { ...by, action });
  }

  /**
   * What a host saw on its own (a guest that powered off or crashed): applied if the server's
   * machine takes it in its current state, ignored otherwise (it moved on, or another API
   * node applied the same report first).
   */
  async report(id: string, event: ServerEvent): Promise<void> {
    const server = await this.db.servers.get(id);
    if (!server) return;
    try {
      await this.#apply(server, event, false);
    } catch (error) {
      if ((error as { code?: string }).code !== 'DB_ERR_STALE') throw error;
    }
  }

  /**
   * Nova's trigger_crash_dump: a non-maskable interrupt to the running guest, recorded as an
   * instance action of `by`'s and finished when its host answered. The server's state does not
   * change (the guest's kernel decides what an NMI does). The caller checked it is active.
   */
  async crashDump(server: Server, by: Requester): Promise<void> {
    const action = 'trigger_crash_dump';
    await this.db.actions.record({ serverId: server.id, action, ...by, startTime: new Date().toISOString() });
    const work = this.driver
      .crashDump(server)
      .then(
        () => 'Success' as const,
        (error: unknown) => {
          this.log.error({ err: error, server: server.id }, 'the crash dump was not triggered');
          return 'Error' as const;
        },
      )
      .then((result) =>
        this.db.actions.finish(
          server.id,
          action,
          result,
          result === 'Error' ? 'Error' : null,
          new Date().toISOString(),
        ),
      )
      .catch((error: unknown) => this.log.error({ err: error, server: server.id, action }, 'action not finished'))
      .finally(() => this.#inFlight.delete(work));
    this.#inFlight.add(work);
  }

  /**
   * Brings the firewalls of the project's servers up to date with its security groups, in the
   * background (as Neutron's agents do after its API answered). A host that does not answer is
   * logged: its guests get their rules when they are next spawned, started or moved.
   */
  refreshFirewalls(projectId: string): void {
    this.#refresh(`firewalls ${projectId}`, () => this.driver.applyFirewalls(projectId), 'firewalls not refreshed', {
      project: projectId,
    });
  }

  /**
   * Makes the router on its home node what the database says now (its legs, floating IPs and
   * routes; gone if it was deleted), in the background. A home that does not answer is logged:
   * the network keeper's next pass makes it so.
   */
  refreshRouter(routerId: string): void {
    this.#refresh(`router ${routerId}`, () => this.driver.applyRouter(routerId), 'router not refreshed', {
      router: routerId,
    });
  }

  /**
   * Runs `work` in the background, one at a time per `key`; asked again meanwhile, once more
   * after it, reading the database then: the last word always lands.
   */
  #refresh(key: string, work: () => Promise<void>, failure: string, fields: Record<string, string>): void {
    const pending = this.#refreshes.get(key);
    if (pending) {
      pending.again = true;
      return;
    }
    const state = { again: false };
    this.#refreshes.set(key, state);
    const run = (async () => {
      do {
        state.again = false;
        await work().catch((error: unknown) => this.log.error({ err: error, ...fields }, failure));
      } while (state.again);
    })().finally(() => {
      this.#refreshes.delete(key);
      this.#inFlight.delete(run);
    });
    this.#inFlight.add(run);
  }

  /** Resolves once every effect started so far has finished (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Applies the event to the server as the machine takes it in its state. Another transition
   * that lands between the read and the write (an effect's result, an owner's call on another
   * API node) makes the write stale: the event is then judged again on the row as it is now
   * (an owner's delete of a server whose snapshot just ended is a delete, not a 409).
   */
  async #apply(
    server: Server,
    event: ServerEvent,
    fromOwner: boolean,
    by?: Requester & { action: string },
  ): Promise<Server> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#applyTo(server, event, fromOwner, by);
      } catch (error) {
        if ((error as { code?: string }).code !== 'DB_ERR_STALE' || attempt === STALE_ATTEMPTS) throw error;
        const now = await this.db.servers.get(server.id);
        if (!now) throw error;
        server = now;
      }
    }
  }

  async #applyTo(
    server: Server,
    event: ServerEvent,
    fromOwner: boolean,
    by?: Requester & { action: string },
  ): Promise<Server> {
    const stored = machineOf(server);
    const snapshot = serverMachine.resolveState({ value: stored.value, context: stored.context });
    if (!snapshot.can(event)) {
      if (fromOwner) throw new ServerStateError(server.id, stored.value, event.type);
      return server;
    }
    const [next, actions] = transition(serverMachine, snapshot, event);
    const value = String(next.value) as ServerStateValue;
    // The routers of the floating IPs bound to its ports, which its own ports take with them.
    const floating =
      value === 'deleted'
        ? await this.db.routers.floatingIps({ fixedPortIds: server.addresses.map((a) => a.portId) })
        : [];
    const updated = await this.db.servers.transition(server.id, server.state, {
      state: value,
      machine: JSON.stringify({ version: SERVER_MACHINE_VERSION, value, context: next.context }),
      ...(value === 'active' && server.launchedAt === null ? { launchedAt: new Date().toISOString() } : {}),
    });
    // Its ports, gone with it, left their groups and their floating IPs.
    if (value === 'deleted') this.refreshFirewalls(server.projectId);
    for (const router of new Set(floating.map((f) => f.routerId))) if (router !== null) this.refreshRouter(router);
    // An owner's event is an instance action of its name, recorded before its effect runs, which finishes it.
    if (by) await this.db.actions.record({ serverId: server.id, ...by, startTime: updated.updatedAt });
    this.#run(
      updated,
      actions.map((a) => a.type),
    );
    return updated;
  }

  #run(server: Server, effects: readonly string[], destination?: Destination): void {
    for (const effect of effects) {
      const work = this.#effect(server, effect, destination).finally(() => this.#inFlight.delete(work));
      this.#inFlight.add(work);
    }
  }

  /** Places a new server on a host (atomically claimed in the database), unless it has one. */
  async #schedule(server: Server, destination?: Destination): Promise<Server> {
    if (server.host) return server;
    const all = this.driver.hosts();
    const hosts = (destination?.forced ? all : schedulableHosts(all, await this.db.computeServices.list())).filter(
      (h) => destination === undefined || h.hostname === destination.host,
    );
    const placed = await this.db.servers.place(server.id, hostCapacities(hosts, this.placement()));
    return { ...server, ...placed };
  }

  /** The server's migration that `effect` carries out (recorded by the API, or finished by the resize). */
  async #migrationFor(server: Server, effect: string): Promise<Migration> {
    const statuses = RESIZE_STATUSES[effect] ?? [];
    const [migration] = await this.db.migrations.ofServer(server.id);
    if (!migration || migration.migrationType === 'evacuation' || !statuses.includes(migration.status))
      throw new Error(`server ${server.id} has no ${effect} in progress`);
    return migration;
  }

  /**
   * Nova's resize and cold migration: scheduled with the new flavor (a cold migration away from
   * its host; to the host an admin named, if one did), its guest moved there by the driver, the
   * migration finished; one that fails puts the server back on its host with its flavor.
   */
  async #resize(server: Server): Promise<void> {
    const migration = await this.#migrationFor(server, 'resize');
    const flavor = { id: migration.newFlavorId, flavor: migration.newFlavor ?? server.flavor };
    const power = machineOf(server).context.resizeStopped ? 'shutoff' : 'running';
    await this.db.migrations.finish(migration.uuid, 'migrating', new Date().toISOString());
    let placed: { host: string; availabilityZone: string } | undefined;
    try {
      const hosts = schedulableHosts(this.driver.hosts(), await this.db.computeServices.list()).filter(
        (h) => migration.destHost === null || h.hostname === migration.destHost,
      );
      const away = migration.migrationType === 'migration' ? [server.host] : [];
      placed = await this.db.servers.place(server.id, hostCapacities(hosts, this.placement()), {
        exclude: away,
        flavor,
      });
      await this.driver.resize(server, { ...server, ...placed, flavorId: flavor.id, flavor: flavor.flavor }, power);
    } catch (error) {
      if (placed)
        await this.db.servers.moveBack(server.id, server.host, { id: server.flavorId, flavor: server.flavor });
      await this.db.migrations.finish(migration.uuid, 'error', new Date().toISOString(), placed?.host);
      throw error;
    }
    await this.db.migrations.finish(migration.uuid, 'finished', new Date().toISOString(), placed.host);
  }

  async #confirmResize(server: Server): Promise<void> {
    const migration = await this.#migrationFor(server, 'confirmResize');
    await this.driver.confirmResize(server);
    await this.db.migrations.finish(migration.uuid, 'confirmed', new Date().toISOString());
  }

  /** Back on its old host with its old flavor, its disk as it was before the resize. */
  async #revertResize(server: Server): Promise<void> {
    const migration = await this.#migrationFor(server, 'revertResize');
    const old = { id: migration.flavorId, flavor: migration.oldFlavor ?? server.flavor };
    const power = machineOf(server).context.resizeStopped ? 'shutoff' : 'running';
    const back = { ...server, host: migration.sourceHost, flavorId: old.id, flavor: old.flavor };
    await this.driver.revertResize(server, back, power);
    await this.db.servers.moveBack(server.id, migration.sourceHost, old);
    await this.db.migrations.finish(migration.uuid, 'reverted', new Date().toISOString());
  }

  /**
   * Nova's shelve, offloaded at once: a running guest shut down (ACPI), its root disk copied into
   * the shelved image, then the guest and its disk gone from its host, which holds no room for
   * it any more. One that fails drops the image; one deleted meanwhile too (its delete took the guest).
   */
  async #shelve(server: Server): Promise<void> {
    const { shelveOf, shelvedImage } = machineOf(server).context;
    if (!shelvedImage) throw new Error(`server ${server.id} has no shelved image`);
    const drop = () => this.#dropShelvedImage(server, shelvedImage);
    try {
      if (shelveOf === 'active') await this.driver.powerOff(server);
      await this.images.save(server, shelvedImage);
    } catch (error) {
      await drop();
      throw error;
    }
    if ((await this.db.servers.get(server.id))?.state !== 'shelving') return drop();
    await this.driver.destroy(server);
    await this.db.servers.unplace(server.id);
  }

  /**
   * Placed again (in the zone the unshelve asked for, else the create's), booted from a whole
   * copy of its shelved image, which then goes. One that fails leaves nothing on the host.
   */
  async #unshelve(server: Server): Promise<void> {
    const { shelvedImage, unshelveZone } = machineOf(server).context;
    if (!shelvedImage) throw new Error(`server ${server.id} has no shelved image`);
    const hosts = schedulableHosts(this.driver.hosts(), await this.db.computeServices.list());
    const placed = await this.db.servers.place(
      server.id,
      hostCapacities(hosts, this.placement()),
      unshelveZone === undefined ? {} : { zone: unshelveZone },
    );
    const there = { ...server, ...placed };
    try {
      await this.driver.spawn(there, shelvedImage);
    } catch (error) {
      await this.driver.destroy(there).catch(() => undefined);
      await this.db.servers.unplace(server.id);
      throw error;
    }
    await this.#dropShelvedImage(server, shelvedImage);
  }

  /** The guest gone from its host; a shelved server's image too, as Nova's delete. */
  async #destroy(server: Server): Promise<void> {
    await this.driver.destroy(server);
    const { shelvedImage } = machineOf(server).context;
    if (shelvedImage) await this.#dropShelvedImage(server, shelvedImage);
  }

  /** A shelved image that could not go stays, logged: the owner sees it in the image list. */
  async #dropShelvedImage(server: Server, imageId: string): Promise<void> {
    await this.images
      .remove(imageId)
      .catch((error: unknown) =>
        this.log.error({ err: error, server: server.id, image: imageId }, 'shelved image kept'),
      );
  }

  async #effect(server: Server, effect: string, destination?: Destination): Promise<void> {
    const d = this.driver;
    const steps: Record<string, [() => Promise<void>, ServerEvent]> = {
      spawn: [() => this.#schedule(server, destination).then((placed) => d.spawn(placed)), { type: 'spawned' }],
      powerOff: [() => d.powerOff(server), { type: 'stopped' }],
      powerOn: [() => d.powerOn(server), { type: 'started' }],
      reboot: [() => d.reboot(server, machineOf(server).context.hardReboot), { type: 'rebooted' }],
      pause: [() => d.pause(server), { type: 'paused' }],
      unpause: [() => d.unpause(server), { type: 'unpaused' }],
      suspend: [() => d.suspend(server), { type: 'suspended' }],
      resume: [() => d.resume(server), { type: 'resumed' }],
      rebuild: [
        () => d.rebuild(server, machineOf(server).context.rebuildStopped === true ? 'shutoff' : 'running'),
        { type: 'rebuilt' },
      ],
      resize: [() => this.#resize(server), { type: 'resizeFinished' }],
      confirmResize: [() => this.#confirmResize(server), { type: 'resizeConfirmed' }],
      revertResize: [() => this.#revertResize(server), { type: 'resizeReverted' }],
      shelve: [() => this.#shelve(server), { type: 'shelved' }],
      unshelve: [() => this.#unshelve(server), { type: 'unshelved' }],
      destroy: [() => this.#destroy(server), { type: 'deleted' }],
    };
    const step = steps[effect];
    if (!step) return;
    let event: ServerEvent = step[1];
    try {
      await step[0]();
    } catch (error) {
      event = { type: 'failed', message: error instanceof Error ? error.message : String(error) };
    }
    const action =
      effect === 'resize' && machineOf(server).context.migrating ? 'migrate' : (ACTION_OF_EFFECT[effect] ?? effect);
    const failed = event.type === 'failed';
    await this.db.actions
      .finish(server.id, action, failed ? 'Error' : 'Success', failed ? 'Error' : null, new Date().toISOString())
      .catch((error: unknown) => this.log.error({ err: error, server: server.id, action }, 'action not finished'));
    try {
      const current = await this.db.servers.get(server.id);
      // Deleted meanwhile, or moved on (a delete while building): the late result is moot.
      if (!current || current.state !== server.state) return;
      await this.#apply(current, event, false);
    } catch (error) {
      this.log.error({ err: error, server: server.id, effect }, 'server effect result could not be recorded');
    }
  }
}
