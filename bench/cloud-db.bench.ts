import { randomBytes } from 'node:crypto';
/**
 * The API over the DB master vs over embedded SQLite: median and p99 latency of API requests
 * sent one at a time to two in-process APIs on 127.0.0.1, one over `openSqliteDb` (a local
 * file), one over `remoteCloudDb` (a DbClient calling a real db-master process that hosts the
 * cloud schema on Ceph). The ratio is master / embedded for the same request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { bootstrapCloud, createApi } from '../appliance/api/index.js';
import { LocalBlobStore } from '../appliance/blobs/index.js';
import { FakeDriver } from '../appliance/compute/index.js';
import { CLOUD_SCHEMA_MODULE, type CloudDb, openSqliteDb, remoteCloudDb } from '../appliance/db/index.js';
import { DbClient } from '../appliance/dbmaster/index.js';
import { adminToken, Scope, spawnMaster, startCeph, startEtcd, testNodeTls, waitFor } from '../test/bed/index.js';
import { median, quantile, row } from './stats.js';

const REQUESTS = 200;
const PASSWORD = 'bench-password';

interface Target {
  url: string;
  headers: Record<string, string>;
  close(): Promise<void>;
}

async function serve(db: CloudDb, dir: string): Promise<Target> {
  await bootstrapCloud(db, PASSWORD);
  const api = await createApi({
    db,
    blobs: new LocalBlobStore(join(dir, 'images')),
    driver: new FakeDriver(),
    credentialKey: randomBytes(32),
    publicUrl: 'http://127.0.0.1',
  });
  const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
  const token = await adminToken(url, PASSWORD);
  return {
    url,
    headers: { 'x-auth-token': token, 'content-type': 'application/json' },
    close: async () => {
      await api.app.close();
      await db.close();
    },
  };
}

/** Milliseconds of each of REQUESTS requests made one after another. */
async function latencies(target: Target, path: string, init: RequestInit = {}): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    const response = await fetch(`${target.url}${path}`, { ...init, headers: target.headers });
    await response.arrayBuffer();
    if (response.status >= 300) throw new Error(`${path}: ${response.status}`);
    times.push(performance.now() - started);
  }
  return times;
}

export default async function cloudDbBench(): Promise<void> {
  const [ceph, etcdCluster] = await Promise.all([startCeph(), startEtcd({ members: 1 })]);
  const scope = Scope.open('bench-cloud-db');
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-bench-cloud-db-'));
  const etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
  const tls = await testNodeTls(join(dir, 'pki'), 'bench');
  const targets: Target[] = [];
  try {
    const start = (node: string) =>
      spawnMaster(scope, {
        etcd: etcdCluster.endpoints,
        location: { kind: 'ceph', conf: ceph.conf, pool: ceph.pool, namespace: 'bench', name: 'cloud' },
        node,
        tls,
        schemaModule: CLOUD_SCHEMA_MODULE,
      });
    const master = start('bench-1');
    await waitFor('the bench DB master', async () => (await master.status().catch(() => undefined))?.role === 'master');
    const client = await DbClient.connect({ etcd, tls });
    const embeddedDb = openSqliteDb(join(dir, 'cloud.db'));
    const remoteDb = remoteCloudDb(client);
    const embedded = await serve(embeddedDb, join(dir, 'embedded'));
    targets.push(embedded);
    const remote = await serve(remoteDb, join(dir, 'remote'));
    targets.push(remote, { url: '', headers: {}, close: () => client.close() });

    console.log(`${REQUESTS} requests one at a time each; master on Ceph (memstore OSD), same machine`);
    row('request', 'embedded p50/p99 ms', 'master p50/p99 ms', 'ratio of p50s');
    const cases: [string, string, RequestInit?][] = [
      ['GET /compute/ (no database)', '/compute/'],
      ['GET flavors/detail (token check + read)', '/compute/v2.1/flavors/detail'],
      ['GET servers/detail (empty)', '/compute/v2.1/servers/detail'],
      ['POST /image/v2/images (one write)', '/image/v2/images', { method: 'POST', body: '{"name":"bench"}' }],
    ];
    const figures = (t: number[]) => `${median(t).toFixed(2)} / ${quantile(t, 0.99).toFixed(2)}`.padStart(19);
    // One operation without HTTP in front: the floor of every request above.
    const calls = async (db: CloudDb) => {
      const times: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const started = performance.now();
        await db.domains.get('default');
        times.push(performance.now() - started);
      }
      return times;
    };
    const [localCalls, remoteCalls] = [await calls(embeddedDb), await calls(remoteDb)];
    row(
      'one read operation (domains.get)',
      figures(localCalls),
      figures(remoteCalls).padStart(17),
      `${(median(remoteCalls) / median(localCalls)).toFixed(2)} ×`,
    );
    for (const [label, path, init] of cases) {
      const local = await latencies(embedded, path, init);
      const over = await latencies(remote, path, init);
      row(label, figures(local), figures(over).padStart(17), `${(median(over) / median(local)).toFixed(2)} ×`);
    }

    // Failover as the API sees it: image creates one after another while the master is killed
    // -9 and a standby (lease 2 s) fences it and takes over.
    const standby = start('bench-2');
    await waitFor('the standby to listen', async () => (await standby.status().catch(() => undefined))?.role);
    const times: number[] = [];
    let failed = 0;
    const writes = (async () => {
      for (let i = 0; i < 400; i++) {
        const started = performance.now();
        const response = await fetch(`${remote.url}/image/v2/images`, {
          method: 'POST',
          headers: remote.headers,
          body: '{"name":"failover"}',
        });
        await response.arrayBuffer();
        if (response.status !== 201) failed++;
        times.push(performance.now() - started);
        if (i === 50) await master.daemon.stop(); // kill -9
      }
    })();
    await writes;
    row(
      'POST image across a master kill -9',
      `longest ${(Math.max(...times) / 1000).toFixed(2)} s`,
      `p50 ${median(times).toFixed(2)} ms`,
      `${failed} failed of ${times.length}`,
    );
  } finally {
    for (const target of targets.reverse()) await target.close();
    etcd.close();
    await scope.close();
    await Promise.all([ceph.stop(), etcdCluster.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
