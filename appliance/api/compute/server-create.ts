/**
 * Nova's server create (`POST /servers`): the body checked as Nova's schema checks it at the
 * request's microversion (its networks and root disk by devices.ts, its image by
 * server-images.ts), then `min_count` to `max_count` servers made under one reservation id by the
 * compute service, which places and builds them. A create may name a zone, and a host: forced by
 * the cloud admin's "ZONE:HOST", or from 2.74 asked for (`requestedDestination`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Nic, Server } from '../../db/index.js';
import type { Destination, Requester } from '../../compute/index.js';
import { type ApiDeps, type AuthContext, projectOf, requireWriter } from '../context.js';
import { ApiError, badRequest, forbidden } from '../faults.js';
import { requestedSecurityGroups } from '../network/group-names.js';
import { liveZones, zoneField } from './aggregates.js';
import { requestedNetworks, requestedRootDisk } from './devices.js';
import {
  accessIp,
  body,
  boolish,
  descriptionField,
  intField,
  metadataField,
  nameField,
  refuseTrustedCertificates,
  rejectUnknown,
  userDataField,
} from './fields.js';
import { visibleFlavor } from './flavors.js';
import { atLeast } from './microversions.js';
import { hintedServerGroup } from './server-groups.js';
import { checkFlavorFitsImage, usableImage } from './server-images.js';
import { createTags } from './tags.js';
import { links } from './views.js';

const NETWORK_PREFIX = 'fa:16:3e';
const randomMac = () =>
  `${NETWORK_PREFIX}:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

const SERVER_CREATE_FIELDS = [
  'name',
  'imageRef',
  'flavorRef',
  'adminPass',
  'metadata',
  'networks',
  'OS-DCF:diskConfig',
  'accessIPv4',
  'accessIPv6',
  'personality',
  'key_name',
  'availability_zone',
  'min_count',
  'max_count',
  'return_reservation_id',
  'security_groups',
  'user_data',
  'config_drive',
  'block_device_mapping',
  'block_device_mapping_v2',
] as const;

/**
 * The one host a create names: forced by an admin's "ZONE:HOST", or from 2.74 asked for with
 * `host` and/or `hypervisor_hostname` (the cloud admin's; the same name here, where a host is
 * its own hypervisor), which the scheduler still filters. The two ways exclude each other; a
 * host that is not live is a 400.
 */
async function requestedDestination(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
  s: Record<string, unknown>,
  forcedHost: string | undefined,
): Promise<Destination | undefined> {
  const named = [s.host, s.hypervisor_hostname].filter((v) => v !== undefined);
  if (named.length === 0) return forcedHost === undefined ? undefined : { host: forcedHost, forced: true };
  if (!auth.isCloudAdmin) {
    throw forbidden("Policy doesn't allow compute:servers:create:requested_destination to be performed.");
  }
  if (forcedHost !== undefined) {
    throw badRequest('host and hypervisor_hostname cannot be given with a host in availability_zone.');
  }
  const [host] = named.map((v, i) => nameField(v, i === 0 && s.host !== undefined ? 'host' : 'hypervisor_hostname'));
  if (named.some((v) => v !== host)) {
    throw badRequest(`Compute host ${String(s.host)} has no hypervisor ${String(s.hypervisor_hostname)}.`);
  }
  if (!deps.servers.driver.hosts().some((h) => h.hostname === host)) {
    throw badRequest(`Compute host ${host} could not be found.`);
  }
  return { host: host ?? '', forced: false };
}

