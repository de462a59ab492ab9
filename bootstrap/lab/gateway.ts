import { existsSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { followEtcdEndpoints, keys, NodeTls, Store } from '../../agent/index.js';
import { apiBackendsOf, BackendPool, type Endpoint, formatEndpoint, GatewayError } from './gateway-pool.js';
import type { Daemon, Scope } from './scope.js';
import { waitFor } from './wait.js';

/**
 * The lab gateway: how the operator on the host reaches the API of a lab whose nodes live in
 * network namespaces. A process on the host cannot connect into a namespace, so it is two:
 * the *relay*, started inside the lab's bridge namespace, accepts on a unix socket in the lab's
 * directory (the file system is shared) and forwards each connection to a live node's API,
 * round-robin, skipping nodes that refuse or do not answer; the *listener*, on the host, accepts
 * on 127.0.0.1:PORT and pipes each connection to that socket. Both are plain TCP splices: one
 * URL for the whole cloud, as a VIP would be. TLS passes through unchanged: each node's API
 * certificate names the gateway's 127.0.0.1 (the cloud's public URL) besides the node.
 */

/** The API port of a node (`rackseed cloud serve`'s default). */
export const API_PORT = 5000;

/**
 * Where the relay's backends come from: the cluster's live node records (etcd, over https with
 * the seed's node certificate, whose directory may not exist until the seed has started), or a
 * fixed list.
 */
export type GatewayBackends =
  { readonly etcd: readonly string[]; readonly tlsDir?: string } | { readonly static: readonly Endpoint[] };

export interface GatewayRelayOptions {
  /** The unix socket to accept on (removed first if a dead relay left it). */
  socket: string;
  backends: GatewayBackends;
  /** The nodes' API port, for backends found in etcd (default {@link API_PORT}). */
  apiPort?: number;
  /** A backend that has not accepted within this is skipped (default 1 s). */
  connectTimeoutMs?: number;
  /** How long a backend that failed is tried only after the others (default 5 s). */
  downMs?: number;
  /** How often the node list is read again from etcd (default 2 s). */
  refreshMs?: number;
  log: (line: string) => void;
}

/** A running relay or listener. */
export interface GatewayProcess {
  close(): Promise<void>;
}

/**
 * What a client gets when no backend answers: its connection closed, as behind a TCP load
 * balancer with no healthy backend. The API is TLS end to end, and the gateway holds no
 * certificate to answer with (the why is in the relay's or the listener's log).
 */
function unavailable(client: Socket): void {
  client.destroy();
}

/** Connects to a TCP endpoint or a unix socket; rejects on refusal, error, or no answer within `timeoutMs`. */
function dial(target: Endpoint | string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof target === 'string' ? createConnection(target) : createConnection(target);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Pipes two sockets both ways; when either closes or fails, both go. */
function splice(a: Socket, b: Socket): void {
  const both = () => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on('error', both);
    s.on('close', both);
  }
  a.pipe(b);
  b.pipe(a);
}

function listen(server: Server, target: string | Endpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (typeof target === 'string') server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * The relay (run inside the lab's namespace): accepts on `socket`, forwards each connection to
 * the next live backend. A backend that refuses or does not answer within the connect timeout
 * is marked down (logged when it goes down and when it answers again) and the next is tried;
 * when none answers, the client's connection is closed.
 */
export async function runGatewayRelay(options: GatewayRelayOptions): Promise<GatewayProcess> {
  const { log } = options;
  const timeoutMs = options.connectTimeoutMs ?? 1_000;
  const pool = new BackendPool({ downMs: options.downMs ?? 5_000 });
  const down = new Set<string>();
  let failures = 0;
  let closeSource = async () => {};
  if ('static' in options.backends) {
    pool.set(options.backends.static);
  } else {
    // The agent's store: its breaker lets a member that was down back in, and the endpoints
    // follow the voters, so the relay outlives the seed's etcd. Made at the first refresh that
    // finds the seed's certificate.
    const { etcd, tlsDir } = options.backends;
    let store: Store | undefined;
    // Started before the seed's etcd answers: it follows the voters from the first refresh that reaches it.
    let following: { close(): Promise<void> } | undefined;
    const apiPort = options.apiPort ?? API_PORT;
    let lastError = '';
    let lastList = '';
    const refresh = async () => {
      try {
        store ??= Store.connect(etcd, tlsDir === undefined ? undefined : new NodeTls(tlsDir));
        following ??= await followEtcdEndpoints(store);
        const records = await store.list(keys.nodes);
        pool.set(
          apiBackendsOf(
            records.entries.map((e) => e.value),
            apiPort,
          ),
        );
        lastError = '';
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        // The last list stays in use; the error is logged once until it changes.
        if (message !== lastError) log(`cannot read the nodes from etcd (${message}); keeping the last list`);
        lastError = message;
      }
      const list = pool.backends.map(formatEndpoint).join(' ');
      if (list !== lastList) log(`backends: ${list || '(none)'}`);
      lastList = list;
    };
    await refresh();
    const timer = setInterval(() => void refresh(), options.refreshMs ?? 2_000);
    closeSource = async () => {
      clearInterval(timer);
      await following?.close();
      await store?.close();
    };
  }
  const forward = async (client: Socket) => {
    client.on('error', () => client.destroy());
    for (const backend of pool.candidates(Date.now())) {
      if (client.destroyed) return;
      const name = formatEndpoint(backend);
      try {
        const upstream = await dial(backend, timeoutMs);
        pool.markUp(backend);
        if (down.delete(name)) log(`backend ${name} answers again`);
        if (client.destroyed) upstream.destroy();
        else splice(client, upstream);
        return;
      } catch (error) {
        failures++;
        pool.markDown(backend, Date.now());
        if (!down.has(name)) {
          down.add(name);
          log(`backend ${name} skipped: ${(error as Error).message} (${failures} failed attempts so far)`);
        }
      }
    }
    log('no node of the cloud answers: a connection closed');
    unavailable(client);
  };
  if (existsSync(options.socket)) rmSync(options.socket);
  const server = createServer({ pauseOnConnect: true }, (client) => {
    forward(client).catch((error: unknown) => {
      log(`connection dropped: ${String(error)}`);
      client.destroy();
    });
  });
  server.on('error', (error) => log(`relay socket error: ${error.message}`));
  try {
    await listen(server, options.socket);
  } catch (error) {
    await closeSource();
    throw new GatewayError('GATEWAY_ERR_NOT_LISTENING', `cannot listen on ${options.socket}: ${String(error)}`, {
      cause: error,
    });
  }
  log(`relay on ${options.socket}`);
  return {
    close: async () => {
      await closeServer(server);
      await closeSource();
    },
  };
}

/**
 * The listener (run on the host): accepts on `listen` and pipes each connection to the relay's
 * unix socket; a client's connection is closed while the relay is not there.
 */
export async function runGatewayListener(options: {
  listen: Endpoint;
  socket: string;
  log: (line: string) => void;
}): Promise<GatewayProcess> {
  let relayDown = false;
  const server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => client.destroy());
    dial(options.socket, 2_000).then(
      (upstream) => {
        if (relayDown) options.log(`relay ${options.socket} answers again`);
        relayDown = false;
        if (client.destroyed) upstream.destroy();
        else splice(client, upstream);
      },
      (error: Error) => {
        if (!relayDown) options.log(`relay ${options.socket} does not answer: ${error.message}`);
        relayDown = true;
        unavailable(client);
      },
    );
  });
  server.on('error', (error) => options.log(`listener error: ${error.message}`));
  try {
    await listen(server, options.listen);
  } catch (error) {
    throw new GatewayError(
      'GATEWAY_ERR_NOT_LISTENING',
      `cannot listen on ${formatEndpoint(options.listen)}: ${String(error)}; pick another port`,
      { cause: error },
    );
  }
  options.log(`listening on ${formatEndpoint(options.listen)}, relaying to ${options.socket}`);
  return { close: () => closeServer(server) };
}

