/**
 * Nova's server password (`os-server-password`): what the guest posted to its metadata
 * service's password path (cloud-init and cloudbase-init post an administrator password there,
 * encrypted with the server's key pair), read from its host service; '' when nothing was
 * posted. Clearing it lets the guest post another. The host keeps it with the guest's record,
 * so an evacuation to another host starts with none.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, requireWriter } from '../context.js';

export function registerServerPassword(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  app.get('/servers/:id/os-server-password', async (request) => {
    const server = await visibleServer(authOf(request), (request.params as { id: string }).id);
    return { password: await deps.servers.driver.password(server) };
  });
  app.delete('/servers/:id/os-server-password', async (request, reply) => {
    const auth = authOf(request);
    const server = await visibleServer(auth, (request.params as { id: string }).id);
    requireWriter(auth);
    await deps.servers.driver.clearPassword(server);
    return reply.code(204).send();
  });
}
