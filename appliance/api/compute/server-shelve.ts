/**
 * Nova's shelve and unshelve: a server's disk kept as an image (`<name>-shelved`) while nothing
 * of it runs or holds room on any host (SHELVED_OFFLOADED), and booted again from it.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Requester, ShelvedImages } from '../../compute/index.js';
import type { Server } from '../../db/index.js';
import type { ServerEvent } from '../../../statemachines/index.js';
import type { ApiDeps, AuthContext } from '../context.js';
import { badRequest, conflict } from '../faults.js';
import { deleteImage } from '../image/routes.js';
import { liveZones, zoneField } from './aggregates.js';
import { isObject, nameField, noArgument, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';
import { copyDisk, recordSnapshot } from './server-images.js';
import { statusOf } from './views.js';

/**
 * Nova's `shelve` (offloaded at once, its `shelved_offload_time` of 0): the image
 * `<name>-shelved` recorded, then the server machine's `shelve`, whose effect copies the disk
 * into it and takes the guest off its host. Refused (409) but from ACTIVE, SHUTOFF, PAUSED or
 * SUSPENDED; the image goes with a refusal.
 */
export async function shelveServer(deps: ApiDeps, auth: AuthContext, by: Requester, server: Server): Promise<void> {
  const id = randomUUID();
  await recordSnapshot(deps, auth, server, id, `${server.name}-shelved`, { image_type: 'snapshot' });
  try {
    await deps.servers.send(server, { type: 'shelve', imageId: id }, by);
  } catch (error) {
    await deps.db.images.delete(id).catch(() => undefined);
    if ((error as { code?: string }).code !== 'COMPUTE_ERR_INVALID_STATE') throw error;
    const { view } = statusOf(server);
    throw conflict(`Cannot 'shelve' instance ${server.id} while it is in vm_state ${view.vmState}`);
  }
}

/**
 * The compute service's shelved images, kept as Glance keeps a server snapshot: the disk's
 * bootable RBD copy in a cluster (an empty blob for a fake server), removed by Glance's delete.
 */
export function shelvedImages(
  deps: Pick<ApiDeps, 'db' | 'blobs' | 'bootableImages'>,
  rootDisks: boolean,
): ShelvedImages {
  return {
    save: async (server, id) => {
      const size = await copyDisk(deps, rootDisks, server, id);
      await deps.db.images.update(id, {
        status: 'active',
        size,
        virtualSize: size,
        updatedAt: new Date().toISOString(),
      });
    },
    remove: async (id) => {
      const image = await deps.db.images.get(id);
      if (image) await deleteImage(deps, image);
    },
  };
}

/**
 * The unshelve's event: its argument is null (an empty object too), or from 2.77 an object that
 * may name a live availability zone (else 400). Refused (409) but for a SHELVED_OFFLOADED server.
 */
export async function unshelveEvent(
  deps: ApiDeps,
  request: FastifyRequest,
  server: Server,
  args: unknown,
): Promise<ServerEvent> {
  let availabilityZone: string | undefined;
  if (atLeast(request, '2.77') && isObject(args)) {
    rejectUnknown(args, ['availability_zone'], 'unshelve');
    if (args.availability_zone !== undefined) {
      availabilityZone = zoneField(nameField(args.availability_zone, 'availability_zone'));
      if (!(await liveZones(deps)).has(availabilityZone))
        throw badRequest('The requested availability zone is not available');
    }
  } else noArgument('unshelve', args);
  if (server.state !== 'shelvedOffloaded')
    throw conflict(`Cannot 'unshelve' instance ${server.id} while it is in vm_state ${statusOf(server).view.vmState}`);
  return availabilityZone === undefined ? { type: 'unshelve' } : { type: 'unshelve', availabilityZone };
}
