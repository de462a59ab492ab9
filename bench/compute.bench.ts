/**
 * Real compute (issue 13): servers as QEMU guests on RBD clones, in the lab rack with Ceph.
 * Figures: create → ACTIVE and create → SSH answering (through the API, the scheduler, the host
 * service, an RBD clone, the provider network, guest DHCP and metadata), power lost → the server
 * ACTIVE on another node and SSH answering again (fencing and Ceph blocklisting included), the
 * RSS of a guest's QEMU and of a host service, an RBD clone against a full copy, and what a call
 * of the `rbd` CLI costs against the create it serves (the case for the CLI over a librbd binding).
 *
 * The reference in the same run is the same guest image started by hand: one QEMU command with
 * the same machine, accelerator and memory, its disk a local file (`snapshot=on`), user-mode
 * networking whose network is 169.254.0.0/16 so that the guest reaches 169.254.169.254, where a
 * `guestfwd` hands each connection to the same metadata answers (appliance/host/network/metadata.ts)
 * served here. Its time is QEMU start → `ssh … true` succeeding with the key the metadata gave.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { metadataAnswer } from '../appliance/host/network/metadata.js';
import { labDown, labPower, waitFor } from '../bootstrap/index.js';
import { computeLabUp } from '../test/compute-lab.js';
import { fetch } from 'undici';
import { adminToken, trusting } from '../test/bed/index.js';
import { guestImage } from '../test/guest-image.js';
import { median, row, timeMs } from './stats.js';

const run = promisify(execFile);
const REPO = new URL('..', import.meta.url).pathname;
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];
/** Boots by hand (the reference) and servers created in the cloud. */
const ROUNDS = 2;
const SSH_OPTIONS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
const SSH_QUICK = [...SSH_OPTIONS, '-o', 'ConnectTimeout=2', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rssMb = (pid: number) => {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? Number(kb) / 1024 : Number.NaN;
};
const pidsOf = (pattern: string) =>
  execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);

/** Polls `ssh … true` until it succeeds; the time it took from `since`. */
async function sshAnswers(argv: readonly string[], since: number, what: string): Promise<number> {
  await waitFor(
    what,
    () =>
      run(argv[0] ?? 'ssh', argv.slice(1), { timeout: 10_000 }).then(
        () => true,
        () => false,
      ),
    180_000,
    250,
  );
  return Date.now() - since;
}

