/**
 * iproute2 and nftables as the guest plumbing runs them: with an explicit environment (PATH
 * and locale, nothing of the host service's), a timeout, and a HostPortError that carries what
 * the command printed.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { childEnv } from '../../../agent/process/index.js';
import { HostPortError } from '../errors.js';

const execFileAsync = promisify(execFile);

/** Runs a command; rejects with execFile's error. */
export const run = (command: string, args: readonly string[], options: { timeout?: number } = {}) =>
  execFileAsync(command, args, { ...options, env: childEnv() });

/** Runs a command and returns its output; a HostPortError naming `what` if it fails. */
export async function sh(command: string, args: readonly string[], what: string): Promise<string> {
  try {
    return (await run(command, args, { timeout: 15_000 })).stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new HostPortError(`${what} (${command} ${args.join(' ')}): ${stderr || (error as Error).message}`, error);
  }
}

/** Whether `ip ARGS` succeeds (a link or namespace is there). */
export const exists = (args: readonly string[]) =>
  run('ip', args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

/** No IPv6 on an interface (no link-local address for guests to reach the node by). */
export function noIpv6(iface: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${iface}/disable_ipv6`, '1');
  } catch {
    /* IPv6 disabled on this machine */
  }
}

/** Runs an nft script as one transaction (in the network namespace `netns`, if given). */
export async function nft(script: string, netns?: string): Promise<void> {
  const [command, args] = netns ? ['ip', ['netns', 'exec', netns, 'nft', '-f', '-']] : ['nft', ['-f', '-']];
  await new Promise<void>((resolve, reject) => {
    const child = execFile(command, args, { timeout: 15_000, env: childEnv() }, (error, _stdout, stderr) =>
      error ? reject(new HostPortError(`nft: ${String(stderr).trim() || error.message}`, error)) : resolve(),
    );
    child.stdin?.end(`${script}\n`);
  });
}

/** A JSON listing (`ip -j …`, `nft -j …`). */
export async function listJson<T>(command: 'ip' | 'nft', args: readonly string[], what: string): Promise<T> {
  return JSON.parse(await sh(command, ['-j', ...args], what)) as T;
}
