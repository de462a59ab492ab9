/**
 * IPv6 router advertisements on the provisioning interface. iPXE's "Configuring" step waits for
 * IPv6 autoconfiguration as well as DHCP, about 13 s when no router answers its solicitations
 * (research rack-sim-feasibility §2.6). Node has no raw sockets, so Debian's `radvd` answers:
 * a supervised child with a generated config that advertises no prefix and a router lifetime
 * of 0, so that no client routes through us (RFC 4861 §4.2, §6.2.3). iPXE ends its IPv6 step
 * on any advertisement without the M/O flags.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetbootEvent } from './dhcp-server.js';
import { NetbootConfigError } from './errors.js';
import { childEnv } from '../../agent/process/index.js';

/** A restarted radvd waits this long, so a radvd that cannot run does not spin. */
const RESTART_DELAY_MS = 1000;

/** radvd.conf(5) for `iface`: answer solicitations, advertise no prefix, route nothing. */
export function radvdConfig(iface: string): string {
  return [
    `interface ${iface} {`,
    '  AdvSendAdvert on;',
    '  IgnoreIfMissing on;',
    '  AdvDefaultLifetime 0;', // RFC 4861 §4.2: not a default router
    '  MinRtrAdvInterval 30;',
    '  MaxRtrAdvInterval 120;',
    '};',
    '',
  ].join('\n');
}

/**
 * radvd's config and pid file for `iface` in this network namespace. The path is stable so
 * that a radvd left running by a server killed with SIGKILL (which never reaches its
 * children) is found and stopped by the next one; radvd itself refuses to share a pid file.
 */
export function radvdStateDir(iface: string): string {
  const netns = readlinkSync('/proc/self/ns/net').replace(/\D/g, ''); // net:[4026531840]
  return join(tmpdir(), `rackseed-radvd-${netns}-${iface}`);
}

/** Stops the radvd named by `pidFile` if it is still running with our `conf`, and waits for it. */
async function stopStale(pidFile: string, conf: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const cmdline = (): string => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  if (!cmdline().split('\0').includes(conf)) return; // gone, or the pid now names another process
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  };
  kill('SIGTERM');
  for (let i = 0; i < 20 && cmdline() !== ''; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  if (cmdline() !== '') kill('SIGKILL');
}

/** The running advertiser. */
export interface RouterAdverts {
  close(): Promise<void>;
}

/**
 * Starts radvd on `iface` and restarts it if it exits. Throws NETBOOT_ERR_NO_RADVD when radvd
 * is not installed (Debian package `radvd`); pass `--no-router-adverts` to do without.
 */
export async function startRouterAdverts(options: {
  iface: string;
  onEvent: (event: NetbootEvent) => void;
  command?: string;
}): Promise<RouterAdverts> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(options.iface)) {
    throw new NetbootConfigError(
      'NETBOOT_ERR_NO_INTERFACE',
      `${JSON.stringify(options.iface)} is not an interface name`,
    );
  }
  const dir = radvdStateDir(options.iface);
  const conf = join(dir, 'radvd.conf');
  const pidFile = join(dir, 'radvd.pid');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await stopStale(pidFile, conf);
  await writeFile(conf, radvdConfig(options.iface), { mode: 0o600 });
  const argv = ['-n', '-m', 'stderr', '-C', conf, '-p', pidFile];
  let child: ChildProcess | undefined;
  let closing = false;
  let restartTimer: NodeJS.Timeout | undefined;

  const run = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = spawn(options.command ?? 'radvd', argv, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv() });
      child = c;
      let stderr = '';
      c.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-2000);
      });
      c.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? new NetbootConfigError(
                'NETBOOT_ERR_NO_RADVD',
                'radvd is not installed: apt-get install radvd, or pass --no-router-adverts',
              )
            : error,
        );
      });
      let spawned = false;
      c.once('spawn', () => {
        spawned = true;
        options.onEvent({ type: 'ra.started', mac: '', detail: `radvd pid ${c.pid} on ${options.iface}` });
        resolve();
      });
      c.once('exit', (code, signal) => {
        if (closing || !spawned) return; // a radvd that never started is reported by 'error'
        options.onEvent({
          type: 'ra.exited',
          mac: '',
          detail: `radvd exited (${signal ?? code}), restarting: ${stderr.trim().split('\n').slice(-2).join(' | ')}`,
        });
        restartTimer = setTimeout(() => void run().catch(() => undefined), RESTART_DELAY_MS);
      });
    });

  try {
    await run();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    close: async () => {
      closing = true;
      clearTimeout(restartTimer);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
        c.kill('SIGTERM'); // radvd sends a final advertisement with lifetime 0 and exits
        const timer = setTimeout(() => c.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
