import { randomBytes } from 'node:crypto';
// The cost of mutual TLS on the internal planes, as ratios against plain in the same run:
// etcd puts and watch deliveries through the agents' client (Store) on a plain etcd and on one
// serving mutual TLS with the revocation list (as every node's member does), and an RPC as the
// DB master and the host service serve them (a JSON POST over a kept-alive connection; Node's
// https with NodeTls against plain http, same handler), and a new connection's cost (TLS 1.3
// handshake with client certificates against a plain TCP connect). And the public API as
// `cloud serve` builds it (createApi, fastify): the same app once with the certificate it serves
// (HTTPS, no client certificate) and once without (plain HTTP, which the product never serves),
// over one database so that both answer the same bytes: Keystone token issue with a password
// on a kept-alive connection and on a new one each time (as each `openstack` CLI invocation
// opens), and Nova's servers/detail with servers present. Calls to the two alternate, so that
// what else the machine does weighs on both alike.
import { mkdirSync } from 'node:fs';
import { createServer as createPlain, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTls } from 'node:https';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent, fetch, type Response } from 'undici';
import { type NodeTls, Store } from '../agent/index.js';
import { bootstrapCloud, createApi } from '../appliance/api/index.js';
import { LocalBlobStore } from '../appliance/blobs/index.js';
import { FakeDriver } from '../appliance/compute/index.js';
import { openSqliteDb } from '../appliance/db/index.js';
import { Scope, startEtcd, testCa, testNodeTls } from '../test/bed/index.js';
import { median, quantile, row, timeMs } from './stats.js';

const PUTS = Number(process.env.BENCH_TLS_PUTS ?? 500);
const CALLS = Number(process.env.BENCH_TLS_CALLS ?? 2000);
const CONNECTS = Number(process.env.BENCH_TLS_CONNECTS ?? 300);
const TOKENS = Number(process.env.BENCH_TLS_TOKENS ?? 100);
const LISTS = Number(process.env.BENCH_TLS_LISTS ?? 300);
const SERVERS = Number(process.env.BENCH_TLS_SERVERS ?? 100);
const WARM = 10;
const PASSWORD = 'bench-password';

const ms = (values: readonly number[]) => `${median(values).toFixed(3)} / ${quantile(values, 0.99).toFixed(3)}`;

/** Latencies of sequential puts, and of watch deliveries (put → event), on `store`. */
async function etcdLatencies(store: Store, prefix: string): Promise<{ puts: number[]; watch: number[] }> {
  const puts: number[] = [];
  const watch: number[] = [];
  const sent = new Map<string, number>();
  const handle = await store.watchPrefix(prefix, {
    onChange: (change) => {
      const at = sent.get(change.entry.key);
      if (at !== undefined) watch.push(performance.now() - at);
    },
    onResync: () => {},
  });
  try {
    for (let i = 0; i < PUTS; i++) {
      const key = `${prefix}${i}`;
      const started = performance.now();
      sent.set(key, started);
      await store.put(key, 'x'.repeat(200));
      puts.push(performance.now() - started);
    }
    const deadline = Date.now() + 10_000;
    while (watch.length < PUTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  } finally {
    await handle.close();
  }
  return { puts, watch };
}

const echo = (request: IncomingMessage, response: ServerResponse) => {
  const chunks: Buffer[] = [];
  request.on('data', (c: Buffer) => chunks.push(c));
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(Buffer.concat(chunks));
  });
};

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Latencies of JSON POSTs to `url` with `dispatcher` (kept alive: one connection). */
async function calls(url: string, dispatcher: Agent): Promise<number[]> {
  const body = JSON.stringify({ op: 'servers.list', args: { project: 'p'.repeat(32), limit: 100 } });
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now();
    const response = await fetch(url, { method: 'POST', body, dispatcher });
    await response.arrayBuffer();
    times.push(performance.now() - started);
  }
  return times;
}

/** Latencies of one request each on a new connection. */
async function newConnections(url: string, connect: () => Agent): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < CONNECTS; i++) {
    const dispatcher = connect();
    const started = performance.now();
    const response = await fetch(url, { method: 'POST', body: '{}', dispatcher });
    await response.arrayBuffer();
    times.push(performance.now() - started);
    await dispatcher.close();
  }
  return times;
}

/**
 * `count` measures each of `plain` and `secure` (each call returns its own milliseconds), taken in
 * turn and in both orders (AB, BA, …), after {@link WARM} of each left out.
 */
async function alternating(
  count: number,
  plain: () => Promise<number>,
  secure: () => Promise<number>,
): Promise<{ plain: number[]; secure: number[] }> {
  const times = { plain: [] as number[], secure: [] as number[] };
  for (let i = 0; i < WARM + count; i++) {
    const a = await (i % 2 === 0 ? plain() : secure());
    const b = await (i % 2 === 0 ? secure() : plain());
    if (i < WARM) continue;
    times.plain.push(i % 2 === 0 ? a : b);
    times.secure.push(i % 2 === 0 ? b : a);
  }
  return times;
}

