import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
// assemble Ceph by themselves (3 monitors, an OSD on each of the 4 nodes, the manager).
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
});
