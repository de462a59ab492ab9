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
