/**
 * The guests' DHCP server and metadata service, served by the host service itself on sockets
 * that live inside each network's services namespace (segment.ts). A Node process cannot enter
 * another namespace, and a process per network (~40 MB each) is too heavy, so a short-lived
 * child started there with `ip netns exec` binds UDP :67 and TCP 169.254.169.254:80 and hands
 * both to this process over Node's IPC channel (SCM_RIGHTS), then exits (measured: ~30 ms from
 * spawn to both handles, ~43 MB resident for that time). A socket stays in the namespace it was made in.
 *
 * A guest is known by what the socket saw: DHCP by (network, MAC), metadata by (network,
 * caller's address) — never by what it sends. Each network answers only its own ports, so
 * the same address on two networks names two guests.
 */
import { spawn } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { childEnv } from '../../../agent/process/index.js';
import { decodeDhcp, encodeDhcp, MSG, OPT } from '../../../bootstrap/index.js';
import { HostPortError } from '../errors.js';
import { taggedDevices } from '../qemu/index.js';
import type { GuestState, NicRequest } from '../types.js';
import { type GuestLease, guestDhcpReply, METADATA_ADDRESS } from './guest-dhcp.js';
import { metadataAnswer } from './metadata.js';
import { segmentKey } from './segment.js';

/** Where the guests' records come from (the host service). */
export interface GuestDirectory {
  list(): GuestState[];
  /** Records what the guest posted to the metadata service's password path. */
  setPassword(id: string, password: string): Promise<void>;
}

/** Largest metadata request body taken (a password POST is 256 bytes at most). */
const BODY_LIMIT = 4096;
/** How long the binding child may take. */
const BIND_TIMEOUT_MS = 10_000;

/** The child's program (CommonJS, no tsx needed): binds both sockets, sends them, exits. */
const BINDER = `const dgram = require('node:dgram'), net = require('node:net');
const dhcp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
dhcp.bind(67, () => {
  dhcp.setBroadcast(true);
  const metadata = net.createServer();
  metadata.listen(80, '${METADATA_ADDRESS}', () =>
    process.send({ kind: 'dhcp' }, dhcp, () => process.send({ kind: 'metadata' }, metadata, () => process.exit(0))));
});`;

/** UDP :67 and TCP 169.254.169.254:80, bound inside `netns`. */
async function socketsIn(netns: string): Promise<{ dhcp: UdpSocket; metadata: Server }> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', BINDER], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: childEnv(),
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const got: { dhcp?: UdpSocket; metadata?: Server } = {};
    const timer = setTimeout(() => child.kill('SIGKILL'), BIND_TIMEOUT_MS);
    child.on('message', (message: { kind?: string }, handle: unknown) => {
      if (message.kind === 'dhcp') got.dhcp = handle as UdpSocket;
      if (message.kind === 'metadata') got.metadata = handle as Server;
    });
    child.on('error', (error) => reject(new HostPortError(`the sockets of ${netns}: ${error.message}`, error)));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const { dhcp, metadata } = got;
      if (dhcp && metadata) return resolve({ dhcp, metadata });
      dhcp?.close();
      metadata?.close();
      reject(
        new HostPortError(
          `the guest DHCP and metadata sockets of ${netns} could not be bound (exit ${code ?? signal}): ${stderr.trim()}`,
        ),
      );
    });
  });
}

/** The guest that has a port on this network matching `match`, with that port. */
function guestBy(
  directory: GuestDirectory,
  network: string,
  match: (nic: NicRequest) => boolean,
): { guest: GuestState; nic: NicRequest } | undefined {
  for (const guest of directory.list()) {
    const nic = guest.request.nics.find((n) => segmentKey(n.segment) === network && match(n));
    if (nic) return { guest, nic };
  }
  return undefined;
}

/** DHCP and metadata on each network's sockets, until closed. */
export class GuestServices {
  readonly #open = new Map<string, Promise<{ dhcp: UdpSocket; metadata: Server }>>();
  /** The network each metadata connection came in on. */
  readonly #networkOf = new WeakMap<Socket, string>();
  readonly #app: FastifyInstance;

