import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { Etcd3 } from 'etcd3';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority, NodeTls } from '../../agent/index.js';
import { type Api, ApiMetrics, bootstrapCloud, createApi } from '../../appliance/api/index.js';
import { LocalBlobStore } from '../../appliance/blobs/index.js';
import { FakeDriver } from '../../appliance/compute/index.js';
import { CLOUD_SCHEMA_MODULE, remoteCloudDb } from '../../appliance/db/index.js';
import { DbClient, type DbMaster, startDbMaster } from '../../appliance/dbmaster/index.js';
import { adminToken, type EtcdCluster, startEtcd, testCa, testNodeTls, waitFor } from '../bed/index.js';

const PASSWORD = 'metrics-admin-secret';

let dir: string;
let etcdCluster: EtcdCluster;
let etcd: Etcd3;
let ca: CertificateAuthority;
/** The API node's certificates (its API certificate, the cluster CA, the revocation list). */
let node: NodeTls;
let master: DbMaster;
let client: DbClient;
let api: Api;
let url: string;
/** An OpenStack client's: trusts the cluster CA, presents no certificate. */
let trusting: Agent;

/** A GET of `path` on a new connection, presenting `as`'s node certificate if given (an operator's). */
async function get(path: string, as?: NodeTls): Promise<{ status: number; type: string | null; text: string }> {
  const presented = as?.read();
  const dispatcher = new Agent({ connect: { ca: node.read().ca, cert: presented?.cert, key: presented?.key } });
  try {
    const response = await fetch(`${url}${path}`, { dispatcher, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  } finally {
    await dispatcher.close();
  }
}

/**
 * A cluster node's API as `cloud serve --etcd` builds it, on its real parts: the listener with
 * the node's API certificate asking for a client certificate from the cluster CA
 * (NodeTls.apiServerOptions, following the files), the cloud database through a DB master (on
 * a local file here) and a DbClient that counts its calls, one ApiMetrics for all of it.
 */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rackseed-api-metrics-'));
  etcdCluster = await startEtcd({ members: 1 });
  etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
  ca = await testCa(join(dir, 'pki'));
  node = await testNodeTls(join(dir, 'pki'), 'api-1');
  node.storeCrl(await ca.revocationList([]));
  trusting = new Agent({ connect: { ca: node.read().ca } });
  const electionName = 'db-master-metrics';
  master = await startDbMaster({
    etcd,
    tls: node,
    location: { kind: 'local', path: join(dir, 'cloud.sqlite') },
    schemaModule: CLOUD_SCHEMA_MODULE,
    node: 'api-1',
    electionName,
  });
  await master.ready();
  const metrics = new ApiMetrics();
  client = await DbClient.connect({ etcd, tls: node, electionName, onCall: metrics.dbCall });
  const db = remoteCloudDb(client);
  await bootstrapCloud(db, PASSWORD);
  api = await createApi({
    db,
    blobs: new LocalBlobStore(join(dir, 'images')),
    driver: new FakeDriver(),
    credentialKey: randomBytes(32),
    publicUrl: 'https://127.0.0.1',
    tls: node.apiServerOptions(),
    metrics,
    logLevel: 'silent',
  });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  node.serve(api.app.server as unknown as TlsServer, 'api');
  url = `https://127.0.0.1:${(api.app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await trusting?.close();
  await api?.app.close();
  await client?.close();
  await master?.stop();
  await node?.close();
  etcd?.close();
  await etcdCluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('GET /metrics on a cluster node’s API', () => {
  it('still serves OpenStack clients that present no certificate', async () => {
    expect((await adminToken(url, PASSWORD, { dispatcher: trusting })).length).toBeGreaterThan(20);
    expect((await get('/identity/v3')).status).toBe(200);
  });

  it('answers 401 and no metric to a client without a certificate', async () => {
    const { status, text } = await get('/metrics');
    expect(status).toBe(401);
    expect(JSON.parse(text)).toMatchObject({ error: { code: 401, title: 'Unauthorized' } });
    expect(text).not.toMatch(/rackseed_|process_|nodejs_/);
  });

  it('serves the metrics to an operator’s certificate from the cluster CA: requests, DB calls, the process', async () => {
    const operator = await testNodeTls(join(dir, 'pki'), 'operator');
    try {
      // An image id taken: the operation's own error code is the call's outcome.
      const token = await adminToken(url, PASSWORD, { dispatcher: trusting });
      const create = () =>
        fetch(`${url}/image/v2/images`, {
          dispatcher: trusting,
          method: 'POST',
          headers: { 'x-auth-token': token, 'content-type': 'application/json' },
          body: JSON.stringify({ id: '6b1f0c4e-3f0a-4c55-9d0c-3a4f5b6c7d8e', name: 'taken' }),
        });
      expect((await create()).status).toBe(201);
      expect((await create()).status).toBe(409);

      const { status, type, text } = await get('/metrics', operator);
      expect(status).toBe(200);
      expect(type).toContain('text/plain; version=0.0.4');
      expect(text).toMatch(/^rackseed_api_requests_total\{service="identity",method="POST",status="201"\} [1-9]/m);
      expect(text).toMatch(/^rackseed_api_requests_total\{service="image",method="POST",status="409"\} 1$/m);
      expect(text).toContain('rackseed_api_request_duration_seconds_bucket{le="0.001",service="identity"}');
      expect(text).toMatch(/^rackseed_db_calls_total\{operation="tokens\.subject",outcome="ok"\} [1-9]/m);
      expect(text).toMatch(/^rackseed_db_calls_total\{operation="images\.create",outcome="ok"\} 1$/m);
      expect(text).toMatch(/^rackseed_db_calls_total\{operation="images\.create",outcome="DB_ERR_CONFLICT"\} 1$/m);
      expect(text).toContain('rackseed_db_call_duration_seconds_bucket{le="10",operation="tokens.subject"}');
      expect(text).toMatch(/^process_cpu_seconds_total [0-9.e+-]+$/m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
      // Neither the scrapes nor their refusals are counted.
      expect(text).not.toContain('status="401"');
    } finally {
      await operator.close();
    }
  });

  it('answers 401 to a certificate from another CA', async () => {
    const stranger = await testNodeTls(join(dir, 'other-pki'), 'operator');
    try {
      const { status, text } = await get('/metrics', stranger);
      expect(status).toBe(401);
      expect(text).not.toContain('rackseed_');
    } finally {
      await stranger.close();
    }
  });

  it('refuses an operator’s certificate within seconds of its revocation, and no one else’s', async () => {
    const revoked = await testNodeTls(join(dir, 'pki'), 'operator-gone');
    const kept = await testNodeTls(join(dir, 'pki'), 'operator-kept');
    try {
      expect((await get('/metrics', revoked)).status).toBe(200);
      node.storeCrl(await ca.revocationList([new X509Certificate(revoked.read().cert).serialNumber]));
      await waitFor(
        'the revoked certificate to be refused',
        async () => (await get('/metrics', revoked)).status === 401,
        10_000,
        100,
      );
      expect((await get('/metrics', kept)).status).toBe(200);
      expect((await get('/identity/v3')).status).toBe(200);
    } finally {
      await revoked.close();
      await kept.close();
    }
  });
});
