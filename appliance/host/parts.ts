/**
 * The parts the host service drives (service.ts), each behind its interface: QEMU guests
 * (qemu/), their disks and kept states on Ceph (disks.ts), their ports (network/).
 */
import type { Readable } from 'node:stream';
import type {
  GuestProcess,
  GuestRequest,
  GuestUsage,
  ImageRef,
  NicCounters,
  NicRequest,
  PortFirewall,
} from './types.js';

/** A guest's QEMU while it runs (appliance/host/qemu). */
export interface RunningGuest {
  readonly process: GuestProcess;
  /** ACPI power-down, then a hard stop after `timeoutMs`. */
  powerdown(timeoutMs: number): Promise<'graceful' | 'forced'>;
  /** A hard reset (the power button held and pressed again). */
  reset(): Promise<void>;
  /** A non-maskable interrupt to every vCPU (a crash dump, as the guest's kernel is set to take it). */
  injectNmi(): Promise<void>;
  /** QEMU's run state (`running`, `paused`…). */
  status(): Promise<string>;
  /** Stops its vCPUs (QMP `stop`); QEMU and the guest's memory stay. */
  pause(): Promise<void>;
  /** Lets its vCPUs run on (QMP `cont`). */
  resume(): Promise<void>;
  /**
   * Saves its memory and device state into `sink` and ends QEMU; resolves once both are done.
   * A failure leaves it running.
   */
  suspend(sink: (state: Readable) => Promise<void>): Promise<void>;
  /** Ends QEMU now: `quit` over QMP (it closes its disks cleanly), SIGKILL if that does not do it. */
  kill(): Promise<void>;
  /** Resolves when QEMU has ended; `shutdown` is QEMU's last SHUTDOWN reason, if it sent one. */
  readonly exited: Promise<{ shutdown: string | null }>;
  /** What it uses now. */
  usage(): Promise<GuestUsage>;
  /** Lets go of it without touching QEMU (the service stops; its next incarnation adopts it). */
  release(): void;
}

/** A disk the guest's QEMU opens: an RBD image (a server's root disk), or a raw file (tests and benchmarks). */
export type GuestDiskSource =
  | { readonly kind: 'rbd'; readonly pool: string; readonly image: string }
  | { readonly kind: 'file'; readonly path: string };

/** Starts and finds QEMU guests. */
export interface GuestRuntime {
  start(
    id: string,
    request: GuestRequest,
    disk: GuestDiskSource,
    taps: readonly { mac: string; tap: string }[],
    runDir: string,
    /** A suspended guest's state, to run on from (else it boots). */
    state?: Readable,
  ): Promise<RunningGuest>;
  /** The guest if its QEMU still runs (same pid and start time, QMP answering), else null. */
  adopt(process: GuestProcess): Promise<RunningGuest | null>;
  /** The tail of the serial console its guests' QEMUs in `runDir` wrote, running or not ('' for none). */
  consoleLog(runDir: string, maxBytes: number): Promise<string>;
}

/** Guests' root disks and suspended guests' states on Ceph (appliance/rbd). */
export interface GuestDisks {
  /**
   * Makes the guest's root disk (a clone of `image@snap`, grown to `diskGb`) unless it exists;
   * one that exists is grown to `diskGb` if it is smaller (never shrunk: a resize's).
   */
  ensureRoot(id: string, image: ImageRef, diskGb: number): Promise<GuestDiskSource>;
  /** Takes a named snapshot of the root disk unless it has one (the point a resize's revert goes back to). */
  snapshotRoot(id: string, snapshot: string): Promise<void>;
  /** Takes the root disk back to the snapshot (its data and size) and removes it; nothing to do without it. */
  rollbackRoot(id: string, snapshot: string): Promise<void>;
  /** Removes the root disk's snapshot; nothing to do without it. */
  removeRootSnapshot(id: string, snapshot: string): Promise<void>;
  /** Removes it; nothing to do if it is gone. */
  removeRoot(id: string): Promise<void>;
  /** Keeps a suspended guest's memory and device state: the stream's bytes (there must be none kept yet). */
  saveState(id: string, state: Readable): Promise<void>;
  /** Whether a state is kept for the guest. */
  hasState(id: string): Promise<boolean>;
  /** The kept state's bytes (the stream fails if there is none). */
  loadState(id: string): Readable;
  /** Removes the kept state; nothing to do if there is none. */
  removeState(id: string): Promise<void>;
}

/** Guests' ports (appliance/host/network). */
export interface GuestPorts {
  /** The guest's tap for a port, made and plugged (with its anti-spoofing rules) unless it is there; its name. */
  plug(nic: NicRequest): Promise<string>;
  /** Removes the port's tap and rules; nothing to do if they are gone. */
  unplug(nic: NicRequest): Promise<void>;
  /** The port's traffic so far, as the guest sees it (zeros when it has no tap). */
  counters(nic: NicRequest): Promise<NicCounters>;
  /** Makes a plugged port's firewall what it says (nothing to do for a port not plugged here). */
  applyFirewall(portId: string, firewall: PortFirewall): Promise<void>;
}
