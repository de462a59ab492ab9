import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../agent/index.js';
import { inSeed, type LabInfo, labAdd, labDown, labUp, waitFor } from '../../bootstrap/index.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];

// `rackseed lab up --ceph`: the seed and three servers, found and powered on by the seed,
// assemble Ceph by themselves (3 monitors, an OSD on each of the 4 nodes, the manager), then
// run the cloud over it: a DB master candidate and the OpenStack API on every node.
describe('self-assembly of a lab rack with Ceph (netns boot)', () => {
  let dir: string;
  let lab: LabInfo;
  const status = async () => JSON.parse(await inSeed(lab, RACKSEED, ['--json', 'status'])) as ClusterStatus;
  /** A Ceph client tool in the seed's namespace, with the operator files its agent wrote. */
  const tool = async (argv: readonly string[]) => {
    const conf = join(lab.scopeDir, 'seed', 'agent', 'ceph', 'ceph.conf');
    const [command = 'ceph', ...args] = argv;
    return (await run('ip', ['netns', 'exec', lab.seedNetns, command, '-c', conf, ...args], { timeout: 60_000 }))
      .stdout;
  };

  /** Debian's `openstack` CLI in the seed's namespace, as the cloud's admin, against the API on `ip`. */
  const openstack = <T>(ip: string, args: readonly string[]): Promise<T> =>
    openstackAt<T>(`http://${ip}:5000`, args, ['ip', 'netns', 'exec', lab.seedNetns]);
  /** The same CLI against the API at `url`, run through `prefix` (in a namespace) or on the host. */
  const openstackAt = async <T>(url: string, args: readonly string[], prefix: readonly string[] = []): Promise<T> => {
    const password = readFileSync(join(lab.scopeDir, 'seed', 'cluster', 'admin-password'), 'utf8').trim();
    const env = {
      ...process.env,
      OS_AUTH_URL: `${url}/identity`,
      OS_IDENTITY_API_VERSION: '3',
      OS_USERNAME: 'admin',
      OS_PASSWORD: password,
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
    };
    const [command = 'openstack', ...argv] = [...prefix, 'openstack', ...args, '-f', 'json'];
    return JSON.parse((await run(command, argv, { env, timeout: 120_000 })).stdout) as T;
  };

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
    dir = mkdtempSync(join(tmpdir(), 'rackseed-e2e-ceph-'));
    lab = await labUp({ dir, servers: 3, rackseed: RACKSEED, ceph: true, readyTimeoutMs: 180_000 });
  });
  afterAll(async () => {
    if (dir) {
      await labDown(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reaches HEALTH_OK with 3 monitors and an OSD on each of the 4 nodes; an object round-trips', async () => {
    const t0 = Date.now();
    let last: ClusterStatus['ceph'] = null;
    await waitFor(
      'Ceph HEALTH_OK with 3 monitors and 4 OSDs up and in',
      async () => {
        last = (await status()).ceph;
        return (
          last?.health === 'HEALTH_OK' &&
          last.quorum.length === 3 &&
          last.up === 4 &&
          last.in === 4 &&
          last.pools.some((p) => p.name === 'rackseed' && p.size === 3 && p.minSize === 2)
        );
      },
      240_000,
      2_000,
    );
    console.log(`self-assembly-ceph: all nodes ready → HEALTH_OK in ${Date.now() - t0} ms`);
    expect(last).toMatchObject({ health: 'HEALTH_OK', checks: [], mons: 3, osds: 4 });
    const s = await status();
    expect(s.nodes.every((n) => n.state === 'ready')).toBe(true);
    expect(s.nodes.map((n) => n.name)).toContain('seed');
    const tree = JSON.parse(await tool(['ceph', 'osd', 'tree', '-f', 'json'])) as {
      nodes: { type: string; name: string }[];
    };
    expect(
      tree.nodes
        .filter((n) => n.type === 'host')
        .map((n) => n.name)
        .sort(),
    ).toEqual(s.nodes.map((n) => n.name).sort());
    const file = join(dir, 'object.in');
    writeFileSync(file, 'lab ceph\n');
    await tool(['rados', '-p', 'rackseed', 'put', 'lab-object', file]);
    expect(await tool(['rados', '-p', 'rackseed', 'get', 'lab-object', '-'])).toBe('lab ceph\n');
  }, 300_000);

  it('serves the OpenStack API on every node over one elected DB master; every node is a hypervisor', async () => {
    const t0 = Date.now();
    type Hypervisor = { 'Hypervisor Hostname': string; 'Host IP': string };
    const hypervisors = await waitFor(
      'the API on the seed, listing the 4 nodes as hypervisors',
      async () => {
        const list = await openstack<Hypervisor[]>(lab.seedIp, ['hypervisor', 'list']);
        return list.length === 4 ? list : undefined;
      },
      180_000,
      2_000,
    );
    console.log(`self-assembly-ceph: the API answered on the seed ${Date.now() - t0} ms after HEALTH_OK`);
    const s = await status();
    expect(hypervisors.map((h) => h['Hypervisor Hostname']).sort()).toEqual(s.nodes.map((n) => n.name).sort());
    // What one node writes, every node reads: one database, through the elected master.
    await openstack(lab.seedIp, ['flavor', 'create', '--ram', '256', '--disk', '1', '--vcpus', '1', 'lab.small']);
    for (const h of hypervisors) {
      const flavors = await waitFor(
        `the API on ${h['Hypervisor Hostname']} (${h['Host IP']})`,
        () => openstack<{ Name: string }[]>(h['Host IP'], ['flavor', 'list']),
        120_000,
        2_000,
      );
      expect(flavors.map((f) => f.Name)).toContain('lab.small');
    }
    // From the host, through the lab gateway: the same cloud, whose catalog names only the gateway.
    const viaGateway = await openstackAt<{ Name: string }[]>(lab.gateway.url, ['flavor', 'list']);
    expect(viaGateway.map((f) => f.Name)).toContain('lab.small');
    const catalog = await openstackAt<{ Endpoints: unknown }[]>(lab.gateway.url, ['catalog', 'list']);
    const urls = JSON.stringify(catalog).match(/https?:\/\/[^\s"\\]+/g) ?? [];
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((u) => !u.startsWith(lab.gateway.url))).toEqual([]);
  }, 400_000);

  type Hypervisor = { 'Hypervisor Hostname': string; 'Host IP': string };
  /** The role of each node's DB master candidate (`master` or `standby`), asked in the seed's namespace. */
  const masterOf = async (hypervisors: readonly Hypervisor[]) => {
    for (const h of hypervisors) {
      const argv = ['netns', 'exec', lab.seedNetns, 'curl', '-sf', '-m', '2', `http://${h['Host IP']}:5001/v1/status`];
      const answer = await run('ip', argv).catch(() => undefined);
      if (answer && (JSON.parse(answer.stdout) as { role: string }).role === 'master') return h;
    }
    return undefined;
  };

  it('keeps the API answering when the DB master’s server loses power: fenced, a new master, no acknowledged write lost', async () => {
    const hypervisors = await openstack<Hypervisor[]>(lab.seedIp, ['hypervisor', 'list']);
    const master = await waitFor('the elected DB master', () => masterOf(hypervisors), 60_000, 1_000);
    // The seed has no BMC in the lab: if it holds the master, a server still dies and the API must go on.
    const victim = lab.servers.find((v) => v.name === master['Hypervisor Hostname']) ?? lab.servers[0];
    if (!victim) throw new Error('no server');
    const survivor = hypervisors.find((h) => h['Hypervisor Hostname'] === 'seed');
    if (!survivor) throw new Error('no seed hypervisor');
    const acknowledged: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const name = `during.${i}`;
        const done = await openstack(survivor['Host IP'], ['flavor', 'create', '--ram', '64', '--disk', '1', name])
          .then(() => true)
          .catch(() => false);
        if (done) acknowledged.push(name);
      }
    })();
    const died = Date.now();
    const stateDir = join(lab.scopeDir, `bmc${lab.servers.indexOf(victim) + 1}`, 'chassis');
    execFileSync('sh', [join(lab.scopeDir, 'chassis-control.sh'), stateDir, 'set', 'power', '0']);
    await waitFor(
      `${victim.name} fenced`,
      async () => (await status()).nodes.find((n) => n.name === victim.name)?.state === 'fenced',
      90_000,
      1_000,
    );
    const alive = hypervisors.filter((h) => h['Hypervisor Hostname'] !== victim.name);
    const next = await waitFor('a DB master on a live node', () => masterOf(alive), 120_000, 1_000);
    const before = acknowledged.length;
    await waitFor('two more writes acknowledged', async () => acknowledged.length >= before + 2, 120_000, 500);
    console.log(`self-assembly-ceph: power lost → writes acknowledged again in ${Date.now() - died} ms`);
    writing = false;
    await writer;
    expect(next['Hypervisor Hostname']).not.toBe(victim.name);
    const flavors = (await openstack<{ Name: string }[]>(survivor['Host IP'], ['flavor', 'list'])).map((f) => f.Name);
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.filter((name) => !flavors.includes(name))).toEqual([]);
    // Every live node's API still answers, and the dead node is no longer a hypervisor.
    for (const h of alive) {
      expect((await openstack<{ Name: string }[]>(h['Host IP'], ['flavor', 'list'])).length).toBeGreaterThan(0);
    }
    await waitFor(
      `${victim.name} gone from the hypervisors`,
      async () =>
        !(await openstack<Hypervisor[]>(survivor['Host IP'], ['hypervisor', 'list'])).some(
          (h) => h['Hypervisor Hostname'] === victim.name,
        ),
      30_000,
      1_000,
    );
  }, 500_000);

  it('grows the hypervisor list when a server is cabled in, with no human step', async () => {
    const added = await labAdd(lab);
    await waitFor(
      `${added} among the hypervisors`,
      async () =>
        (await openstack<Hypervisor[]>(lab.seedIp, ['hypervisor', 'list'])).some(
          (h) => h['Hypervisor Hostname'] === added,
        ),
      180_000,
      2_000,
    );
    const fresh = (await openstack<Hypervisor[]>(lab.seedIp, ['hypervisor', 'list'])).find(
      (h) => h['Hypervisor Hostname'] === added,
    );
    if (!fresh) throw new Error('no new hypervisor');
    // Its own API answers over the same database.
    const flavors = await waitFor(
      `the API on ${added}`,
      () => openstack<{ Name: string }[]>(fresh['Host IP'], ['flavor', 'list']),
      120_000,
      2_000,
    );
    expect(flavors.map((f) => f.Name)).toContain('lab.small');
  }, 400_000);
});
