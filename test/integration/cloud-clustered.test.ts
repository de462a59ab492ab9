import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type NodeTls } from '../../agent/index.js';
import { bootstrapCloud, NOVA_MAX_MICROVERSION } from '../../appliance/api/index.js';
import {
  CLOUD_SCHEMA_MODULE,
  type CloudDb,
  openSqliteDb,
  remoteCloudDb,
  type Server,
} from '../../appliance/db/index.js';
import { type DbLocation, DbClient } from '../../appliance/dbmaster/index.js';
import {
  adminToken,
  type CephCluster,
  type CloudProcess,
  type EtcdCluster,
  type MasterProcess,
  Scope,
  spawnCloudMaster,
  spawnMaster,
  startCeph,
  startCloud,
  startEtcd,
  testNodeTls,
  waitFor,
} from '../bed/index.js';
import { newServer } from '../new-server.js';
import { clusterNodeIncludeList, failedTests, runTempest } from './tempest-run.js';

const run = promisify(execFile);

let ceph: CephCluster;
let etcdCluster: EtcdCluster;
let scope: Scope;
let masters: MasterProcess[] = [];
let nodeA: CloudProcess;
let nodeB: CloudProcess;
let password: string;
let startMaster: (node: string) => MasterProcess;
/** One node certificate for every process here: the DB master's RPC is mutual TLS. */
let tls: NodeTls;

/**
 * The cloud as a cluster runs it: a DB master process hosting the cloud schema on Ceph (one
 * more standing by), and two `rackseed cloud serve --etcd …` nodes over it, both started at
 * once (so both bootstrap the cloud together), driven by Debian's `openstack` CLI.
 */
