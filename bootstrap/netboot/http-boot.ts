/**
 * HTTP boot on fastify: `GET /boot/<mac>.ipxe` (the node's iPXE script, with its enrollment
 * token), `GET /files/<name>` (kernel, initrd, images; streamed, with Range support) and
 * `GET /time` (this server's clock, ms since the epoch: a booted node steps its clock to it).
 * Every fetch is a boot event (which MAC or address fetched what).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { NetbootEvent } from './dhcp-server.js';
import { isCmdlineSafe, parseRange, renderIpxeScript } from './ipxe-script.js';

/** Hands out a node's enrollment token; the enrollment service (a later issue) supplies it. */
export type TokenProvider = (mac: string) => string | Promise<string>;

export interface HttpBootOptions {
  /** Directory holding the kernel, the initrd and any image the script names. */
  filesDir: string;
  /** How nodes reach this server, e.g. `http://10.0.0.1:8080`. */
  baseUrl: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  token: TokenProvider;
  onEvent: (event: NetbootEvent) => void;
  /** The MAC that holds an address, when known (from the DHCP leases), to name file fetches. */
  macOfIp?: (ip: string) => string | undefined;
}

const MAC_DASHED = /^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})\.ipxe$/;

/** Builds the fastify app (not listening: the caller picks the address and port). */
export function createHttpBoot(options: HttpBootOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get<{ Params: { name: string } }>('/boot/:name', async (request, reply) => {
    const m = MAC_DASHED.exec(request.params.name.toLowerCase());
    if (!m) return reply.code(404).type('text/plain').send('not a boot script\n');
    const mac = m.slice(1, 7).join(':');
    const token = await options.token(mac);
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
