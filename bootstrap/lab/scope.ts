import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { childEnv, processStart } from '../../agent/process/index.js';
import { join } from 'node:path';

/**
 * A scope owns everything one lab or test fixture started: a directory, ports, processes (by
 * pid) and network namespaces. It records them on disk as it goes. A scope owned by a process
 * is removed on `close()`, when that process exits, or, if it crashed, by the next
 * `sweepStale()`. A persistent scope (a lab rack that `rackseed lab up` leaves running) belongs
 * to no process: it is removed when someone reopens it and closes it (`rackseed lab down`).
 */

/** Where scopes live unless told otherwise: one directory per scope, plus the shared port locks. */
export const SCOPES_ROOT = join(tmpdir(), 'rackseed-bed');
const PORT_LOCKS = join(SCOPES_ROOT, 'ports');

type Resource =
  { type: 'pid'; pid: number; start: string } | { type: 'netns'; name: string } | { type: 'port'; port: number };

/** A process started by a scope; `stop()` kills it (and its process group) by pid. */
export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** stdout and stderr of the process. */
  readonly logFile: string;
  /** Resolves with the exit code (or null when killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` (0: SIGKILL at once). Resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /**
   * The child's whole environment; default {@link childEnv}'s (PATH, locale, HOME, TMPDIR of
   * this process): nothing else of the caller's environment reaches a lab machine.
   */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the program's). */
  netns?: string;
}

/** True while `pid` runs; a zombie (killed, not yet reaped by init) counts as gone. */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Kills a recorded process (and its group, as daemons lead their own) if it is still the same process. */
function killRecorded(pid: number, start: string, signal: NodeJS.Signals): boolean {
  if (processStart(pid) !== start) return false;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      return false;
    }
  }
  return true;
}

