import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ServerEvent, type ServerStateValue, serverStatusView } from '../../../statemachines/index.js';
import type { Nic, Server } from '../../db/index.js';
import type { Destination, Requester } from '../../compute/index.js';
import {
  type ApiDeps,
  type AuthContext,
  authOf,
  projectOf,
  queryAll,
  queryString,
  requireCloudAdmin,
  requireToken,
  requireWriter,
} from '../context.js';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../faults.js';
import { liveZones, registerAggregates, registerAvailabilityZones, zoneField } from './aggregates.js';
import { consoleAction, registerRemoteConsoles } from './consoles.js';
import { nextLink, pageOf } from './paging.js';
import { registerLimitsAndQuotas } from './quotas.js';
import { requestedNetworks, requestedRootDisk } from './devices.js';
import { registerKeypairs } from './keypairs.js';
import { atLeast, MAX_VERSION, MIN_VERSION, negotiateMicroversion } from './microversions.js';
import { registerMigrations } from './migrations.js';
import {
  accessIp,
  body,
  boolish,
  descriptionField,
  intField,
  isObject,
  metadataField,
  nameField,
  refuseTrustedCertificates,
  rejectUnknown,
  userDataField,
} from './fields.js';
import { registerInstanceActions } from './instance-actions.js';
import { registerInterfaces } from './interfaces.js';
import { lockServer, refuseIfLocked, unlockServer } from './locks.js';
import { hintedServerGroup, registerServerGroups } from './server-groups.js';
import { registerExtensions } from './extensions.js';
import { registerFlavors, visibleFlavor } from './flavors.js';
import { registerServerExternalEvents } from './external-events.js';
import { registerHosts } from './hosts.js';
import { registerImages } from './images.js';
import { registerNetworkProxies } from './networks.js';
import { registerHypervisors } from './hypervisors.js';
import { registerRemovedApis } from './removed.js';
import { hostStatusOf, registerServices } from './services.js';
import { registerServerPassword } from './server-password.js';
import { createTags, registerServerTags, tagFilter } from './tags.js';
import { registerInstanceUsageAuditLog, registerSimpleTenantUsage } from './usage.js';
import { registerVolumeAttachments } from './volume-attachments.js';
import { checkFlavorFitsImage, createServerImage, rebuildServer, usableImage } from './server-images.js';
import {
  links,
  serverBasic,
  serverDetail,
  serverGroupsField,
  serverRebuildView,
  serverUpdateView,
  statusOf,
} from './views.js';

function versionDocs(base: string) {
  const v21 = {
    id: 'v2.1',
    status: 'CURRENT',
    version: MAX_VERSION,
    min_version: MIN_VERSION,
    updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: `${base}/compute/v2.1/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
  const v20 = {
    id: 'v2.0',
    status: 'SUPPORTED',
    version: '',
    min_version: '',
    updated: '2011-01-21T11:33:21Z',
    links: [{ rel: 'self', href: `${base}/compute/v2/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' }],
  };
  return { v20, v21 };
}

/** Which states a Nova status name covers, for `?status=`. */
const ALL_STATES: ServerStateValue[] = [
  'building',
  'active',
  'stopping',
  'shutoff',
  'starting',
  'rebooting',
  'rebuilding',
  'snapshotting',
  'error',
  'deleting',
];
const CONTEXTS = [false, true].flatMap((hardReboot) =>
  [false, true].map((snapshotStopped) => ({ fault: null, hardReboot, snapshotStopped })),
);
/** Every status Nova names (nova/api/openstack/common.py), whether or not a rackseed server can have it. */
const NOVA_STATUSES = new Set([
  ...['ACTIVE', 'BUILD', 'DELETED', 'ERROR', 'HARD_REBOOT', 'MIGRATING', 'PASSWORD', 'PAUSED', 'REBOOT'],
  ...['REBUILD', 'RESCUE', 'RESIZE', 'REVERT_RESIZE', 'SHELVED', 'SHELVED_OFFLOADED', 'SHUTOFF'],
  ...['SOFT_DELETED', 'SUSPENDED', 'UNKNOWN', 'VERIFY_RESIZE'],
]);
/** The states `status` covers; from 2.38 a status Nova does not name is a 400 (before, it matched none). */
function statesFor(request: FastifyRequest, status: string): string[] {
  const s = status.toUpperCase();
  if (atLeast(request, '2.38') && !NOVA_STATUSES.has(s)) throw badRequest(`Invalid status value: ${status}`);
  return ALL_STATES.filter((state) => CONTEXTS.some((context) => serverStatusView(state, context).status === s));
}

