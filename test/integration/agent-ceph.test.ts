import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_PORT,
  type CephMonRecord,
  type ClusterStatus,
  keys,
  MON_REPLACE_AFTER_FENCE_MS,
  OSD_OUT_AFTER_FENCE_MS,
} from '../../agent/index.js';
import {
  createNetworkLab,
  LAB_CEPH_CONFIG,
  type NetworkLab,
  Scope,
  type SimulatedRack,
  startPrometheus,
  startSimulatedBmcs,
  testNodeTls,
  waitFor,
} from '../bed/index.js';
import { BIN, build, etcdctlTls, status, writeClusterKey } from './agent-helpers.js';

// Four nodes in their own namespaces (h1…h4 on a lab bridge), each with an ipmi_sim BMC whose
// power-on starts `rackseed agent` in the node's namespace with a Ceph address. h1 is the
// seed (a one-member etcd). Real ceph-mon, ceph-osd (bluestore on a sparse file) and ceph-mgr
// run as the agents' children on the nodes' own addresses.
describe('agent: Ceph assembles itself (3 monitors, an OSD per node, a manager) and replaces a fenced monitor', () => {
  let lab: NetworkLab;
  let rack: SimulatedRack;
  let scope: Scope;
  let seedUrl: string;
  const object = 'hello-object';
  /** The monitor node killed: the manager's holder when it hosts a monitor (the harder case), else h2. */
  let victim = 'h2';
  let survivors: string[] = [];
  const payload = `rackseed ceph ${Date.now()}\n`;

  const nodeIp = (name: string) => lab.host(name).ip ?? '';
  /** The etcd voters as h4 last saw them (h1, the seed, may be the one that is off). */
  const etcdUrls = () => {
    try {
      return (
        JSON.parse(readFileSync(join(scope.dir, 'h4', 'etcd-endpoints.json'), 'utf8')) as { clientUrls: string[] }
      ).clientUrls;
    } catch {
      return [seedUrl];
    }
  };
  const st = (): ClusterStatus => status(etcdUrls(), lab.bridgeNetns, join(scope.dir, 'pki', 'operator'));
  const confOf = (node: string) => join(scope.dir, node, 'ceph', 'ceph.conf');
  /** Runs a Ceph client tool with `node`'s operator conf and admin keyring, as an operator would. */
  const tool = async (node: string, argv: readonly string[]) =>
    (await lab.exec(lab.bridgeNetns, [argv[0] ?? 'ceph', '-c', confOf(node), ...argv.slice(1)], 60_000)).stdout;
  const healthy = (s: ClusterStatus, mons: readonly string[], up: number, inCount: number) =>
    s.ceph?.health === 'HEALTH_OK' &&
    [...s.ceph.quorum].sort().join() === mons.join() &&
    s.ceph.mons === mons.length &&
    s.ceph.up === up &&
    s.ceph.in === inCount &&
    s.ceph.pools.some((p) => p.name === 'rackseed') &&
    s.ceph.pools.every((p) => p.size === Math.min(3, inCount) && p.minSize === (inCount >= 3 ? 2 : 1));

  beforeAll(async () => {
    build();
    scope = Scope.open('agent-ceph');
    lab = await createNetworkLab({ hosts: 4 });
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    seedUrl = `https://${nodeIp('h1')}:2379`;
    await testNodeTls(join(scope.dir, 'pki'), 'operator');
    const addresses = [200, 201, 202, 203].map((n) => `${net}.${n}`);
    for (const address of addresses)
      await lab.exec(lab.bridgeNetns, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'br0']);
    const clusterKeyFile = writeClusterKey(scope.dir);
    rack = await startSimulatedBmcs({
      count: 4,
      netns: lab.bridgeNetns,
      addresses,
      onPowerOn: ({ index }) =>
        `exec ip netns exec ${lab.host(`h${index}`).netns} node ${BIN} agent --config ${join(scope.dir, `h${index}.yaml`)}`,
    });
    for (const bmc of rack.bmcs) {
      const name = `h${bmc.index}`;
      const dir = join(scope.dir, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'bmc-password'), `${bmc.password}\n`);
      writeFileSync(
        join(scope.dir, `${name}.yaml`),
        JSON.stringify({
          name,
          etcd: [seedUrl],
          dataDir: dir,
          // 5 s, not the 2 s of the etcd test: four Ceph nodes and their mkfs on 2 shared cores
          // starved agents past a 2 s lease (a live node fenced).
          leaseTtl: 5,
          clusterKeyFile,
          etcdListen: nodeIp(name),
          listen: `${nodeIp(name)}:${AGENT_PORT}`,
          tls: (await testNodeTls(join(scope.dir, 'pki'), name, [nodeIp(name)])).dir,
          etcdBootstrap: bmc.index === 1,
          cephListen: nodeIp(name),
          cephConfig: LAB_CEPH_CONFIG,
          bmc: { host: bmc.host, port: bmc.port, user: bmc.user, passwordFile: join(dir, 'bmc-password') },
        }),
      );
    }
  });

  afterAll(async () => {
    await rack?.stop();
    await lab?.destroy();
    await scope?.close();
  });

  it('four nodes power on → 3 monitors in quorum, 4 OSDs up and in by host, size 3/2, HEALTH_OK; an object round-trips', async () => {
    const t0 = Date.now();
    // One after the other, each ready before the next: monitors go to the first live nodes by name,
    // so h1–h3 get them only if h4 does not come up first (powered on together, h2 came up late
    // once and the monitors went to h1, h3, h4).
    for (const bmc of rack.bmcs) {
      await bmc.ipmitool(['chassis', 'power', 'on']);
      const name = `h${bmc.index}`;
      await waitFor(`${name} ready`, () => st().nodes.some((n) => n.name === name && n.state === 'ready'), 60_000, 300);
    }
    await waitFor(
      'Ceph HEALTH_OK with 3 monitors and 4 OSDs',
      () => healthy(st(), ['h1', 'h2', 'h3'], 4, 4),
      300_000,
      1_000,
    );
    console.log(`agent-ceph: power-on of 4 nodes → HEALTH_OK (3 mons, 4 OSDs) in ${Date.now() - t0} ms`);

    const s = st();
    expect(s.ceph).toMatchObject({ health: 'HEALTH_OK', checks: [], mons: 3, osds: 4, up: 4, in: 4 });
    expect(s.nodes.map((n) => n.state)).toEqual(['ready', 'ready', 'ready', 'ready']);
    // What an operator reads.
    const human = await lab.exec(
      lab.bridgeNetns,
      ['node', BIN, 'status', '--etcd', seedUrl, '--tls', join(scope.dir, 'pki', 'operator')],
      30_000,
    );
    expect(human.stdout).toMatch(/^ceph: HEALTH_OK, 3 mon\(s\) \(quorum h1,h2,h3\), 4 OSD\(s\): 4 up, 4 in, /m);
    expect(human.stdout).toMatch(/^ {2}pool rackseed: size 3, min_size 2(,|$)/m);
    // Every OSD sits under its own node's host bucket.
    type Tree = { nodes: { type: string; name: string; children?: number[] }[] };
    let tree: Tree = { nodes: [] };
    const hostNames = async () => {
      tree = JSON.parse(await tool('h4', ['ceph', 'osd', 'tree', '-f', 'json'])) as Tree;
      return tree.nodes
        .filter((n) => n.type === 'host')
        .map((h) => h.name)
        .sort()
        .join();
    };
    await waitFor('every OSD under its host', async () => (await hostNames()) === 'h1,h2,h3,h4', 60_000, 1_000).catch(
      (error: unknown) => {
        console.log(`agent-ceph: osd tree ${JSON.stringify(tree)}`);
        throw error;
      },
    );
    const hosts = tree.nodes.filter((n) => n.type === 'host');
    expect(hosts.every((h) => h.children?.length === 1)).toBe(true);
    // Replicas across hosts: 3 copies, writes need 2.
    const pools = JSON.parse(await tool('h4', ['ceph', 'osd', 'pool', 'ls', 'detail', '-f', 'json'])) as {
      pool_name: string;
      size: number;
      min_size: number;
    }[];
    expect(pools.map((p) => [p.pool_name, p.size, p.min_size])).toContainEqual(['rackseed', 3, 2]);
    expect(pools.every((p) => p.size === 3 && p.min_size === 2)).toBe(true);
    // The manager runs as a singleton.
    expect(s.singletons['ceph-mgr']).toMatch(/^h[1-4]$/);
    // The operator's files: the admin keyring is 0600 and holds the key etcd keeps only sealed.
    const keyring = join(scope.dir, 'h2', 'ceph', 'ceph.client.admin.keyring');
    expect(statSync(keyring).mode & 0o777).toBe(0o600);
    const adminKey = /key = (\S+)/.exec(readFileSync(keyring, 'utf8'))?.[1] ?? '';
    expect(adminKey).toMatch(/^AQ/);
    const stored = await lab.exec(lab.bridgeNetns, [
      'etcdctl',
      '--endpoints',
      seedUrl,
      ...etcdctlTls(join(scope.dir, 'pki', 'operator')),
      'get',
      '--print-value-only',
      '/rackseed/ceph/identity',
    ]);
    expect(JSON.parse(stored.stdout)).toMatchObject({ v: 1, alg: 'aes-256-gcm' });
    expect(stored.stdout).not.toContain(adminKey);

    const file = join(scope.dir, 'object.in');
    writeFileSync(file, payload);
    await tool('h3', ['rados', '-p', 'rackseed', 'put', object, file]);
    await tool('h4', ['rados', '-p', 'rackseed', 'get', object, join(scope.dir, 'object.out')]);
    expect(readFileSync(join(scope.dir, 'object.out'), 'utf8')).toBe(payload);

    // What the pool holds (`ceph df`, through the keeper's record): the object, in status.
    await waitFor(
      'the status record to count the object in its pool',
      () => (st().ceph?.pools.find((p) => p.name === 'rackseed')?.usage?.objects ?? 0) >= 1,
      60_000,
      1_000,
    );
    const usage = st().ceph?.pools.find((p) => p.name === 'rackseed')?.usage;
    expect(usage?.storedBytes).toBeGreaterThanOrEqual(payload.length);
    expect(usage?.maxAvailBytes).toBeGreaterThan(0);
    const capacity = st().ceph?.capacity;
    expect(capacity?.usedBytes).toBeGreaterThan(0);
    expect(capacity?.totalBytes).toBeGreaterThan(capacity?.usedBytes ?? Infinity);
    const shown = await lab.exec(
      lab.bridgeNetns,
      ['node', BIN, 'status', '--etcd', seedUrl, '--tls', join(scope.dir, 'pki', 'operator')],
      30_000,
    );
    expect(shown.stdout).toMatch(/^ {2}raw: [\d.]+ [KMGT]?i?B used of [\d.]+ [KMGT]?i?B$/m);
    expect(shown.stdout).toMatch(
      /^ {2}pool rackseed: size 3, min_size 2, [\d.]+ [KMGT]?i?B in [1-9]\d* object\(s\), [\d.]+ [KMGT]?i?B available$/m,
    );
  }, 400_000);

  it("Prometheus scrapes every agent and Ceph's exporter (listed by status): all up, HEALTH_OK, 4 OSDs up", async () => {
    const s = st();
    // Ceph's own exporter, on the manager's node's agent; a real Prometheus scrapes it and every
    // agent's /metrics, in the nodes' network, with the operator's certificate.
    const exporter = `https://${nodeIp(s.singletons['ceph-mgr'] ?? '')}:${AGENT_PORT}/metrics/ceph`;
    expect(s.cephExporter).toBe(exporter);
    expect(s.nodes.map((n) => n.endpoint)).toEqual(s.nodes.map((n) => `https://${nodeIp(n.name)}:${AGENT_PORT}`));
    const agents = ['h1', 'h2', 'h3', 'h4'].map((n) => `${nodeIp(n)}:${AGENT_PORT}`);
    const tlsDir = join(scope.dir, 'pki', 'operator');
    const prometheus = await startPrometheus(
      scope,
      [
        { name: 'agents', targets: agents, tlsDir },
        { name: 'ceph', targets: agents, tlsDir, metricsPath: '/metrics/ceph' },
      ],
      { netns: lab.bridgeNetns },
    );
    let seen = '';
    try {
      await waitFor(
        "Prometheus to scrape every agent and Ceph's exporter",
        async () => {
          const up = await prometheus.query('up');
          const health = await prometheus.query('ceph_health_status');
          const osds = await prometheus.query('ceph_osd_up');
          seen = JSON.stringify({ up, health, osds });
          return (
            up.length === 8 &&
            up.every((t) => t.value === 1) &&
            health.length === 1 &&
            health[0]?.value === 0 && // HEALTH_OK
            osds.length === 4 &&
            osds.every((o) => o.value === 1)
          );
        },
        120_000,
        1_000,
      ).catch(async (error: unknown) => {
        const modules = await tool('h4', ['ceph', 'mgr', 'services']).catch(String);
        const targets = await prometheus.targets().catch(String);
        console.log(
          `agent-ceph: Prometheus saw ${seen}; its targets ${JSON.stringify(targets)}; ceph mgr services: ${modules}`,
        );
        throw error;
      });
      const phases = await prometheus.query('rackseed_node_phase{phase="ready"}');
      expect(new Set(phases.map((p) => p.metric.node))).toEqual(new Set(['h1', 'h2', 'h3', 'h4']));
      expect((await prometheus.query('max(rackseed_ceph_monitors_in_quorum)'))[0]?.value).toBe(3);
    } finally {
      await prometheus.daemon.stop(2_000);
    }
  }, 180_000);

  it('removes a monitor the monmap has but no node hosts (a removal that did not take): HEALTH_OK again', async () => {
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    const t0 = Date.now();
    await tool('h2', ['ceph', 'mon', 'add', 'stray', `${net}.250:3300`]);
    await waitFor(
      'the stray monitor gone from the monmap, HEALTH_OK',
      async () => {
        const monmap = JSON.parse(await tool('h2', ['ceph', 'mon', 'dump', '-f', 'json'])) as {
          mons: { name: string }[];
        };
        return !monmap.mons.some((m) => m.name === 'stray') && healthy(st(), ['h1', 'h2', 'h3'], 4, 4);
      },
      60_000,
      1_000,
    );
    console.log(`agent-ceph: a stray monitor in the monmap → removed, HEALTH_OK in ${Date.now() - t0} ms`);
  }, 120_000);

  it('a monitor node killed with -9 is fenced, its monitor replaced on the fourth node, HEALTH_OK again, the object still there', async () => {
    const mgr = st().singletons['ceph-mgr'] ?? '';
    victim = ['h1', 'h2', 'h3'].includes(mgr) ? mgr : 'h2';
    survivors = ['h1', 'h2', 'h3', 'h4'].filter((n) => n !== victim);
    const bmc = rack.bmcs[Number(victim.slice(1)) - 1];
    if (!bmc) throw new Error(`no BMC for ${victim}`);
    const pid = Number(readFileSync(join(bmc.stateDir, 'node.pid'), 'utf8').split(' ')[0]);
    const t0 = Date.now();
    process.kill(-pid, 'SIGKILL'); // the whole node: agent, etcd member, ceph-mon, ceph-osd (and the mgr if it held it)
    const stages = new Map<string, number>();
    const seen = (stage: string, yes: boolean) => {
      if (yes && !stages.has(stage)) stages.set(stage, Date.now() - t0);
      return yes;
    };
    await waitFor(
      `${victim} fenced and its monitor replaced by h4, HEALTH_OK`,
      () => {
        const s = st();
        const fenced = seen('fenced', s.nodes.find((n) => n.name === victim)?.state === 'fenced');
        seen('its OSD out', s.ceph?.in === 3);
        seen('its monitor removed', s.ceph?.mons === 2);
        seen('h4 in the quorum', s.ceph?.quorum.includes('h4') ?? false);
        return fenced && healthy(s, survivors, 3, 3);
      },
      240_000,
      1_000,
    );
    // The fence and its OSD's mark-down, timed from the survivors' agent logs (ISO time first)
    // and from the osdmap that marked the OSD down (its `down_at` epoch).
    const agentLog = survivors.flatMap((node) =>
      readFileSync(join(rack.bmcs[Number(node.slice(1)) - 1]?.stateDir ?? '', 'node.log'), 'utf8').split('\n'),
    );
    const fenceLine = agentLog.find((line) => line.includes(`fenced ${victim} (incarnation`));
    if (fenceLine) stages.set('fence recorded', Date.parse(fenceLine.slice(0, fenceLine.indexOf(' '))) - t0);
    const victimOsd = agentLog
      .map((line) => new RegExp(`marked osd\\.(\\d+) of powered-off ${victim} down`).exec(line)?.[1])
      .find((id) => id !== undefined);
    const dump = (epoch?: number) =>
      tool(survivors[0] ?? 'h4', ['ceph', 'osd', 'dump', ...(epoch ? [String(epoch)] : []), '-f', 'json']);
    const osdmap = JSON.parse(await dump()) as {
      osds: { osd: number; down_at: number }[];
      osd_xinfo: { osd: number; dead_epoch: number }[];
    };
    const downAt = osdmap.osds.find((o) => String(o.osd) === victimOsd)?.down_at;
    // The fencer marked it down the moment the BMC said the node was off: `definitely_dead`
    // (a dead epoch), which the Ceph keeper's own mark-down does not set.
    expect(agentLog.some((line) => line.includes(`of powered-off ${victim} down, definitely dead`))).toBe(true);
    expect(osdmap.osd_xinfo.find((o) => String(o.osd) === victimOsd)?.dead_epoch).toBeGreaterThan(0);
    if (downAt) {
      const { modified } = JSON.parse(await dump(downAt)) as { modified: string };
      stages.set(`its OSD marked down (osdmap ${downAt})`, Date.parse(modified) - t0);
    }
    const stageList = [...stages]
      .sort((a, b) => a[1] - b[1])
      .map(([stage, ms]) => `${stage} at ${ms} ms`)
      .join(', ');
    console.log(
      `agent-ceph: kill -9 of mon node ${victim}${victim === mgr ? ' (the manager’s)' : ''} → HEALTH_OK again in ${Date.now() - t0} ms (${stageList})`,
    );
    // Its monitor left 3 s after the fence, its OSD went out 15 s after it: not during the failover.
    const recorded = stages.get('fence recorded') ?? Number.NaN;
    expect(stages.get('its OSD out')).toBeGreaterThanOrEqual(recorded + OSD_OUT_AFTER_FENCE_MS - 500);
    expect(stages.get('its monitor removed')).toBeGreaterThanOrEqual(recorded + MON_REPLACE_AFTER_FENCE_MS - 500);
    const s = st();
    expect(s.nodes.find((n) => n.name === victim)).toMatchObject({ state: 'fenced', fenced: { method: 'bmc' } });
    expect(await bmc.events()).toContain('power off');
    expect(s.ceph).toMatchObject({ health: 'HEALTH_OK', checks: [], mons: 3, osds: 4, up: 3, in: 3 });
    expect(survivors).toContain(s.singletons['ceph-mgr']);
    // The dead monitor left the monmap; every survivor's conf names the new monitors.
    const [first = 'h4'] = survivors;
    const monmap = JSON.parse(await tool(first, ['ceph', 'mon', 'dump', '-f', 'json'])) as { mons: { name: string }[] };
    expect(monmap.mons.map((m) => m.name).sort()).toEqual(survivors);
    for (const node of survivors) {
      expect(readFileSync(confOf(node), 'utf8')).toContain(`[v2:${nodeIp('h4')}:3300]`);
      expect(readFileSync(confOf(node), 'utf8')).not.toContain(`[v2:${nodeIp(victim)}:3300]`);
    }
    await tool(first, ['rados', '-p', 'rackseed', 'get', object, join(scope.dir, 'object.after')]);
    expect(readFileSync(join(scope.dir, 'object.after'), 'utf8')).toBe(payload);
  }, 300_000);

  it('the fenced node powered on again brings its OSD back (bluestore keeps its data) and hosts no monitor', async () => {
    const monDir = join(scope.dir, victim, 'ceph', 'mon');
    cpSync(monDir, `${monDir}.removed`, { recursive: true }); // the removed monitor's data, for the next test
    const t0 = Date.now();
    await rack.bmcs[Number(victim.slice(1)) - 1]?.ipmitool(['chassis', 'power', 'on']);
    await waitFor(
      `${victim} ready again, its OSD up and in, HEALTH_OK`,
      () => {
        const s = st();
        return s.nodes.find((n) => n.name === victim)?.state === 'ready' && healthy(s, survivors, 4, 4);
      },
      180_000,
      1_000,
    );
    console.log(`agent-ceph: power-on of the fenced ${victim} → its OSD up and in, HEALTH_OK in ${Date.now() - t0} ms`);
    // The same OSD as before, not a new one; its stale monitor data is gone.
    expect(st().ceph).toMatchObject({ osds: 4, up: 4, in: 4, mons: 3 });
    expect(existsSync(monDir)).toBe(false);
    await tool(victim, ['rados', '-p', 'rackseed', 'get', object, join(scope.dir, 'object.back')]);
    expect(readFileSync(join(scope.dir, 'object.back'), 'utf8')).toBe(payload);
  }, 240_000);

  it('a node assigned a monitor while it still has the data of one the cluster removed makes it anew', async () => {
    // As when a node returns just after its monitor's removal and the keeper at once assigns it
    // the next one: its agent finds the assignment with the removed monitor's data still there.
    // That data (out of the monmap) is put back, then a fourth monitor is assigned as the keeper
    // assigns one. `ceph-mon` on the old data would exit at once, again and again.
    const monDir = join(scope.dir, victim, 'ceph', 'mon');
    cpSync(`${monDir}.removed`, monDir, { recursive: true });
    const etcdctl = (argv: readonly string[]) =>
      lab.exec(lab.bridgeNetns, [
        'etcdctl',
        '--endpoints',
        etcdUrls().join(','),
        ...etcdctlTls(join(scope.dir, 'pki', 'operator')),
        ...argv,
      ]);
    const assignment: CephMonRecord = {
      node: victim,
      addr: `v2:${nodeIp(victim)}:3300`,
      initial: false,
      at: new Date().toISOString(),
    };
    expect(readFileSync(join(monDir, 'rackseed-done'), 'utf8').trim()).not.toBe(assignment.at);
    await etcdctl(['put', keys.cephMon(victim), JSON.stringify(assignment)]);
    const all = [...survivors, victim].sort();
    await waitFor(`${victim}'s new monitor in the quorum, HEALTH_OK`, () => healthy(st(), all, 4, 4), 120_000, 1_000);
    expect(readFileSync(join(monDir, 'rackseed-done'), 'utf8').trim()).toBe(assignment.at);

    // Unassigned again: its agent stops the monitor and deletes its data, and the keeper takes
    // it out of the monmap (out of the quorum, no node hosts it).
    await etcdctl(['del', keys.cephMon(victim)]);
    await waitFor('the unassigned monitor gone, HEALTH_OK', () => healthy(st(), survivors, 4, 4), 60_000, 1_000);
    expect(existsSync(monDir)).toBe(false);
  }, 240_000);
});
