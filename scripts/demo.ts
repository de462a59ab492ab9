/**
 * `make demo`: a rack that builds itself into a cloud, on this machine. `rackseed lab up --ceph`
 * makes a seed and four servers in network namespaces (the servers are only powered-off
 * OpenIPMI BMCs); the seed finds the BMCs, takes them over (fresh passwords), powers the servers
 * on, and each netboots (real DHCP and HTTP boot), enrolls and becomes a ready node; etcd grows
 * to five voters, Ceph assembles itself (3 monitors, an OSD per node), and every node runs the
 * OpenStack API over one elected DB master, and a host service that runs its guests. The
 * operator's `openstack --os-cloud rackseed-lab` reaches it through the lab gateway: it uploads
 * the guest image (`make guest-image`) and boots a real server (QEMU on an RBD clone), shows its
 * console and runs a command in it over ssh. Then the server's node loses power: it is fenced
 * and the server comes back on another node, its disk intact. Then a fifth server is cabled
 * in: it joins by itself and the hypervisor list grows. The lab stays up at the end, for the operator
 * to use; `rackseed lab down --dir /var/lib/rackseed/demo` removes it (and its clouds.yaml entry).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
const labStatus = () =>
  JSON.parse(rackseed('--json', 'lab', 'status', '--dir', DIR)) as {
    scopeDir: string;
    bridgeNetns: string;
    servers: { name: string }[];
    cluster: ClusterStatus | null;
  }[];
const KEY = join(DIR, 'demo-key');
const serverField = (field: string) =>
  spawnSync('openstack', ['--os-cloud', 'rackseed-lab', 'server', 'show', 'demo-1', '-f', 'value', '-c', field], {
    encoding: 'utf8',
  }).stdout.trim();
/** `ssh` to the demo server from the lab's provider network (its gateway is in the bridge namespace). */
const ssh = (bridgeNetns: string, address: string, command: string, quiet = false) => {
  if (!quiet) console.log(`  $ ssh cloud@${address} '${command}'`);
  const result = spawnSync(
    'ip',
    [
      ...['netns', 'exec', bridgeNetns, 'ssh', '-i', KEY, '-o', 'StrictHostKeyChecking=no'],
      ...[
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'ConnectTimeout=2',
        '-o',
        'LogLevel=ERROR',
        `cloud@${address}`,
        command,
      ],
    ],
    { encoding: 'utf8' },
  );
  if (!quiet) process.stdout.write(result.stdout.replace(/^/gm, '  '));
  return result.status === 0;
};
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

  step('a real server: the guest image from Debian packages, a keypair, QEMU on an RBD clone');
  mkdirSync(DIR, { recursive: true });
  if (!existsSync(KEY)) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', KEY]);
  const guestImage = join(REPO, '.cache/images/guest/guest.raw');
  openstack('image', 'create', '--file', guestImage, '--disk-format', 'raw', '--container-format', 'bare', 'guest');
  openstack('keypair', 'create', '--public-key', `${KEY}.pub`, 'demo-key');
  openstack('flavor', 'create', '--ram', '192', '--disk', '1', '--vcpus', '1', 'demo.guest');
  // The project's default security group lets in only its own servers: ssh from outside needs a rule.
  const defaultGroup = openstack(
    'security',
    'group',
    'list',
    '--project',
    'admin',
    '-f',
    'value',
    '-c',
    'ID',
    '-c',
    'Name',
  )
    .split('\n')
    .find((line) => line.endsWith(' default'))
    ?.split(' ')[0];
  openstack('security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '22', defaultGroup ?? 'default');
  const userData = join(DIR, 'user-data');
  writeFileSync(userData, '#!/bin/sh\necho "hello from $(hostname)" > /tmp/hello\n');
  const t0 = performance.now();
  openstack(
    ...['server', 'create', '--flavor', 'demo.guest', '--image', 'guest', '--key-name', 'demo-key'],
    ...['--network', 'provider', '--user-data', userData, '--wait', 'demo-1', '-c', 'status', '-c', 'addresses'],
  );
  const address = /10\.16\.[0-9.]+/.exec(serverField('addresses'))?.[0] ?? '';
  await waitUntil('ssh to demo-1', () => ssh(lab?.bridgeNetns ?? '', address, 'true', true), 120);
  console.log(`  ssh answered ${((performance.now() - t0) / 1000).toFixed(1)} s after the create`);
  openstack('console', 'log', 'show', '--lines', '6', 'demo-1');
  ssh(
    lab.bridgeNetns,
    address,
    'uname -sr; cat /tmp/hello; curl -s http://169.254.169.254/latest/meta-data/instance-id; echo',
  );
  ssh(lab.bridgeNetns, address, 'echo "written before the power loss" | sudo tee /root/marker; sync');

  const victim = serverField('OS-EXT-SRV-ATTR:host');
  step(`${victim}, demo-1's node, loses power (its BMC powers it off): fenced, and demo-1 restarts on another node`);
  const died = performance.now();
  labPower(lab, victim, 'off');
  await waitUntil(`${victim} fenced`, () => cluster()?.nodes.find((n) => n.name === victim)?.state === 'fenced', 90);
  await waitUntil(
    'demo-1 ACTIVE on another node',
    () => serverField('status') === 'ACTIVE' && serverField('OS-EXT-SRV-ATTR:host') !== victim,
    120,
  );
  await waitUntil('ssh to demo-1 again', () => ssh(lab?.bridgeNetns ?? '', address, 'true', true), 120);
  console.log(
    `  demo-1 answers ssh on ${serverField('OS-EXT-SRV-ATTR:host')} ${((performance.now() - died) / 1000).toFixed(1)} s after the power loss`,
  );
  ssh(lab.bridgeNetns, address, 'sudo cat /root/marker');
  show();

  step('rackseed lab add: a fifth server is cabled in, powered off; the provisioner finds it, it joins by itself');
  process.stdout.write(rackseed('lab', 'add', '--dir', DIR));
  await waitUntil('node-5 ready', () => cluster()?.nodes.find((n) => n.name === 'node-5')?.state === 'ready', 180);
  rmSync(userData, { force: true });
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
