import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerEvent } from '../../../statemachines/index.js';
import type { Server } from '../../db/index.js';
import type { Requester } from '../../compute/index.js';
import { type ApiDeps, type AuthContext, authOf, requireCloudAdmin, requireToken, requireWriter } from '../context.js';
import { badRequest, conflict, notFound } from '../faults.js';
import { registerAggregates, registerAvailabilityZones } from './aggregates.js';
import { consoleAction, registerRemoteConsoles } from './consoles.js';
import { registerLimitsAndQuotas } from './quotas.js';
import { registerKeypairs } from './keypairs.js';
import { atLeast, MAX_VERSION, MIN_VERSION, negotiateMicroversion } from './microversions.js';
import { registerMigrations } from './migrations.js';
import {
  accessIp,
  body,
  descriptionField,
  isObject,
  metadataField,
  nameField,
  noArgument,
  rejectUnknown,
} from './fields.js';
import { registerInstanceActions } from './instance-actions.js';
import { registerInterfaces } from './interfaces.js';
import { lockServer, refuseIfLocked, unlockServer } from './locks.js';
import { registerServerGroups } from './server-groups.js';
import { registerExtensions } from './extensions.js';
import { registerFlavors } from './flavors.js';
import { registerServerExternalEvents } from './external-events.js';
import { registerHosts } from './hosts.js';
import { registerImages } from './images.js';
import { registerNetworkProxies } from './networks.js';
import { registerHypervisors } from './hypervisors.js';
import { registerRemovedApis } from './removed.js';
import { registerSecurityGroups, securityGroupAction, serverSecurityGroupNames } from './security-groups.js';
import { registerServices } from './services.js';
import { registerServerPassword } from './server-password.js';
import { registerDiagnostics } from './diagnostics.js';
import { registerServerCreate } from './server-create.js';
import { hostStatusFor, registerServerList } from './server-list.js';
import { registerServerTags } from './tags.js';
import { registerInstanceUsageAuditLog, registerSimpleTenantUsage } from './usage.js';
import { registerVolumeAttachments } from './volume-attachments.js';
import { backupArgs, createServerImage, rebuildServer } from './server-images.js';
import { migrateServer, resizeServer } from './server-resize.js';
import { shelveServer, unshelveEvent } from './server-shelve.js';
import {
  floatingAddresses,
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

/**
 * Nova v2.1 under `/compute`, microversions 2.1 to MAX_VERSION (microversions.ts): version
 * documents, servers (with actions, metadata and tags), flavors (extra specs, access),
 * keypairs, limits, quotas, availability zones, hypervisors, services, instance actions,
 * volume attachments, remote consoles, usage, server groups and security groups.
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
    registerServerList(api, deps);
    registerServerCreate(api, deps, requester);
    registerInstanceActions(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerVolumeAttachments(api, (auth, id) => visibleServer(deps, auth, id));
    registerRemoteConsoles(api, (auth, id) => visibleServer(deps, auth, id));
    registerServerTags(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerMigrations(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerServerPassword(api, deps, (auth, id) => visibleServer(deps, auth, id));
    registerDiagnostics(api, deps, (auth, id) => visibleServer(deps, auth, id));
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
    registerSecurityGroups(api, deps, (auth, id) => visibleServer(deps, auth, id));
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
    ...serverDetail(
      request,
      base,
      server,
      auth.isCloudAdmin,
      (await serverSecurityGroupNames(db, [server])).get(server.id) ?? [],
      await floatingAddresses(db, [server]),
      await hostStatusFor(deps, request, auth),
    ),
    ...serverGroupsField(request, server),
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
      // Nova's os-pause-server (the guest's vCPUs stop, its memory stays where it is) and
      // os-suspend-server (its memory and device state are kept on Ceph, its QEMU ends).
      case 'pause':
      case 'unpause':
      case 'suspend':
      case 'resume':
        refuseIfLocked(auth, server);
        noArgument(action, args);
        event = { type: action };
        break;
      case 'os-start':
        refuseIfLocked(auth, server);
        event = { type: 'start' };
        break;
      // Nova's resize and cold migration, then the owner's confirm or revert (server-resize.ts).
      case 'resize':
        refuseIfLocked(auth, server);
        await resizeServer(deps, auth, requester(request, auth), server, args);
        return reply.code(202).send();
      case 'migrate':
        await migrateServer(deps, request, auth, requester(request, auth), server, args);
        return reply.code(202).send();
      case 'confirmResize':
      case 'revertResize':
        refuseIfLocked(auth, server);
        noArgument(action, args);
        event = { type: action };
        break;
      // Nova's shelve, offloaded at once (its shelved_offload_time of 0: SHELVED never lasts, so
      // shelveOffload finds none), and unshelve (from 2.77 into a zone).
      case 'shelve':
        refuseIfLocked(auth, server);
        noArgument(action, args);
        await shelveServer(deps, auth, requester(request, auth), server);
        return reply.code(202).send();
      case 'shelveOffload':
        noArgument(action, args);
        throw conflict(
          `Cannot 'shelveOffload' instance ${id} while it is in vm_state ${statusOf(server).view.vmState}`,
        );
      case 'unshelve':
        refuseIfLocked(auth, server);
        event = await unshelveEvent(deps, request, server, args);
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
      case 'addSecurityGroup':
      case 'removeSecurityGroup':
        await securityGroupAction(deps, server, action, args);
        return reply.code(202).send();
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
      case 'createImage':
      case 'createBackup': {
        const backup = action === 'createBackup' ? backupArgs(args) : undefined;
        const by = requester(request, auth);
        const imageId = await createServerImage(
          deps,
          auth,
          by,
          server,
          backup?.args ?? args,
          request.log,
          backup?.backup,
        );
        // A backup of rotation 0 is gone at once: Nova names no image then.
        if (backup?.backup.rotation === 0) return reply.code(202).send();
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
    // Nova's confirmResize answers 204; every other action 202.
    return reply.code(action === 'confirmResize' ? 204 : 202).send();
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
