import { chmod, rm } from 'node:fs/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HostService } from '../service.js';
import type { GuestState, NicRequest } from '../types.js';
import { CALLER_HEADER } from './guest-net.js';
import type { GuestLease } from './guest-dhcp.js';
import { taggedDevices } from '../qemu/index.js';
import { metadataAnswer } from './metadata.js';

/** The guest that has a port with this MAC or IPv4 address on this host, with that port. */
function guestBy(
  service: HostService,
  match: (nic: NicRequest) => boolean,
): { guest: GuestState; nic: NicRequest } | undefined {
  for (const guest of service.list()) {
    const nic = guest.request.nics.find(match);
    if (nic) return { guest, nic };
  }
  return undefined;
}

/**
 * What the guest-net process (in the guest-services namespace) asks the host service, on a
 * unix socket only root can open: a port's lease by MAC, and the metadata of the guest whose
 * port has the caller's address. A caller no port of this host has gets 404 and nothing else.
 */
export async function serveGuestControl(service: HostService, socketPath: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 4096 });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/lease/:mac', async (request, reply) => {
    const mac = (request.params as { mac: string }).mac.toLowerCase();
    const found = guestBy(service, (nic) => nic.mac === mac);
    if (!found) return reply.status(404).send({});
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
  app.all('/metadata/*', async (request, reply) => {
    const caller = String(request.headers[CALLER_HEADER] ?? '');
    const found = guestBy(service, (nic) => nic.ip === caller);
    if (!found) return reply.status(404).type('text/plain').send('Not Found');
    const { guest, nic } = found;
    const path = request.url.slice('/metadata'.length) || '/';
    const body = typeof request.body === 'string' ? request.body : '';
    const answer = metadataAnswer(
      request.method,
      path,
      body,
      guest.request.metadata,
      nic,
      guest.password ?? '',
      taggedDevices(guest.request),
    );
    if (answer.posted !== undefined) await service.setPassword(guest.id, answer.posted);
    return reply.status(answer.status).type(answer.type).send(answer.body);
  });
  await rm(socketPath, { force: true });
  await app.listen({ path: socketPath });
  await chmod(socketPath, 0o600);
  return app;
}
