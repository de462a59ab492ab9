/**
 * `make demo`: a rack that builds itself into a cloud, on this machine. `rackseed lab up --ceph`
 * makes a seed and four servers in network namespaces (the servers are only powered-off
 * OpenIPMI BMCs); the seed finds the BMCs, takes them over (fresh passwords), powers the servers
 * on, and each netboots (real DHCP and HTTP boot), enrolls and becomes a ready node; etcd grows
 * to five voters, Ceph assembles itself (3 monitors, an OSD per node), and every node runs the
 * OpenStack API over one elected DB master. The operator's `openstack --os-cloud rackseed-lab`
 * reaches it through the lab gateway. Then the DB master's server loses power: it is fenced,
 * another node's candidate takes over, the API goes on. Then a fifth server is cabled in: it
 * joins by itself and the hypervisor list grows. The lab stays up at the end, for the operator
 * to use; `rackseed lab down --dir /var/lib/rackseed/demo` removes it (and its clouds.yaml entry).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStatus } from '../agent/index.js';
import { labPower } from '../bootstrap/index.js';

const REPO = new URL('..', import.meta.url).pathname;
/** Where the demo's lab lives (one at a time: a new demo first removes the last one). */
const DIR = '/var/lib/rackseed/demo';
const started = performance.now();
const step = (text: string) =>
  console.log(`\n[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);
const rackseed = (...args: string[]) => {
  const result = spawnSync(process.execPath, [join(REPO, 'bin/rackseed.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`rackseed ${args.join(' ')} failed (exit ${result.status})`);
  return result.stdout;
};
const openstack = (...args: string[]) => {
  console.log(`  $ openstack --os-cloud rackseed-lab ${args.join(' ')}`);
  const result = spawnSync('openstack', ['--os-cloud', 'rackseed-lab', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`openstack ${args.join(' ')} failed (exit ${result.status})`);
  process.stdout.write(result.stdout.replace(/^/gm, '  '));
  return result.stdout;
};
const createServer = (name: string) =>
  openstack(
    'server',
    'create',
    '--flavor',
    'm1.tiny',
    '--image',
    'demo-image',
    '--network',
    'provider',
    '--wait',
    name,
  );
const labStatus = () =>
  JSON.parse(rackseed('--json', 'lab', 'status', '--dir', DIR)) as {
    scopeDir: string;
    servers: { name: string }[];
    cluster: ClusterStatus | null;
  }[];
const waitUntil = async (what: string, test: () => boolean, seconds: number) => {
  for (let i = 0; i < seconds; i++) {
    if (test()) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`timed out waiting for ${what}`);
};

let lab: ReturnType<typeof labStatus>[number] | undefined;
try {
  step(`rackseed lab up --nodes 4 --ceph --dir ${DIR}`);
  process.stdout.write(rackseed('lab', 'down', '--dir', DIR)); // the lab a previous demo left up, if any
  process.stdout.write(rackseed('lab', 'up', '--nodes', '4', '--ceph', '--dir', DIR));
  lab = labStatus().at(-1);
  if (!lab) throw new Error('no lab');
  const here = lab.scopeDir;
  const cluster = () => labStatus().find((l) => l.scopeDir === here)?.cluster;
  const show = () => {
    const c = cluster();
    console.log(`  nodes: ${c?.nodes.map((n) => `${n.name}=${n.state}`).join(' ')}`);
    console.log(
      `  etcd voters: ${c?.etcd.members
        .filter((m) => !m.learner)
        .map((m) => m.name)
        .join(' ')}; singletons: ${JSON.stringify(c?.singletons)}`,
    );
    if (c?.ceph) console.log(`  ceph: ${c.ceph.health}, ${c.ceph.mons} monitors, ${c.ceph.up}/${c.ceph.osds} OSDs up`);
  };
  show();

  step('etcd grows to five voting members; Ceph reaches HEALTH_OK');
  await waitUntil(
    '5 etcd voters and Ceph HEALTH_OK',
    () => cluster()?.etcd.members.filter((m) => !m.learner).length === 5 && cluster()?.ceph?.health === 'HEALTH_OK',
    240,
  );
  show();

  step('the cloud, from this machine, through the lab gateway (clouds.yaml entry rackseed-lab)');
  await waitUntil(
    'the API',
    () => spawnSync('openstack', ['--os-cloud', 'rackseed-lab', 'token', 'issue']).status === 0,
    180,
  );
  openstack('hypervisor', 'list');
  const image = join(tmpdir(), `rackseed-demo-${process.pid}.img`);
  writeFileSync(image, randomBytes(1 << 20));
  openstack('image', 'create', '--file', image, '--disk-format', 'raw', '--container-format', 'bare', 'demo-image');
  createServer('demo-1');
  openstack('server', 'list');

  const victim = 'node-2';
  step(
    `${victim} loses power (its BMC powers it off): fenced, its Ceph daemons replaced (and the DB master, if it held it); the API goes on`,
  );
  labPower(lab, victim, 'off');
  await waitUntil(`${victim} fenced`, () => cluster()?.nodes.find((n) => n.name === victim)?.state === 'fenced', 90);
  show();
  createServer('demo-2');
  openstack('server', 'list');

  step('rackseed lab add: a fifth server is cabled in, powered off; the provisioner finds it, it joins by itself');
  process.stdout.write(rackseed('lab', 'add', '--dir', DIR));
  await waitUntil('node-5 ready', () => cluster()?.nodes.find((n) => n.name === 'node-5')?.state === 'ready', 180);
  await waitUntil(
    'node-5 among the hypervisors',
    () =>
      spawnSync(
        'openstack',
        ['--os-cloud', 'rackseed-lab', 'hypervisor', 'list', '-f', 'value', '-c', 'Hypervisor Hostname'],
        {
          encoding: 'utf8',
        },
      ).stdout.includes('node-5'),
    120,
  );
  openstack('hypervisor', 'list');
  show();
  step(
    `done in ${((performance.now() - started) / 1000).toFixed(1)} s. The lab stays up: try \`openstack --os-cloud rackseed-lab server list\`; remove it with \`rackseed lab down --dir ${DIR}\``,
  );
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}; removing the lab`);
  process.stdout.write(rackseed('lab', 'down', '--dir', DIR));
  process.exitCode = 1;
}