/** The query parameters Nova's server list takes (its schema at 2.75, which refuses any other). */
const SERVER_LIST_QUERY = new Set([
  ...['user_id', 'project_id', 'tenant_id', 'launch_index', 'image_ref', 'image', 'kernel_id', 'ramdisk_id'],
  ...['hostname', 'key_name', 'power_state', 'vm_state', 'task_state', 'host', 'node', 'flavor', 'reservation_id'],
  ...['launched_at', 'terminated_at', 'availability_zone', 'name', 'display_name', 'description'],
  ...['display_description', 'locked_by', 'uuid', 'root_device_name', 'config_drive', 'access_ip_v4'],
  ...['access_ip_v6', 'auto_disk_config', 'progress', 'sort_key', 'sort_dir', 'all_tenants', 'soft_deleted'],
  ...['deleted', 'status', 'changes-since', 'changes-before', 'ip', 'ip6', 'created_at', 'tags', 'tags-any'],
  ...['not-tags', 'not-tags-any', 'locked', 'limit', 'marker'],
]);

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
 * Nova v2.1 under `/compute`, microversions 2.1 to MAX_VERSION (microversions.ts): version
 * documents, servers (with actions, metadata and tags), flavors (extra specs, access),
 * keypairs, limits, quotas, availability zones, hypervisors, services, instance actions,
 * volume attachments, remote consoles, usage and server groups.
 */
