/**
 * The lab rack (issue 8): time from `lab up --ceph` to a ready 4-server cloud (the API, through
 * the lab gateway, listing all 5 nodes as hypervisors over the DB master on Ceph), each
 * server's time from power-on to ready (from the seed's own event log), and the time from a
 * server's death (power lost) to its being fenced and its singletons held by live nodes again.
 * The reference in the same run is the bare hardware: how long the same 4 ipmi_sim BMCs and
 * namespaces take to come up without any rackseed in them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLabRack, inSeed, labDown, labPower, labUp, waitFor } from '../bootstrap/index.js';
import { fetch } from 'undici';
import { adminToken, trusting } from '../test/bed/index.js';
import { median, quantile, row, timeMs } from './stats.js';

const REPO = new URL('..', import.meta.url).pathname;
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];

/** How many hypervisors the cloud at `url` (its API's CA in `ca`) lists (0 while it does not answer). */
async function hypervisors(url: string, ca: string, password: string): Promise<number> {
  const dispatcher = trusting(ca);
  try {
    const token = await adminToken(url, password, { dispatcher, timeoutMs: 5_000 });
    const list = await fetch(`${url}/compute/v2.1/os-hypervisors`, {
      dispatcher,
      headers: { 'x-auth-token': token },
      signal: AbortSignal.timeout(5_000),
    });
    return ((await list.json()) as { hypervisors?: unknown[] }).hypervisors?.length ?? 0;
  } catch {
    return 0;
  } finally {
    await dispatcher.close();
  }
}

export default async function bench(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
  const hardwareMs = await timeMs(async () => {
    const rack = await buildLabRack({ servers: 4, factoryPassword: 'x', bootCommand: ['true'] });
    await rack.destroy();
  });
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-bench-lab-'));
  try {
    let lab: Awaited<ReturnType<typeof labUp>> | undefined;
    const started = Date.now();
    const upMs = await timeMs(async () => {
      lab = await labUp({ dir, servers: 4, rackseed: RACKSEED, ceph: true });
    });
    if (!lab) throw new Error('no lab');
    const info = lab;
    // A ready cloud: the API, through the lab gateway, lists every node (seed + 4) as a hypervisor.
    const password = readFileSync(info.adminPasswordFile, 'utf8').trim();
    await waitFor(
      'the API to list 5 hypervisors through the gateway',
      async () => (await hypervisors(info.gateway.url, info.gateway.ca, password)) === 5,
      300_000,
      500,
    );
    const cloudMs = Date.now() - started;
    row(
      "reference: the rack hardware alone (5 BMCs: the seed's + 4, namespaces)",
      `${(hardwareMs / 1000).toFixed(2)} s`,
    );
    row('lab up → 4 servers ready nodes', `${(upMs / 1000).toFixed(1)} s`);
    row(
      'lab up → a ready cloud (Ceph, DB master, the API on all 5 nodes)',
      `${(cloudMs / 1000).toFixed(1)} s`,
      '(target ≤ 180 s)',
    );

    const events = readFileSync(info.seedLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { time: string; type: string; node?: string; detail?: string });
    const perNode = info.servers.map((s) => {
      const on = events.find((e) => e.type === 'node.power.on' && e.node === s.name);
      const ready = events.find((e) => e.type === 'node.state' && e.node === s.name && e.detail?.endsWith('→ ready'));
      return on && ready ? Date.parse(ready.time) - Date.parse(on.time) : Number.NaN;
    });
    row(
      'power-on → ready, per server (median, max)',
      `${(median(perNode) / 1000).toFixed(2)} s`,
      `${(Math.max(...perNode) / 1000).toFixed(2)} s`,
      '(target ≤ 60 s)',
    );

    type Status = {
      nodes: { name: string; state: string }[];
      singletons: Record<string, string | null>;
    };
    const status = async () => JSON.parse(await inSeed(info, RACKSEED, ['--json', 'status'])) as Status;
    // Each time the node holding the most singletons (the seed first) loses power: how long until
    // it is fenced, and until every singleton it held is held by a live node again.
    const machines = ['seed', ...info.servers.map((s) => s.name)];
    const fenced: number[] = [];
    const serving: number[] = [];
    for (let round = 0; round < 2; round++) {
      const before = await status();
      const held = (name: string) => Object.values(before.singletons).filter((n) => n === name).length;
      const live = machines.filter((m) => before.nodes.some((n) => n.name === m && n.state === 'ready'));
      const victim = live.sort((a, b) => held(b) - held(a))[0];
      if (!victim) throw new Error('no live node left');
      const services = Object.keys(before.singletons).filter((k) => before.singletons[k] === victim);
      const died = Date.now();
      labPower(info, victim, 'off');
      let fencedAt = 0;
      await waitFor(
        `${victim} fenced and its singletons (${services.join(', ') || 'none'}) held elsewhere`,
        async () => {
          const now = await status();
          if (!fencedAt && now.nodes.find((n) => n.name === victim)?.state === 'fenced') fencedAt = Date.now();
          const moved = services.every((k) => {
            const holder = now.singletons[k];
            return !!holder && holder !== victim;
          });
          return fencedAt > 0 && moved;
        },
        60_000,
        100,
      );
      fenced.push(fencedAt - died);
      serving.push(Date.now() - died);
    }
    row(
      'power lost → fenced (lease TTL 3 s; n=2, median, max)',
      `${(median(fenced) / 1000).toFixed(2)} s`,
      `${(quantile(fenced, 1) / 1000).toFixed(2)} s`,
    );
    row(
      'power lost → its singletons held by live nodes (n=2, median, max)',
      `${(median(serving) / 1000).toFixed(2)} s`,
      `${(quantile(serving, 1) / 1000).toFixed(2)} s`,
      '(target ≤ 10 s)',
    );
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
