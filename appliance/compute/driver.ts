import type { Server } from '../db/index.js';
import type { GuestDiagnostics } from '../host/index.js';

/** A compute host as the hypervisors API shows it. */
export interface HostInfo {
  hostname: string;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  vcpus: number;
  memoryMb: number;
  localGb: number;
}

/**
 * What runs servers. Each method resolves when the server is in the asked-for state (or
 * rejects with why not); the server service turns that into the machine's next event.
 */
export interface ComputeDriver {
  readonly name: string;
  /** Whether its servers have root disks on Ceph, which a snapshot copies (a fake server has none). */
  readonly rootDisks: boolean;
  /** The live hosts and their real inventory (what the scheduler places servers on). */
  hosts(): HostInfo[];
  /**
   * Makes the server's guest on its host and starts it: its root disk a clone of its image, or,
   * given `shelvedImage` (an unshelve), a whole copy of that image, which may go once it runs.
   */
  spawn(server: Server, shelvedImage?: string): Promise<void>;
  powerOff(server: Server): Promise<void>;
  powerOn(server: Server): Promise<void>;
  reboot(server: Server, hard: boolean): Promise<void>;
  /** Stops the running guest's vCPUs, its memory kept (Nova's pause). */
  pause(server: Server): Promise<void>;
  /** Lets a paused guest's vCPUs run on. */
  unpause(server: Server): Promise<void>;
  /** Keeps the running guest's memory and device state, and ends it (Nova's suspend). */
  suspend(server: Server): Promise<void>;
  /** Runs a suspended guest on from its kept state. */
  resume(server: Server): Promise<void>;
  /**
   * Gives the server a new root disk from its image (the row's `imageId`, which a rebuild may
   * have changed), same id and ports; leaves it running, or stopped if `power` says so.
   */
  rebuild(server: Server, power: 'running' | 'shutoff'): Promise<void>;
  /**
   * Nova's resize and cold migration: the guest stopped on its host (`server`'s), its disk kept
   * as it is now (the point a revert goes back to), and started as `to` says (its flavor, on its
   * host: another, or the same), running or off. One that fails leaves it as `server` was.
   */
  resize(server: Server, to: Server, power: 'running' | 'shutoff'): Promise<void>;
  /** Drops a resized server's way back. */
  confirmResize(server: Server): Promise<void>;
  /** A resized server back as `to` says (its old flavor and host), its disk as it was before the resize. */
  revertResize(server: Server, to: Server, power: 'running' | 'shutoff'): Promise<void>;
  destroy(server: Server): Promise<void>;
  /** A non-maskable interrupt to the server's running guest (Nova's trigger_crash_dump). */
  crashDump(server: Server): Promise<void>;
  /** The tail of the server's serial console, at most `bytes` long ('' where there is none). */
  consoleLog(server: Server, bytes: number): Promise<string>;
  /** What the guest posted to the metadata service's password path, encrypted with its key ('' for nothing). */
  password(server: Server): Promise<string>;
  /** Forgets it (the guest may post another). */
  clearPassword(server: Server): Promise<void>;
  /** What the server's guest uses and its ports' traffic (Nova's diagnostics). */
  diagnostics(server: Server): Promise<GuestDiagnostics>;
  /**
   * Makes the firewalls of the project's running and stopped servers' ports what their security
   * groups say now (their rules, and the addresses of the groups the rules name).
   */
  applyFirewalls(projectId: string): Promise<void>;
  /**
   * Makes the router what the database says now on its home node (choosing one if it has none
   * or its home is gone), and removes it from any other node; removes it everywhere if the
   * database no longer has it.
   */
  applyRouter(routerId: string): Promise<void>;
}

/** A machine servers may be placed on. */
export interface ComputeHost {
  readonly name: string;
  readonly ip: string;
}

/**
 * The `fake` driver: every operation succeeds at once; for scale tests and API conformance. Its
 * hosts are what `hosts` returns when asked: one stand-in machine by default, the cluster's
 * live nodes on a cluster node (so the hypervisor list grows as nodes join).
 */
export class FakeDriver implements ComputeDriver {
  readonly name = 'fake';
  readonly rootDisks = false;

  constructor(
    private readonly machines: () => readonly ComputeHost[] = () => [{ name: 'rackseed-fake-0', ip: '127.0.0.1' }],
  ) {}

  hosts(): HostInfo[] {
    return [...this.machines()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => ({
        hostname: m.name,
        hypervisorType: 'fake',
        hypervisorVersion: 1000,
        hostIp: m.ip,
        vcpus: 1024,
        memoryMb: 4 * 1024 * 1024,
        localGb: 100_000,
      }));
  }

  async spawn(): Promise<void> {}
  async powerOff(): Promise<void> {}
  async powerOn(): Promise<void> {}
  async reboot(): Promise<void> {}
  async pause(): Promise<void> {}
  async unpause(): Promise<void> {}
  async suspend(): Promise<void> {}
  async resume(): Promise<void> {}
  async rebuild(): Promise<void> {}
  async resize(): Promise<void> {}
  async confirmResize(): Promise<void> {}
  async revertResize(): Promise<void> {}
  async destroy(): Promise<void> {}
  async crashDump(): Promise<void> {}
  /** A fake guest never posts a password. */
  async password(): Promise<string> {
    return '';
  }
  async clearPassword(): Promise<void> {}
  /** A fake guest has no port to filter. */
  async applyFirewalls(): Promise<void> {}
  /** A fake cloud's routers route nothing. */
  async applyRouter(): Promise<void> {}
  /** No machine writes a console: what a fake guest has, line by line (as Nova's fake driver, a few lines). */
  async consoleLog(server: Server): Promise<string> {
    const f = server.flavor;
    return [
      `rackseed compute driver fake: no machine runs server ${server.id}`,
      `name ${server.name}`,
      `flavor ${f.name}: ${f.vcpus} vCPU, ${f.ram} MB RAM, ${f.disk} GB disk`,
      `image ${server.imageId}`,
      `state ${server.state}`,
      '',
    ].join('\n');
  }
  /** A fake guest's, as Nova's fake driver's: its flavor's size, since it was launched, and nothing used; no usage while stopped (a paused one's QEMU would run). */
  async diagnostics(server: Server): Promise<GuestDiagnostics> {
    const paused = server.state === 'paused';
    const running = server.state === 'active' || paused;
    const suspended = server.state === 'suspended';
    const zeros = {
      rxOctets: 0,
      rxPackets: 0,
      rxErrors: 0,
      rxDrop: 0,
      txOctets: 0,
      txPackets: 0,
      txErrors: 0,
      txDrop: 0,
    };
    const launched = server.launchedAt ? Date.parse(server.launchedAt) : Date.now();
    return {
      power: paused ? 'paused' : running ? 'running' : suspended ? 'suspended' : 'shutoff',
      accel: 'tcg',
      usage:
        (running && {
          uptimeSeconds: Math.max(0, Math.floor((Date.now() - launched) / 1000)),
          memory: { maximumMb: server.flavor.ram, usedMb: 0 },
          cpus: Array.from({ length: server.flavor.vcpus }, (_, id) => ({ id, timeNs: 0 })),
          disks: [{ readBytes: 0, readRequests: 0, writeBytes: 0, writeRequests: 0, errors: 0 }],
        }) ||
        null,
      nics: server.addresses.map((a) => ({ mac: a.mac, ...zeros })),
    };
  }
}
