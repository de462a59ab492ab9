/**
 * `make demo`: a rack that builds itself, on this machine. `rackseed lab up` makes a seed and
 * four servers in network namespaces (the servers are only powered-off OpenIPMI BMCs); the seed
 * finds the BMCs, takes them over (fresh passwords), powers the servers on, and each netboots
 * (real DHCP and HTTP boot), enrolls and becomes a ready node; etcd grows to five voters.
 * Then one server loses power: it is fenced and the cluster goes on. Then a fifth server is
 * cabled in: the seed finds it and it joins by itself. Everything is removed at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'rackseed-demo-'));
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
const labStatus = () =>
  JSON.parse(rackseed('--json', 'lab', 'status', '--dir', dir)) as {
    scopeDir: string;
    servers: { name: string }[];
    cluster: {
      nodes: { name: string; state: string }[];
      singletons: Record<string, string | null>;
      etcd: { members: { name: string; learner: boolean }[] };
    } | null;
  }[];
const waitUntil = async (what: string, test: () => boolean, seconds: number) => {
  for (let i = 0; i < seconds; i++) {
    if (test()) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`timed out waiting for ${what}`);
};

try {
  step('rackseed lab up --nodes 4');
  process.stdout.write(rackseed('lab', 'up', '--nodes', '4', '--dir', dir));
  const [lab] = labStatus();
  if (!lab) throw new Error('no lab');
  const show = () => {
    const cluster = labStatus()[0]?.cluster;
    console.log(`  nodes: ${cluster?.nodes.map((n) => `${n.name}=${n.state}`).join(' ')}`);
    console.log(
      `  etcd voters: ${cluster?.etcd.members
        .filter((m) => !m.learner)
        .map((m) => m.name)
        .join(' ')}; singletons: ${JSON.stringify(cluster?.singletons)}`,
    );
  };
  show();

  step('etcd grows to five voting members (learner first, then promoted)');
  await waitUntil(
    '5 etcd voters',
    () => labStatus()[0]?.cluster?.etcd.members.filter((m) => !m.learner).length === 5,
    120,
  );
  show();

  step('node-2 loses power (its BMC powers it off): the fencer notices, fences it, etcd replaces its member');
  execFileSync('sh', [
    join(lab.scopeDir, 'chassis-control.sh'),
    join(lab.scopeDir, 'bmc2', 'chassis'),
    'set',
    'power',
    '0',
  ]);
  await waitUntil(
    'node-2 fenced',
    () => labStatus()[0]?.cluster?.nodes.find((n) => n.name === 'node-2')?.state === 'fenced',
    60,
  );
  show();

  step('rackseed lab add: a fifth server is cabled in, powered off; the seed finds it, it joins by itself');
  process.stdout.write(rackseed('lab', 'add', '--dir', dir));
  await waitUntil(
    'node-5 ready',
    () => labStatus()[0]?.cluster?.nodes.find((n) => n.name === 'node-5')?.state === 'ready',
    120,
  );
  show();
  step('done; rackseed lab down');
} finally {
  process.stdout.write(rackseed('lab', 'down', '--dir', dir));
  rmSync(dir, { recursive: true, force: true });
}
console.log(`demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s; nothing left running.`);
