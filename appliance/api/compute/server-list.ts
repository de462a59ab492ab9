/**
 * Nova's server lists (`GET /servers`, `GET /servers/detail`): the caller's project's servers,
 * or with `all_tenants` every project's (the cloud admin's), filtered as Nova filters them
 * (status, name as a regular expression, image, flavor, host, changes-since/-before, ip, ip6,
 * tags, locked, reservation id), paged by `limit` and `marker`; from 2.75 a parameter Nova does
 * not know is a 400.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { serverMachine, type ServerStateValue, serverStatusView } from '../../../statemachines/index.js';
import type { Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, projectOf, queryAll, queryString, requireCloudAdmin } from '../context.js';
import { badRequest } from '../faults.js';
import { boolish } from './fields.js';
import { atLeast } from './microversions.js';
import { nextLink, pageOf } from './paging.js';
import { hostStatusOf } from './services.js';
import { tagFilter } from './tags.js';
import { serverSecurityGroupNames } from './security-groups.js';
import { floatingAddresses, serverBasic, serverDetail } from './views.js';

/** Which states a Nova status name covers, for `?status=`: the machine's, but the final one. */
const ALL_STATES = Object.keys(serverMachine.config.states ?? {}).filter(
  (state) => state !== 'deleted',
) as ServerStateValue[];
const CONTEXTS = [false, true].flatMap((hardReboot) =>
  [false, true].flatMap((snapshotStopped) =>
    ([undefined, 'paused', 'suspended'] as const).flatMap((snapshotOf) =>
      ([undefined, 'shutoff', 'paused', 'suspended'] as const).map((shelveOf) => ({
        ...{ fault: null, hardReboot, snapshotStopped, snapshotOf, shelveOf },
      })),
    ),
  ),
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

/** From 2.73, `locked`: only the locked servers, or only the others. */
function lockedFilter(request: FastifyRequest): boolean | undefined {
  const value = queryString(request, 'locked');
  return value === undefined || !atLeast(request, '2.73') ? undefined : boolish(value, 'locked');
}

/** From 2.16, how the cloud admin sees a server's host (Nova's host_status); undefined for anyone else or before. */
export async function hostStatusFor(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
): Promise<((host: string) => string) | undefined> {
  if (!auth.isCloudAdmin || !atLeast(request, '2.16')) return undefined;
  const live = new Set(deps.servers.driver.hosts().map((h) => h.hostname));
  const services = await deps.db.computeServices.list();
  return (host) => hostStatusOf(host, live, services);
}

export function registerServerList(app: FastifyInstance, deps: ApiDeps): void {
  const base = deps.publicUrl;
  const db = deps.db;

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
    const groups = await serverSecurityGroupNames(db, shown);
    const floating = await floatingAddresses(db, shown);
    return {
      servers: shown.map((s) =>
        serverDetail(request, base, s, auth.isCloudAdmin, groups.get(s.id) ?? [], floating, hostStatus),
      ),
      ...(more && last ? { servers_links: nextLink(deps, request, 'servers/detail', last.id, page.limit) } : {}),
    };
  });
}
