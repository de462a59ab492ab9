/**
 * Nova's `os-volume_attachments` while the cloud has no block storage (Cinder comes with the
 * volumes work): a server's attachments are listed, and there are none; a volume to attach, or
 * an attachment to show, is not found, as Nova answers for a volume Cinder does not know. Horizon's
 * instance page and tempest read the list of every server.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from '../../db/index.js';
import { type AuthContext, authOf, requireWriter } from '../context.js';
import { badRequest, notFound } from '../faults.js';

export function registerVolumeAttachments(
  app: FastifyInstance,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  app.get('/servers/:id/os-volume_attachments', async (request) => {
    const { id } = request.params as { id: string };
    await visibleServer(authOf(request), id);
    return { volumeAttachments: [] };
  });

  app.get('/servers/:id/os-volume_attachments/:volume', async (request) => {
    const { id, volume } = request.params as { id: string; volume: string };
    const server = await visibleServer(authOf(request), id);
    throw notFound(`Volume attachment ${volume} on instance ${server.id} could not be found.`);
  });

  app.post('/servers/:id/os-volume_attachments', async (request) => {
    const { id } = request.params as { id: string };
    const auth = authOf(request);
    await visibleServer(auth, id);
    requireWriter(auth);
    const body = request.body as { volumeAttachment?: { volumeId?: unknown } } | undefined;
    const volume = body?.volumeAttachment?.volumeId;
    if (typeof volume !== 'string' || volume === '')
      throw badRequest("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property");
    throw notFound(`Volume ${volume} could not be found.`);
  });
}