beforeAll(async () => {
  [ceph, etcdCluster] = await Promise.all([startCeph(), startEtcd({ members: 1 })]);
  // The RBD pools a cluster's Ceph keeper makes: Glance's bootable copies and servers' disks.
  for (const pool of ['images', 'vms']) {
    await ceph.ceph(['osd', 'pool', 'create', pool, '8']);
    await ceph.ceph(['osd', 'pool', 'application', 'enable', pool, 'rbd']);
  }
  scope = Scope.open('cloud-clustered');
  tls = await testNodeTls(join(scope.dir, 'pki'), 'node');
  const location: DbLocation = { kind: 'ceph', conf: ceph.conf, pool: ceph.pool, namespace: 'cloud', name: 'cloud' };
  startMaster = (node) =>
    spawnMaster(scope, { etcd: etcdCluster.endpoints, location, node, tls, schemaModule: CLOUD_SCHEMA_MODULE });
  // The first candidate as operators and agents run one; the standbys through the bed's entry.
  masters = [
    spawnCloudMaster(scope, {
      etcd: etcdCluster.endpoints,
      cephConf: ceph.conf,
      pool: ceph.pool,
      namespace: location.namespace,
      node: 'm1',
      tls,
    }),
    startMaster('m2'),
  ];
  password = randomBytes(12).toString('base64url');
  const adminPasswordFile = join(scope.dir, 'admin-password');
  writeFileSync(adminPasswordFile, `${password}\n`, { mode: 0o600 });
  const credentialKeyFile = join(scope.dir, 'credential.key');
  writeFileSync(credentialKeyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const cluster = {
    etcd: etcdCluster.endpoints,
    cephConf: ceph.conf,
    imagePool: ceph.pool,
    adminPasswordFile,
    credentialKeyFile,
    tlsDir: tls.dir,
  };
  [nodeA, nodeB] = await Promise.all([startCloud({ cluster }), startCloud({ cluster })]);
});

afterAll(async () => {
  await Promise.all([nodeA?.stop(), nodeB?.stop()]);
  await scope?.close();
  await Promise.all([ceph?.stop(), etcdCluster?.stop()]);
});

const os = async (node: CloudProcess, ...args: string[]): Promise<string> =>
  (await run('openstack', args, { env: node.env, timeout: 120_000 })).stdout;
const json = async <T>(node: CloudProcess, ...args: string[]): Promise<T> =>
  JSON.parse(await os(node, ...args, '-f', 'json')) as T;

async function masterOf(candidates: readonly MasterProcess[]): Promise<MasterProcess> {
  return waitFor(
    'a DB master with the cloud database open',
    async () => {
      for (const candidate of candidates) {
        if (!candidate.daemon.alive()) continue;
        if ((await candidate.status().catch(() => undefined))?.role === 'master') return candidate;
      }
      return undefined;
    },
    60_000,
    100,
  );
}

/** A node as its agent registers it (the fake driver's hosts are the live nodes). */
const registerNode = (etcd: Etcd3, name: string, ip: string) =>
  etcd.put(keys.node(name)).value(
    JSON.stringify({
      name,
      lease: '1',
      startedAt: new Date().toISOString(),
      etcd: { clientUrl: `http://${ip}:2379`, peerUrl: `http://${ip}:2380` },
    }),
  );

describe('rackseed cloud serve --etcd: the API on two nodes over the DB master', () => {
  it('both nodes, started together, bootstrapped one cloud (one admin, one set of roles, one provider network)', async () => {
    expect((await json<{ Name: string }[]>(nodeA, 'network', 'list')).map((n) => n.Name)).toEqual(['provider']);
    expect((await json<{ Name: string }[]>(nodeB, 'role', 'list')).map((r) => r.Name).sort()).toEqual([
      'admin',
      'member',
      'reader',
    ]);
    expect((await json<{ Name: string }[]>(nodeB, 'user', 'list')).map((u) => u.Name)).toEqual(['admin']);
    // The password came from the file and is not in either node's output.
    for (const node of [nodeA, nodeB]) {
      const log = readFileSync(join(node.dir, 'cloud-serve.log'), 'utf8');
      expect(log).toContain('the elected DB master');
      expect(log).not.toContain(password);
    }
  });

  it("serves its metrics to a certificate from the cluster CA only: requests by service, the DB master's calls, the process", async () => {
    // The openstack CLI above presented no certificate to a listener that asks for one, and got in.
    const refused = await fetch(`${nodeA.url}/metrics`, { dispatcher: nodeA.dispatcher });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain('rackseed_');
    const { ca, cert, key } = tls.read();
    const operator = new Agent({ connect: { ca, cert, key } });
    try {
      const scraped = await fetch(`${nodeA.url}/metrics`, { dispatcher: operator });
      expect(scraped.status).toBe(200);
      const text = await scraped.text();
      expect(text).toMatch(/^rackseed_api_requests_total\{service="identity",method="POST",status="201"\} [1-9]/m);
      expect(text).toMatch(/^rackseed_api_requests_total\{service="network",method="GET",status="200"\} [1-9]/m);
      expect(text).toMatch(/^rackseed_db_calls_total\{operation="tokens\.subject",outcome="ok"\} [1-9]/m);
      expect(text).toContain('rackseed_db_call_duration_seconds_bucket{le="0.001",operation="tokens.subject"}');
      expect(text).toMatch(/^process_cpu_seconds_total /m);
    } finally {
      await operator.close();
    }
  });

  it('what one node writes, the other reads: project, flavor, image bytes (in RADOS), server', async () => {
    await os(nodeA, 'project', 'create', 'tenant-one');
    await os(nodeA, 'flavor', 'create', '--ram', '256', '--disk', '1', '--vcpus', '1', 'cluster.flavor');
    const file = join(scope.dir, 'image.raw');
    const bytes = randomBytes(300_000);
    writeFileSync(file, bytes);
    const image = await json<{ id: string }>(
      nodeA,
      'image',
      'create',
      '--file',
      file,
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      'cluster-image',
    );
    // A live node for the server (the fake driver places it on one: none, and it is No valid host).
    const etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
    await registerNode(etcd, 'node-w', '10.9.0.20');
    await waitFor(
      'node-w a hypervisor',
      async () => (await os(nodeA, 'hypervisor', 'list', '-f', 'value')).includes('node-w'),
      10_000,
      200,
    );
    const server = await json<{ id: string; status: string }>(
      nodeA,
      'server',
      'create',
      '--flavor',
      'cluster.flavor',
      '--image',
      'cluster-image',
      '--network',
      'provider',
      '--wait',
      'cluster-vm',
    );
    await etcd.delete().key(keys.node('node-w'));
    etcd.close();
    expect(server.status).toBe('ACTIVE');

    expect(await json<{ name: string }>(nodeB, 'project', 'show', 'tenant-one')).toMatchObject({ name: 'tenant-one' });
    expect(await json<{ ram: number }>(nodeB, 'flavor', 'show', 'cluster.flavor')).toMatchObject({ ram: 256 });
    expect(await json<{ status: string; size: number }>(nodeB, 'image', 'show', image.id)).toMatchObject({
      status: 'active',
      size: bytes.length,
    });
    const saved = join(scope.dir, 'image.saved');
    await os(nodeB, 'image', 'save', '--file', saved, image.id);
    expect(readFileSync(saved).equals(bytes)).toBe(true);
    const ranged = await fetch(`${nodeB.url}/image/v2/images/${image.id}/file`, {
      dispatcher: nodeB.dispatcher,
      headers: {
        'x-auth-token': await adminToken(nodeB.url, password, { dispatcher: nodeB.dispatcher }),
        range: 'bytes=100000-199999',
      },
    });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(100_000, 200_000))).toBe(true);
    expect(await json<{ id: string; status: string }>(nodeB, 'server', 'show', 'cluster-vm')).toMatchObject({
      id: server.id,
      status: 'ACTIVE',
    });
  });

  it('lists the live nodes registered in etcd as hypervisors, and follows them', async () => {
    const hypervisors = async () =>
      (await json<{ 'Hypervisor Hostname': string }[]>(nodeB, 'hypervisor', 'list')).map(
        (h) => h['Hypervisor Hostname'],
      );
    const etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
    try {
      const register = (name: string, ip: string) => registerNode(etcd, name, ip);
      await register('node-b', '10.9.0.12');
      await register('node-a', '10.9.0.11');
      await waitFor('both nodes listed', async () => (await hypervisors()).length === 2, 10_000, 200);
      expect(await hypervisors()).toEqual(['node-a', 'node-b']);
      await etcd.delete().key(keys.node('node-b')); // its lease expired
      await waitFor('node-b gone', async () => !(await hypervisors()).includes('node-b'), 10_000, 200);
      expect(await hypervisors()).toEqual(['node-a']);
    } finally {
      await etcd.delete().prefix(keys.nodes);
      etcd.close();
    }
  });

  // The README's conformance holds for a cluster node too: every call here crosses the DB
  // master's RPC to the database on Ceph, and images go to RADOS. Before the tests below, which
  // write rows of their own straight to the database. The whole include list, but the network
  // classes whose fixtures sleep longest (clusterNodeIncludeList: the embedded cloud runs them),
  // and the compute module at the newest microversion: tempest checks every answer against that
  // version's schemas (the embedded cloud's test runs it at 2.1). Two hosts: tempest's multi-node
  // tests (cold migration, server groups across hosts) run here.
  it(
    `passes tempest's compute (at ${NOVA_MAX_MICROVERSION}), identity and image modules and the quicker network classes of include-list.txt (but exclude-list.txt) on a cluster node`,
    { timeout: 900_000 },
    async () => {
      const etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
      try {
        // The fake driver's hosts are the live nodes: two, for tempest's placement tests.
        await registerNode(etcd, 'node-a', '10.9.0.11');
        await registerNode(etcd, 'node-b', '10.9.0.12');
        const { output, failedRun, tally } = await runTempest(
          nodeA,
          'tempest',
          `on a cluster node, compute at microversion ${NOVA_MAX_MICROVERSION}`,
          'cluster-node',
          {
            INCLUDE_LIST: clusterNodeIncludeList(join(nodeA.dir, 'include-list-cluster-node.txt')),
            COMPUTE_MIN_MICROVERSION: 'max',
          },
        );
        const failed = failedTests(output);
        // Named in the message: a CI log's tail shows which.
        expect(failed, `tempest's failures: ${failed.join('; ')}`).toEqual([]);
        expect(failedRun).toBe(false);
        expect(tally.compute?.passed).toBeGreaterThanOrEqual(240);
        expect(tally.identity?.passed).toBeGreaterThanOrEqual(110);
        expect(tally.image?.passed).toBeGreaterThanOrEqual(40);
        expect(tally.network?.passed).toBeGreaterThanOrEqual(55);
      } finally {
        await etcd.delete().prefix(keys.nodes);
        etcd.close();
      }
    },
  );

  it('answers a duplicate-name create with the same HTTP 409 as the embedded cloud', async () => {
    const embedded = await startCloud();
    try {
      const duplicate = async ({ url, dispatcher }: CloudProcess, adminPassword: string) => {
        const token = await adminToken(url, adminPassword, { dispatcher: dispatcher });
        const create = () =>
          fetch(`${url}/compute/v2.1/flavors`, {
            dispatcher,
            method: 'POST',
            headers: { 'x-auth-token': token, 'content-type': 'application/json' },
            body: JSON.stringify({ flavor: { name: 'twice', id: 'twice-1', ram: 128, vcpus: 1, disk: 1 } }),
          });
        expect((await create()).status).toBe(200);
        const second = await create();
        return { status: second.status, body: (await second.json()) as unknown };
      };
      const embeddedAnswer = await duplicate(embedded, readFileSync(embedded.passwordFile, 'utf8').trim());
      const clusterAnswer = await duplicate(nodeB, password);
      expect(embeddedAnswer.status).toBe(409);
      expect(clusterAnswer).toEqual(embeddedAnswer);
    } finally {
      await embedded.stop();
    }
  });

  it('throws the same typed errors, with the same messages, as the embedded database', async () => {
    const etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
    const client = await DbClient.connect({ etcd, tls, deadlineMs: 30_000 });
    const file = join(scope.dir, 'embedded.db');
    const local = openSqliteDb(file);
    try {
      await bootstrapCloud(local, 'unused');
      const remote = await errorsOf(remoteCloudDb(client));
      const embedded = await errorsOf(local);
      expect(embedded.map((e) => e.name)).toEqual([
        'DbNotFoundError',
        'DbConflictError',
        'DbStaleError',
        'DbQuotaExceededError',
        'DbExhaustedError',
      ]);
      expect(remote).toEqual(embedded);
    } finally {
      await local.close();
      await client.close();
      etcd.close();
    }
  });

  it('keeps answering through a kill -9 of the DB master, losing and doubling no acknowledged write', async () => {
    const first = await masterOf(masters);
    const token = await adminToken(nodeA.url, password, { dispatcher: nodeA.dispatcher });
    const headers = { 'x-auth-token': token, 'content-type': 'application/json' };
    const acked: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const name = `failover-${i}`;
        const response = await fetch(`${nodeA.url}/image/v2/images`, {
          dispatcher: nodeA.dispatcher,
          method: 'POST',
          headers,
          body: JSON.stringify({ name }),
        });
        if (response.status === 201) acked.push(name);
        else failures.push(`${name}: ${response.status} ${await response.text()}`);
      }
    })();
    await waitFor('writes before the kill', () => acked.length >= 20, 30_000, 20);
    await first.daemon.stop(); // kill -9
    const atKill = acked.length;
    masters.push(startMaster('m3')); // the next standby
    const second = await masterOf(masters);
    expect(second).not.toBe(first);
    await waitFor('writes after the failover', () => acked.length >= atKill + 20, 60_000, 20);
    stop = true;
    await writer;

    expect(failures).toEqual([]);
    const listed = (await (
      await fetch(`${nodeB.url}/image/v2/images?limit=1000`, {
        dispatcher: nodeB.dispatcher,
        headers: { 'x-auth-token': token },
      })
    ).json()) as { images: { name: string }[] };
    const counts = new Map<string, number>();
    for (const { name } of listed.images) counts.set(name, (counts.get(name) ?? 0) + 1);
    expect(acked.filter((name) => counts.get(name) !== 1)).toEqual([]);
    expect(second.events().some((e) => e.event === 'db.master.fenced')).toBe(true);
  });
});

