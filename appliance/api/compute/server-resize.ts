/**
 * Nova's resize (`resize`: a new flavor) and cold migration (`migrate`, the cloud admin's: the
 * same flavor, another host), checked and recorded here as a migration (`pre-migrating`) before
 * the server's machine takes them; the compute service schedules and moves the guest, and the
 * owner then confirms (`confirmResize`) or reverts (`revertResize`) from VERIFY_RESIZE.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Requester } from '../../compute/index.js';
import type { Flavor, Migration, Server, ServerFlavor } from '../../db/index.js';
import { type ApiDeps, type AuthContext, requireCloudAdmin } from '../context.js';
import { ApiError, badRequest, conflict } from '../faults.js';
import { isObject, nameField, rejectUnknown } from './fields.js';
import { visibleFlavor } from './flavors.js';
import { atLeast } from './microversions.js';
import { statusOf } from './views.js';

/** A flavor as a server keeps its copy. */
const serverFlavor = (f: Flavor): ServerFlavor => ({
  name: f.name,
  vcpus: f.vcpus,
  ram: f.ram,
  disk: f.disk,
  ephemeral: f.ephemeral,
  swap: f.swap,
  extraSpecs: f.extraSpecs,
});

/** Only an ACTIVE or SHUTOFF server moves (Nova's vm_states ACTIVE and STOPPED; 409 otherwise). */
function refuseUnlessMovable(server: Server, action: string): void {
  if (server.state !== 'active' && server.state !== 'shutoff') {
    throw conflict(`Cannot '${action}' instance ${server.id} while it is in vm_state ${statusOf(server).view.vmState}`);
  }
}

/**
 * `resize`: `{"flavorRef": ID or URL, "OS-DCF:diskConfig"?}`. Refused (400) for a flavor not
 * found or disabled, the server's own flavor, a smaller disk (an RBD disk does not shrink) or a
 * disk of 0 (Nova's); 403 if the project's cores or RAM quota cannot take the growth.
 */
export async function resizeServer(
  deps: ApiDeps,
  auth: AuthContext,
  by: Requester,
  server: Server,
  args: unknown,
): Promise<void> {
  if (!isObject(args)) throw badRequest("Invalid input for field/attribute resize: 'flavorRef' is a required property");
  rejectUnknown(args, ['flavorRef', 'OS-DCF:diskConfig'], "'resize'");
  if (args.flavorRef === undefined || args.flavorRef === null || args.flavorRef === '')
    throw badRequest("Invalid input for field/attribute flavorRef: 'flavorRef' is a required property");
  if (args['OS-DCF:diskConfig'] !== undefined && !['AUTO', 'MANUAL'].includes(String(args['OS-DCF:diskConfig'])))
    throw badRequest("Invalid input for field/attribute OS-DCF:diskConfig. Value must be one of 'AUTO', 'MANUAL'.");
  const flavorRef = String(args.flavorRef).replace(/^.*\/flavors\//, '');
  const flavor = await visibleFlavor(deps, auth, flavorRef).catch(() => {
    throw badRequest(`Unable to find flavor ${flavorRef}.`);
  });
  if (flavor.disabled) throw badRequest(`Flavor ${flavorRef} is disabled.`);
  refuseUnlessMovable(server, 'resize');
  const old = server.flavor;
  if (flavor.id === server.flavorId) throw badRequest('When resizing, instances must change flavor!');
  if (flavor.disk === 0 && old.disk !== 0)
    throw badRequest('Unable to resize disk down: resize to zero disk flavor is not allowed.');
  if (flavor.disk < old.disk)
    throw badRequest(
      `Unable to resize disk down: flavor ${flavor.id} has ${flavor.disk} GB, the server ${old.disk} GB.`,
    );
  const quotas = await deps.db.quotas.get(server.projectId);
  const usage = await deps.db.servers.usage(server.projectId);
  for (const [name, used, growth, limit] of [
    ['cores', usage.cores, flavor.vcpus - old.vcpus, quotas.cores],
    ['ram', usage.ram, flavor.ram - old.ram, quotas.ram],
  ] as const) {
    if (growth > 0 && limit >= 0 && used + growth > limit)
      throw new ApiError(
        403,
        `Quota exceeded for ${name}: Requested ${growth}, but already used ${used} of ${limit} ${name}`,
        'API_ERR_QUOTA',
      );
  }
  await moveServer(deps, by, server, 'resize', { id: flavor.id, flavor: serverFlavor(flavor) }, null);
}

/** `migrate` (the cloud admin's): null or an object, from 2.56 `{"host": NAME}` (or `{"host": null}`), another host than its own. */
export async function migrateServer(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
  by: Requester,
  server: Server,
  args: unknown,
): Promise<void> {
  requireCloudAdmin(auth);
  if (args !== null && !isObject(args))
    throw badRequest('Invalid input for field/attribute migrate: it must be null or an object.');
  // Before 2.56 Nova's migrate takes no argument and reads none of the object's (tempest sends {}).
  let host: string | null = null;
  if (atLeast(request, '2.56') && isObject(args)) {
    rejectUnknown(args, ['host'], "'migrate'");
    if (args.host !== undefined && args.host !== null) host = nameField(args.host, 'host');
  }
  refuseUnlessMovable(server, 'migrate');
  if (host !== null) {
    if (!deps.servers.driver.hosts().some((h) => h.hostname === host))
      throw badRequest(`Compute host ${host} could not be found.`);
    if (host === server.host) throw badRequest(`Unable to migrate instance (${server.id}) to current host (${host}).`);
  }
  await moveServer(deps, by, server, 'migration', { id: server.flavorId, flavor: server.flavor }, host);
}

/** Records the migration, then sends the machine its event (the migration marked `error` if it refuses). */
async function moveServer(
  deps: ApiDeps,
  by: Requester,
  server: Server,
  type: 'resize' | 'migration',
  to: { id: string; flavor: ServerFlavor },
  host: string | null,
): Promise<void> {
  const createdAt = new Date().toISOString();
  const migration: Omit<Migration, 'id' | 'updatedAt'> = {
    ...{ uuid: randomUUID(), serverId: server.id, migrationType: type, sourceHost: server.host, destHost: host },
    ...{ status: 'pre-migrating', flavorId: server.flavorId, newFlavorId: to.id },
    ...{ oldFlavor: server.flavor, newFlavor: to.flavor, projectId: server.projectId, userId: by.userId, createdAt },
  };
  await deps.db.migrations.record(migration);
  try {
    await deps.servers.send(server, { type: type === 'resize' ? 'resize' : 'migrate' }, by);
  } catch (error) {
    await deps.db.migrations.finish(migration.uuid, 'error', new Date().toISOString());
    if (
      (error as { code?: string }).code === 'COMPUTE_ERR_INVALID_STATE' ||
      (error as { code?: string }).code === 'DB_ERR_STALE'
    )
      throw conflict(
        `Cannot '${type === 'resize' ? 'resize' : 'migrate'}' instance ${server.id} while it is in vm_state ${statusOf(server).view.vmState}`,
      );
    throw error;
  }
}
