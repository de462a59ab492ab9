/**
 * A guest's QEMU: its command line, its start (daemonized, so it is never a child of the host
 * service and outlives it), adoption by a later host service (pid + kernel start time + QMP),
 * and its control over QMP: ACPI power-down with a hard stop after a timeout, reset, pause, kill,
 * its state saved and loaded (memory-state.ts), and what it uses (usage.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { appendFile, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { childEnv, processStart } from '../../../agent/index.js';
import { QemuStartError } from '../errors.js';
import type { GuestDiskSource, GuestRuntime, RunningGuest } from '../parts.js';
import type { DeviceMetadata } from '../network/metadata.js';
import type { GuestProcess, GuestRequest, GuestUsage } from '../types.js';
import type { QmpEvent } from './qmp-codec.js';
import { loadState, saveState } from './memory-state.js';
import { QmpConnection } from './qmp-io.js';
import { guestUsage } from './usage.js';

/** How long QEMU may take to open its QMP socket. */
const START_TIMEOUT_MS = 30_000;

/** How a node runs its guests' QEMUs. */
export interface QemuOptions {
  /** `kvm` where /dev/kvm opens read-write, else `tcg` (see {@link accelFor}). */
  readonly accel: 'kvm' | 'tcg';
  /** TCG's translation cache per guest, MiB (QEMU's default is 1 GiB; OpenStack's CI uses 128). */
  readonly tbSizeMb?: number;
  /** How QEMU's rbd driver reaches Ceph: ceph.conf (which names the keyring) and the cephx user. */
  readonly ceph: { readonly conf: string; readonly user: string };
  readonly binary?: string;
  /** The console log is cut back to its last half when it passes this size (default 2 MiB). */
  readonly consoleCapBytes?: number;
}

/**
 * `kvm` where KVM is usable: the processors have hardware virtualization (vmx or svm) and
 * /dev/kvm opens read-write; else `tcg`. The device alone is not enough: on this project's
 * machines /dev/kvm opens, the processors have neither flag, and a KVM guest never boots.
 */
export function accelFor(device = '/dev/kvm', cpuinfo = '/proc/cpuinfo'): 'kvm' | 'tcg' {
  try {
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync(cpuinfo, 'utf8'))) return 'tcg';
    closeSync(openSync(device, 'r+'));
    return 'kvm';
  } catch {
    return 'tcg';
  }
}

/** Linux's limit on a unix socket's path (sun_path), its terminating NUL included. */
const SOCKET_PATH_MAX = 108;

/**
 * A unix socket's path: `path` itself when it fits in sun_path, else a short one of the same
 * meaning under /run/rackseed (named by its hash, so each long path keeps its own socket).
 */