  constructor(
    private readonly directory: GuestDirectory,
    private readonly log: (event: string, fields: Record<string, unknown>) => void = () => undefined,
  ) {
    this.#app = this.#metadataApp();
  }

  /** Serves the network (`segmentKey`) from its namespace; nothing to do if it is served (or being opened). */
  async open(network: string, netns: string): Promise<void> {
    const open = this.#open.get(network);
    if (open) {
      await open;
      return;
    }
    const opening = this.#bind(network, netns);
    this.#open.set(network, opening);
    // A failed open is forgotten: the next plug of the network tries again.
    opening.catch(() => this.#open.get(network) === opening && this.#open.delete(network));
    await opening;
  }

  async #bind(network: string, netns: string): Promise<{ dhcp: UdpSocket; metadata: Server }> {
    await this.#app.ready();
    const sockets = await socketsIn(netns);
    sockets.dhcp.on('message', (message, from) => this.#dhcp(network, sockets.dhcp, message, from.address));
    sockets.dhcp.on('error', (error) => this.log('host.guest-dhcp.error', { network, error: error.message }));
    sockets.metadata.on('connection', (socket: Socket) => {
      this.#networkOf.set(socket, network);
      this.#app.server.emit('connection', socket);
    });
    this.log('host.guest-services.open', { network, netns });
    return sockets;
  }

  /** Stops serving the network; nothing to do if it is not served. */
  async close(network: string): Promise<void> {
    const opening = this.#open.get(network);
    if (!opening) return;
    this.#open.delete(network);
    const sockets = await opening.catch(() => undefined);
    if (!sockets) return;
    sockets.dhcp.close();
    await new Promise((resolve) => sockets.metadata.close(resolve));
  }

  /** Stops serving every network. */
  async closeAll(): Promise<void> {
    for (const network of [...this.#open.keys()]) await this.close(network);
    await this.#app.close();
  }

  #dhcp(network: string, socket: UdpSocket, message: Buffer, from: string): void {
    let request;
    try {
      request = decodeDhcp(message);
    } catch (error) {
      this.log('host.guest-dhcp.malformed', {
        network,
        from,
        code: (error as { code?: string }).code ?? String(error),
      });
      return;
    }
    const type = request.options.get(OPT.MESSAGE_TYPE)?.[0];
    if (type !== MSG.DISCOVER && type !== MSG.REQUEST && type !== MSG.INFORM) return;
    const reply = guestDhcpReply(request, (mac) => {
      const found = guestBy(this.directory, network, (nic) => nic.mac === mac);
      if (!found) return undefined; // not this node's guest on this network: silence
      const { nic, guest } = found;
      const lease: GuestLease = {
        ip: nic.ip,
        prefixLength: nic.prefixLength,
        gateway: nic.gateway,
        mtu: nic.mtu,
        hostname: guest.request.metadata.hostname,
        dns: nic.dns,
      };
      return lease;
    });
    if (!reply) return;
    // RFC 2131 §4.1: a client with an address (renewing, INFORM) is answered there; else broadcast.
    const to = request.ciaddr !== '0.0.0.0' ? request.ciaddr : '255.255.255.255';
    socket.send(encodeDhcp(reply), 68, to, (error) => {
      if (error) this.log('host.guest-dhcp.error', { network, to, error: error.message });
    });
  }

  /** The metadata service (not listening: each network's server hands it its connections). */
  #metadataApp(): FastifyInstance {
    const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT });
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    app.all('/*', async (request, reply) => {
      const socket = request.raw.socket;
      const network = this.#networkOf.get(socket);
      const caller = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      const found = network === undefined ? undefined : guestBy(this.directory, network, (nic) => nic.ip === caller);
      if (!found) return reply.status(404).type('text/plain').send('Not Found');
      const { guest } = found;
      const body = typeof request.body === 'string' ? request.body : '';
      const answer = metadataAnswer(
        request.method,
        request.url,
        body,
        guest.request.metadata,
        guest.request.nics,
        guest.password ?? '',
        taggedDevices(guest.request),
      );
      if (answer.posted !== undefined) await this.directory.setPassword(guest.id, answer.posted);
      return reply.status(answer.status).type(answer.type).send(answer.body);
    });
    return app;
  }
}