/** A started gateway: its URL on the host and its two processes (recorded in the scope). */
export interface LabGateway {
  /** `https://127.0.0.1:PORT`: what the API advertises (`cloud serve --public-url`) and clouds.yaml names. */
  readonly url: string;
  readonly port: number;
  readonly socket: string;
  readonly relay: Daemon;
  readonly listener: Daemon;
}

export interface LabGatewayOptions {
  /** The lab's scope: the processes, the port and the socket are recorded in it and go with it. */
  scope: Scope;
  /** The namespace the relay runs in (one that reaches every node: the lab's bridge namespace). */
  netns: string;
  /** How to run rackseed (`[node, bin/rackseed.js]`). */
  rackseed: readonly string[];
  backends: GatewayBackends;
  /** The nodes' API port (default {@link API_PORT}). */
  apiPort?: number;
  /** The host port (default: a free one, locked in the scope). */
  port?: number;
  /** Working directory of both processes (default the scope's). */
  cwd?: string;
}

/**
 * Starts the lab gateway: the relay inside `netns`, the listener on 127.0.0.1, both recorded
 * in `scope` (so the lab's removal stops them by pid). Resolves once a connection to the
 * listener reaches the relay.
 */
export async function startLabGateway(options: LabGatewayOptions): Promise<LabGateway> {
  const { scope } = options;
  const port = options.port ?? (await scope.port());
  const socket = join(scope.dir, 'gateway.sock');
  const source =
    'static' in options.backends
      ? options.backends.static.flatMap((e) => ['--backend', formatEndpoint(e)])
      : [
          ...['--etcd', options.backends.etcd.join(',')],
          ...(options.backends.tlsDir ? ['--tls', options.backends.tlsDir] : []),
        ];
  const cwd = options.cwd ? { cwd: options.cwd } : {};
  const relay = scope.spawn(
    'gateway-relay',
    [
      ...options.rackseed,
      'lab',
      'gateway',
      'relay',
      '--socket',
      socket,
      ...source,
      '--api-port',
      String(options.apiPort ?? API_PORT),
    ],
    { netns: options.netns, ...cwd },
  );
  const listener = scope.spawn(
    'gateway',
    [...options.rackseed, 'lab', 'gateway', 'listen', '--listen', `127.0.0.1:${port}`, '--socket', socket],
    cwd,
  );
  await waitFor(
    `the lab gateway on 127.0.0.1:${port} (logs: ${listener.logFile}, ${relay.logFile})`,
    async () => {
      if (!relay.alive()) throw new Error(`the relay exited; see ${relay.logFile}`);
      if (!listener.alive()) throw new Error(`the listener exited; see ${listener.logFile}`);
      if (!existsSync(socket)) return false;
      const s = await dial({ host: '127.0.0.1', port }, 1_000);
      s.destroy();
      return true;
    },
    30_000,
  );
  return { url: `https://127.0.0.1:${port}`, port, socket, relay, listener };
}