/** `POST /servers`; `requester` names the caller as the servers' instance actions record it. */
export function registerServerCreate(
  app: FastifyInstance,
  deps: ApiDeps,
  requester: (request: FastifyRequest, auth: AuthContext) => Requester,
): void {
  const base = deps.publicUrl;
  const db = deps.db;

  app.post('/servers', async (request, reply) => {
    const { auth, project } = projectOf(request);
    requireWriter(auth);
    const s = body(request, 'server');
    rejectUnknown(
      s,
      [
        ...SERVER_CREATE_FIELDS,
        ...(atLeast(request, '2.19') ? ['description'] : []),
        ...(atLeast(request, '2.52') ? ['tags'] : []),
        ...(atLeast(request, '2.63') ? ['trusted_image_certificates'] : []),
        ...(atLeast(request, '2.74') ? ['host', 'hypervisor_hostname'] : []),
      ].filter((f) => f !== 'personality' || !atLeast(request, '2.57')),
      "'server'",
    );
    refuseTrustedCertificates(s.trusted_image_certificates);
    const tags = createTags(s.tags);
    const name = nameField(s.name);
    if (s.flavorRef === undefined) throw badRequest("Invalid input: 'flavorRef' is a required property");
    const flavorRef = String(s.flavorRef).replace(/^.*\/flavors\//, '');
    const flavor = await visibleFlavor(deps, auth, flavorRef).catch(() => {
      throw badRequest(`Flavor ${flavorRef} could not be found.`);
    });
    if (flavor.disabled) throw badRequest(`Flavor ${flavorRef} is disabled.`);
    const rootDisk = requestedRootDisk(request, s);
    const image = await usableImage(deps, auth, rootDisk.imageRef);
    checkFlavorFitsImage(flavor, image);
    const quotas = await db.quotas.get(project.id);
    const metadata = s.metadata === undefined ? {} : metadataField(s.metadata, quotas.metadata_items);
    let keyName: string | null = null;
    if (s.key_name !== undefined && s.key_name !== null) {
      keyName = nameField(s.key_name, 'key_name');
      if (!(await db.keypairs.get(auth.user.id, keyName))) throw badRequest(`Invalid key_name provided.`);
    }
    // A zone of the live hosts, or none (any host). Nova's "ZONE:HOST" (the cloud admin's only)
    // forces the host, which must still be in the zone (":HOST" for any) and have room.
    const [az = '', forcedHost, ...rest] =
      s.availability_zone === undefined ? [] : nameField(s.availability_zone, 'availability_zone').split(':');
    if (rest.length > 0) throw badRequest(`Invalid input: availability_zone is ZONE or ZONE:HOST.`);
    if (az && !(await liveZones(deps)).has(zoneField(az))) {
      throw badRequest(`The requested availability zone is not available`);
    }
    if (forcedHost !== undefined && !auth.isCloudAdmin)
      throw forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.");
    const destination = await requestedDestination(deps, request, auth, s, forcedHost);
    const minCount = s.min_count === undefined ? 1 : intField(s.min_count, 'min_count', 1);
    const maxCount = s.max_count === undefined ? minCount : intField(s.max_count, 'max_count', 1);
    if (minCount > maxCount) throw badRequest('min_count must be <= max_count');
    const requested = await requestedNetworks(deps, request, auth, s.networks, maxCount);
    const securityGroupIds = await requestedSecurityGroups(db, project.id, s.security_groups);
    const accessIPv4 = accessIp(s.accessIPv4, 4);
    const accessIPv6 = accessIp(s.accessIPv6, 6);
    if (s.adminPass !== undefined && typeof s.adminPass !== 'string')
      throw badRequest('Invalid input for field/attribute adminPass.');
    const adminPass = typeof s.adminPass === 'string' ? s.adminPass : randomBytes(9).toString('base64url');
    const userData = userDataField(s.user_data);
    const group = await hintedServerGroup(deps, request);
    const returnReservationId =
      s.return_reservation_id === undefined ? false : boolish(s.return_reservation_id, 'return_reservation_id');
    // Nova's reservation id: one per request, `r-` and eight characters.
    const reservationId = `r-${randomBytes(4).toString('hex')}`;
    const description = s.description === undefined ? null : descriptionField(s.description);
    const limits = {
      instances: quotas.instances,
      cores: quotas.cores,
      ram: quotas.ram,
      serverGroupMembers: quotas.server_group_members,
    };
    let first: Server | null = null;
    for (let i = 0; i < maxCount; i++) {
      const now = new Date().toISOString();
      const nics: Nic[] = requested.map(({ networkId, portId, fixedIp, tag }) => ({
        networkId,
        portId: portId ?? randomUUID(),
        existing: portId !== null,
        fixedIp,
        macAddress: randomMac(),
        tag,
        securityGroupIds,
      }));
      try {
        const server = await deps.servers.create(
          {
            id: randomUUID(),
            projectId: project.id,
            userId: auth.user.id,
            name: maxCount > 1 ? `${name}-${i + 1}` : name,
            flavorId: flavor.id,
            imageId: image.id,
            keyName,
            availabilityZone: az,
            accessIPv4,
            accessIPv6,
            metadata,
            createdAt: now,
            updatedAt: now,
            launchedAt: null,
            userData,
            serverGroupId: group?.id ?? null,
            lockedBy: null,
            lockedReason: null,
            reservationId,
            launchIndex: i,
            description,
            tags,
            rootDeviceTag: rootDisk.tag,
          },
          nics,
          limits,
          requester(request, auth),
          destination,
        );
        first ??= server;
      } catch (error) {
        // Beyond min_count, running out of quota just means fewer servers.
        if (i >= minCount && (error as { code?: string }).code === 'DB_ERR_QUOTA_EXCEEDED') break;
        throw error;
      }
    }
    if (!first) throw new ApiError(500, 'no server created');
    if (returnReservationId) return reply.code(202).send({ reservation_id: reservationId });
    reply.header('Location', `${base}/compute/v2.1/servers/${first.id}`);
    return reply.code(202).send({
      server: {
        id: first.id,
        links: links(base, 'servers', first.id),
        'OS-DCF:diskConfig': 'MANUAL',
        // Nova echoes the groups the create asked for (checked above), by the names or ids given.
        security_groups: Array.isArray(s.security_groups)
          ? (s.security_groups as { name: string }[]).map(({ name }) => ({ name }))
          : [{ name: 'default' }],
        adminPass,
      },
    });
  });
}
