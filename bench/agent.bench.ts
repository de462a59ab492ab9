// Agent benchmarks: singleton failover after kill -9 next to etcd's own leader re-election,
// watch fan-out latency to 50 watchers, and etcd requests per agent per second at steady
// state for 10, 50 and 200 simulated agents (from etcd's own gRPC counters), and how long the
// membership singleton takes to grow etcd 1 → 3 → 5 as agents join, next to the same steps
// done by hand with the client (MemberAdd as learner, start etcd, MemberPromote as soon as it takes).
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Elections, keys, Store } from '../agent/index.js';
import { Scope, startEtcd, startSimulatedBmcs, testNodeTls, waitFor } from '../test/bed/index.js';
import { etcdReelection } from './etcd-reelection.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin/rackseed.js');
const KILLS = Number(process.env.BENCH_AGENT_KILLS ?? 10);

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function singletonFailover(kills: number): Promise<number[]> {
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

/** Loopback addresses of one run's nodes (127.0.0.0/8 is all local): etcd members listen on :2379/:2380 of each. */
function loopbackNodes(count: number): string[] {
  const net = `127.${randomInt(1, 250)}.${randomInt(1, 250)}`;
  return Array.from({ length: count }, (_, i) => `${net}.${i + 1}`);
}

async function votersAt(store: Store): Promise<number> {
  const { members } = await store.client.cluster.memberList({});
  return members.filter((m) => !m.isLearner && m.name !== '').length;
}

/** Agents join a seed agent two at a time; the time from their start until etcd has 3, then 5 voters. */
async function agentGrowth(): Promise<[number, number]> {
  const scope = Scope.open('bench-membership');
  const ips = loopbackNodes(5);
  const key = join(scope.dir, 'cluster.key');
  writeFileSync(key, randomBytes(32).toString('hex'));
  const seedUrl = `https://${ips[0]}:2379`;
  // Every node's etcd is mutual TLS: a certificate each from one CA, and one for the bench's own client.
  const pki = join(scope.dir, 'pki');
  const certs = await Promise.all(ips.map((ip, i) => testNodeTls(pki, `m${i + 1}`, [ip])));
  const start = (i: number) => {
    const dir = join(scope.dir, `m${i + 1}`);
    mkdirSync(dir, { recursive: true });
    const argv = ['node', BIN, 'agent', '--name', `m${i + 1}`, '--etcd', seedUrl, '--data-dir', dir];
    argv.push('--lease-ttl', '2', '--cluster-key-file', key, '--etcd-listen', ips[i] ?? '');
    argv.push('--tls', certs[i]?.dir ?? '');
    scope.spawn(`agent-m${i + 1}`, i === 0 ? [...argv, '--etcd-bootstrap'] : argv);
  };
  const store = Store.connect([seedUrl], await testNodeTls(pki, 'bench'));
  try {
    start(0);
    await waitFor(
      'the seed agent registered',
      async () => (await store.list(keys.nodes)).entries.length === 1,
      30_000,
      100,
    );
    const steps: number[] = [];
    for (const [pair, voters] of [
      [[1, 2], 3],
      [[3, 4], 5],
    ] as const) {
      const t0 = performance.now();
      for (const i of pair) start(i);
      await waitFor(`${voters} voters`, async () => (await votersAt(store).catch(() => 0)) === voters, 60_000, 50);
      steps.push(performance.now() - t0);
    }
    return [steps[0] ?? Number.NaN, steps[1] ?? Number.NaN];
  } finally {
    await store.close();
    await scope.close();
  }
}

/** The floor: the same growth by hand (seed etcd, then MemberAdd learner → start → promote, one at a time). */
async function manualGrowth(): Promise<[number, number]> {
  const scope = Scope.open('bench-membership-ref');
  const ips = loopbackNodes(5);
  const etcd = (i: number, cluster: string, state: 'new' | 'existing') =>
    scope.spawn(`etcd-r${i + 1}`, [
      'etcd',
      ...['--name', `r${i + 1}`, '--data-dir', join(scope.dir, `r${i + 1}`)],
      ...['--listen-client-urls', `http://${ips[i]}:2379`, '--advertise-client-urls', `http://${ips[i]}:2379`],
      ...['--listen-peer-urls', `http://${ips[i]}:2380`, '--initial-advertise-peer-urls', `http://${ips[i]}:2380`],
      ...['--initial-cluster', cluster, '--initial-cluster-state', state],
      ...['--heartbeat-interval', '100', '--election-timeout', '1000'],
    ]);
  etcd(0, `r1=http://${ips[0]}:2380`, 'new');
  const store = Store.connect([`http://${ips[0]}:2379`]);
  try {
    await waitFor(
      'the seed etcd',
      () =>
        votersAt(store).then(
          (n) => n === 1,
          () => false,
        ),
      30_000,
      50,
    );
    const steps: number[] = [];
    let t0 = performance.now();
    for (let i = 1; i < 5; i++) {
      // etcd refuses a MemberAdd ("unhealthy cluster") until the last promoted member is active.
      const added = await waitFor(
        'the learner added',
        () => store.client.cluster.memberAdd({ peerURLs: [`http://${ips[i]}:2380`], isLearner: true }),
        30_000,
        50,
      );
      const cluster = added.members.map((m) => `${m.name || `r${i + 1}`}=${m.peerURLs[0]}`).join(',');
      etcd(i, cluster, 'existing');
      await waitFor(
        'the learner promoted',
        () =>
          store.client.cluster.memberPromote({ ID: added.member.ID }).then(
            () => true,
            () => false,
          ),
        60_000,
        50,
      );
      if (i === 2 || i === 4) {
        steps.push(performance.now() - t0);
        t0 = performance.now();
      }
    }
    return [steps[0] ?? Number.NaN, steps[1] ?? Number.NaN];
  } finally {
    await store.close();
    await scope.close();
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
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'ignore' }); // agents run dist/
  const agentSteps: [number, number][] = [];
  const manualSteps: [number, number][] = [];
  for (let i = 0; i < 3; i++) {
    agentSteps.push(await agentGrowth());
    manualSteps.push(await manualGrowth());
  }
  for (const [step, label] of [
    [0, '1 → 3'],
    [1, '3 → 5'],
  ] as const) {
    const agents = agentSteps.map((s) => s[step]);
    const manual = manualSteps.map((s) => s[step]);
    console.log(
      `etcd growth ${label} voters as two agents join (n=${agents.length}): median ${fmt(percentile(agents, 50))}; by hand with the client: ${fmt(percentile(manual, 50))} (${(percentile(agents, 50) / percentile(manual, 50)).toFixed(2)}×)`,
    );
  }
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
