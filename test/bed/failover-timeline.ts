import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where a failover's time went, read from a lab's logs (its agents' and DB masters'): the
 * victim's fence, its OSD marked down, the new DB master's election, its fence on Ceph (each
 * step, and the OSDs it did not wait for: `down`) and its open (each step). Each line starts
 * with the milliseconds since `since` (the strike); in order. For the e2e and the failover bench.
 */
export function failoverTimeline(scopeDir: string, since: number, victim: string): string[] {
  const logs = readdirSync(scopeDir, { recursive: true, encoding: 'utf8' }).filter(
    (file) => file.endsWith('chassis/node.log') || file.endsWith('services/db-master.log'),
  );
  const timeline: { at: number; what: string }[] = [];
  for (const file of logs) {
    for (const line of readFileSync(join(scopeDir, file), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { time?: string; message?: string; event?: string; at?: number } & Record<
        string,
        unknown
      >;
      const at = entry.at ?? Date.parse(entry.time ?? '');
      if (!(at >= since)) continue;
      const push = (what: string) => timeline.push({ at, what });
      // An agent logs `message`; the seed's log has its agent's lines as `detail`.
      const text = typeof entry.detail === 'string' ? entry.detail : (entry.message ?? '');
      if (text.startsWith(`fenced ${victim} `)) push('node fenced');
      if (text.includes(`of fenced ${victim} down`)) push(text);
      if (entry.event === 'db.master.elected') push(`${String(entry.node)} elected`);
      if (entry.event === 'db.master.fenced') {
        const steps = JSON.stringify({
          ...(entry.took as object),
          down: entry.down ?? [],
          announced: !!entry.announced,
        });
        push(`${String(entry.node)} fenced the old master in ${String(entry.ms)} ms ${steps}`);
      }
      if (entry.event === 'db.master.ready') {
        push(`${String(entry.node)} ready, opened in ${JSON.stringify(entry.took)} ms`);
      }
    }
  }
  return timeline.sort((a, b) => a.at - b.at).map(({ at, what }) => `${at - since} ms ${what}`);
}
