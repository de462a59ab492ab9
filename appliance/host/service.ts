import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { keys, type Store } from '../../agent/index.js';
import { HostGuestNotFoundError, HostRequestError } from './errors.js';
import { checkFirewall } from './network/firewall.js';
import { checkRequest } from './request-checks.js';
import type { GuestDisks, GuestPorts, GuestRuntime, RunningGuest } from './parts.js';
import { HostRouters, type RouterPlumbing } from './routers.js';
import type {
  GuestDiagnostics,
  GuestPower,
  GuestRequest,
  GuestState,
  HostInventory,
  PortFirewall,
  PowerRequest,
} from './types.js';

export interface HostServiceOptions {
  readonly node: string;
  readonly store: Store;
  readonly runtime: GuestRuntime;
  readonly disks: GuestDisks;
  readonly ports: GuestPorts;
  /** The routers homed here (routers.ts). */
  readonly routers: RouterPlumbing;
  /** Where guests' run directories (QMP socket, console log, pid file) go. */
  readonly runDir: string;
  readonly inventory: HostInventory;
  /** How long an ACPI power-down may take before QEMU is stopped hard (default 30 s, as Nova's shutdown_timeout would be 60). */
  readonly stopTimeoutMs?: number;
  /** On TCG, the next guest starts this long after the previous one (two TCG boots starve each other). */
  readonly startGapMs?: number;
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * The host service's core: the only code that runs a node's guests. Every operation is
 * idempotent and serialized per guest; each outcome is written to the guest's record in etcd
 * (the event the compute service watches). Guests outlive the service: a restarted service
 * adopts the QEMUs its records name. A QEMU that ends on its own is recorded `shutoff` (the
 * guest powered itself off) or `crashed` (no shutdown of its own: killed or died) and is not
 * restarted (Nova's behaviour: the owner starts it again).
 */
export class HostService {
  readonly #guests = new Map<string, RunningGuest>();
  readonly #states = new Map<string, GuestState>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Guests being stopped or reset on request: their QEMU's end is not news. */
  readonly #expectedExits = new Set<RunningGuest>();
  #startQueue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** The routers homed on this node (`/v1/routers`). */
  readonly routers: HostRouters;

  constructor(private readonly options: HostServiceOptions) {
    this.routers = new HostRouters({
      node: options.node,
      store: options.store,
      plumbing: options.routers,
      ...(options.log ? { log: options.log } : {}),
    });
  }

  get inventory(): HostInventory {
    return this.options.inventory;
  }

  /**
   * Reads this node's guest records and adopts the QEMUs still running (the others are recorded
   * as crashed), then makes its recorded routers again.
   */
  async adoptAll(): Promise<{ adopted: number; lost: number; routers: number; faultyRouters: number }> {
    const { entries } = await this.options.store.list(keys.hostGuests(this.options.node));
    let adopted = 0;
    let lost = 0;
    for (const entry of entries) {
      const state = JSON.parse(entry.value) as GuestState;
      this.#states.set(state.id, state);
      if (!state.process) continue;
      const guest = await this.options.runtime.adopt(state.process);
      if (guest) {
        this.#watch(state.id, guest);
        adopted++;
      } else {
        const ran = state.power === 'running' || state.power === 'paused';
        await this.#record(state.id, { power: ran ? 'crashed' : state.power, process: null });
        lost++;
      }
    }
    this.#log('host.guests.adopted', { adopted, lost });
    const { routers, faulty } = await this.routers.restoreAll();
    return { adopted, lost, routers, faultyRouters: faulty };
  }

  /** Makes the guest as `request` asks (disk, taps, power); the same request twice changes nothing. */
  async put(id: string, request: GuestRequest): Promise<GuestState> {
    checkRequest(request);
    return this.#serial(id, async () => {
      // A guest new here comes suspended only with its state (moved from a fenced node): else nothing is recorded.
      if (request.power === 'suspended' && !this.#states.has(id) && !(await this.options.disks.hasState(id)))
        throw new HostRequestError(`guest ${id} is not here and no state of it is kept: there is nothing to suspend`);
      // The root disk is made once: a later request's image matters only while it has none, and
      // its size (and vCPUs and memory: a resize's) from the guest's next start.
      const state = this.#states.has(id)
        ? await this.#record(id, { request })
        : await this.#record(id, { request, power: 'building', process: null, fault: null }, request);
      if (request.power === 'shutoff') await this.#ensureStopped(id);
      else if (request.power === 'suspended') await this.#ensureSuspended(id);
      else {
        await this.#ensureRunning(id, state.request);
        await this.#ensureCpus(id, request.power);
      }
      return this.#state(id);
    });
  }

  /** Changes only the power of a known guest (start, stop, pause, unpause, suspend, resume). */
  async setPower(id: string, power: PowerRequest): Promise<GuestState> {
    const state = this.#state(id);
    return this.put(id, { ...state.request, power });
  }

  /** Reboots a running guest: `soft` asks the guest (ACPI) and starts it again, `hard` resets it. */
  async reboot(id: string, kind: 'soft' | 'hard'): Promise<GuestState> {
    return this.#serial(id, async () => {
      const state = this.#state(id);
      const guest = this.#guests.get(id);
      if (!guest) {
        // A hard reboot of a stopped or crashed guest starts it (Nova's hard reboot does); a
        // suspended one's state is dropped, as libvirt's managed save is.
        if (kind === 'soft')
          throw new HostRequestError(
            `guest ${id} is not running (${state.power}): a soft reboot needs a running guest`,
          );
        if (state.power === 'suspended') await this.#dropState(id);
        await this.#ensureRunning(id, state.request);
        return this.#state(id);
      }
      if (kind === 'soft' && state.power === 'paused')
        throw new HostRequestError(`guest ${id} is paused: a soft reboot needs its vCPUs running`);
      if (kind === 'hard') {
        // A paused guest's vCPUs stay stopped through the reset, as its request says.
        await guest.reset();
      } else {
        this.#expectedExits.add(guest);
        await guest.powerdown(this.options.stopTimeoutMs ?? 30_000);
        await guest.exited;
        this.#guests.delete(id);
        await this.#ensureRunning(id, state.request);
      }
      this.#log('host.guest.rebooted', { id, kind });
      return this.#state(id);
    });
  }

  /** Sends a running guest a non-maskable interrupt (Nova's trigger_crash_dump); refused if it is not running. */
  async nmi(id: string): Promise<GuestState> {
    return this.#serial(id, async () => {
      const state = this.#state(id);
      const guest = this.#guests.get(id);
      if (!guest)
        throw new HostRequestError(`guest ${id} is not running (${state.power}): an NMI needs a running guest`);
      await guest.injectNmi();
      this.#log('host.guest.nmi', { id });
      return this.#state(id);
    });
  }

  /** Stops the guest, removes its taps and disk and forgets it; nothing to do if it is unknown. */
  async destroy(id: string): Promise<void> {
    await this.#serial(id, () => this.#forget(id, 'destroyed'));
  }

  /**
   * Lets another host take the guest (a resize's or a cold migration's move): its QEMU stopped
   * (hard, if it still runs), its taps removed and its record gone, its disk and any kept state
   * left on Ceph for the next host. Nothing to do if it is unknown.
   */
  async release(id: string): Promise<void> {
    await this.#serial(id, () => this.#forget(id, 'released'));
  }

  /**
   * Takes a named snapshot of the stopped guest's root disk (the point a resize's revert goes
   * back to); nothing to do if it has one.
   */
  async snapshotDisk(id: string, snapshot: string): Promise<GuestState> {
    return this.#withDiskAtRest(id, 'disk-snapshot', snapshot, () => this.options.disks.snapshotRoot(id, snapshot));
  }

  /** Takes the stopped guest's root disk back to the snapshot, which goes; nothing to do without it. */
  async rollbackDisk(id: string, snapshot: string): Promise<GuestState> {
    return this.#withDiskAtRest(id, 'disk-rollback', snapshot, () => this.options.disks.rollbackRoot(id, snapshot));
  }

  /** Runs `work` on a known guest's root disk; refused while its QEMU runs (the disk would not be consistent). */
  async #withDiskAtRest(id: string, what: string, snapshot: string, work: () => Promise<void>): Promise<GuestState> {
    return this.#serial(id, async () => {
      const { power } = this.#state(id);
      if (this.#guests.has(id)) throw new HostRequestError(`guest ${id} is ${power}: a ${what} needs its QEMU stopped`);
      await work();
      this.#log(`host.guest.${what}`, { id, snapshot });
      return this.#state(id);
    });
  }

  /** Removes the root disk's snapshot (a resize confirmed); nothing to do without it. */
  async removeDiskSnapshot(id: string, snapshot: string): Promise<GuestState> {
    return this.#serial(id, async () => {
      this.#state(id);
      await this.options.disks.removeRootSnapshot(id, snapshot);
      return this.#state(id);
    });
  }

  /** Stops the guest's QEMU, unplugs its taps and forgets it; `destroyed` removes its disk and state too. */
  async #forget(id: string, how: 'destroyed' | 'released'): Promise<void> {
    const state = this.#states.get(id) ?? (await this.#readRecord(id));
    const guest = this.#guests.get(id);
    if (guest) {
      this.#expectedExits.add(guest);
      await guest.kill();
      await guest.exited;
      this.#guests.delete(id);
    }
    if (state) {
      for (const nic of state.request.nics) await this.options.ports.unplug(nic);
      if (state.process) await rm(state.process.runDir, { recursive: true, force: true });
    }
    if (how === 'destroyed') {
      await this.options.disks.removeRoot(id);
      await this.options.disks.removeState(id);
    }
    await rm(join(this.options.runDir, id), { recursive: true, force: true });
    await this.options.store.delete(keys.hostGuest(this.options.node, id));
    this.#states.delete(id);
    this.#log(`host.guest.${how}`, { id });
  }

  /**
   * Gives the guest's ports these firewalls (by port id; the others keep theirs): kept in its
   * request, so every later start and move has them, and applied at once to its plugged taps.
   */
  async setFirewalls(id: string, firewalls: Readonly<Record<string, PortFirewall>>): Promise<GuestState> {
    for (const [portId, firewall] of Object.entries(firewalls)) checkFirewall(portId, firewall);
    return this.#serial(id, async () => {
      const state = this.#state(id);
      const unknown = Object.keys(firewalls).filter((portId) => !state.request.nics.some((n) => n.portId === portId));
      if (unknown.length > 0) throw new HostRequestError(`guest ${id} has no port ${unknown.join(', ')}`);
      const nics = state.request.nics.map((nic) => ({ ...nic, firewall: firewalls[nic.portId] ?? nic.firewall }));
      await this.#record(id, { request: { ...state.request, nics } });
      for (const nic of nics) await this.options.ports.applyFirewall(nic.portId, nic.firewall);
      this.#log('host.guest.firewalls', { id, ports: Object.keys(firewalls).length });
      return this.#state(id);
    });
  }

  /** The guest's record as last written. */
  get(id: string): GuestState {
    return this.#state(id);
  }

  /** Every guest this host knows. */
  list(): GuestState[] {
    return [...this.#states.values()];
  }

  /** Records what the guest posted to the metadata service's password path ('' clears it, so it may post again). */
  async setPassword(id: string, password: string): Promise<void> {
    this.#state(id);
    await this.#serial(id, () => this.#record(id, { password }));
  }

  /** What a guest uses (while its QEMU runs) and each of its ports' traffic. */
  async diagnostics(id: string): Promise<GuestDiagnostics> {
    const state = this.#state(id);
    const guest = this.#guests.get(id);
    const nics = await Promise.all(
      state.request.nics.map(async (nic) => ({ mac: nic.mac, ...(await this.options.ports.counters(nic)) })),
    );
    return {
      power: state.power,
      accel: this.options.inventory.accel,
      usage: guest ? await guest.usage() : null,
      nics,
    };
  }

  /** The tail of a guest's serial console, kept while it is stopped as Nova's is ('' before its first start). */
  async consoleLog(id: string, maxBytes: number): Promise<string> {
    this.#state(id);
    return this.options.runtime.consoleLog(join(this.options.runDir, id), maxBytes);
  }

  /** Stops serving; guests go on running, for the next incarnation to adopt. */
  close(): void {
    this.#closed = true;
    for (const guest of this.#guests.values()) guest.release();
  }

  /** Starts its QEMU unless it runs: from its kept state if it is suspended (which then goes), else it boots. */
  async #ensureRunning(id: string, request: GuestRequest): Promise<void> {
    if (this.#guests.has(id)) return;
    try {
      const disks = this.options.disks;
      const disk = await disks.ensureRoot(id, request.image, request.diskGb);
      const taps: { mac: string; tap: string }[] = [];
      for (const nic of request.nics) taps.push({ mac: nic.mac, tap: await this.options.ports.plug(nic) });
      const runDir = join(this.options.runDir, id);
      await mkdir(runDir, { recursive: true, mode: 0o700 });
      const resume = this.#state(id).power === 'suspended';
      const guest = await this.#startOneAtATime(() =>
        this.options.runtime.start(id, request, disk, taps, runDir, resume ? disks.loadState(id) : undefined),
      );
      this.#watch(id, guest);
      await this.#record(id, { power: 'running', process: guest.process, fault: null });
      // Left behind, it goes with the next suspend or the guest's deletion.
      if (resume)
        await disks
          .removeState(id)
          .catch((error: unknown) => this.#log('host.guest.state-not-removed', { id, error: String(error) }));
      this.#log(resume ? 'host.guest.resumed' : 'host.guest.started', { id, pid: guest.process.pid });
    } catch (error) {
      const fault = {
        code: (error as { code?: string }).code ?? 'HOST_ERR_SPAWN',
        message: error instanceof Error ? error.message : String(error),
      };
      await this.#record(id, { fault });
      throw error;
    }
  }

  /** Stops or continues a running QEMU's vCPUs as `power` says, from what QEMU says it is doing. */
  async #ensureCpus(id: string, power: 'running' | 'paused'): Promise<void> {
    const guest = this.#guests.get(id);
    if (!guest) return;
    const status = await guest.status();
    if (power === 'paused' && status !== 'paused') await guest.pause();
    if (power === 'running' && status === 'paused') await guest.resume();
    if (this.#state(id).power !== power) {
      await this.#record(id, { power });
      this.#log(power === 'paused' ? 'host.guest.paused' : 'host.guest.unpaused', { id });
    }
  }

  /**
   * Saves a running guest's state to Ceph and ends its QEMU. With no QEMU here, a guest is
   * suspended already if its state is kept (its record moved here from a fenced node); else
   * there is nothing to suspend.
   */
  async #ensureSuspended(id: string): Promise<void> {
    const disks = this.options.disks;
    const guest = this.#guests.get(id);
    if (!guest) {
      const { power } = this.#state(id);
      if (power === 'suspended') return;
      if (!(await disks.hasState(id)))
        throw new HostRequestError(`guest ${id} is not running (${power}): only a running guest can be suspended`);
      await this.#record(id, { power: 'suspended', process: null });
      this.#log('host.guest.suspended', { id, moved: true });
      return;
    }
    await disks.removeState(id); // one left by a save that failed half-way
    this.#expectedExits.add(guest);
    try {
      await guest.suspend((state) => disks.saveState(id, state));
    } catch (error) {
      this.#expectedExits.delete(guest);
      await disks.removeState(id).catch(() => undefined);
      throw error;
    }
    await guest.exited;
    this.#guests.delete(id);
    await this.#record(id, { power: 'suspended', process: null });
    this.#log('host.guest.suspended', { id });
  }

  /** Forgets a suspended guest's kept state: it is shut off. */
  async #dropState(id: string): Promise<void> {
    await this.options.disks.removeState(id);
    await this.#record(id, { power: 'shutoff', process: null });
  }

  async #ensureStopped(id: string): Promise<void> {
    const guest = this.#guests.get(id);
    if (!guest) {
      const { power } = this.#state(id);
      if (power === 'suspended') await this.#dropState(id);
      else if (power !== 'shutoff') await this.#record(id, { power: 'shutoff', process: null });
      return;
    }
    this.#expectedExits.add(guest);
    const how = await guest.powerdown(this.options.stopTimeoutMs ?? 30_000);
    await guest.exited;
    this.#guests.delete(id);
    await this.#record(id, { power: 'shutoff', process: null });
    this.#log('host.guest.stopped', { id, how });
  }

  /** QEMU ending on its own is news: recorded as shutoff (from inside) or crashed. */
  #watch(id: string, guest: RunningGuest): void {
    this.#guests.set(id, guest);
    void guest.exited.then(async ({ shutdown }) => {
      if (this.#expectedExits.delete(guest) || this.#closed) return;
      if (this.#guests.get(id) !== guest) return;
      this.#guests.delete(id);
      const power: GuestPower = shutdown === 'guest-shutdown' ? 'shutoff' : 'crashed';
      await this.#serial(id, () => this.#record(id, { power, process: null })).catch((error: unknown) =>
        this.#log('host.guest.record-failed', { id, error: String(error) }),
      );
      this.#log('host.guest.ended', { id, power, shutdown });
    });
  }

  /** On TCG, one start at a time with a gap after each: boots on the same cores starve each other. */
  async #startOneAtATime<T>(start: () => Promise<T>): Promise<T> {
    if (this.options.inventory.accel === 'kvm') return start();
    const turn = this.#startQueue.then(start);
    const gap = this.options.startGapMs ?? 3_000;
    this.#startQueue = turn.then(
      () => new Promise((resolve) => setTimeout(resolve, gap)),
      () => undefined,
    );
    return turn;
  }

  async #serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const mine = previous.then(work, work);
    const settled = mine.catch(() => undefined);
    this.#locks.set(id, settled);
    void settled.then(() => {
      if (this.#locks.get(id) === settled) this.#locks.delete(id);
    });
    return mine;
  }

  #state(id: string): GuestState {
    const state = this.#states.get(id);
    if (!state) throw new HostGuestNotFoundError(id);
    return state;
  }

  async #readRecord(id: string): Promise<GuestState | undefined> {
    const entry = await this.options.store.get(keys.hostGuest(this.options.node, id));
    return entry ? (JSON.parse(entry.value) as GuestState) : undefined;
  }

  async #record(id: string, change: Partial<GuestState>, request?: GuestRequest): Promise<GuestState> {
    const previous = this.#states.get(id);
    const base: GuestState = previous ?? {
      id,
      node: this.options.node,
      hostAddress: '',
      request: request ?? (change.request as GuestRequest),
      power: 'building',
      process: null,
      fault: null,
      updatedAt: '',
    };
    const state: GuestState = {
      ...base,
      ...change,
      id,
      node: this.options.node,
      hostAddress: new URL(this.options.inventory.url).hostname,
      updatedAt: new Date().toISOString(),
    };
    await this.options.store.put(keys.hostGuest(this.options.node, id), JSON.stringify(state));
    this.#states.set(id, state);
    return state;
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.options.log?.(event, { node: this.options.node, ...fields });
  }
}
