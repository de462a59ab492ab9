import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RackseedError } from '../errors/index.js';

const run = promisify(execFile);

/** A Ceph command failed or timed out; the step that ran it is retried on the next round. */
export class CephCommandError extends RackseedError {
  constructor(argv: readonly string[], cause: unknown) {
    const detail = (cause as { stderr?: string }).stderr?.trim().split('\n').at(-1) ?? String(cause);
    super('CEPH_ERR_COMMAND', `${argv.join(' ')} failed: ${detail}`, { retryable: true, cause });
  }
}

/** Runs a Ceph tool (`ceph`, `monmaptool`, `ceph-mon --mkfs`, …) and returns its stdout; throws {@link CephCommandError}. */
export async function cephTool(argv: readonly string[], timeoutMs = 30_000): Promise<string> {
  const [command, ...args] = argv as [string, ...string[]];
  try {
    return (await run(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL' })).stdout;
  } catch (error) {
    throw new CephCommandError(argv, error);
  }
}