export async function computeRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const docs = versionDocs(deps.publicUrl);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    request.microversion = MIN_VERSION;
    request.microversion = negotiateMicroversion(request.headers);
    reply.header('OpenStack-API-Version', `compute ${request.microversion}`);
    reply.header('X-OpenStack-Nova-API-Version', request.microversion);
  });

  app.get('/', async () => ({ versions: [docs.v20, docs.v21] }));
  app.get('/v2', async () => ({ version: docs.v20 }));
  app.get('/v2.1', async () => ({ version: docs.v21 }));

  const routes = async (api: FastifyInstance) => {
    api.addHook('onRequest', requireToken(deps));
    registerServers(api, deps);
    registerInstanceActions(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerVolumeAttachments(api, (auth, id) => visibleServer(deps, auth, id));
    registerRemoteConsoles(api, (auth, id) => visibleServer(deps, auth, id));
    registerServerTags(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerMigrations(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerServerPassword(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerInterfaces(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerFlavors(api, deps);
    registerKeypairs(api, deps);
    registerLimitsAndQuotas(api, deps);
    registerAggregates(api, deps);
    registerAvailabilityZones(api, deps);
    registerHypervisors(api, deps);
    registerHosts(api, deps);
    registerSimpleTenantUsage(api, deps);
    registerInstanceUsageAuditLog(api, deps);
    registerServerGroups(api, deps);
    registerServices(api, deps);
    registerRemovedApis(api);
    registerExtensions(api);
    registerImages(api, deps);
    registerNetworkProxies(api, deps);
    registerServerExternalEvents(api, deps);
  };
  await app.register(routes, { prefix: '/v2.1' });
  // Every URL also with the caller's project id after the version, as Nova's before 2.18 made
  // them (and still takes): another project's id is a 400, as in Nova.
  await app.register(
    async (api) => {
      api.addHook('preHandler', async (request) => {
        const { project_id: inUrl } = request.params as { project_id: string };
        const own = authOf(request).project?.id ?? '';
        if (inUrl !== own) {
          throw badRequest(
            `Malformed request URL: URL's project_id '${inUrl}' doesn't match Context's project_id '${own}'`,
          );
        }
      });
      await routes(api);
    },
    { prefix: '/v2.1/:project_id' },
  );
}

/** The caller as an instance action records it. */
function requester(request: FastifyRequest, auth: AuthContext): Requester {
  return { requestId: String(request.id), userId: auth.user.id, projectId: auth.project?.id ?? '' };
}

/** A server the caller may see: its own project's, or any for the cloud admin; else 404 (another project's, even to its admin). */
async function visibleServer(deps: ApiDeps, auth: AuthContext, id: string): Promise<Server> {
  const s = await deps.db.servers.get(id);
  if (!s || (!auth.isCloudAdmin && s.projectId !== auth.project?.id))
    throw notFound(`Instance ${id} could not be found.`);
  return s;
}

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

/** From 2.73, `locked`: only the locked servers, or only the others. */
function lockedFilter(request: FastifyRequest): boolean | undefined {
  const value = queryString(request, 'locked');
  return value === undefined || !atLeast(request, '2.73') ? undefined : boolish(value, 'locked');
}

/** From 2.16, how the cloud admin sees a server's host (Nova's host_status); undefined for anyone else or before. */
async function hostStatusFor(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
): Promise<((host: string) => string) | undefined> {
  if (!auth.isCloudAdmin || !atLeast(request, '2.16')) return undefined;
  const live = new Set(deps.servers.driver.hosts().map((h) => h.hostname));
  const services = await deps.db.computeServices.list();
  return (host) => hostStatusOf(host, live, services);
}

/** The largest console tail fetched from a host for `os-getConsoleOutput` (Nova reads the whole log). */
const CONSOLE_FETCH_BYTES = 1024 * 1024;

/** `os-getConsoleOutput`: the last `length` lines of the server's serial console (all with no length). */
async function consoleOutput(deps: ApiDeps, server: Server, args: unknown): Promise<{ output: string }> {
  const given = isObject(args) ? args.length : undefined;
  let lines: number | null = null;
  if (given !== undefined && given !== null) {
    const n = typeof given === 'string' && /^-?\d+$/.test(given) ? Number(given) : given;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -1) {
      throw badRequest('Invalid input for field/attribute length.');
    }
    lines = n === -1 ? null : n;
  }
  const state = statusOf(server).view;
  if (state.status === 'BUILD' && !server.host) throw conflict(`Instance ${server.id} has not been placed yet.`);
  const text = await deps.servers.driver.consoleLog(server, CONSOLE_FETCH_BYTES);
  if (lines === null) return { output: text };
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return { output: lines === 0 ? '' : all.slice(-lines).join('\n') };
}

function registerServers(app: FastifyInstance, deps: ApiDeps): void {
  const base = deps.publicUrl;
  const db = deps.db;

  /** A server as GET /servers/{id} shows it. */
  const serverShow = async (request: FastifyRequest, auth: AuthContext, server: Server) => ({
    ...serverDetail(request, base, server, auth.isCloudAdmin, await hostStatusFor(deps, request, auth)),
    ...serverGroupsField(request, server),
  });

  const listServers = async (request: FastifyRequest) => {
    // From 2.75 a query parameter Nova does not know is a 400 (before, it was ignored).
    if (atLeast(request, '2.75')) {
      const unknown = Object.keys(request.query as object).filter((k) => !SERVER_LIST_QUERY.has(k));
      if (unknown.length > 0) {
        throw badRequest(
          `Invalid input for query parameters: Additional properties are not allowed (${unknown.join(', ')}).`,
        );
      }
    }
    const { auth, project } = projectOf(request);
    const page = pageOf(request);
    const allTenants = queryString(request, 'all_tenants');
    const everyone = allTenants !== undefined && !/^(false|0|no|off)$/i.test(allTenants);
    // Nova's servers:index:get_all_tenants is the cloud admin's: anyone else asking is refused.
    if (everyone) requireCloudAdmin(auth);
    const tenant = queryString(request, 'tenant_id') ?? queryString(request, 'project_id');
    const statuses = queryAll(request, 'status');
    // An ISO 8601 time, as Nova's iso8601 parser reads it (not JavaScript's looser Date.parse).
    const iso8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;
    const timeFilter = (name: string) => {
      const value = queryString(request, name);
      if (value !== undefined && (!iso8601.test(value) || Number.isNaN(Date.parse(value)))) {
        throw badRequest(`Invalid input for query parameters ${name}. Value: ${value}.`);
      }
      return value === undefined ? undefined : new Date(value).toISOString();
    };
    const changesSince = timeFilter('changes-since');
    // 2.66: and up to a time.
    const changesBefore = atLeast(request, '2.66') ? timeFilter('changes-before') : undefined;
    if (changesSince && changesBefore && changesSince > changesBefore) {
      throw badRequest(`The value of changes-since must be less than or equal to changes-before.`);
    }
    let servers: Server[];
    try {
      servers = await db.servers.list(
        {
          projectId: everyone ? tenant : project.id,
          name: queryString(request, 'name'),
          status: statuses.length > 0 ? statuses.flatMap((s) => statesFor(request, s)) : undefined,
          imageId: queryString(request, 'image'),
          flavorId: queryString(request, 'flavor'),
          host: auth.isCloudAdmin ? queryString(request, 'host') : undefined,
          changesSince,
          changesBefore,
          reservationId: queryString(request, 'reservation_id'),
          ip: queryString(request, 'ip'),
          // Before 2.5 `ip6` is the cloud admin's filter: anyone else's is ignored, as Nova does.
          ip6: auth.isCloudAdmin || atLeast(request, '2.5') ? queryString(request, 'ip6') : undefined,
          tags: tagFilter(request, 'tags'),
          tagsAny: tagFilter(request, 'tags-any'),
          notTags: tagFilter(request, 'not-tags'),
          notTagsAny: tagFilter(request, 'not-tags-any'),
          locked: lockedFilter(request),
        },
        { limit: page.limit + 1, ...(page.marker === undefined ? {} : { marker: page.marker }) },
      );
    } catch (error) {
      if ((error as { code?: string }).code === 'DB_ERR_NOT_FOUND')
        throw badRequest(`marker [${page.marker}] not found`);
      throw error;
    }
    const more = servers.length > page.limit;
    const shown = servers.slice(0, page.limit);
    const last = shown[shown.length - 1];
    return { auth, shown, more, last, page };
  };

  app.get('/servers', async (request) => {
    const { shown, more, last, page } = await listServers(request);
    return {
      servers: shown.map((s) => serverBasic(base, s)),
      ...(more && last ? { servers_links: nextLink(deps, request, 'servers', last.id, page.limit) } : {}),
    };
  });
  app.get('/servers/detail', async (request) => {
    const { auth, shown, more, last, page } = await listServers(request);
    const hostStatus = await hostStatusFor(deps, request, auth);
    return {
      servers: shown.map((s) => serverDetail(request, base, s, auth.isCloudAdmin, hostStatus)),
      ...(more && last ? { servers_links: nextLink(deps, request, 'servers/detail', last.id, page.limit) } : {}),
    };
  });

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
    const requested = await requestedNetworks(deps, request, auth, s.networks);
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
      const nics: Nic[] = requested.map(({ networkId, tag }) => ({
        networkId,
        portId: randomUUID(),
        macAddress: randomMac(),
        tag,
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
        security_groups: [{ name: 'default' }],
        adminPass,
      },
    });
  });

  app.get('/servers/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    return { server: await serverShow(request, auth, await visibleServer(deps, auth, id)) };
  });

  app.put('/servers/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const s = body(request, 'server');
    rejectUnknown(
      s,
      ['name', 'accessIPv4', 'accessIPv6', 'OS-DCF:diskConfig', ...(atLeast(request, '2.19') ? ['description'] : [])],
      "'server'",
    );
    await visibleServer(deps, auth, id);
    requireWriter(auth);
    const updated = await db.servers.update(id, {
      name: s.name === undefined ? undefined : nameField(s.name),
      accessIPv4: s.accessIPv4 === undefined ? undefined : accessIp(s.accessIPv4, 4),
      accessIPv6: s.accessIPv6 === undefined ? undefined : accessIp(s.accessIPv6, 6),
      description: s.description === undefined ? undefined : descriptionField(s.description),
    });
    // From 2.75 an update answers what a GET of the server would.
    if (atLeast(request, '2.75')) return { server: await serverShow(request, auth, updated) };
    return { server: { ...serverUpdateView(request, base, updated), ...serverGroupsField(request, updated) } };
  });

  app.delete('/servers/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const server = await visibleServer(deps, auth, id);
    requireWriter(auth);
    refuseIfLocked(auth, server);
    if (server.state !== 'deleting') await deps.servers.send(server, { type: 'delete' }, requester(request, auth));
    return reply.code(204).send();
  });

  app.post('/servers/:id/action', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const b = request.body;
    if (!isObject(b) || Object.keys(b).length !== 1) throw badRequest('There is no such action.');
    const [action, args] = Object.entries(b)[0] ?? ['', null];
    // Looked up before the role is checked: another project's server is not found, whoever asks.
    const server = await visibleServer(deps, auth, id);
    requireWriter(auth);
    let event: ServerEvent;
    switch (action) {
      case 'lock':
        await lockServer(deps, request, auth, server, args);
        return reply.code(202).send();
      case 'unlock':
        await unlockServer(deps, auth, server);
        return reply.code(202).send();
      case 'reboot': {
        refuseIfLocked(auth, server);
        if (!isObject(args) || (args.type !== 'HARD' && args.type !== 'SOFT')) {
          throw badRequest("Invalid input for field/attribute type. Value must be one of 'HARD', 'SOFT'.");
        }
        event = { type: 'reboot', hard: args.type === 'HARD' };
        break;
      }
      case 'os-stop':
        refuseIfLocked(auth, server);
        event = { type: 'stop' };
        break;
      case 'os-start':
        refuseIfLocked(auth, server);
        event = { type: 'start' };
        break;
      // rackseed deletes at once (Nova's reclaim_instance_interval = 0): no server is ever
      // SOFT_DELETED, which is the only state these two act on.
      case 'restore':
      case 'forceDelete':
        throw conflict(`Cannot '${action}' instance ${id} while it is in vm_state ${statusOf(server).view.vmState}`);
      case 'os-resetState': {
        requireCloudAdmin(auth);
        if (!isObject(args) || (args.state !== 'active' && args.state !== 'error')) {
          throw badRequest("Invalid input for field/attribute state. Value must be one of 'active', 'error'.");
        }
        event = { type: 'resetState', state: args.state };
        break;
      }
      case 'os-getConsoleOutput':
        return consoleOutput(deps, server, args);
      case 'trigger_crash_dump': {
        if (!atLeast(request, '2.17')) throw badRequest(`There is no such action: ${action}`);
        refuseIfLocked(auth, server);
        if (args !== null) throw badRequest('Invalid input for field/attribute trigger_crash_dump: it must be null.');
        if (server.state !== 'active') {
          throw conflict(
            `Cannot 'trigger_crash_dump' instance ${id} while it is in vm_state ${statusOf(server).view.vmState}`,
          );
        }
        await deps.servers.crashDump(server, requester(request, auth));
        return reply.code(202).send();
      }
      case 'os-getVNCConsole':
      case 'os-getSPICEConsole':
      case 'os-getRDPConsole':
      case 'os-getSerialConsole':
        return consoleAction(server, action, args);
      case 'createImage': {
        const imageId = await createServerImage(deps, auth, requester(request, auth), server, args, request.log);
        // From 2.45 the body names the image; before, the Location header alone.
        if (atLeast(request, '2.45')) return reply.code(202).send({ image_id: imageId });
        return reply.code(202).header('Location', `${deps.publicUrl}/image/v2/images/${imageId}`).send();
      }
      // Nova's proxies of Neutron's floating IPs and ports, gone from 2.44. Before: rackseed has
      // no floating IP (so none is found) and attaches no port to a built server.
      case 'addFloatingIp':
      case 'removeFloatingIp':
      case 'addFixedIp':
      case 'removeFixedIp':
        if (atLeast(request, '2.44')) throw notFound('The resource could not be found.');
        if (action.endsWith('FloatingIp')) {
          const address = isObject(args) ? String(args.address) : '';
          throw notFound(`floating IP not found for address ${address}`);
        }
        throw badRequest(`There is no such action: ${action} (rackseed attaches no network to a built server)`);
      case 'rebuild': {
        refuseIfLocked(auth, server);
        const { server: rebuilt, adminPass } = await rebuildServer(
          deps,
          request,
          auth,
          requester(request, auth),
          server,
          args,
        );
        if (!atLeast(request, '2.75')) {
          return reply
            .code(202)
            .send({ server: { ...serverRebuildView(request, deps.publicUrl, rebuilt), adminPass } });
        }
        // From 2.75 a rebuild answers what a GET of the server would, its user data unprefixed.
        const { 'OS-EXT-SRV-ATTR:user_data': _userData, ...shown } = await serverShow(request, auth, rebuilt);
        return reply.code(202).send({ server: { ...shown, user_data: rebuilt.userData, adminPass } });
      }
      default:
        throw badRequest(`There is no such action: ${action}`);
    }
    try {
      await deps.servers.send(server, event, requester(request, auth));
    } catch (error) {
      if ((error as { code?: string }).code === 'COMPUTE_ERR_INVALID_STATE') {
        const { view } = statusOf(server);
        throw conflict(`Cannot '${action}' instance ${id} while it is in vm_state ${view.vmState}`);
      }
      throw error;
    }
    return reply.code(202).send();
  });

  app.get('/servers/:id/ips', async (request) => {
    const { id } = request.params as { id: string };
    const s = await visibleServer(deps, authOf(request), id);
    const out: Record<string, { version: number; addr: string }[]> = {};
    for (const a of s.addresses) (out[a.network] ??= []).push({ version: a.version, addr: a.addr });
    return { addresses: out };
  });
  app.get('/servers/:id/ips/:network', async (request) => {
    const { id, network } = request.params as { id: string; network: string };
    const s = await visibleServer(deps, authOf(request), id);
    const found = s.addresses.filter((a) => a.network === network);
    if (found.length === 0) throw notFound('Network not found');
    return { [network]: found.map((a) => ({ version: a.version, addr: a.addr })) };
  });

  // Server metadata.
  app.get('/servers/:id/metadata', async (request) => {
    const { id } = request.params as { id: string };
    return { metadata: (await visibleServer(deps, authOf(request), id)).metadata };
  });
  const writeMetadata = async (request: FastifyRequest, replace: boolean) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const s = await visibleServer(deps, auth, id);
    requireWriter(auth);
    refuseIfLocked(auth, s);
    const b = request.body;
    if (!isObject(b) || !isObject(b.metadata)) throw badRequest("Invalid input: 'metadata' is a required property");
    const quotas = await db.quotas.get(s.projectId);
    const metadata = metadataField(replace ? b.metadata : { ...s.metadata, ...b.metadata }, quotas.metadata_items);
    return { metadata: (await db.servers.update(id, { metadata })).metadata };
  };
  app.post('/servers/:id/metadata', async (request) => writeMetadata(request, false));
  app.put('/servers/:id/metadata', async (request) => writeMetadata(request, true));
  app.get('/servers/:id/metadata/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const s = await visibleServer(deps, authOf(request), id);
    if (!(key in s.metadata)) throw notFound('Metadata item was not found');
    return { meta: { [key]: s.metadata[key] } };
  });
  app.put('/servers/:id/metadata/:key', async (request) => {
    const auth = authOf(request);
    const { id, key } = request.params as { id: string; key: string };
    const s = await visibleServer(deps, auth, id);
    requireWriter(auth);
    refuseIfLocked(auth, s);
    const b = request.body;
    if (!isObject(b) || !isObject(b.meta) || Object.keys(b.meta).length !== 1 || !(key in b.meta)) {
      throw badRequest('Request body and URI mismatch');
    }
    const quotas = await db.quotas.get(s.projectId);
    const metadata = metadataField({ ...s.metadata, ...b.meta }, quotas.metadata_items);
    await db.servers.update(id, { metadata });
    return { meta: { [key]: metadata[key] } };
  });
  app.delete('/servers/:id/metadata/:key', async (request, reply) => {
    const auth = authOf(request);
    const { id, key } = request.params as { id: string; key: string };
    const s = await visibleServer(deps, auth, id);
    requireWriter(auth);
    refuseIfLocked(auth, s);
    if (!(key in s.metadata)) throw notFound('Metadata item was not found');
    const { [key]: _gone, ...rest } = s.metadata;
    await db.servers.update(id, { metadata: rest });
    return reply.code(204).send();
  });
}
