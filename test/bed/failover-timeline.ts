import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One JSON line of a lab's agent or DB master log, at or after a given time. */
interface LabLogEntry {
  readonly at: number;
  /** The log file, relative to the lab's scope directory. */
  readonly file: string;
  /** What an agent said: `message`, or on the seed's log its agent's `detail`. */
  readonly text: string;
  readonly entry: { event?: string; node?: string } & Record<string, unknown>;
}

/**
 * Every JSON line logged at or after `since` in a lab's agent logs (`chassis/node.log`) and, with
 * `dbMasters`, its DB masters' (`services/db-master.log`), in the order of the files.
 */
export function labLogEntries(scopeDir: string, since: number, dbMasters = false): LabLogEntry[] {
  const logs = readdirSync(scopeDir, { recursive: true, encoding: 'utf8' }).filter(
    (file) => file.endsWith('chassis/node.log') || (dbMasters && file.endsWith('services/db-master.log')),
  );
  const entries: LabLogEntry[] = [];
  for (const file of logs) {
    for (const line of readFileSync(join(scopeDir, file), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as LabLogEntry['entry'] & { time?: string; at?: number };
      const at = entry.at ?? Date.parse(entry.time ?? '');
      if (!(at >= since)) continue;
      const text = typeof entry.detail === 'string' ? entry.detail : String(entry.message ?? '');
      entries.push({ at, file, text, entry });
    }
  }
  return entries;
}

/**
 * Where a failover's time went, read from a lab's logs (its agents' and DB masters'): the
 * victim's power loss seen by its watcher (its leases revoked), its fence, its OSD marked down, the new DB master's election, its fence on Ceph (each
 * step, and the OSDs it did not wait for: `down`) and its open (each step). Each line starts
 * with the milliseconds since `since` (the strike); in order. For the e2e and the failover bench.
 */
export function failoverTimeline(scopeDir: string, since: number, victim: string): string[] {
  const timeline: { at: number; what: string }[] = [];
  for (const { at, text, entry } of labLogEntries(scopeDir, since, true)) {
    const push = (what: string) => timeline.push({ at, what });
    if (text.startsWith(`fenced ${victim} `)) push('node fenced');
    if (text.includes(`of fenced ${victim} down`) || text.includes(`of powered-off ${victim} down`)) push(text);
    if (text.startsWith(`${victim}'s BMC says it is off`) || text.includes(`watch ${victim}'s power`)) push(text);
    if (entry.event === 'db.master.elected') push(`${String(entry.node)} elected`);
    if (entry.event === 'db.master.fenced') {
      const steps = JSON.stringify({ ...(entry.took as object), down: entry.down ?? [], announced: !!entry.announced });
      push(`${String(entry.node)} fenced the old master in ${String(entry.ms)} ms ${steps}`);
    }
    if (entry.event === 'db.master.ready') {
      push(`${String(entry.node)} ready, opened in ${JSON.stringify(entry.took)} ms`);
    }
  }
  return timeline.sort((a, b) => a.at - b.at).map(({ at, what }) => `${at - since} ms ${what}`);
}
