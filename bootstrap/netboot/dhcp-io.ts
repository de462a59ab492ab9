/**
 * The DHCP server's sockets: UDP 67 (and 4011 in ProxyDHCP mode) on 0.0.0.0, since
 * node:dgram cannot bind to a device and a socket bound to the interface address does not
 * receive 255.255.255.255 broadcasts (research A3). Run it on a provisioning interface or
 * inside a dedicated network namespace. Holds no protocol knowledge: `dhcp-server.ts` decides.
 */
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { isRackseedError } from '../../agent/errors/index.js';
import { decodeDhcp, encodeDhcp } from './dhcp-codec.js';
import { type Decision, DhcpResponder, type DhcpConfig, type NetbootEvent } from './dhcp-server.js';
import { intToIp } from './ipv4.js';
import type { Lease, LeaseStore } from './leases.js';

const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/** A running DHCP server. */
export interface DhcpServer {
  /** Counters: packets answered, and bad input by error code. */
  readonly stats: { received: number; replied: number; rejected: Record<string, number> };
  /** The lease `mac` holds now, from the table the server answers from (undefined: none). */
  leaseOf(mac: string): Lease | undefined;
  close(): Promise<void>;
}

/** Starts the DHCP (or ProxyDHCP) server with leases restored from `store`. */
export async function startDhcpServer(options: {
  config: DhcpConfig;
  store: LeaseStore;
  onEvent: (event: NetbootEvent) => void;
  /** Defaults: 67 and 4011 (ProxyDHCP). Clients always listen on 68. */
  port?: number;
  clientPort?: number;
  now?: () => number;
}): Promise<DhcpServer> {
  const { config, store, onEvent } = options;
  const now = options.now ?? Date.now;
  const clientPort = options.clientPort ?? 68;
  const responder = new DhcpResponder(config);
  responder.restore(await store.load());
  const stats = { received: 0, replied: 0, rejected: {} as Record<string, number> };
  const broadcast = intToIp(config.subnet.broadcast);

  const reject = (code: string, mac: string, detail: string): void => {
    stats.rejected[code] = (stats.rejected[code] ?? 0) + 1;
    onEvent({ type: 'dhcp.rejected', mac, detail: `${code}: ${detail}` });
  };

  const send = (socket: Socket, decision: Decision, sender: RemoteInfo): void => {
    if (!decision.reply || !decision.to) return;
    const bytes = encodeDhcp(decision.reply);
    const to = decision.to;
    const [ip, port] =
      to.kind === 'broadcast'
        ? [broadcast, clientPort]
        : to.kind === 'sender'
          ? [sender.address, sender.port]
          : [to.ip, to.port];
    socket.send(bytes, port, ip, (error) => {
      if (error) reject('DHCP_ERR_SEND', decision.event.mac, error.message);
      else stats.replied += 1;
    });
  };

  const onMessage = (socket: Socket, viaPxePort: boolean) => async (msg: Buffer, sender: RemoteInfo) => {
    stats.received += 1;
    let decision: Decision;
    try {
      decision = responder.handle(decodeDhcp(msg), now(), viaPxePort);
    } catch (error) {
      // Silence is DHCP's answer to a packet it cannot read.
      reject(isRackseedError(error) ? error.code : 'DHCP_ERR_INTERNAL', '?', String(error));
      return;
    }
    try {
      if (decision.bind) await store.save(decision.bind); // durable before the client hears ACK
      if (decision.unbind) await store.remove(decision.unbind);
    } catch (error) {
      reject(isRackseedError(error) ? error.code : 'STORE_ERR_LEASE_IO', decision.event.mac, String(error));
      return; // no ACK without a durable lease: the client retries
    }
    onEvent(decision.event);
    send(socket, decision, sender);
  };

  const bind = (port: number, viaPxePort: boolean): Promise<Socket> =>
    new Promise((resolve, fail) => {
      const socket = createSocket({ type: 'udp4', reuseAddr: true });
      socket.on('message', (msg, sender) => void onMessage(socket, viaPxePort)(msg, sender));
      socket.once('error', fail);
      socket.bind(port, '0.0.0.0', () => {
        socket.setBroadcast(true);
        // A rack powered on at once (or a burst of RELEASEs) overflows the default 208 KB: packets
        // would be dropped before we read them. Linux caps this at net.core.rmem_max.
        socket.setRecvBufferSize(RECV_BUFFER_BYTES);
        socket.off('error', fail);
        socket.on('error', (error) => reject('DHCP_ERR_SOCKET', '?', error.message));
        resolve(socket);
      });
    });

  const sockets = [await bind(options.port ?? 67, false)];
  if (config.mode === 'proxy') sockets.push(await bind(4011, true));
  return {
    stats,
    leaseOf: (mac) => responder.leaseOf(mac.toLowerCase(), now()),
    close: () => Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}