export function socketPath(path: string): string {
  if (Buffer.byteLength(path) < SOCKET_PATH_MAX) return path;
  const dir = '/run/rackseed/sockets';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${createHash('sha256').update(path).digest('hex').slice(0, 24)}.sock`);
}

/** The files of a guest's run directory. */
export function runFiles(runDir: string): { qmp: string; state: string; log: string; console: string } {
  return {
    qmp: socketPath(join(runDir, 'qmp.sock')),
    /** Where a suspend's or a resume's state stream passes (memory-state.ts). */
    state: socketPath(join(runDir, 'state.sock')),
    log: join(runDir, 'qemu.log'),
    console: join(runDir, 'console.log'),
  };
}

/**
 * Where a guest's devices sit on its PCI bus (machine `pc` with `-nodefaults`: slot 0 is the
 * host bridge, slot 1 the PIIX3), set explicitly so that the metadata can name them: the root
 * disk in slot 2, the NICs from slot 3 in their order (where QEMU put them when they were not
 * named, so a guest sees the same bus as before).
 */
const ROOT_DISK_SLOT = 2;
const FIRST_NIC_SLOT = 3;
const pciAddress = (slot: number) => `0000:00:${slot.toString(16).padStart(2, '0')}.0`;

/** A guest's tagged devices, as Nova's metadata lists them (`meta_data.json` `devices`). */
export function taggedDevices(request: GuestRequest): DeviceMetadata[] {
  const disk: DeviceMetadata[] = request.rootDiskTag
    ? [
        {
          type: 'disk',
          bus: 'pci',
          address: pciAddress(ROOT_DISK_SLOT),
          serial: 'root',
          path: '/dev/vda',
          tags: [request.rootDiskTag],
        },
      ]
    : [];
  const nics = request.nics.flatMap((nic, i): DeviceMetadata[] =>
    nic.tag
      ? [{ type: 'nic', bus: 'pci', address: pciAddress(FIRST_NIC_SLOT + i), mac: nic.mac, tags: [nic.tag] }]
      : [],
  );
  return [...disk, ...nics];
}

/**
 * QEMU's arguments for a guest (pure). The root disk opens through QEMU's rbd driver
 * (qemu-block-extra) with the cephx user's keyring from ceph.conf, never a key on the command
 * line; NICs are virtio-net on taps the host made, without the iPXE option ROM; the serial
 * console goes to a file QEMU appends to; QMP listens on a unix socket; seccomp is on.
 */
export function qemuArgs(
  id: string,
  request: GuestRequest,
  disk: GuestDiskSource,
  taps: readonly { mac: string; tap: string }[],
  runDir: string,
  options: QemuOptions,
): string[] {
  const files = runFiles(runDir);
  const file =
    disk.kind === 'rbd'
      ? { driver: 'rbd', pool: disk.pool, image: disk.image, conf: options.ceph.conf, user: options.ceph.user }
      : { driver: 'file', filename: disk.path };
  const blockdev = { driver: 'raw', 'node-name': 'root', file };
  const accel =
    options.accel === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      : ['-accel', `tcg,tb-size=${options.tbSizeMb ?? 128}`, '-cpu', 'max'];
  return [
    ...['-name', `guest=${id},debug-threads=on`, '-uuid', id],
    ...['-machine', 'pc', ...accel, '-smp', String(request.vcpus), '-m', String(request.memoryMb)],
    ...['-nodefaults', '-no-user-config', '-display', 'none'],
    // seccomp: no old syscalls, no privilege changes, no fork/exec, no scheduler/affinity games
    // (which is why QEMU is not -daemonize'd: it forks and calls setsid after the filter is on).
    ...['-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'],
    ...['-blockdev', JSON.stringify(blockdev)],
    ...['-device', `virtio-blk-pci,drive=root,bootindex=0,serial=root,addr=0x${ROOT_DISK_SLOT.toString(16)}`],
    ...taps.flatMap(({ mac, tap }, i) => [
      ...['-netdev', `tap,id=net${i},ifname=${tap},script=no,downscript=no`],
      ...['-device', `virtio-net-pci,netdev=net${i},mac=${mac},romfile=,addr=0x${(FIRST_NIC_SLOT + i).toString(16)}`],
    ]),
    ...['-device', 'virtio-rng-pci'],
    ...['-chardev', `file,id=console,path=${files.console},append=on`, '-serial', 'chardev:console'],
    ...['-qmp', `unix:${files.qmp},server=on,wait=off`],
  ];
}

/** True while `pid` runs and is the process that started at `startTime` (a zombie counts as gone). */
function alive(pid: number, startTime: string): boolean {
  if (processStart(pid) !== startTime) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A running guest's QEMU. */
export class QemuGuest implements RunningGuest {
  #lastShutdown: string | null = null;
  readonly exited: Promise<{ shutdown: string | null }>;
  readonly #trim: NodeJS.Timeout;

  private constructor(
    readonly process: GuestProcess,
    private readonly qmp: QmpConnection,
    private readonly consoleCapBytes: number,
  ) {
    this.exited = this.qmp.closed.then(async () => {
      // QEMU closes its sockets as it exits; wait for the process itself to be gone.
      for (let i = 0; i < 100 && alive(process.pid, process.startTime); i++) await sleep(50);
      clearInterval(this.#trim);
      return { shutdown: this.#lastShutdown };
    });
    this.#trim = setInterval(() => void trimLog(process.consoleLog, consoleCapBytes).catch(() => undefined), 10_000);
    this.#trim.unref();
  }

  #onEvent = (event: QmpEvent): void => {
    if (event.event === 'SHUTDOWN') this.#lastShutdown = String(event.data.reason ?? 'unknown');
  };

  /**
   * Starts QEMU for a guest in a session of its own (so it outlives the host service, which
   * never waits on it), its own messages in `qemu.log`; resolves once it answers QMP, or with
   * `state` (a suspended guest's), once it runs from that state.
   */
  static async start(
    id: string,
    request: GuestRequest,
    disk: GuestDiskSource,
    taps: readonly { mac: string; tap: string }[],
    runDir: string,
    options: QemuOptions,
    state?: Readable,
  ): Promise<QemuGuest> {
    const files = runFiles(runDir);
    await rm(files.qmp, { force: true });
    const log = openSync(files.log, 'w', 0o600);
    const args = [...qemuArgs(id, request, disk, taps, runDir, options), ...(state ? ['-incoming', 'defer'] : [])];
    const child = spawn(options.binary ?? 'qemu-system-x86_64', args, {
      detached: true,
      stdio: ['ignore', log, log],
      env: childEnv(),
    });
    closeSync(log);
    child.unref();
    let ended: string | undefined;
    child.on('exit', (code, signal) => (ended = signal ? `signal ${signal}` : `exit ${code}`));
    child.on('error', (error) => (ended = error.message));
    const fail = (why: string) =>
      new QemuStartError(
        `QEMU did not start guest ${id} (${why}): ${readFileSync(files.log, 'utf8').trim().slice(-2000)}`,
      );
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (ended !== undefined) throw fail(ended);
      if (existsSync(files.qmp)) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw fail(`no QMP socket after ${START_TIMEOUT_MS} ms`);
      }
      await sleep(20);
    }
    const pid = child.pid ?? 0;
    const startTime = processStart(pid);
    if (!startTime) throw fail('it exited right after it started');
    const record: GuestProcess = { pid, startTime, qmpSocket: files.qmp, consoleLog: files.console, runDir };
    const guest = await QemuGuest.#connect(record, options.consoleCapBytes);
    if (!guest) {
      child.kill('SIGKILL');
      throw fail('it does not answer QMP');
    }
    if (state) {
      try {
        await loadState(guest.qmp, files.state, state);
      } catch (error) {
        await guest.kill();
        throw error;
      }
    }
    return guest;
  }

  /** The guest its record names, if that QEMU still runs and answers QMP; else null. */
  static async adopt(record: GuestProcess, consoleCapBytes?: number): Promise<QemuGuest | null> {
    if (!alive(record.pid, record.startTime) || !existsSync(record.qmpSocket)) return null;
    return QemuGuest.#connect(record, consoleCapBytes);
  }

  static async #connect(record: GuestProcess, consoleCapBytes = 2 * 1024 * 1024): Promise<QemuGuest | null> {
    let events: (event: QmpEvent) => void = () => {};
    let qmp: QmpConnection;
    try {
      qmp = await QmpConnection.open(record.qmpSocket, (event) => events(event));
    } catch {
      return null;
    }
    const guest = new QemuGuest(record, qmp, consoleCapBytes);
    events = guest.#onEvent;
    return guest;
  }

  /** QEMU's run state (`running`, `paused`, `shutdown`…). */
  async status(): Promise<string> {
    return (await this.qmp.execute<{ status: string }>('query-status')).status;
  }

  async powerdown(timeoutMs: number): Promise<'graceful' | 'forced'> {
    await this.qmp.execute('system_powerdown').catch(() => undefined);
    if (await this.#exitsWithin(timeoutMs)) return 'graceful';
    await this.qmp.execute('quit').catch(() => undefined);
    if (!(await this.#exitsWithin(5_000))) await this.kill();
    return 'forced';
  }

  async reset(): Promise<void> {
    await this.qmp.execute('system_reset');
  }

  /** A non-maskable interrupt to every vCPU: the guest's kernel dumps its state (or panics, as it is set). */
  async injectNmi(): Promise<void> {
    await this.qmp.execute('inject-nmi');
  }

  async pause(): Promise<void> {
    await this.qmp.execute('stop');
  }

  async resume(): Promise<void> {
    await this.qmp.execute('cont');
  }

  async suspend(sink: (state: Readable) => Promise<void>): Promise<void> {
    await saveState(this.qmp, runFiles(this.process.runDir).state, sink);
    await this.kill();
  }

  async kill(): Promise<void> {
    // `quit` lets QEMU close its RBD images (their watches go at once; a killed client's linger 30 s).
    await this.qmp.execute('quit', undefined, 2_000).catch(() => undefined);
    if (await this.#exitsWithin(3_000)) return;
    if (alive(this.process.pid, this.process.startTime)) {
      try {
        process.kill(this.process.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    this.qmp.close();
    await this.exited;
  }

  async usage(): Promise<GuestUsage> {
    return guestUsage((command) => this.qmp.execute(command), this.process);
  }

  /** Lets go of QMP without touching QEMU (the host service is stopping; a later one adopts it). */
  release(): void {
    clearInterval(this.#trim);
    this.qmp.close();
  }

  async #exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const done = await Promise.race([this.exited.then(() => true), timeout]);
    clearTimeout(timer);
    return done;
  }
}

/** The host's QEMU runtime (the host service's {@link GuestRuntime}). */
export class QemuRuntime implements GuestRuntime {
  constructor(readonly options: QemuOptions) {}

  start(
    id: string,
    request: GuestRequest,
    disk: GuestDiskSource,
    taps: readonly { mac: string; tap: string }[],
    runDir: string,
    state?: Readable,
  ): Promise<QemuGuest> {
    return QemuGuest.start(id, request, disk, taps, runDir, this.options, state);
  }

  adopt(record: GuestProcess): Promise<QemuGuest | null> {
    return QemuGuest.adopt(record, this.options.consoleCapBytes);
  }

  consoleLog(runDir: string, maxBytes: number): Promise<string> {
    return tail(runFiles(runDir).console, maxBytes);
  }
}

/** The last `maxBytes` of a file ('' if it does not exist). */
export async function tail(path: string, maxBytes: number): Promise<string> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return '';
  }
  const length = Math.min(size, maxBytes);
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps a console log bounded: past `capBytes`, it is cut back to its last half. QEMU appends
 * (O_APPEND), so its next write lands at the new end; what it writes between the read and the
 * truncation (microseconds) is lost, which a console log can afford.
 */
export async function trimLog(path: string, capBytes: number): Promise<boolean> {
  if (!existsSync(path) || statSync(path).size <= capBytes) return false;
  const kept = await readFile(path).then((b) => b.subarray(b.length - Math.floor(capBytes / 2)));
  await truncate(path, 0);
  await appendFile(path, kept);
  return true;
}
