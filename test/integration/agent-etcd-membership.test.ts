import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNetworkLab,
  type Daemon,
  type NetworkLab,
  Scope,
  type SimulatedRack,
  startSimulatedBmcs,
  testNodeTls,
  waitFor,
} from '../bed/index.js';
import { BIN, build, etcdctlTls, status, writeClusterKey } from './agent-helpers.js';

const CHECKER = fileURLToPath(new URL('./fixtures/quorum-checker.mjs', import.meta.url));

interface Poll {
  t: number;
  listed: boolean;
  voters: number;
  learners: number;
  names: string[];
  read: boolean;
}

/** The voter counts in the order they were seen, each run of equal counts once. */
const runs = (polls: readonly Poll[]) =>
  polls.filter((p) => p.listed).reduce<number[]>((out, p) => (out.at(-1) === p.voters ? out : [...out, p.voters]), []);

// Six nodes in their own namespaces (h1…h6 on a lab bridge), each with an ipmi_sim BMC whose
// power-on starts `rackseed agent` in the node's namespace. h1 is the seed: its agent starts a
// one-member etcd; every agent may host a member on its own address. A checker in the bridge
// namespace polls the member list and a linearizable read every 100 ms throughout.
describe('agent: etcd membership grows 1 → 3 → 5, replaces a dead voter, keeps the voters odd and the quorum', () => {
  let lab: NetworkLab;
  let rack: SimulatedRack;
  let scope: Scope;
  let checker: Daemon;
  let checkerLog: string;
  let seedUrl: string;
  let voterUrls: string[] = [];

  const nodeIp = (name: string) => lab.host(name).ip ?? '';
  /** Node certificates from one test CA: `pki/<node>`, and `pki/operator` for the test's own calls. */
  const tlsOf = (name: string) => join(scope.dir, 'pki', name);
  const st = () => status(voterUrls.length > 0 ? voterUrls : [seedUrl], lab.bridgeNetns, tlsOf('operator'));
  const voters = (s = st()) => s.etcd.members.filter((m) => !m.learner);
  const polls = () =>
    readFileSync(checkerLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Poll);
  const powerOn = async (index: number) => rack.bmcs[index - 1]?.ipmitool(['chassis', 'power', 'on']);
  /** Kills node `hN` outright: its agent and its etcd member (the process group its BMC started). */
  const kill = (name: string) => {
    const bmc = rack.bmcs[Number(name.slice(1)) - 1];
    if (!bmc) throw new Error(`no BMC for ${name}`);
    process.kill(-Number(readFileSync(join(bmc.stateDir, 'node.pid'), 'utf8').split(' ')[0]), 'SIGKILL');
  };
  /** Whether every one of `nodes` follows exactly the voters the test last saw. */
  const following = (nodes: readonly string[]) =>
    nodes.every(
      (n) =>
        readFileSync(join(scope.dir, n, 'etcd-endpoints.json'), 'utf8') ===
        JSON.stringify({ clientUrls: [...voterUrls].sort() }),
    );

  beforeAll(async () => {
    build();
    scope = Scope.open('agent-etcd-membership');
    lab = await createNetworkLab({ hosts: 6 });
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    seedUrl = `https://${nodeIp('h1')}:2379`;
    await testNodeTls(join(scope.dir, 'pki'), 'operator');
    const addresses = [200, 201, 202, 203, 204, 205].map((n) => `${net}.${n}`);
    for (const address of addresses)
      await lab.exec(lab.bridgeNetns, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'br0']);
    const clusterKeyFile = writeClusterKey(scope.dir);
    rack = await startSimulatedBmcs({
      count: 6,
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
          leaseTtl: 2,
          clusterKeyFile,
          etcdListen: nodeIp(name),
          tls: (await testNodeTls(join(scope.dir, 'pki'), name, [nodeIp(name)])).dir,
          etcdBootstrap: bmc.index === 1,
          bmc: { host: bmc.host, port: bmc.port, user: bmc.user, passwordFile: join(dir, 'bmc-password') },
        }),
      );
    }
    await powerOn(1);
    await waitFor(
      'the seed h1 ready with a one-member etcd',
      () => {
        const s = st();
        return s.nodes.some((n) => n.name === 'h1' && n.state === 'ready') && s.etcd.members.length === 1;
      },
      30_000,
      300,
    );
    checkerLog = join(scope.dir, 'quorum.log');
    writeFileSync(checkerLog, '');
    checker = lab.spawn(lab.bridgeNetns, 'quorum-checker', ['node', CHECKER, seedUrl, checkerLog, tlsOf('operator')]);
  });

  afterAll(async () => {
    await checker?.stop(1_000);
    await rack?.stop();
    await lab?.destroy();
    await scope?.close();
  });

  it('grows from the seed to 3, then 5 voters, one learner at a time, as four nodes join', async () => {
    expect(voters().map((m) => m.name)).toEqual(['h1']);
    for (const index of [2, 3, 4, 5]) await powerOn(index);
    await waitFor(
      'five voting members',
      () => {
        const s = st();
        voterUrls = voters(s).flatMap((m) => m.clientUrls);
        return voters(s).length === 5 && s.etcd.members.length === 5;
      },
      120_000,
      500,
    );
    expect(
      voters()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['h1', 'h2', 'h3', 'h4', 'h5']);
    const seen = polls();
    // 1 → 2 → 3 → 4 → 5: an even count only between the two promotions of a growth step.
    expect(runs(seen)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.some((p) => p.learners === 1)).toBe(true);
    expect(seen.every((p) => p.learners <= 1)).toBe(true);
    // Quorum held throughout: every poll listed the members and read linearizably.
    expect(seen.filter((p) => !p.listed || !p.read)).toEqual([]);
    // The cluster-genesis machine followed: seed → quorum → steady.
    const genesis = st()
      .transitions.filter((t) => t.machine === 'cluster-genesis')
      .map((t) => t.to);
    expect(genesis).toEqual(expect.arrayContaining(['quorum', 'steady']));
  });

  it('leaves a sixth node a client of etcd', async () => {
    await powerOn(6);
    await waitFor('h6 ready', () => st().nodes.some((n) => n.name === 'h6' && n.state === 'ready'), 30_000, 300);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // several membership rounds
    const s = st();
    expect(s.etcd.members.map((m) => m.name)).not.toContain('h6');
    expect(voters(s)).toHaveLength(5);
  });

  it('fences the seed, killed with -9, removes it without losing quorum and makes the sixth node a voter in its place', async () => {
    // The seed is the only endpoint in every agent's config: once it is gone, the agents live
    // on the voters they followed. Leadership is moved off it first, so that no election
    // (which no membership change causes) interrupts the reads.
    const s = st();
    if (s.etcd.members.find((m) => m.name === 'h1')?.leader) {
      const target = voters(s).find((m) => m.name !== 'h1');
      await lab.exec(lab.bridgeNetns, [
        'etcdctl',
        '--endpoints',
        seedUrl,
        ...etcdctlTls(tlsOf('operator')),
        'move-leader',
        BigInt(target?.id ?? 0).toString(16),
      ]);
      await waitFor(
        'leadership off the seed',
        () => st().etcd.members.some((m) => m.leader && m.name !== 'h1'),
        10_000,
        200,
      );
    }
    const victim = 'h1';
    const before = polls().length;
    kill(victim);
    await waitFor(
      `${victim} replaced by h6`,
      () => {
        const now = st();
        voterUrls = voters(now).flatMap((m) => m.clientUrls);
        const names = voters(now).map((m) => m.name);
        return names.length === 5 && names.includes('h6') && !now.etcd.members.some((m) => m.name === victim);
      },
      90_000,
      500,
    );
    const after = st();
    expect(after.nodes.find((n) => n.name === victim)).toMatchObject({ state: 'fenced', fenced: { method: 'bmc' } });
    expect(await rack.bmcs[0]?.events()).toContain('power off');
    const seen = polls().slice(before);
    // The dead voter stays counted until it is removed (5 → 4), then h6 joins as a learner and is promoted.
    expect(runs(seen)).toEqual([5, 4, 5]);
    expect(seen.some((p) => p.names.includes('h6(learner)'))).toBe(true);
    // A non-leader died: the survivors kept a quorum and no read failed.
    expect(seen.filter((p) => !p.listed || !p.read)).toEqual([]);
    // Every live agent follows the five voters (the seed's URL is gone from its endpoints).
    await waitFor('every agent to follow the new voters', () => following(['h2', 'h3', 'h4', 'h5', 'h6']), 10_000, 200);
    expect(after.nodes.filter((n) => n.state === 'ready').map((n) => n.name)).toEqual(['h2', 'h3', 'h4', 'h5', 'h6']);
  });

  it('keeps the voters odd: a voter lost with no node to replace it leaves 4, then 3 within a minute; the demoted node stays an etcd client', async () => {
    const s = st();
    const leader = s.etcd.leader ?? '';
    const survivors = voters(s)
      .map((m) => m.name)
      .filter((n) => n !== leader)
      .sort();
    const [victim] = survivors; // a follower: its loss starts no election
    if (!victim) throw new Error('no follower to kill');
    // The keeper demotes the voter last by name that is not the leader.
    const expected = survivors.filter((n) => n !== victim).at(-1) ?? '';
    const lease = s.nodes.find((n) => n.name === expected)?.lease;
    const before = polls().length;
    const killedAt = Date.now();
    kill(victim);
    await waitFor(
      'three voters',
      () => {
        const now = st();
        voterUrls = voters(now).flatMap((m) => m.clientUrls);
        return voters(now).length === 3 && now.etcd.members.length === 3;
      },
      60_000,
      500,
    );
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    const after = st();
    expect(after.nodes.find((n) => n.name === victim)).toMatchObject({ state: 'fenced', fenced: { method: 'bmc' } });
    expect(after.etcd.leader).toBe(leader);
    expect(after.etcd.members.map((m) => m.name)).not.toContain(expected);
    const seen = polls().slice(before);
    expect(runs(seen)).toEqual([5, 4, 3]);
    expect(seen.filter((p) => !p.listed || !p.read)).toEqual([]);
    // The demoted node went on under the same lease, and follows the three voters as a client
    // of theirs: its member's data is gone, and no restart made it again.
    expect(after.nodes.find((n) => n.name === expected)).toMatchObject({ state: 'ready', lease });
    const live = after.nodes.filter((n) => n.state === 'ready').map((n) => n.name);
    expect(live).toHaveLength(4);
    await waitFor('every agent to follow the three voters', () => following(live), 10_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // a restart would come within 1 s
    expect(existsSync(join(scope.dir, expected, 'etcd', 'member'))).toBe(false);
    expect(voters()).toHaveLength(3);
  });

  it('grows back to five voters as a node joins: the fenced seed powered on again, and the demoted node re-added', async () => {
    const before = polls().length;
    await powerOn(1); // h1's data is of a member removed while it was off
    await waitFor(
      'five voters again',
      () => {
        const now = st();
        voterUrls = voters(now).flatMap((m) => m.clientUrls);
        return voters(now).length === 5 && now.etcd.members.length === 5;
      },
      90_000,
      500,
    );
    const after = st();
    const live = after.nodes.filter((n) => n.state === 'ready').map((n) => n.name);
    expect(live).toContain('h1');
    expect(
      voters(after)
        .map((m) => m.name)
        .sort(),
    ).toEqual(live);
    // h1 registered again: the fence record of its killed incarnation is no longer reported.
    expect(after.nodes.find((n) => n.name === 'h1')?.fenced).toBeNull();
    const seen = polls().slice(before);
    expect(runs(seen)).toEqual([3, 4, 5]);
    expect(seen.every((p) => p.learners <= 1)).toBe(true);
    expect(seen.filter((p) => !p.listed || !p.read)).toEqual([]);
    await waitFor('every agent to follow the five voters', () => following(live), 10_000, 200);
  });
});
