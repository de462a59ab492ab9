// The cost of mutual TLS on the internal planes, as ratios against plain in the same run:
// etcd puts and watch deliveries through the agents' client (Store) on a plain etcd and on one
// serving mutual TLS with the revocation list (as every node's member does), and an RPC as the
// DB master and the host service serve them (a JSON POST over a kept-alive connection; Node's
// https with NodeTls against plain http, same handler), and a new connection's cost (TLS 1.3
// handshake with client certificates against a plain TCP connect).
import { createServer as createPlain, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTls } from 'node:https';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { type NodeTls, Store } from '../agent/index.js';
import { Scope, startEtcd, testCa, testNodeTls } from '../test/bed/index.js';
import { median, quantile, row } from './stats.js';

const PUTS = Number(process.env.BENCH_TLS_PUTS ?? 500);
const CALLS = Number(process.env.BENCH_TLS_CALLS ?? 2000);
const CONNECTS = Number(process.env.BENCH_TLS_CONNECTS ?? 300);

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

export default async function tlsBench(): Promise<void> {
  const scope = Scope.open('bench-tls');
  try {
    const dir = join(scope.dir, 'pki');
    const testAuthority = await testCa(dir);
    const serverTls: NodeTls = await testNodeTls(dir, 'server');
    const clientTls: NodeTls = await testNodeTls(dir, 'client');
    serverTls.storeCrl(await testAuthority.revocationList([]));

    row('tls bench', `${PUTS} etcd puts, ${CALLS} RPCs, ${CONNECTS} new connections each way`);
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
  } finally {
    await scope.close();
  }
}
