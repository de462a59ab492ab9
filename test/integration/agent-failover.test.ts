import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EtcdCluster,
  processRunning,
  Scope,
  type SimulatedRack,
  startEtcd,
  startSimulatedBmcs,
  waitFor,
} from '../bed/index.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { keys, openRecord, readClusterKey, Store } from '../../agent/index.js';
import { BIN, build, claims, overlaps, RECORDER, status, writeClusterKey } from './agent-helpers.js';

// Three nodes, each an ipmi_sim BMC whose power-on starts `rackseed agent` (and whose
// power-off kills it): the agents elect a `db` singleton (the claim recorder) and the fencer.
describe('agent: singleton failover with fencing (real etcd, ipmi_sim, agents as processes)', () => {
  let etcd: EtcdCluster;
  let rack: SimulatedRack;
  let scope: Scope;
  let log: string;
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
      writeFileSync(join(dir, 'bmc-password'), `${bmc.password}\n`);
      writeFileSync(
        join(scope.dir, `n${bmc.index}.yaml`),
        JSON.stringify({
          name: `n${bmc.index}`,
          etcd: etcd.endpoints,
          dataDir: dir,
          leaseTtl: 2,
          clusterKeyFile,
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
  });

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
  });
});
