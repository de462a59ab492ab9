import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../agent/index.js';
import { inSeed, type LabInfo, labDown, labUp, waitFor } from '../../bootstrap/index.js';

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
  const openstack = async <T>(ip: string, args: readonly string[]): Promise<T> => {
    const password = readFileSync(join(lab.scopeDir, 'seed', 'cluster', 'admin-password'), 'utf8').trim();
    const env = {
      ...process.env,
      OS_AUTH_URL: `http://${ip}:5000/identity`,
      OS_IDENTITY_API_VERSION: '3',
      OS_USERNAME: 'admin',
      OS_PASSWORD: password,
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
    };
    const argv = ['netns', 'exec', lab.seedNetns, 'openstack', ...args, '-f', 'json'];
    return JSON.parse((await run('ip', argv, { env, timeout: 120_000 })).stdout) as T;
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
  }, 400_000);
});
