/**
 * Failover where users feel it (issue 15), in the lab rack of `make demo` (the seed and 4
 * servers, Ceph, the API on every node over one DB master): a client writes through the lab
 * gateway, one flavor at a time as the API's users do, while
 * - the DB master's node loses power (its BMC's plug pulled);
 * - the provisioner's node loses power (the holder of the provisioner and what else it holds);
 * - the DB master's process is paused 13 s (SIGSTOP, then SIGCONT);
 * - the agent of the DB master's node is paused 12 s (its node is then fenced as a dead one);
 * each BENCH_FAILOVER_RUNS times (default 5), the rack made whole again in between (the victim
 * powered on, rejoined, every node ready). Prints, per scenario, the median and p95 of the time
 * from the event to the first acknowledged write sent after the outage began (the event, or
 * for the paused agent its node's power-off; a paused agent whose node is not fenced within
 * 60 s is a run that did not fail over, counted and shown with what the agents logged), and of
 * the write gap (last acknowledgement before → first after); then every acknowledged write checked present exactly
 * once. The floor, in the same run: etcd's own leader re-election (3 members, kill -9 of the leader).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, fetch, type Response } from 'undici';
import type { ClusterStatus } from '../agent/index.js';
import { inSeed, type LabInfo, labDown, labLogTails, labPower, labUp, waitFor } from '../bootstrap/index.js';
import { adminToken, failoverTimeline, FlavorWriter, labLogEntries, trusting } from '../test/bed/index.js';
import { etcdReelection } from './etcd-reelection.js';
import { median, quantile, row } from './stats.js';

const REPO = new URL('..', import.meta.url).pathname;
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];
const RUNS = Number(process.env.BENCH_FAILOVER_RUNS ?? 5);
/** One write every PACE_MS at most: the time to the first write after a failure is known to that much. */
const PACE_MS = 100;

/** The cloud's API through the lab gateway, as its admin. */
interface Api {
  readonly url: string;
  readonly token: string;
  readonly dispatcher: Agent;
  get(path: string): Promise<Response>;
}

function apiOf(url: string, token: string, dispatcher: Agent): Api {
  const get = (path: string) =>
    fetch(`${url}${path}`, { dispatcher, headers: { 'x-auth-token': token }, signal: AbortSignal.timeout(10_000) });
  return { url, token, dispatcher, get };
}

