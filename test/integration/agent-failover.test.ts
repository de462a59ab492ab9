import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Daemon,
  type EtcdCluster,
  type Prometheus,
  processRunning,
  Scope,
  type SimulatedRack,
  startEtcd,
  startPrometheus,
  startSimulatedBmcs,
  testNodeTls,
  waitFor,
} from '../bed/index.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type ClusterEvent, keys, openRecord, readClusterKey, Store } from '../../agent/index.js';
import { BIN, build, claims, overlaps, RECORDER, status, writeClusterKey } from './agent-helpers.js';

// Three nodes, each an ipmi_sim BMC whose power-on starts `rackseed agent` (and whose
// power-off kills it): the agents elect a `db` singleton (the claim recorder) and the fencer.
// Each agent serves /metrics on its mutual-TLS listener, scraped by a real Prometheus with an
// operator's certificate, and `rackseed events --follow --json` watches the event log.
describe('agent: singleton failover with fencing (real etcd, ipmi_sim, agents as processes)', () => {
  let etcd: EtcdCluster;
  let rack: SimulatedRack;
  let scope: Scope;
  let log: string;
  let prometheus: Prometheus;
  let follower: Daemon;
  const listeners: Record<string, string> = {};
  /** When each node was killed (its last run has no stop line). */
  const killed: Record<string, number> = {};

  const nodePid = (index: number) =>
    Number(readFileSync(join(rack.bmcs[index - 1]?.stateDir ?? '', 'node.pid'), 'utf8').split(' ')[0]);

  beforeAll(async () => {
    build();
    scope = Scope.open('agent-failover');
    etcd = await startEtcd({ members: 1 });
    log = join(scope.dir, 'claims.log');
    writeFileSync(log, '');
    const clusterKeyFile = writeClusterKey(scope.dir);
    rack = await startSimulatedBmcs({
      count: 3,
      onPowerOn: ({ index }) => `exec node ${BIN} agent --config ${join(scope.dir, `n${index}.yaml`)}`,
    });
    for (const bmc of rack.bmcs) {
      const dir = join(scope.dir, `n${bmc.index}`);
      mkdirSync(dir, { recursive: true });
      listeners[`n${bmc.index}`] = `127.0.0.1:${await scope.port()}`;
      writeFileSync(join(dir, 'bmc-password'), `${bmc.password}\n`);
      writeFileSync(
        join(scope.dir, `n${bmc.index}.yaml`),
        JSON.stringify({
          name: `n${bmc.index}`,
          etcd: etcd.endpoints,
          dataDir: dir,
          leaseTtl: 2,
          clusterKeyFile,
          tls: (await testNodeTls(join(scope.dir, 'pki'), `n${bmc.index}`)).dir,
          listen: listeners[`n${bmc.index}`],
          bmc: { host: bmc.host, port: bmc.port, user: bmc.user, passwordFile: join(dir, 'bmc-password') },
          services: [{ name: 'db', placement: 'singleton', command: ['sh', RECORDER, log] }],
        }),
      );
      await bmc.ipmitool(['chassis', 'power', 'on']);
    }
    await waitFor(
      'three ready nodes, with db and the fencer held',
      () => {
        const s = status(etcd.endpoints);
        return s.nodes.filter((n) => n.state === 'ready').length === 3 && !!s.singletons.db && !!s.singletons.fencer;
      },
      30_000,
      300,
    );
    const operator = (await testNodeTls(join(scope.dir, 'pki'), 'operator')).dir;
    prometheus = await startPrometheus(scope, [
      { name: 'agents', targets: Object.values(listeners), tlsDir: operator },
    ]);
    follower = scope.spawn('events', ['node', BIN, '--json', 'events', '--follow', '--etcd', etcd.endpoints.join(',')]);
  });

  /** What `rackseed events --follow --json` printed, recorded at or after `since`. */
  const followed = (since: number) =>
    readFileSync(follower.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as ClusterEvent)
      .filter((e) => Date.parse(e.at) >= since);

  afterAll(async () => {
    await rack?.stop();
    await etcd?.stop();
    await scope?.close();
  });

  it('reports nodes, singletons and etcd in `rackseed status --json`', () => {
    const s = status(etcd.endpoints);
    expect(s.nodes.map((n) => [n.name, n.state])).toEqual([
      ['n1', 'ready'],
      ['n2', 'ready'],
      ['n3', 'ready'],
    ]);
    expect(['n1', 'n2', 'n3']).toContain(s.singletons.db);
    expect(s.etcd.members).toHaveLength(1);
    expect(s.etcd.members[0]?.leader).toBe(true);
    expect(s.transitions.length).toBeGreaterThan(0);
  });

  it('keeps each BMC record sealed in etcd: no trace of the password, and only the cluster key opens it', async () => {
    const store = Store.connect(etcd.endpoints);
    try {
      const key = readClusterKey(join(scope.dir, 'cluster.key'));
      for (const bmc of rack.bmcs) {
        const entry = await store.get(keys.bmc(`n${bmc.index}`));
        if (!entry) throw new Error(`no BMC record for n${bmc.index}`);
        for (const trace of [
          bmc.password,
          Buffer.from(bmc.password).toString('base64'),
          Buffer.from(bmc.password).toString('hex'),
        ])
          expect(entry.value).not.toContain(trace);
        expect(openRecord(key, entry.key, entry.value)).toEqual({
          host: bmc.host,
          port: bmc.port,
          user: bmc.user,
          password: bmc.password,
        });
        expect(() => openRecord(randomBytes(32), entry.key, entry.value)).toThrow(
          expect.objectContaining({ code: 'SECRET_ERR_UNSEAL_FAILED' }),
        );
      }
    } finally {
      await store.close();
    }
  });

  it('fences a node killed while holding a singleton and moves the singleton to another node', async () => {
    const before = status(etcd.endpoints);
    const holder = before.singletons.db ?? '';
    const index = Number(holder.slice(1));
    const bmc = rack.bmcs[index - 1];
    if (!bmc) throw new Error('no BMC for the holder');
    const pid = nodePid(index);
    const killedAt = Date.now();
    killed[holder] = killedAt;
    process.kill(-pid, 'SIGKILL'); // the whole node: agent and services
    await waitFor('the agent to die', () => !processRunning(pid), 5_000);
    let after = before;
    await waitFor(
      'db to be held by another node',
      () => {
        after = status(etcd.endpoints);
        return !!after.singletons.db && after.singletons.db !== holder;
      },
      20_000,
      100,
    );
    const failoverMs = Date.now() - killedAt;
    console.log(`db failover after kill -9 of ${holder}: ${failoverMs} ms`);
    // Fenced through its BMC before the singleton moved.
    expect(await bmc.events()).toContain('power off');
    expect(await bmc.power()).toBe('off');
    const dead = after.nodes.find((n) => n.name === holder);
    expect(dead?.fenced?.method).toBe('bmc');
    await waitFor(
      'the node machine to say fenced',
      () => status(etcd.endpoints).nodes.find((n) => n.name === holder)?.state === 'fenced',
      10_000,
    );
    // Never two holders at once.
    const runs = claims(log);
    expect(runs.filter((r) => r.node === after.singletons.db)).not.toHaveLength(0);
    expect(overlaps(runs, killed)).toEqual([]);

    // The event log, as `rackseed events --follow --json` printed it live: the node failed, was
    // fenced, then its singleton was taken over; each once, in that order.
    const took = `db: took over from ${holder} (fenced)`;
    await waitFor('the follower to print the takeover', () => followed(killedAt).some((e) => e.detail === took), 5_000);
    const events = followed(killedAt);
    const failedAt = events.findIndex(
      (e) => e.type === 'node.transition' && e.node === holder && /→ failed/.test(e.detail),
    );
    const fences = events.filter((e) => e.type === 'node.fenced' && e.node === holder);
    const takeovers = events.filter((e) => e.type === 'singleton.elected' && e.detail === took);
    expect(fences).toHaveLength(1);
    expect(takeovers).toHaveLength(1);
    expect(fences[0]?.durationMs).toBeGreaterThan(0);
    expect(failedAt).toBeGreaterThanOrEqual(0);
    expect(events.indexOf(fences[0] as ClusterEvent)).toBeGreaterThan(failedAt);
    expect(events.indexOf(takeovers[0] as ClusterEvent)).toBeGreaterThan(events.indexOf(fences[0] as ClusterEvent));
    expect(takeovers[0]?.node).toBe(after.singletons.db);

    // Prometheus scraped the live agents, and saw the fence (its duration too) and the failover.
    const live = Object.entries(listeners).filter(([name]) => name !== holder);
    const value = async (expression: string) => (await prometheus.query(expression))[0]?.value;
    await waitFor(
      'prometheus to see the fence, its duration and the failover',
      async () =>
        (await value('sum(rackseed_fences_total{result="fenced"})')) === 1 &&
        (await value('sum(rackseed_fence_duration_seconds_count)')) === 1 &&
        (await value('sum(rackseed_singleton_elections_total{service="db",failover="true"})')) === 1,
      20_000,
      500,
    );
    await waitFor(
      'prometheus to see every live agent up',
      async () => {
        const up = await prometheus.query('up{job="agents"}');
        return live.every(([, address]) => up.find((s) => s.metric.instance === address)?.value === 1);
      },
      20_000,
      500,
    ).catch(async (error: unknown) => {
      console.log(`agent-failover: Prometheus's targets ${JSON.stringify(await prometheus.targets().catch(String))}`);
      throw error;
    });
    const seconds = await value('sum(rackseed_fence_duration_seconds_sum)');
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(10);
    // Every live agent reports the cluster: the dead node fenced, the singleton's new holder.
    await waitFor(
      "every live agent's gauges to show the fence and the new holder",
      async () => {
        const phases = await prometheus.query(`rackseed_node_phase{node="${holder}",phase="fenced"}`);
        const holders = await prometheus.query('rackseed_singleton_holder{service="db"}');
        return (
          phases.length === live.length &&
          holders.length === live.length &&
          holders.every((h) => h.metric.node === after.singletons.db)
        );
      },
      20_000,
      500,
    );
  });

  it('restores a fenced node when it is powered on again: its machine goes back to ready', async () => {
    const fenced = status(etcd.endpoints).nodes.find((n) => n.state === 'fenced');
    const bmc = rack.bmcs[Number(fenced?.name.slice(1)) - 1];
    if (!fenced || !bmc) throw new Error('no fenced node');
    await bmc.ipmitool(['chassis', 'power', 'on']);
    await waitFor(
      `${fenced.name} to be ready again`,
      () => status(etcd.endpoints).nodes.find((n) => n.name === fenced.name)?.state === 'ready',
      20_000,
      200,
    );
    const back = status(etcd.endpoints);
    const node = back.nodes.find((n) => n.name === fenced.name);
    expect(node?.lease).not.toBe(fenced.lease);
    // Its fence record names the incarnation that was killed: history, not reported (issue 16).
    expect(node?.fenced).toBeNull();
    expect(back.transitions.some((t) => t.machine === `node/${fenced.name}` && t.from === 'fenced')).toBe(true);
  });

  it('keeps a singleton in place while the dead holder’s BMC is unreachable, until an operator fences it', async () => {
    const holder = status(etcd.endpoints).singletons.db ?? '';
    const index = Number(holder.slice(1));
    const bmc = rack.bmcs[index - 1];
    if (!bmc) throw new Error('no BMC for the holder');
    const pid = nodePid(index);
    await bmc.daemon.stop(); // the BMC is gone
    const killedAt = Date.now();
    killed[holder] = killedAt;
    process.kill(-pid, 'SIGKILL');
    await waitFor(
      'the holder to be seen dead (lease expired) and its fencing to fail',
      () => {
        const s = status(etcd.endpoints);
        return s.claims.db?.live === false && s.nodes.find((n) => n.name === holder)?.state === 'failed';
      },
      20_000,
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, 4_000)); // two lease TTLs: nobody may take it
    const waiting = status(etcd.endpoints);
    expect(waiting.claims.db?.node).toBe(holder);
    expect(waiting.singletons.db).toBeNull();
    const refused = (() => {
      try {
        execFileSync('node', [BIN, 'node', 'fence', holder, '--etcd', etcd.endpoints.join(',')], { stdio: 'pipe' });
        return 0;
      } catch (error) {
        return (error as { status: number }).status;
      }
    })();
    expect(refused).toBe(2); // without --confirm
    const out = execFileSync(
      'node',
      [BIN, 'node', 'fence', holder, '--confirm', '--json', '--etcd', etcd.endpoints.join(',')],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out)).toMatchObject({ node: holder, method: 'operator' });
    await waitFor(
      'db to move after the operator fenced its holder',
      () => {
        const s = status(etcd.endpoints);
        return !!s.singletons.db && s.singletons.db !== holder;
      },
      20_000,
      200,
    );
    const after = status(etcd.endpoints);
    expect(after.nodes.find((n) => n.name === holder)).toMatchObject({
      state: 'fenced',
      fenced: { method: 'operator' },
    });
    expect(overlaps(claims(log), killed)).toEqual([]);
    // The failed fence is an event with its code once per agent that tried (not at each retry, every
    // 2 s): the fencer, and the fencer's candidates when the dead node held the fencer too.
    const tried = followed(killedAt).filter((e) => e.type === 'node.fence.failed' && e.node === holder);
    expect(tried.length).toBeGreaterThanOrEqual(1);
    expect(new Set(tried.map((e) => `${e.by} ${e.code ?? ''}`)).size).toBe(tried.length);
    expect(tried.every((e) => e.code === 'FENCE_ERR_BMC_UNREACHABLE')).toBe(true);
    expect(followed(killedAt).filter((e) => e.type === 'node.fenced' && e.node === holder)).toEqual([
      expect.objectContaining({ detail: 'the operator confirmed it is off', by: expect.stringMatching(/^operator@/) }),
    ]);
    const failures = await prometheus.query('rackseed_fences_total{result="FENCE_ERR_BMC_UNREACHABLE"}');
    expect(failures.map((f) => f.value)).toEqual(tried.map(() => 1));
  });
});
