/**
 * The server actions that involve images: `createImage` (a snapshot of the server's root disk
 * becomes a Glance image), `createBackup` (the same, kept in a rotation of the server's backups)
 * and `rebuild` (a new root disk from an image, same id and ports). A shelve's image is recorded
 * and copied the same way (server-shelve.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { Requester } from '../../compute/index.js';
import type { ServerEvent } from '../../../statemachines/index.js';
import type { Flavor, Image, Server } from '../../db/index.js';
import type { ApiDeps, AuthContext } from '../context.js';
import { badRequest, conflict } from '../faults.js';
import { deleteImage } from '../image/routes.js';
import { visibleImage } from '../image/visibility.js';
import {
  accessIp,
  descriptionField,
  isObject,
  metadataField,
  nameField,
  refuseTrustedCertificates,
  rejectUnknown,
  userDataField,
} from './fields.js';
import { atLeast } from './microversions.js';
import { statusOf } from './views.js';

/** An image the caller may boot from: visible to its project and active (else Nova's 400). */
export async function usableImage(deps: ApiDeps, auth: AuthContext, imageRef: unknown): Promise<Image> {
  if (typeof imageRef !== 'string' || imageRef === '')
    throw badRequest('Block device mapping is invalid: an image is required.');
  const imageId = imageRef.replace(/^.*\/images\//, '');
  const image = await visibleImage(deps.db, auth, imageId);
  if (!image) throw badRequest(`Image ${imageId} could not be found.`);
  if (image.status !== 'active') throw badRequest(`Image ${imageId} is not active.`);
  return image;
}

const GIB = 1024 ** 3;

/** Nova's checks of a flavor against the image a server boots from (each a 400). */
export function checkFlavorFitsImage(flavor: Flavor, image: Image): void {
  if (image.minRam > flavor.ram) throw badRequest(`Flavor's memory is too small for requested image.`);
  if (flavor.disk === 0) return; // the disk is the image's size
  if (image.virtualSize !== null && image.virtualSize > flavor.disk * GIB) {
    throw badRequest(
      `Flavor's disk is too small for requested image. Flavor disk is ${flavor.disk * GIB} bytes, image is ${image.virtualSize} bytes.`,
    );
  }
  if (image.minDisk > flavor.disk) {
    throw badRequest(
      `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${flavor.disk * GIB} bytes, minimum size is ${image.minDisk * GIB} bytes.`,
    );
  }
}

interface Logger {
  error(obj: object, msg: string): void;
}

/** Nova's `createBackup`: a snapshot of a type, of which the server keeps the newest `rotation`. */
interface Backup {
  readonly type: string;
  readonly rotation: number;
}

/** The arguments of `createBackup` (Nova's schema: a name, a type, a rotation ≥ 0, metadata). */
export function backupArgs(args: unknown): { args: Record<string, unknown>; backup: Backup } {
  if (!isObject(args)) throw badRequest("Invalid input: 'createBackup' must be an object");
  rejectUnknown(args, ['name', 'backup_type', 'rotation', 'metadata'], 'createBackup');
  const type = args.backup_type;
  if (typeof type !== 'string' || type.length === 0 || type.length > 255)
    throw badRequest(
      'Invalid input for field/attribute backup_type. Value: it must be a string of 1 to 255 characters.',
    );
  const rotation =
    typeof args.rotation === 'string' && /^\d+$/.test(args.rotation) ? Number(args.rotation) : args.rotation;
  if (typeof rotation !== 'number' || !Number.isInteger(rotation) || rotation < 0)
    throw badRequest('Invalid input for field/attribute rotation. Value: it must be an integer of at least 0.');
  return {
    args: { name: args.name, ...(args.metadata === undefined ? {} : { metadata: args.metadata }) },
    backup: { type, rotation },
  };
}

/**
 * `createImage` (and `createBackup`, with `backup`): records a Glance image (`saving`, owned by
 * the server's project, with Nova's snapshot or backup properties) and copies the root disk into
 * it in the background, the server in task state `image_uploading` meanwhile; the image goes
 * `active` when the copy is made, and is deleted if it fails (as Nova deletes a failed
 * snapshot). A backup then deletes the server's backups of its type past the newest `rotation`
 * (itself too, for a rotation of 0). In a cluster the copy is the image's bootable RBD copy,
 * which its downloads read (Glance keeps Nova's RBD snapshots so: no checksum); the embedded
 * mode's fake servers have no disk, so their snapshots are empty. Returns the new image's id.
 */
export async function createServerImage(
  deps: ApiDeps,
  auth: AuthContext,
  by: Requester,
  server: Server,
  args: unknown,
  log: Logger,
  backup?: Backup,
): Promise<string> {
  const action = backup ? 'createBackup' : 'createImage';
  if (!isObject(args)) throw badRequest(`Invalid input: '${action}' must be an object`);
  rejectUnknown(args, ['name', 'metadata'], action);
  const name = nameField(args.name);
  const quotas = await deps.db.quotas.get(server.projectId);
  const metadata = args.metadata === undefined ? {} : metadataField(args.metadata, quotas.metadata_items);
  // The server shows task_state image_uploading until the copy ends, and takes no other action.
  await deps.servers.send(server, { type: 'createImage' }, by, action).catch((error: unknown) => {
    if ((error as { code?: string }).code !== 'COMPUTE_ERR_INVALID_STATE') throw error;
    const { view } = statusOf(server);
    throw conflict(
      `Cannot '${action}' instance ${server.id} while it is in vm_state ${view.vmState}${view.taskState ? ` and task_state ${view.taskState}` : ''}`,
    );
  });
  const id = randomUUID();
  const ended = (event: ServerEvent) =>
    deps.servers
      .report(server.id, event)
      .catch((error: unknown) => log.error({ err: error, server: server.id }, 'createImage end not recorded'));
  try {
    await recordSnapshot(deps, auth, server, id, name, {
      ...(backup ? { image_type: 'backup', backup_type: backup.type } : { image_type: 'snapshot' }),
      ...metadata,
    });
  } catch (error) {
    await ended({ type: 'failed', message: `createImage: ${(error as Error).message}` });
    throw error;
  }
  const finish = (result: 'Success' | 'Error') =>
    deps.db.actions.finish(server.id, action, result, result === 'Error' ? 'Error' : null, new Date().toISOString());
  void copyDisk(deps, deps.servers.driver.rootDisks, server, id)
    .then(async (size) => {
      // The server first, then the image: a client that waits for the image finds the server
      // ready for its next action.
      await ended({ type: 'imageCreated' });
      // Deleted while it was saving (Nova lets its owner): its bytes go too, and it stays deleted.
      if (!(await deps.db.images.get(id))) {
        await removeImage(deps, id);
        await finish('Success').catch(() => undefined);
        return;
      }
      await deps.db.images.update(id, {
        status: 'active',
        size,
        virtualSize: size,
        updatedAt: new Date().toISOString(),
      });
      await finish('Success').catch(() => undefined);
      if (backup)
        await rotateBackups(deps, server, backup, log).catch((error: unknown) =>
          log.error({ err: error, server: server.id }, 'server backups not rotated'),
        );
    })
    .catch(async (error: unknown) => {
      log.error({ err: error, server: server.id, image: id }, 'server snapshot failed; its image is deleted');
      await removeImage(deps, id);
      await finish('Error').catch(() => undefined);
      await ended({ type: 'failed', message: `createImage: ${(error as Error).message}` });
    });
  return id;
}

/**
 * Records Nova's image of a server's disk (`saving`, private to the server's project) before its
 * bytes are copied: as Nova's snapshot, the base image's min_ram, and its min_disk or the
 * flavor's disk; `properties` (the image's type, the caller's metadata) over Nova's own.
 */
export async function recordSnapshot(
  deps: ApiDeps,
  auth: AuthContext,
  server: Server,
  id: string,
  name: string,
  properties: Record<string, string>,
): Promise<void> {
  const [flavor, base] = await Promise.all([deps.db.flavors.get(server.flavorId), deps.db.images.get(server.imageId)]);
  const now = new Date().toISOString();
  await deps.db.images.create({
    id,
    name,
    status: 'saving',
    visibility: 'private',
    protected: false,
    osHidden: false,
    owner: server.projectId,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    size: null,
    virtualSize: null,
    minRam: base?.minRam ?? 0,
    minDisk: Math.max(flavor?.disk ?? 0, base?.minDisk ?? 0),
    diskFormat: 'raw',
    containerFormat: 'bare',
    tags: [],
    properties: {
      instance_uuid: server.id,
      base_image_ref: server.imageId,
      owner_project_name: auth.project?.name ?? '',
      owner_user_name: auth.user.name,
      user_id: auth.user.id,
      ...properties,
    },
    createdAt: now,
    updatedAt: now,
  });
}

/** A snapshot that never became usable, and its bytes, gone (its copy failed, or it was deleted while saving). */
async function removeImage(deps: ApiDeps, id: string): Promise<void> {
  await deps.bootableImages?.remove(id).catch(() => undefined);
  await deps.blobs.delete(id).catch(() => undefined);
  await deps.db.images.delete(id).catch(() => undefined);
}

/**
 * Of the server's active backups of the type, the newest `rotation` stay; the others go through
 * Glance's own delete (Nova's `_rotate_backups`), which keeps a protected one or one whose RBD
 * image servers' disks are cloned from: each is logged and kept, the next rotation tries again.
 */
async function rotateBackups(deps: ApiDeps, server: Server, backup: Backup, log: Logger): Promise<void> {
  // Newest first, the list's order.
  const backups = await deps.db.images.list(
    {
      ...{ projectId: server.projectId, owner: server.projectId, admin: true, memberStatus: 'all', visibility: 'all' },
      status: 'active',
      properties: { image_type: 'backup', instance_uuid: server.id, backup_type: backup.type },
    },
    { limit: 100_000 },
  );
  for (const old of backups.slice(backup.rotation))
    await deleteImage(deps, old).catch((error: unknown) =>
      log.error({ err: error, server: server.id, image: old.id }, 'an old backup is kept'),
    );
}

/** Copies the server's root disk into image `id` (an empty blob for a fake server, in a cluster too); its size. */
export async function copyDisk(
  deps: Pick<ApiDeps, 'blobs' | 'bootableImages'>,
  rootDisks: boolean,
  server: Server,
  id: string,
): Promise<number> {
  if (deps.bootableImages && rootDisks) return (await deps.bootableImages.snapshot(server.id, id)).virtualSize;
  await deps.blobs.put(id, Readable.from([]));
  return 0;
}

/**
 * `rebuild`: the server's image (the given one, which may be new), name and metadata recorded,
 * then the server machine's `rebuild` (a new root disk, same id, ports and flavor).
 */
export async function rebuildServer(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
  by: Requester,
  server: Server,
  args: unknown,
): Promise<{ server: Server; adminPass: string }> {
  if (!isObject(args)) throw badRequest("Invalid input: 'rebuild' must be an object");
  rejectUnknown(
    args,
    [
      'imageRef',
      'name',
      'metadata',
      'adminPass',
      'preserve_ephemeral',
      'OS-DCF:diskConfig',
      'accessIPv4',
      'accessIPv6',
      ...(atLeast(request, '2.19') ? ['description'] : []),
      ...(atLeast(request, '2.54') ? ['key_name'] : []),
      ...(atLeast(request, '2.57') ? ['user_data'] : []),
      ...(atLeast(request, '2.63') ? ['trusted_image_certificates'] : []),
    ],
    'rebuild',
  );
  refuseTrustedCertificates(args.trusted_image_certificates);
  const image = await usableImage(deps, auth, args.imageRef);
  const flavor = await deps.db.flavors.get(server.flavorId);
  if (flavor) checkFlavorFitsImage(flavor, image);
  const quotas = await deps.db.quotas.get(server.projectId);
  const patch: Parameters<ApiDeps['db']['servers']['update']>[1] = { imageId: image.id };
  if (args.name !== undefined) patch.name = nameField(args.name);
  if (args.metadata !== undefined) patch.metadata = metadataField(args.metadata, quotas.metadata_items);
  if (args.description !== undefined) patch.description = descriptionField(args.description);
  if (args.accessIPv4 !== undefined) patch.accessIPv4 = accessIp(args.accessIPv4, 4);
  if (args.accessIPv6 !== undefined) patch.accessIPv6 = accessIp(args.accessIPv6, 6);
  // 2.57: new user data for the rebuilt guest, or none.
  if (args.user_data !== undefined) patch.userData = userDataField(args.user_data);
  // 2.54: a new key pair of the caller's (its public key goes to the rebuilt guest), or none.
  if (args.key_name === null) patch.keyName = null;
  else if (args.key_name !== undefined) {
    const keyName = nameField(args.key_name, 'key_name');
    if (!(await deps.db.keypairs.get(auth.user.id, keyName))) throw badRequest(`Invalid key_name provided.`);
    patch.keyName = keyName;
  }
  if (args.adminPass !== undefined && typeof args.adminPass !== 'string')
    throw badRequest('Invalid input for field/attribute adminPass.');
  const adminPass = typeof args.adminPass === 'string' ? args.adminPass : randomBytes(9).toString('base64url');
  const { view } = statusOf(server);
  const refused = () => conflict(`Cannot 'rebuild' instance ${server.id} while it is in vm_state ${view.vmState}`);
  if (!['active', 'shutoff', 'error'].includes(server.state)) throw refused();
  const updated = await deps.db.servers.update(server.id, patch);
  try {
    return { server: await deps.servers.send(updated, { type: 'rebuild' }, by), adminPass };
  } catch (error) {
    if ((error as { code?: string }).code === 'COMPUTE_ERR_INVALID_STATE') throw refused();
    throw error;
  }
}