export default async function bench(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
  const reelection = await etcdReelection(RUNS);
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-bench-failover-'));
  try {
    const lab = await labUp({ dir, servers: 4, rackseed: RACKSEED, ceph: true, readyTimeoutMs: 300_000 });
    const password = readFileSync(lab.adminPasswordFile, 'utf8').trim();
    const dispatcher = trusting(lab.gateway.ca);
    const status = async () => JSON.parse(await inSeed(lab, RACKSEED, ['--json', 'status'])) as ClusterStatus;
    const token = await waitFor(
      'the API through the gateway',
      () => adminToken(lab.gateway.url, password, { dispatcher, timeoutMs: 5_000 }),
      300_000,
      1_000,
    );
    const api = apiOf(lab.gateway.url, token, dispatcher);
    await whole(lab, status, undefined);
    const writer = new FlavorWriter(api.url, api.token, api.dispatcher, PACE_MS);
    const results: { label: string; after: number[]; gap: number[]; singletons: number[]; missed: number }[] = [];
    try {
      // `nodeDown`: the victim's node goes (its other singletons move, and are timed).
      type Struck = { t0: number; victim: string; nodeDown: boolean; from?: number; missed?: string };
      const scenarios: [string, () => Promise<Struck>][] = [
        [
          "DB master's node loses power",
          async () => {
            const victim = await dbMaster(status);
            const t0 = Date.now();
            labPower(lab, victim, 'off');
            return { t0, victim, nodeDown: true };
          },
        ],
        [
          "provisioner's node loses power",
          async () => {
            const victim = (await status()).singletons.provisioner;
            if (!victim) throw new Error('nobody holds the provisioner');
            const t0 = Date.now();
            labPower(lab, victim, 'off');
            return { t0, victim, nodeDown: true };
          },
        ],
        [
          'DB master process paused 13 s',
          async () => {
            const victim = await dbMaster(status);
            const pid = servicePid(lab, victim, 'db-master');
            const t0 = Date.now();
            process.kill(pid, 'SIGSTOP');
            setTimeout(() => signal(pid, 'SIGCONT'), 13_000);
            return { t0, victim, nodeDown: false };
          },
        ],
        [
          "DB master node's agent paused 12 s",
          async () => {
            // Its node's lease lapses: fenced as a dead one (powered off), and its DB master
            // with it. The DB master (a process of its own) serves until then: the outage
            // begins at the power-off, the time is counted from the pause.
            const victim = await dbMaster(status);
            const pid = agentPid(lab, victim);
            const t0 = Date.now();
            process.kill(pid, 'SIGSTOP');
            setTimeout(() => signal(pid, 'SIGCONT'), 12_000);
            const off = await waitFor(
              'the paused node powered off by the fencer',
              () => !poweredOn(lab, victim),
              60_000,
              20,
            ).catch(() => false);
            if (!off) {
              // Not fenced: what the agents said about it since the pause (the run counts as missed).
              const said = fenceLines(lab.scopeDir, t0, victim);
              return {
                t0,
                victim,
                nodeDown: true,
                missed: `not fenced in 60 s (pid ${pid} paused): ${said.join(' | ')}`,
              };
            }
            return { t0, victim, nodeDown: true, from: Date.now() };
          },
        ],
      ];
      for (const [label, strike] of scenarios) {
        const result = { label, after: [] as number[], gap: [] as number[], singletons: [] as number[], missed: 0 };
        results.push(result);
        for (let i = 0; i < RUNS; i++) {
          let t0 = Date.now();
          try {
            const held = (await status()).singletons;
            const struck = await strike();
            t0 = struck.t0;
            if (struck.missed !== undefined) {
              result.missed++;
              console.log(`  ${label}, run ${i + 1} (${struck.victim}): ${struck.missed}`);
              await whole(lab, status, struck.victim);
              continue;
            }
            const recovered = await waitFor(
              `a write acknowledged after: ${label} (${struck.victim})`,
              () => writer.recovery(t0, struck.from),
              180_000,
              50,
            );
            result.after.push(recovered.after);
            result.gap.push(recovered.gap);
            const services = Object.entries(held).flatMap(([service, holder]) =>
              struck.nodeDown && holder === struck.victim && service !== 'db-master' ? [service] : [],
            );
            const claimed = services.length > 0 ? await singletonsClaimed(lab.scopeDir, t0, services) : undefined;
            if (claimed !== undefined) result.singletons.push(claimed);
            console.log(
              `  ${label}, run ${i + 1} (${struck.victim}): next write after ${recovered.after} ms` +
                (claimed === undefined
                  ? ''
                  : `; its singletons (${services.join(', ')}) claimed again after ${claimed} ms`),
            );
            console.log(`    ${failoverTimeline(lab.scopeDir, t0, struck.victim).join('; ')}`);
            await new Promise((resolve) => setTimeout(resolve, 13_000)); // a paused process resumes first
            await whole(lab, status, struck.victim);
          } catch (error) {
            const since = writer.writes.filter((w) => w.sentAt >= t0).map((w) => w.status ?? 'in flight');
            throw new Error(
              `${label}, run ${i + 1}: ${String(error)}; ${since.length} writes since, answered ${JSON.stringify(since.slice(-20))}\n${labLogTails(lab.scopeDir)}`,
            );
          }
        }
      }
    } finally {
      await writer.stop();
    }
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const floor = median(reelection);
    row(`failover bench (lab rack: seed + 4, Ceph; n=${RUNS} each)`, 'median', 'p95', 'median / etcd');
    row('etcd leader re-election (the floor)', fmt(floor), fmt(quantile(reelection, 0.95)), '1.00×');
    for (const { label, after, gap, singletons, missed } of results) {
      if (missed > 0) row(`${label}: runs that failed over`, `${RUNS - missed} of ${RUNS}`);
      if (after.length === 0) continue;
      row(
        `${label}: → first write`,
        fmt(median(after)),
        fmt(quantile(after, 0.95)),
        `${(median(after) / floor).toFixed(1)}×`,
      );
      row('  write gap (last ack → next ack)', fmt(median(gap)), fmt(quantile(gap, 0.95)));
      if (singletons.length > 0) {
        row(
          `  its other singletons claimed (n=${singletons.length})`,
          fmt(median(singletons)),
          fmt(quantile(singletons, 0.95)),
        );
      }
    }
    const acknowledged = writer.acknowledged.map((w) => w.name);
    const listed = await flavorNames(api);
    const lost = acknowledged.filter((name) => !listed.includes(name)).length;
    const doubled = listed.length - new Set(listed).size;
    const refused = writer.writes.filter((w) => w.ackAt === undefined);
    row(
      'writes',
      `${acknowledged.length} acknowledged`,
      `${lost} lost`,
      `${doubled} doubled`,
      `${refused.length} refused (${[...new Set(refused.map((w) => w.status))].join(', ')})`,
    );
    await dispatcher.close();
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * When the last of `services` (singletons the struck node held) was claimed by another node, in
 * ms since `since`: the first `elected for SERVICE` each agent log says after it (the claim; the
 * process starts right after). Waits for them up to 60 s.
 */
async function singletonsClaimed(scopeDir: string, since: number, services: readonly string[]): Promise<number> {
  const claims = () => {
    const at = new Map<string, number>();
    for (const { at: when, text } of labLogEntries(scopeDir, since)) {
      const service = /^elected for (\S+)$/.exec(text)?.[1];
      if (service && services.includes(service) && !at.has(service)) at.set(service, when);
    }
    return at;
  };
  const all = await waitFor(
    `the singletons ${services.join(', ')} claimed again`,
    () => {
      const at = claims();
      return at.size === services.length ? at : undefined;
    },
    60_000,
    200,
  );
  return Math.max(...all.values()) - since;
}

/** What the lab's agents logged since `since` about fencing `victim` (or any fence at all), in order. */
function fenceLines(scopeDir: string, since: number, victim: string): string[] {
  return labLogEntries(scopeDir, since)
    .filter(({ text }) => /fenc|FENCE/.test(text) || text.includes(victim))
    .sort((a, b) => a.at - b.at)
    .map(({ at, file, text, entry }) => `${at - since} ms ${entry.node ?? file.split('/')[0]}: ${text}`);
}

/** Sends `name` to `pid` if it still runs (a fenced node's processes are gone). */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone
  }
}