/** Runs the same failing calls on `db` and returns what each threw. */
async function errorsOf(db: CloudDb) {
  const caught = async (call: () => Promise<unknown>) => {
    const error = (await call().then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { code?: string; retryable?: boolean }) | undefined;
    return { name: error?.constructor.name, code: error?.code, message: error?.message, retryable: error?.retryable };
  };
  const [provider] = await db.networks.list({ name: 'provider' });
  const [admin] = await db.projects.list({ name: 'admin' });
  const now = '2026-01-01T00:00:00.000Z';
  const server = (id: string): Omit<Server, 'flavor'> => ({
    ...newServer({ id, projectId: admin?.id ?? '', userId: 'someone', name: id, flavorId: '1', imageId: 'none' }),
    ...{ createdAt: now, updatedAt: now },
    ...{ state: 'building', machine: '{}', host: 'here', addresses: [] },
  });
  const quota = { instances: 10, cores: 20, ram: 51200, serverGroupMembers: 10 };
  const nic = (n: string) => ({
    networkId: 'tiny-net',
    portId: `port-${n}`,
    macAddress: `fa:16:3e:00:00:0${n}`,
    tag: null,
    securityGroupIds: [],
    existing: false,
    fixedIp: null,
  });
  await db.servers.create(server('errors-vm-1'), [{ ...nic('1'), networkId: provider?.id ?? '' }], quota);
  await db.networks.create(
    {
      id: 'tiny-net',
      name: 'tiny',
      projectId: 'p',
      shared: false,
      external: false,
      mtu: 1450,
      adminStateUp: true,
      networkType: 'vxlan',
      segmentationId: null,
      description: '',
      createdAt: now,
      updatedAt: now,
    },
    -1,
  );
  await db.networks.createSubnet(
    {
      id: 'tiny-subnet',
      name: 'tiny-v4',
      networkId: 'tiny-net',
      projectId: 'p',
      cidr: '10.99.0.0/30',
      gatewayIp: '10.99.0.1',
      ipVersion: 4,
      enableDhcp: true,
      allocationPools: [{ start: '10.99.0.2', end: '10.99.0.2' }],
      dnsNameservers: [],
      hostRoutes: [],
      description: '',
      createdAt: now,
      updatedAt: now,
    },
    -1,
  );
  await db.servers.create(server('errors-vm-2'), [nic('2')], quota);
  return [
    await caught(() => db.projects.update('no-such-project', { name: 'x' })),
    await caught(() => db.projects.create({ ...(admin as NonNullable<typeof admin>), id: randomUUID() })),
    await caught(() => db.servers.transition('errors-vm-1', 'not-its-state', { state: 'active', machine: '{}' })),
    await caught(() => db.servers.create(server('errors-vm-3'), [], { ...quota, instances: 0 })),
    await caught(() => db.servers.create(server('errors-vm-4'), [nic('4')], quota)),
  ];
}
