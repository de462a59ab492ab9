// Agent benchmarks: singleton failover after kill -9 next to etcd's own leader re-election,
// watch fan-out latency to 50 watchers, and etcd requests per agent per second at steady
// state for 10, 50 and 200 simulated agents (from etcd's own gRPC counters).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Elections, keys, Store } from '../agent/index.js';
import { Scope, startEtcd, startSimulatedBmcs, waitFor } from '../test/bed/index.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin/rackseed.js');
const KILLS = Number(process.env.BENCH_AGENT_KILLS ?? 10);

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function etcdReelection(rounds: number): Promise<number[]> {
  const etcd = await startEtcd({ members: 3 });
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const old = await etcd.leader();
      const t0 = performance.now();
      await etcd.kill(old);
      await waitFor('a new etcd leader', async () => (await etcd.leader().catch(() => -1)) >= 0, 20_000, 20);
      times.push(performance.now() - t0);
      await etcd.restart(old);
    }
  } finally {
    await etcd.stop();
  }
  return times;
}

async function singletonFailover(kills: number): Promise<number[]> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'ignore' });
  const scope = Scope.open('bench-agent');
  const etcd = await startEtcd({ members: 1 });
  const rack = await startSimulatedBmcs({
    count: 3,
    onPowerOn: ({ index }) => `exec node ${BIN} agent --config ${join(scope.dir, `n${index}.yaml`)}`,
  });
  const store = Store.connect(etcd.endpoints);
  const times: number[] = [];
  const clusterKeyFile = join(scope.dir, 'cluster.key');
  writeFileSync(clusterKeyFile, randomBytes(32).toString('hex'));
  try {
    for (const bmc of rack.bmcs) {
      const dir = join(scope.dir, `n${bmc.index}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'pw'), bmc.password);
      writeFileSync(
        join(scope.dir, `n${bmc.index}.yaml`),
        JSON.stringify({
          name: `n${bmc.index}`,
          etcd: etcd.endpoints,
          dataDir: dir,
          leaseTtl: 2,
          clusterKeyFile,
          bmc: { host: bmc.host, port: bmc.port, user: bmc.user, passwordFile: join(dir, 'pw') },
          services: [{ name: 'db', placement: 'singleton', command: ['sleep', 'infinity'] }],
        }),
      );
      await bmc.ipmitool(['chassis', 'power', 'on']);
    }
    const holder = async () => {
      const entry = await store.get(keys.singleton('db'));
      const claim = entry ? (JSON.parse(entry.value) as { node: string; lease: string }) : undefined;
      const live = claim && (await store.get(keys.node(claim.node)));
      return live && JSON.parse(live.value).lease === claim.lease ? claim.node : undefined;
    };
    const nodeCount = async () => (await store.list(keys.nodes)).entries.length;
    await waitFor('3 agents and a db holder', async () => (await nodeCount()) === 3 && !!(await holder()), 30_000, 100);
    for (let i = 0; i < kills; i++) {
      const name = (await holder()) ?? '';
      const bmc = rack.bmcs[Number(name.slice(1)) - 1];
      if (!bmc) throw new Error('no holder');
      const pid = Number(readFileSync(join(bmc.stateDir, 'node.pid'), 'utf8').split(' ')[0]);
      const t0 = performance.now();
      process.kill(-pid, 'SIGKILL');
      await waitFor('a new db holder', async () => ((await holder()) ?? name) !== name, 30_000, 20);
      times.push(performance.now() - t0);
      await waitFor('the old node fenced', async () => (await bmc.power()) === 'off', 10_000, 50);
      await bmc.ipmitool(['chassis', 'power', 'on']);
      await waitFor('3 agents again', async () => (await nodeCount()) === 3, 30_000, 100);
    }
  } finally {
    await store.close();
    await rack.stop();
    await etcd.stop();
    await scope.close();
  }
  return times;
}

async function watchFanOut(watchers: number, writes: number): Promise<number[]> {
  const etcd = await startEtcd({ members: 1 });
  const stores = Array.from({ length: watchers }, () => Store.connect(etcd.endpoints));
  const writer = Store.connect(etcd.endpoints);
  const latencies: number[] = [];
  try {
    let sentAt = 0;
    let pending = 0;
    let done: () => void = () => {};
    const handles = await Promise.all(
      stores.map((s) =>
        s.watchPrefix('/bench/fanout/', {
          onChange: () => {
            if (--pending === 0) {
              latencies.push(performance.now() - sentAt);
              done();
            }
          },
          onResync: () => {},
        }),
      ),
    );
    for (let i = 0; i < writes; i++) {
      pending = watchers;
      const all = new Promise<void>((resolve) => (done = resolve));
      sentAt = performance.now();
      await writer.put('/bench/fanout/key', String(i));
      await all;
    }
    await Promise.all(handles.map((h) => h.close()));
  } finally {
    await Promise.all([...stores, writer].map((s) => s.close()));
    await etcd.stop();
  }
  return latencies;
}

async function etcdRequests(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('grpc_server_msg_received_total{')) total += Number(line.split(' ').pop());
  }
  return total;
}

/** Simulated agents: a lease kept alive, a node registration, and elections watching three prefixes. */
async function steadyRequests(agents: number, windowMs: number): Promise<number> {
  const etcd = await startEtcd({ members: 1 });
  const running: { store: Store; elections: Elections }[] = [];
  try {
    for (let i = 0; i < agents; i++) {
      const store = Store.connect(etcd.endpoints);
      const lease = await store.grantLease(3);
      const name = `sim${i}`;
      await store.put(keys.node(name), JSON.stringify({ name, lease: lease.id }), lease.id);
      const elections = await Elections.open(store, name, {
        elected: () => {},
        deposed: () => {},
        nodeGone: () => {},
        changed: () => {},
      });
      elections.setLease(lease.id, true);
      elections.campaign('bench-singleton', true);
      running.push({ store, elections });
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // settle
    const url = etcd.endpoints[0] ?? '';
    const before = await etcdRequests(url);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = await etcdRequests(url);
    return (after - before) / agents / (windowMs / 1000);
  } finally {
    for (const r of running) {
      await r.elections.close();
      await r.store.close();
    }
    await etcd.stop();
  }
}

export default async function agentBench(): Promise<void> {
  // The bed's daemons are unref'd: keep the loop alive while we await their exits.
  const keepAlive = setInterval(() => {}, 1_000);
  try {
    await run();
  } finally {
    clearInterval(keepAlive);
  }
}

async function run(): Promise<void> {
  const reelection = await etcdReelection(5);
  console.log(
    `etcd leader re-election (3 members, kill -9 of the leader, n=${reelection.length}): median ${fmt(percentile(reelection, 50))}, p95 ${fmt(percentile(reelection, 95))}`,
  );
  const failover = await singletonFailover(KILLS);
  console.log(
    `singleton failover (lease TTL 2 s, kill -9 of the holder's node → fenced over IPMI → new holder, n=${failover.length}): median ${fmt(percentile(failover, 50))}, p95 ${fmt(percentile(failover, 95))} (targets ≤ 3 s, ≤ 5 s); ${(percentile(failover, 50) / percentile(reelection, 50)).toFixed(2)}× etcd's re-election`,
  );
  const fanout = await watchFanOut(50, 20);
  console.log(
    `watch fan-out, one write → 50 watchers (n=${fanout.length} writes): median ${percentile(fanout, 50).toFixed(1)} ms, p95 ${percentile(fanout, 95).toFixed(1)} ms until the last watcher saw it`,
  );
  for (const agents of [10, 50, 200]) {
    const rate = await steadyRequests(agents, 10_000);
    console.log(`steady state, ${agents} simulated agents: ${rate.toFixed(2)} etcd requests per agent per second`);
  }
}

// Run on its own: npx tsx bench/agent.bench.ts
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await agentBench();