/** The reference: the guest image booted by one hand-written QEMU command; QEMU start → SSH, and its RSS. */
async function handStarted(dir: string, image: string, key: string): Promise<{ sshMs: number; rssMb: number }> {
  const id = '00000000-0000-4000-8000-00000000be0c';
  const metadata = {
    uuid: id,
    name: 'reference',
    hostname: 'reference',
    availabilityZone: 'nova',
    projectId: 'bench',
    launchIndex: 0,
    publicKeys: [{ name: 'bench', data: readFileSync(`${key}.pub`, 'utf8').trim() }],
    userData: null,
    meta: {},
  };
  const port = {
    ...{ portId: id, mac: '52:54:00:be:0c:01', ip: '169.254.0.15', prefixLength: 16, gateway: '169.254.0.2' },
    ...{ mtu: 1500, networkId: id, dns: [] },
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const answer = metadataAnswer(req.method ?? 'GET', req.url ?? '/', body, metadata, [port], '');
      res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const metadataPort = (server.address() as AddressInfo).port;
  // QEMU runs this once per guest connection to 169.254.169.254:80, stdin/stdout the connection.
  const pipe = join(dir, 'metadata-pipe.cjs');
  writeFileSync(
    pipe,
    `const s = require('net').connect(${metadataPort}, '127.0.0.1'); process.stdin.pipe(s); s.pipe(process.stdout);\n` +
      `s.on('close', () => process.exit(0));\n`,
  );
  const sshPort = 20_000 + Math.floor(Math.random() * 20_000);
  const netdev = [
    'user,id=n0,net=169.254.0.0/16,host=169.254.0.2,dhcpstart=169.254.0.15',
    `hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
    `guestfwd=tcp:169.254.169.254:80-cmd:${process.execPath} ${pipe}`,
  ].join(',');
  const started = Date.now();
  const qemu: ChildProcess = spawn(
    'qemu-system-x86_64',
    [
      ...['-machine', 'pc', '-accel', 'tcg,tb-size=128', '-cpu', 'max', '-smp', '1', '-m', '192'],
      ...['-nodefaults', '-no-user-config', '-display', 'none'],
      ...['-drive', `file=${image},format=raw,if=none,id=root,snapshot=on`],
      ...['-device', 'virtio-blk-pci,drive=root,bootindex=0'],
      ...['-netdev', netdev, '-device', `virtio-net-pci,netdev=n0,mac=${port.mac},romfile=`],
      ...['-device', 'virtio-rng-pci', '-serial', `file:${join(dir, 'reference-console.log')}`],
    ],
    { stdio: 'ignore' },
  );
  try {
    const sshMs = await sshAnswers(
      ['ssh', '-i', key, ...SSH_QUICK, '-p', String(sshPort), 'cloud@127.0.0.1', 'true'],
      started,
      'the hand-started guest answering ssh',
    );
    return { sshMs, rssMb: rssMb(qemu.pid ?? 0) };
  } finally {
    qemu.kill('SIGKILL');
    server.close();
  }
}

interface ServerBody {
  server: { id: string; status: string; 'OS-EXT-SRV-ATTR:host': string; addresses: Record<string, { addr: string }[]> };
}

export default async function bench(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
  const image = guestImage();
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-bench-compute-'));
  const key = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  try {
    const reference: { sshMs: number; rssMb: number }[] = [];
    for (let i = 0; i < ROUNDS; i++) reference.push(await handStarted(dir, image.path, key));
    const refSsh = median(reference.map((r) => r.sshMs));
    row('reference: QEMU by hand → ssh answers (TCG)', seconds(refSsh), `n=${ROUNDS}`);

    const { lab } = await computeLabUp(dir, RACKSEED);
    const env = {
      ...process.env,
      OS_AUTH_URL: `${lab.gateway.url}/identity`,
      OS_CACERT: lab.gateway.ca,
      OS_IDENTITY_API_VERSION: '3',
      ...{
        OS_USERNAME: 'admin',
        OS_PROJECT_NAME: 'admin',
        OS_PASSWORD: readFileSync(lab.adminPasswordFile, 'utf8').trim(),
      },
      ...{ OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default' },
    };
    const openstack = async (args: readonly string[]) =>
      JSON.parse((await run('openstack', [...args, '-f', 'json'], { env, timeout: 300_000 })).stdout) as { id: string };
    await waitFor(
      'four hypervisors with their real inventory',
      async () =>
        (await run('openstack', ['hypervisor', 'list', '-f', 'value'], { env })).stdout.trim().split('\n').length === 4,
      180_000,
      2_000,
    );
    const imageId = (
      await openstack([
        'image',
        'create',
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        '--file',
        image.path,
        'guest',
      ])
    ).id;
    await openstack(['keypair', 'create', '--public-key', `${key}.pub`, 'bench']);
    const flavorId = (await openstack(['flavor', 'create', '--ram', '192', '--disk', '1', '--vcpus', '1', 'bench'])).id;
    const networkId = (await openstack(['network', 'show', 'provider'])).id;
    // The project's default security group lets in only its own members: SSH from the provider
    // network needs a rule (as a user adds one).
    const [group] = await openstack(['security', 'group', 'list', '--project', 'admin']).then((groups) =>
      (groups as unknown as { ID: string; Name: string }[]).filter((g) => g.Name === 'default'),
    );
    await openstack([
      'security',
      'group',
      'rule',
      'create',
      '--protocol',
      'tcp',
      '--dst-port',
      '22',
      group?.ID ?? 'default',
    ]);

    const dispatcher = trusting(lab.gateway.ca);
    const token = await adminToken(lab.gateway.url, env.OS_PASSWORD, { dispatcher, timeoutMs: 10_000 });
    const api = async (method: string, path: string, body?: unknown): Promise<ServerBody> => {
      const response = await fetch(`${lab.gateway.url}/compute/v2.1${path}`, {
        dispatcher,
        method,
        headers: { 'x-auth-token': token, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as ServerBody;
    };
    const addressOf = (s: ServerBody['server']) => Object.values(s.addresses).flat()[0]?.addr ?? '';
    const sshInLab = (address: string) => [
      ...['ip', 'netns', 'exec', lab.bridgeNetns, 'ssh', '-i', key, ...SSH_QUICK],
      ...[`cloud@${address}`, 'true'],
    ];

    const activeMs: number[] = [];
    const sshMs: number[] = [];
    let last: ServerBody['server'] | undefined;
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = Date.now();
      const { server } = await api('POST', '/servers', {
        server: {
          name: `bench-${i}`,
          ...{ imageRef: imageId, flavorRef: flavorId, key_name: 'bench', networks: [{ uuid: networkId }] },
        },
      });
      last = await waitFor(
        `bench-${i} ACTIVE`,
        async () => {
          const s = (await api('GET', `/servers/${server.id}`)).server;
          if (s.status === 'ERROR') throw new Error(`bench-${i} went to ERROR`);
          return s.status === 'ACTIVE' ? s : undefined;
        },
        120_000,
        100,
      );
      activeMs.push(Date.now() - t0);
      sshMs.push(await sshAnswers(sshInLab(addressOf(last)), t0, `ssh to bench-${i}`));
    }
    const createSsh = median(sshMs);
    row('create → ACTIVE', seconds(median(activeMs)), `n=${ROUNDS}`, '(target ≤ 5 s)');
    row(
      'create → ssh answers',
      seconds(createSsh),
      `${(createSsh / refSsh).toFixed(2)}× the reference`,
      '(target ≤ 15 s and ≤ 3×)',
    );

    const guests = last ? pidsOf(`qemu-system-x86_64 .*-uuid ${last.id}`) : [];
    const hostServices = pidsOf('rackseed.js host serve');
    row(
      "RSS of a guest's QEMU (192 MB guest, TCG)",
      `${median(guests.map(rssMb)).toFixed(0)} MB`,
      `reference ${median(reference.map((r) => r.rssMb)).toFixed(0)} MB`,
    );
    row('RSS of a host service (median of the nodes)', `${median(hostServices.map(rssMb)).toFixed(0)} MB`);

    if (!last) throw new Error('no server');
    const moving = last;
    const victim = moving['OS-EXT-SRV-ATTR:host'];
    const died = Date.now();
    labPower(lab, victim, 'off');
    await waitFor(
      `bench server ACTIVE on another node than ${victim}`,
      async () => {
        const s = (await api('GET', `/servers/${moving.id}`)).server;
        return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] !== victim;
      },
      180_000,
      100,
    );
    const movedMs = Date.now() - died;
    const answeringMs = await sshAnswers(sshInLab(addressOf(moving)), died, 'ssh to the moved server');
    row(`power lost (${victim}) → ACTIVE on another node`, seconds(movedMs), '(fencing and blocklisting included)');
    row('power lost → ssh answers again', seconds(answeringMs), '(target ≤ 30 s)');

    // RBD: a server's disk is a copy-on-write clone of the image's snapshot; a full copy for comparison.
    const conf = join(lab.scopeDir, 'seed', 'agent', 'ceph', 'ceph.conf');
    // From a live machine: the dead node's address is blocklisted on Ceph (the seed's, if it died).
    const netns = victim === 'seed' ? (lab.servers[0]?.netns ?? '') : lab.seedNetns;
    const rbd = (args: readonly string[]) =>
      run('ip', ['netns', 'exec', netns, 'rbd', '-c', conf, ...args], { timeout: 120_000 });
    const clone: number[] = [];
    const copy: number[] = [];
    for (let i = 0; i < 3; i++) {
      clone.push(await timeMs(() => rbd(['clone', `images/${imageId}@snap`, `vms/bench-clone-${i}`])));
      copy.push(await timeMs(() => rbd(['cp', '--no-progress', `images/${imageId}`, `vms/bench-copy-${i}`])));
      await rbd(['rm', '--no-progress', `vms/bench-clone-${i}`]);
      await rbd(['rm', '--no-progress', `vms/bench-copy-${i}`]);
    }
    // The rbd CLI or a librbd binding: what the CLI costs per call, against the create it serves.
    const bare: number[] = [];
    for (let i = 0; i < 5; i++) bare.push(await timeMs(() => rbd(['ls', 'vms'])));
    row(
      'rbd CLI call (fork, cephx, one op; n=5)',
      `${median(bare).toFixed(0)} ms`,
      `a spawn's 5 calls: ${((5 * median(bare) * 100) / median(activeMs)).toFixed(0)}% of create → ACTIVE,`,
      `${((5 * median(bare) * 100) / createSsh).toFixed(1)}% of create → ssh`,
    );
    row(
      `RBD clone of the ${(image.bytes / 2 ** 20).toFixed(0)} MB image (n=3)`,
      `${median(clone).toFixed(0)} ms`,
      `full copy ${median(copy).toFixed(0)} ms`,
      `${(median(copy) / median(clone)).toFixed(1)}× faster`,
    );
  } finally {
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