/** The body's bytes, or an error naming the request unless it answered `status`. */
async function expect(response: Response, status: number): Promise<ArrayBuffer> {
  const body = await response.arrayBuffer();
  if (response.status !== status) {
    throw new Error(`${response.url}: ${response.status} ${Buffer.from(body).toString('utf8').slice(0, 200)}`);
  }
  return body;
}

const AUTH = JSON.stringify({
  auth: {
    identity: {
      methods: ['password'],
      password: { user: { name: 'admin', domain: { id: 'default' }, password: PASSWORD } },
    },
    scope: { project: { name: 'admin', domain: { id: 'default' } } },
  },
});

/** A Keystone token for the admin project (`POST /identity/v3/auth/tokens` with the password). */
async function issueToken(url: string, dispatcher: Agent): Promise<string> {
  const response = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: AUTH,
    dispatcher,
  });
  await expect(response, 201);
  return response.headers.get('x-subject-token') ?? '';
}

/** SERVERS servers created through the API at `url` (fake driver), once all are ACTIVE. */
async function createServers(url: string, token: string, dispatcher: Agent): Promise<void> {
  const headers = { 'x-auth-token': token, 'content-type': 'application/json' };
  const image = JSON.parse(
    Buffer.from(
      await expect(
        await fetch(`${url}/image/v2/images`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: 'bench', visibility: 'public' }),
          dispatcher,
        }),
        201,
      ),
    ).toString('utf8'),
  ) as { id: string };
  await expect(
    await fetch(`${url}/image/v2/images/${image.id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(1024),
      dispatcher,
    }),
    204,
  );
  for (let i = 0; i < SERVERS; i++) {
    const body = JSON.stringify({ server: { name: `bench-${i}`, imageRef: image.id, flavorRef: '1' } });
    await expect(await fetch(`${url}/compute/v2.1/servers`, { method: 'POST', headers, body, dispatcher }), 202);
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = JSON.parse(
      Buffer.from(
        await expect(await fetch(`${url}/compute/v2.1/servers?status=ACTIVE`, { headers, dispatcher }), 200),
      ).toString('utf8'),
    ) as { servers: unknown[] };
    if (list.servers.length >= SERVERS) return;
    if (Date.now() > deadline) throw new Error(`${list.servers.length} of ${SERVERS} bench servers ACTIVE after 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The public API's rows: token issue (kept alive, new connection) and servers/detail, plain against HTTPS. */
async function apiRows(dir: string, apiTls: { cert: string; key: string }, ca: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const db = openSqliteDb(join(dir, 'cloud.db'));
  const apps: FastifyInstance[] = [];
  const agents: Agent[] = [];
  try {
    const { projectId } = await bootstrapCloud(db, PASSWORD);
    await db.quotas.set(projectId, { instances: -1, cores: -1, ram: -1 });
    const blobs = new LocalBlobStore(join(dir, 'images'));
    // One public URL for both, so that catalogs and links are the same bytes.
    const build = async (tls?: { cert: string; key: string }) => {
      const api = await createApi({
        db,
        blobs,
        driver: new FakeDriver(),
        credentialKey: randomBytes(32),
        publicUrl: 'https://127.0.0.1:5000',
        ...(tls ? { tls } : {}),
      });
      apps.push(api.app);
      return api.app.listen({ port: 0, host: '127.0.0.1' });
    };
    const plainUrl = await build();
    const tlsUrl = await build(apiTls);
    // The API's clients trust its CA and present no certificate.
    const connectPlain = () => new Agent();
    const connectTls = () => new Agent({ connect: { ca } });
    const plainAgent = connectPlain();
    const tlsAgent = connectTls();
    agents.push(plainAgent, tlsAgent);

    await createServers(plainUrl, await issueToken(plainUrl, plainAgent), plainAgent);
    const kept = await alternating(
      TOKENS,
      () => timeMs(() => issueToken(plainUrl, plainAgent)),
      () => timeMs(() => issueToken(tlsUrl, tlsAgent)),
    );
    const fresh = async (url: string, connect: () => Agent) => {
      const dispatcher = connect();
      try {
        return await timeMs(() => issueToken(url, dispatcher));
      } finally {
        await dispatcher.close();
      }
    };
    const opened = await alternating(
      TOKENS,
      () => fresh(plainUrl, connectPlain),
      () => fresh(tlsUrl, connectTls),
    );
    const list = async (url: string, token: string, dispatcher: Agent) =>
      timeMs(async () => {
        const response = await fetch(`${url}/compute/v2.1/servers/detail`, {
          headers: { 'x-auth-token': token },
          dispatcher,
        });
        const body = await expect(response, 200);
        if (body.byteLength < SERVERS * 100) throw new Error(`servers/detail: ${body.byteLength} bytes`);
      });
    const plainToken = await issueToken(plainUrl, plainAgent);
    const tlsToken = await issueToken(tlsUrl, tlsAgent);
    const lists = await alternating(
      LISTS,
      () => list(plainUrl, plainToken, plainAgent),
      () => list(tlsUrl, tlsToken, tlsAgent),
    );

    row('public API (fastify, as `cloud serve`)', 'plain p50 / p99 ms', 'HTTPS p50 / p99 ms', 'ratio of p50s');
    const ratio = (t: { plain: number[]; secure: number[] }) => (median(t.secure) / median(t.plain)).toFixed(2);
    row('token issue on a kept-alive connection', ms(kept.plain), ms(kept.secure), ratio(kept));
    row('token issue on a new connection (CLI)', ms(opened.plain), ms(opened.secure), ratio(opened));
    row(`servers/detail (${SERVERS} servers), kept alive`, ms(lists.plain), ms(lists.secure), ratio(lists));
  } finally {
    for (const agent of agents) await agent.close();
    for (const app of apps) await app.close();
    await db.close();
  }
}

export default async function tlsBench(): Promise<void> {
  const scope = Scope.open('bench-tls');
  try {
    const dir = join(scope.dir, 'pki');
    const testAuthority = await testCa(dir);
    const serverTls: NodeTls = await testNodeTls(dir, 'server');
    const clientTls: NodeTls = await testNodeTls(dir, 'client');
    serverTls.storeCrl(await testAuthority.revocationList([]));

    row(
      'tls bench',
      `${PUTS} etcd puts, ${CALLS} RPCs, ${CONNECTS} new connections, ${TOKENS} API token issues of each kind, ${LISTS} server lists each way`,
    );
    row('', 'plain p50 / p99 ms', 'mutual TLS p50 / p99 ms', 'ratio of p50s');

    const plainEtcd = await startEtcd({ members: 1 });
    const tlsEtcd = await startEtcd({ members: 1, tls: serverTls });
    const plainStore = Store.connect([...plainEtcd.endpoints]);
    const tlsStore = Store.connect([...tlsEtcd.endpoints], clientTls);
    try {
      // A first round each to warm the connections, then the measured one.
      await etcdLatencies(plainStore, `/bench/tls/warm-plain/`);
      await etcdLatencies(tlsStore, `/bench/tls/warm-tls/`);
      const plain = await etcdLatencies(plainStore, `/bench/tls/plain/`);
      const secure = await etcdLatencies(tlsStore, `/bench/tls/tls/`);
      row('etcd put (Store)', ms(plain.puts), ms(secure.puts), (median(secure.puts) / median(plain.puts)).toFixed(2));
      row(
        'etcd watch delivery (put → event)',
        ms(plain.watch),
        ms(secure.watch),
        (median(secure.watch) / median(plain.watch)).toFixed(2),
      );
    } finally {
      await plainStore.close();
      await tlsStore.close();
      await plainEtcd.stop();
      await tlsEtcd.stop();
    }

    const plainServer = createPlain(echo);
    const tlsServer = createTls(serverTls.serverOptions(), echo);
    const plainUrl = `http://127.0.0.1:${await listen(plainServer)}/v1/call`;
    const tlsUrl = `https://127.0.0.1:${await listen(tlsServer)}/v1/call`;
    const { ca, cert, key } = clientTls.read();
    try {
      const plainAgent = new Agent();
      const tlsAgent = clientTls.dispatcher();
      await calls(plainUrl, plainAgent);
      await calls(tlsUrl, tlsAgent);
      const plain = await calls(plainUrl, plainAgent);
      const secure = await calls(tlsUrl, tlsAgent);
      await plainAgent.close();
      row('RPC on a kept-alive connection', ms(plain), ms(secure), (median(secure) / median(plain)).toFixed(2));
      const plainNew = await newConnections(plainUrl, () => new Agent());
      const tlsNew = await newConnections(
        tlsUrl,
        () => new Agent({ connect: { ca, cert, key, minVersion: 'TLSv1.3' } }),
      );
      row(
        'RPC on a new connection (handshake)',
        ms(plainNew),
        ms(tlsNew),
        (median(tlsNew) / median(plainNew)).toFixed(2),
      );
    } finally {
      plainServer.close();
      tlsServer.close();
      await serverTls.close();
      await clientTls.close();
    }

    // The API serves the certificate a node gets for its own key beside its node certificate.
    await apiRows(join(scope.dir, 'api'), serverTls.readApi(), testAuthority.certPem);
  } finally {
    await scope.close();
  }
}
