/**
 * HTTP boot on fastify: `GET /boot/<mac>.ipxe` (the node's iPXE script, with its enrollment
 * token), `GET /files/<name>` (kernel, initrd, images; streamed, with Range support) and
 * `GET /time` (this server's clock, ms since the epoch: a booted node steps its clock to it).
 * Every fetch is a boot event (which MAC or address fetched what). A script goes only to the
 * address DHCP leased to its MAC: anyone else on the provisioning network gets 403
 * NETBOOT_ERR_NOT_LEASE_HOLDER, and no token is made.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { NetbootEvent } from './dhcp-server.js';
import { HttpBootError } from './errors.js';
import { isCmdlineSafe, parseRange, renderIpxeScript } from './ipxe-script.js';
import type { Lease } from './leases.js';

/** The client a boot script goes to: the address it asked from (its lease's, when leases are checked). */
export interface BootClient {
  readonly ip: string;
  /** The SMBIOS GUID its lease recorded (DHCP option 97), to bind the token to. */
  readonly guid?: string;
}

/** Hands out a node's enrollment token (the seed's enrollment service), for the client that asked. */
export type TokenProvider = (mac: string, client: BootClient) => string | Promise<string>;

export interface HttpBootOptions {
  /** Directory holding the kernel, the initrd and any image the script names. */
  filesDir: string;
  /** How nodes reach this server, e.g. `http://10.0.0.1:8080`. */
  baseUrl: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  token: TokenProvider;
  /**
   * The lease `mac` holds now, from the DHCP server's own table (restored from its lease store,
   * the etcd one when the provisioner serves, and written through to it): a script goes only to
   * that lease's address. `null` in ProxyDHCP mode, where the site's DHCP server holds the leases
   * and nothing can be checked (the provisioner never serves so).
   */
  leaseOf: ((mac: string) => Lease | undefined) | null;
  onEvent: (event: NetbootEvent) => void;
  /** The MAC that holds an address, when known (from the DHCP leases), to name file fetches. */
  macOfIp?: (ip: string) => string | undefined;
}

const MAC_DASHED = /^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})\.ipxe$/;

/** The IPv4 address of a dual-stack socket's peer (`::ffff:a.b.c.d`) as DHCP leases it. */
const ipv4Of = (ip: string): string => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip);

/** Builds the fastify app (not listening: the caller picks the address and port). */
export function createHttpBoot(options: HttpBootOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get<{ Params: { name: string } }>('/boot/:name', async (request, reply) => {
    const m = MAC_DASHED.exec(request.params.name.toLowerCase());
    if (!m) return reply.code(404).type('text/plain').send('not a boot script\n');
    const mac = m.slice(1, 7).join(':');
    const asker = ipv4Of(request.ip);
    let client: BootClient = { ip: asker };
    if (options.leaseOf) {
      const lease = options.leaseOf(mac);
      if (lease?.ip !== asker) {
        const error = new HttpBootError(
          'NETBOOT_ERR_NOT_LEASE_HOLDER',
          `the boot script of ${mac} goes only to the address DHCP leased to ${mac}; boot that NIC by DHCP first`,
        );
        const why = lease ? `${mac} is leased ${lease.ip}` : `${mac} holds no lease`;
        options.onEvent({ type: 'http.rejected', mac, ip: request.ip, detail: `${error.code}: ${why}` });
        return reply.code(403).type('text/plain').send(`${error.code}: ${error.message}\n`);
      }
      if (lease.guid) client = { ip: asker, guid: lease.guid };
    }
    const token = await options.token(mac, client);
    if (!isCmdlineSafe(token)) {
      options.onEvent({ type: 'http.rejected', mac, ip: request.ip, detail: 'HTTPBOOT_ERR_BAD_TOKEN' });
      return reply
        .code(500)
        .type('text/plain')
        .send('HTTPBOOT_ERR_BAD_TOKEN: the token provider returned an unsafe token\n');
    }
    options.onEvent({ type: 'http.script', mac, ip: request.ip, detail: request.url });
    return reply.type('text/plain').send(
      renderIpxeScript({
        filesUrl: `${options.baseUrl}/files`,
        kernel: options.kernel,
        initrd: options.initrd,
        cmdline: options.cmdline,
        mac,
        token,
      }),
    );
  });

  app.get('/time', async (_request, reply) =>
    reply.type('text/plain').header('cache-control', 'no-store').send(`${Date.now()}\n`),
  );

  app.get<{ Params: { name: string } }>('/files/:name', async (request, reply) => {
    const name = request.params.name;
    const mac = options.macOfIp?.(request.ip) ?? '';
    // One path segment, no dot files: nothing outside filesDir can be named.
    if (name !== basename(name) || name.startsWith('.')) {
      options.onEvent({ type: 'http.rejected', mac, ip: request.ip, detail: `HTTPBOOT_ERR_BAD_PATH ${name}` });
      return reply.code(404).send();
    }
    const path = `${options.filesDir}/${name}`;
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) {
      options.onEvent({ type: 'http.not-found', mac, ip: request.ip, detail: name });
      return reply.code(404).send();
    }
    const range = parseRange(request.headers.range, info.size);
    reply.header('accept-ranges', 'bytes').type('application/octet-stream');
    if (range === 'invalid') {
      return reply.code(416).header('content-range', `bytes */${info.size}`).send();
    }
    options.onEvent({
      type: 'http.file',
      mac,
      ip: request.ip,
      detail: range === 'none' ? name : `${name} ${range.start}-${range.end}`,
    });
    if (range === 'none') {
      return reply.header('content-length', info.size).send(createReadStream(path));
    }
    return reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${info.size}`)
      .header('content-length', range.end - range.start + 1)
      .send(createReadStream(path, { start: range.start, end: range.end }));
  });
  return app;
}