/** The data directory of a lab machine's agent: the seed's, or a server's (under its BMC's chassis). */
function agentDir(lab: LabInfo, node: string): string {
  const index = /^node-(\d+)$/.exec(node)?.[1];
  return index === undefined
    ? join(lab.scopeDir, 'seed', 'agent')
    : join(lab.scopeDir, `bmc${index}`, 'chassis', 'data', 'agent');
}

/** The pid of a service the node's agent supervises (its pid file: `pid start-time`). */
function servicePid(lab: LabInfo, node: string, service: string): number {
  return Number(readFileSync(join(agentDir(lab, node), 'services', `${service}.pid`), 'utf8').split(' ')[0]);
}

/**
 * The pid of a machine's agent: the seed's `rackseed seed`, or a server's `rackseed node boot`.
 * The chassis's `node.pid` names the firmware's shell, which runs the agent again when it dies,
 * so the agent is found among its descendants.
 */
function agentPid(lab: LabInfo, node: string): number {
  const index = node === 'seed' ? '0' : /^node-(\d+)$/.exec(node)?.[1];
  const firmware = Number(readFileSync(join(lab.scopeDir, `bmc${index}`, 'chassis', 'node.pid'), 'utf8').split(' ')[0]);
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const isAgent = (pid: number) => {
    try {
      // node running rackseed.js: the firmware's shell has the same words among its arguments.
      return /^[^\0]*\/node\0[^\0]*rackseed\.js\0(--json\0)?(node\0boot|seed)\0/.test(
        readFileSync(`/proc/${pid}/cmdline`, 'utf8'),
      );
    } catch {
      return false; // exited meanwhile
    }
  };
  const descends = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at))
      if (at === firmware) return true;
    return false;
  };
  const agent = [...parents.keys()].find((pid) => descends(pid) && isAgent(pid));
  if (agent === undefined) throw new Error(`no agent process under ${node}'s firmware (pid ${firmware})`);
  return agent;
}

/** The node the DB master's election names (`rackseed status`). */
async function dbMaster(status: () => Promise<ClusterStatus>): Promise<string> {
  return waitFor(
    'the elected DB master',
    async () => (await status()).singletons['db-master'] ?? undefined,
    120_000,
    500,
  );
}

/** Whether the BMC of lab machine `node` has its chassis powered on. */
function poweredOn(lab: LabInfo, node: string): boolean {
  const index = node === 'seed' ? '0' : /^node-(\d+)$/.exec(node)?.[1];
  const file = join(lab.scopeDir, `bmc${index}`, 'chassis', 'power');
  return existsSync(file) && readFileSync(file, 'utf8').trim() === '1';
}

/**
 * Makes the rack whole after a strike on `victim`: a victim whose power is off (pulled, or cut
 * by the fencer) is waited for until fenced, then powered on; then every node must be ready,
 * an etcd voter (5: a loss leaves a quorum; while etcd grows, 2 voters of 3 would not), and
 * its OSD up and in.
 */
async function whole(lab: LabInfo, status: () => Promise<ClusterStatus>, victim: string | undefined): Promise<void> {
  if (victim && !poweredOn(lab, victim)) {
    await waitFor(
      `${victim} fenced`,
      async () => (await status()).nodes.find((n) => n.name === victim)?.state === 'fenced',
      120_000,
      500,
    );
    labPower(lab, victim, 'on');
  }
  const nodes = lab.servers.length + 1;
  await waitFor(
    `every node of the lab ready, ${nodes} etcd voters, Ceph's ${nodes} OSDs up and in and 3 monitors in quorum`,
    async () => {
      const s = await status();
      const voters = s.etcd.members.filter((m) => !m.learner).length;
      return (
        s.nodes.length >= nodes &&
        s.nodes.every((n) => n.state === 'ready') &&
        voters === nodes &&
        s.etcd.members.length === nodes &&
        s.ceph?.up === nodes &&
        s.ceph.in === nodes &&
        s.ceph.quorum.length === 3
      );
    },
    600_000,
    1_000,
  );
}

/** Every flavor's name, through the gateway, page after page. */
async function flavorNames(api: Api): Promise<string[]> {
  const names: string[] = [];
  for (let marker = ''; ;) {
    const response = await api.get(`/compute/v2.1/flavors?limit=1000${marker ? `&marker=${marker}` : ''}`);
    const { flavors } = (await response.json()) as { flavors: { id: string; name: string }[] };
    names.push(...flavors.map((f) => f.name));
    const last = flavors.at(-1);
    if (flavors.length < 1000 || !last) return names;
    marker = last.id;
  }
}