function deleteNetns(name: string): void {
  // A lab machine's host service makes `<its namespace>-guests` for its guests' DHCP and metadata
  // on the provider network, `<its namespace>-guests-v<VNI>` on each project network, and
  // `<its namespace>-guests-r<router id>` for each router homed there.
  const services = `${name}-guests`;
  const ours = /^-(v\d+|r[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
  if (!name.includes('-guests') && existsSync('/run/netns'))
    for (const entry of readdirSync('/run/netns'))
      if (entry === services || (entry.startsWith(services) && ours.test(entry.slice(services.length))))
        deleteNetns(entry);
  if (!existsSync(`/run/netns/${name}`)) return;
  // Processes still inside would keep its interfaces alive: kill them first, by pid.
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', env: childEnv() })
      .split('\n')
      .filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    /* namespace vanished meanwhile */
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore', env: childEnv() });
  } catch {
    /* already deleted */
  }
}

function readResources(dir: string): Resource[] {
  try {
    return readFileSync(join(dir, 'resources'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Resource);
  } catch {
    return [];
  }
}

/** Removes everything a scope directory records, synchronously (usable from an exit handler). */
function releaseSync(dir: string, resources: readonly Resource[]): void {
  for (const r of resources) if (r.type === 'pid') killRecorded(r.pid, r.start, 'SIGKILL');
  for (const r of resources) if (r.type === 'netns') deleteNetns(r.name);
  for (const r of resources) if (r.type === 'port') rmSync(join(PORT_LOCKS, String(r.port)), { force: true });
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes what scopes of dead processes left behind: their daemons (only if the pid still
 * names the same process), their namespaces, port locks and directories.
 */
export function sweepStale(): void {
  if (!existsSync(SCOPES_ROOT)) return;
  for (const entry of readdirSync(SCOPES_ROOT)) {
    if (entry === 'ports') continue;
    const dir = join(SCOPES_ROOT, entry);
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner'), 'utf8')) as Owner;
    } catch {
      owner = undefined; // half-created: stale if its owner pid (in the name) is gone
    }
    if (owner?.persistent) continue;
    const ownerPid = owner?.pid ?? Number(entry.split('-')[1]);
    const alive = owner ? processStart(owner.pid) === owner.start : processStart(ownerPid) !== null;
    if (!alive) releaseSync(dir, readResources(dir));
  }
  if (existsSync(PORT_LOCKS)) {
    for (const port of readdirSync(PORT_LOCKS)) {
      const holder = readFileSync(join(PORT_LOCKS, port), 'utf8');
      if (!existsSync(holder)) rmSync(join(PORT_LOCKS, port), { force: true });
    }
  }
}

interface Owner {
  pid: number;
  start: string;
  persistent?: boolean;
}

const openScopes = new Set<Scope>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const scope of openScopes) releaseSync(scope.dir, readResources(scope.dir));
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

async function canBind(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

export class Scope {
  readonly dir: string;
  readonly id: string;
  private readonly daemons = new Set<Daemon>();
  private closed = false;

  private constructor(dir: string, id: string) {
    this.dir = dir;
    this.id = id;
  }

  /**
   * Opens a new scope named after `kind` (after sweeping stale ones), under `root`
   * (default SCOPES_ROOT). A `persistent` scope outlives this process; see {@link Scope.reopen}.
   */
  static open(kind: string, options: { root?: string; persistent?: boolean } = {}): Scope {
    sweepStale();
    const id = randomBytes(3).toString('hex');
    const dir = join(options.root ?? SCOPES_ROOT, `${kind}-${process.pid}-${id}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // what runs in it keeps keys and passwords there
    const owner: Owner = {
      pid: process.pid,
      start: processStart(process.pid) ?? '',
      persistent: options.persistent ?? false,
    };
    writeFileSync(join(dir, 'owner'), JSON.stringify(owner));
    const scope = new Scope(dir, id);
    if (!owner.persistent) {
      installExitHook();
      openScopes.add(scope);
    }
    return scope;
  }

  /** Reopens a persistent scope left by another process, to close it (or record more in it). */
  static reopen(dir: string): Scope {
    const owner = JSON.parse(readFileSync(join(dir, 'owner'), 'utf8')) as Owner;
    if (!owner.persistent) throw new Error(`${dir} belongs to process ${owner.pid}, not to a lab`);
    return new Scope(dir, dir.split('-').at(-1) ?? '');
  }

  private record(resource: Resource): void {
    appendFileSync(this.resourcesFile, `${JSON.stringify(resource)}\n`);
  }

  /** Records a network namespace this scope created, so that it is deleted with the scope. */
  recordNetns(name: string): void {
    this.record({ type: 'netns', name });
  }

  /** The file a helper program may append resource lines to (see chassis-control.sh). */
  get resourcesFile(): string {
    return join(this.dir, 'resources');
  }

  /** A TCP+UDP port free on 127.0.0.1 and locked against every other scope until this one closes. */
  async port(): Promise<number> {
    mkdirSync(PORT_LOCKS, { recursive: true });
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = 20000 + Math.floor(Math.random() * 12000); // below Linux's ephemeral range
      let fd: number;
      try {
        fd = openSync(join(PORT_LOCKS, String(port)), 'wx');
      } catch {
        continue; // another scope holds it
      }
      writeFileSync(fd, this.dir);
      closeSync(fd);
      if (await canBind(port)) {
        this.record({ type: 'port', port });
        return port;
      }
      rmSync(join(PORT_LOCKS, String(port)), { force: true });
    }
    throw new Error('no free port found in 200 attempts');
  }

  /** Starts a process in its own session (so a test's signals do not reach it) and records its pid. */
  spawn(name: string, argv: readonly string[], options: SpawnOptions = {}): Daemon {
    const full = options.netns ? ['ip', 'netns', 'exec', options.netns, ...argv] : [...argv];
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const [command, ...args] = full as [string, ...string[]];
    const child = spawn(command, args, {
      cwd: options.cwd ?? this.dir,
      env: options.env ?? childEnv(),
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    const pid = child.pid;
    const start = processStart(pid);
    if (start !== null) this.record({ type: 'pid', pid, start });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    let done = false;
    void exited.then(() => {
      done = true;
    });
    child.unref();
    const daemon: Daemon = {
      name,
      pid,
      logFile,
      exited,
      alive: () => !done && processRunning(pid),
      stop: async (graceMs = 0) => {
        if (done) return;
        if (start === null || !killRecorded(pid, start, graceMs > 0 ? 'SIGTERM' : 'SIGKILL')) return;
        const timer = graceMs > 0 ? setTimeout(() => killRecorded(pid, start, 'SIGKILL'), graceMs) : undefined;
        child.ref(); // an unref'd child would not keep a plain script alive while we wait for its exit
        await exited;
        clearTimeout(timer);
        this.daemons.delete(daemon);
      },
    };
    this.daemons.add(daemon);
    return daemon;
  }

  /** Stops every process, deletes every namespace and frees every port of this scope, then its directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.daemons].map((d) => d.stop()));
    releaseSync(this.dir, readResources(this.dir));
    openScopes.delete(this);
  }
}
