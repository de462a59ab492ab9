// A front door of its own (like errors/): the lab imports it without loading the agent.
import { readFileSync } from 'node:fs';

/**
 * The kernel's start time of a process (field 22 of /proc/PID/stat), or null if it is gone.
 * Recorded next to a pid, it tells a process from a later one that reuses the pid.
 */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null; // [0] is field 3 (state)
  } catch {
    return null;
  }
}

/**
 * What a child process is given of this process's environment, when set: where programs are,
 * the locale, the home and temporary directories, and the services' log level. Nothing else
 * is inherited: a secret in the parent's environment (RACKSEED_BMC_PASSWORD, a token an
 * operator exported) never reaches its children, nor what they start in turn.
 */
export const INHERITED_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'TMPDIR',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'RACKSEED_LOG_LEVEL',
];

/**
 * An explicit environment for a child process: the {@link INHERITED_ENV} variables of `from`
 * (this process's environment by default), then `set` (an undefined value leaves a variable out).
 */
export function childEnv(
  set: Readonly<Record<string, string | undefined>> = {},
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(set)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}
