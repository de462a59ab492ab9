/**
 * The node's guest DHCP server and metadata service, as one small process inside the
 * guest-services namespace (`rackseed host guest-net`, started there by the host service with
 * `ip netns exec`: a Node process cannot enter another namespace). It owns UDP :67 and
 * 169.254.169.254:80 there and knows nothing itself: it asks the host service over a unix
 * socket (a file, reachable across namespaces, mode 0600), adding the caller's address as the
 * socket saw it — never anything the guest sent.
 */
import { createSocket } from 'node:dgram';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { decodeDhcp, encodeDhcp, MSG, OPT } from '../../../bootstrap/index.js';
import { type GuestLease, guestDhcpReply, METADATA_ADDRESS } from './guest-dhcp.js';

/** The header that carries the caller's address from this process to the host service. */
export const CALLER_HEADER = 'x-rackseed-guest-address';
/** Largest metadata request body relayed (a password POST is 256 bytes at most). */
const BODY_LIMIT = 4096;

interface Relayed {
  status: number;
  type: string;
  body: Buffer;
}

/** One call to the host service's guest-net socket. */
function ask(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Relayed> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, method, path, headers, timeout: 5_000 }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 502,
          type: String(res.headers['content-type'] ?? 'text/plain'),
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('the host service did not answer')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs the DHCP server and the metadata relay until `close()`. */
export async function runGuestNet(
  socketPath: string,
  log: (line: string) => void,
): Promise<{ close(): Promise<void> }> {
  const dhcp = createSocket({ type: 'udp4', reuseAddr: true });
  dhcp.on('message', (message, from) => {
    void (async () => {
      let request;
      try {
        request = decodeDhcp(message);
      } catch (error) {
        log(
          `dhcp: dropped a malformed packet from ${from.address}: ${(error as { code?: string }).code ?? String(error)}`,
        );
        return;
      }
      const type = request.options.get(OPT.MESSAGE_TYPE)?.[0];
      if (type !== MSG.DISCOVER && type !== MSG.REQUEST && type !== MSG.INFORM) return;
      const mac = [...request.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
      const answer = await ask(socketPath, 'GET', `/lease/${mac}`, {}).catch(() => undefined);
      if (!answer || answer.status !== 200) return; // not this node's guest: silence
      const lease = JSON.parse(answer.body.toString()) as GuestLease;
      const reply = guestDhcpReply(request, () => lease);
      if (!reply) return;
      // RFC 2131 §4.1: a client with an address (renewing, INFORM) is answered there; else broadcast.
      const to = request.ciaddr !== '0.0.0.0' ? request.ciaddr : '255.255.255.255';
      dhcp.send(encodeDhcp(reply), 68, to, (error) => {
        if (error) log(`dhcp: no reply to ${mac}: ${error.message}`);
      });
    })().catch((error: unknown) => log(`dhcp: ${String(error)}`));
  });
  await new Promise<void>((resolve, reject) => {
    dhcp.once('error', reject);
    dhcp.bind(67, () => {
      dhcp.setBroadcast(true);
      dhcp.off('error', reject);
      dhcp.on('error', (error) => log(`dhcp: ${error.message}`));
      resolve();
    });
  });
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const caller = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      ask(
        socketPath,
        req.method ?? 'GET',
        `/metadata${req.url ?? '/'}`,
        { [CALLER_HEADER]: caller },
        Buffer.concat(chunks),
      )
        .then((answer) => {
          res.writeHead(answer.status, { 'content-type': answer.type });
          res.end(answer.body);
        })
        .catch(() => {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('The metadata service is not available');
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(80, METADATA_ADDRESS, resolve);
  });
  log(`guest DHCP on :67 and metadata on ${METADATA_ADDRESS}:80, answered by ${socketPath}`);
  return {
    close: async () => {
      dhcp.close();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
