import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RackseedError } from '../errors/index.js';
import { childEnv } from '../process/index.js';

const run = promisify(execFile);

/**
 * A Ceph command failed or timed out (a local tool, or a monitor command: then the message
 * carries the monitor's status text); the step that ran it is retried on the next round.
 */
export class CephCommandError extends RackseedError {
  constructor(what: string, detail: string, cause: unknown) {
    super('CEPH_ERR_COMMAND', `${what} failed: ${detail}`, { retryable: true, cause });
  }
}

/**
 * Runs a local Ceph tool (`monmaptool`, `ceph-mon --mkfs`, `ceph-osd --mkfs`) and returns its
 * stdout; throws {@link CephCommandError}. What the monitors are asked goes through
 * {@link CephMonitors} instead: the netboot image has no `ceph` CLI.
 */
export async function cephTool(argv: readonly string[], timeoutMs = 30_000): Promise<string> {
  const [command, ...args] = argv as [string, ...string[]];
  try {
    return (await run(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env: childEnv() })).stdout;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split('\n').at(-1) || String(error);
    throw new CephCommandError(argv.join(' '), detail, error);
  }
}
