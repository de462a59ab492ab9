import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { childEnv, processStart } from '../../../agent/index.js';

/**
 * A child process kept running (restarted 1 s after it exits) until `stop()`; its pid and start
 * time in `pidFile`, so that a host service restarted after a crash kills the one its
 * predecessor left before it starts its own.
 */
export class Supervised {
  #child: ChildProcess | undefined;
  #stopped = false;

  constructor(
    private readonly argv: readonly string[],
    private readonly pidFile: string,
    private readonly logFile: string,
  ) {}

  start(): void {
    killRecorded(this.pidFile);
    this.#spawn();
  }

  #spawn(): void {
    if (this.#stopped) return;
    const log = openSync(this.logFile, 'a', 0o600);
    const [command, ...args] = this.argv as [string, ...string[]];
    const child = spawn(command, args, { stdio: ['ignore', log, log], env: childEnv() });
    closeSync(log);
    this.#child = child;
    if (child.pid) writeFileSync(this.pidFile, `${child.pid} ${processStart(child.pid) ?? ''}\n`);
    child.on('exit', () => {
      if (this.#child === child) setTimeout(() => this.#spawn(), 1_000).unref();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Kills the process a pid file names, if it is still that process. */
function killRecorded(pidFile: string): void {
  try {
    const [pid, start] = readFileSync(pidFile, 'utf8').trim().split(' ');
    if (pid && start && processStart(Number(pid)) === start) process.kill(Number(pid), 'SIGKILL');
  } catch {
    /* none recorded, or gone */
  }
}
