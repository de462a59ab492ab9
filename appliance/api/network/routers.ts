/**
 * Neutron's routers (`/v2.0/routers`, the `router`, `ext-gw-mode` and `extraroute` extensions),
 * as neutron/db/l3_db.py, l3_gwmode_db.py and extraroute_db.py have them: a project's router, its
 * gateway on an external network (`external_gateway_info`: the network, SNAT, the addresses; a
 * port of project '' that the tenant does not see), its interfaces on the project's subnets
 * (`add_router_interface`: a new port at the subnet's gateway address, or an unbound port of the
 * caller's) and its routes through them. SNAT and the gateway's addresses are the cloud admin's to
 * choose (Neutron's policy). Each committed change is carried to the router's home node in the
 * background (`ServerService.refreshRouter`).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { GatewayRequest, Router, RouterInterface, RouterRoute } from '../../db/index.js';
import { ROUTER_GATEWAY_OWNER, ROUTER_INTERFACE_OWNER } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { ApiError, badRequest } from '../faults.js';
import {
  type AttributeRules,
  filtered,
  neutronTime,
  postItems,
  pythonText,
  requestResource,
  shown,
  stringAttribute,
  toBoolean,
  UUID_LIKE,
} from './attributes.js';
import { visibleNetwork } from './networks.js';
import {
  changes,
  cidrAttribute,
  creatorProject,
  DESCRIPTION_SIZE,
  disallowed,
  disallowedSubattributes,
  ipAttribute,
  ipToInt,
  NAME_SIZE,
  neutronError,
  neutronNotFound,
  ownProject,
} from './neutron.js';
import { fixedIpsAttribute, randomMac } from './ports.js';

/** extraroute's `max_routes` (neutron/conf/extensions/extraroute.py). */
const MAX_ROUTES = 30;

const ROUTER_ATTRIBUTES: AttributeRules = {
  known: [
    'id',
    'name',
    'admin_state_up',
    'status',
    'tenant_id',
    'project_id',
    'external_gateway_info',
    'routes',
    'description',
  ],
  post: ['name', 'admin_state_up', 'tenant_id', 'project_id', 'external_gateway_info', 'description'],
  put: ['name', 'admin_state_up', 'external_gateway_info', 'routes', 'description'],
};

/** `RouterNotFound` (no full stop, as neutron_lib's). */
const routerNotFound = (id: string) => new ApiError(404, `Router ${id} could not be found`, 'API_ERR_ROUTER_NOT_FOUND');

/** The router, if the caller sees it (its project's; the admin's any); RouterNotFound otherwise. */
async function visibleRouter(deps: ApiDeps, auth: AuthContext, id: string): Promise<Router> {
  const router = await deps.db.routers.get(id);
  if (!router || (!auth.isCloudAdmin && router.projectId !== ownProject(auth))) throw routerNotFound(id);
  return router;
}

/** A router as Neutron shows it, its gateway with the gateway port's network and addresses. */
export async function routerView(deps: ApiDeps, r: Router) {
  const gateway = r.gatewayPortId ? await deps.db.networks.getPort(r.gatewayPortId) : null;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    admin_state_up: r.adminStateUp,
    status: 'ACTIVE',
    project_id: r.projectId,
    tenant_id: r.projectId,
    external_gateway_info: gateway
      ? {
          network_id: gateway.networkId,
          enable_snat: r.enableSnat,
          external_fixed_ips: gateway.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
        }
      : null,
    routes: r.routes,
    tags: [],
    revision_number: 1,
    created_at: neutronTime(r.createdAt),
    updated_at: neutronTime(r.updatedAt),
  };
}

/** neutron_lib `validate_hostroutes` for `routes`: a list of `{destination, nexthop}`, no duplicate. */
function routesAttribute(value: unknown, routerId: string): RouterRoute[] {
  if (value === null) return [];
  const reason = (why: string) => badRequest(`Invalid input for routes. Reason: ${why}.`);
  if (!Array.isArray(value)) throw reason(`'${pythonText(value)}' is not a list`);
  const routes = value.map((r: unknown) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw reason(`'${pythonText(r)}' is not a dictionary`);
    const { destination, nexthop, ...rest } = r as Record<string, unknown>;
    if (Object.keys(rest).length || destination === undefined || nexthop === undefined)
      throw reason(`Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}`);
    return { destination: cidrAttribute('routes', destination), nexthop: ipAttribute('routes', nexthop) };
  });
  const twice = routes.find(
    (r, i) => routes.findIndex((o) => o.destination === r.destination && o.nexthop === r.nexthop) !== i,
  );
  if (twice) throw reason(`Duplicate hostroute '${pythonText(twice)}'`);
  if (routes.length > MAX_ROUTES)
    throw badRequest(
      `Unable to complete operation for ${routerId}. The number of routes exceeds the maximum ${MAX_ROUTES}.`,
    );
  return routes;
}

/**
 * The gateway an `external_gateway_info` asks for: null (or `{}`) for none; the network must be
 * one the caller sees, SNAT and addresses only the cloud admin may choose (Neutron's
 * `…:external_gateway_info:enable_snat` and `:external_fixed_ips` policies).
 */
async function gatewayOf(
  deps: ApiDeps,
  auth: AuthContext,
  action: 'create_router' | 'update_router',
  routerId: string,
  info: unknown,
): Promise<GatewayRequest | null> {
  if (info === null || (typeof info === 'object' && !Array.isArray(info) && Object.keys(info).length === 0))
    return null;
  const reason = (why: string) => badRequest(`Invalid input for external_gateway_info. Reason: ${why}.`);
  if (typeof info !== 'object' || Array.isArray(info)) throw reason(`'${pythonText(info)}' is not a dictionary`);
  const given = info as Record<string, unknown>;
  const known = ['network_id', 'external_fixed_ips', 'enable_snat'];
  const unknown = Object.keys(given).filter((k) => !known.includes(k));
  if (unknown.length) throw reason(`Unexpected keys supplied: ${unknown.join(', ')}`);
  if (given.network_id === undefined)
    throw reason(`Validation of dictionary's keys failed. Expected keys: {'network_id'}`);
  if (typeof given.network_id !== 'string' || !UUID_LIKE.test(given.network_id))
    throw reason(`'${pythonText(given.network_id)}' is not a valid UUID`);
  const chosen = known.filter((k) => k in given);
  if (!auth.isCloudAdmin && chosen.some((k) => k !== 'network_id'))
    throw disallowedSubattributes(action, 'external_gateway_info', chosen);
  const network = await visibleNetwork(deps, auth, given.network_id);
  const fixedIps =
    given.external_fixed_ips === undefined || given.external_fixed_ips === null
      ? null
      : fixedIpsAttribute(given.external_fixed_ips, network.id);
  const at = new Date().toISOString();
  return {
    port: {
      id: randomUUID(),
      name: '',
      networkId: network.id,
      // Neutron's gateway port has no project: the tenant does not see it.
      projectId: '',
      deviceId: routerId,
      deviceOwner: ROUTER_GATEWAY_OWNER,
      macAddress: randomMac(),
      adminStateUp: true,
      description: '',
      serverMade: false,
      tag: null,
      createdAt: at,
      updatedAt: at,
    },
    fixedIps,
    // l3_gwmode_db.py: `enable_snat_by_default`.
    enableSnat: given.enable_snat === undefined ? true : toBoolean(given.enable_snat),
  };
}

/** What `add_router_interface` and `remove_router_interface` answer (l3_db.py `_make_router_interface_info`). */
const interfaceInfo = (router: Router, made: RouterInterface, subnetId: string | undefined) => ({
  id: router.id,
  tenant_id: made.port.projectId,
  project_id: made.port.projectId,
  port_id: made.port.id,
  network_id: made.port.networkId,
  subnet_id: subnetId ?? null,
  subnet_ids: made.subnetIds,
});

/** l3_db.py `_validate_interface_info`: a subnet or a port, each a UUID (both only to remove). */
function interfaceRequest(body: unknown, forRemoval: boolean): { portId?: string; subnetId?: string } {
  const info = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<
    string,
    unknown
  >;
  if (!('port_id' in info) && !('subnet_id' in info))
    throw badRequest('Bad router request: Either subnet_id or port_id must be specified.');
  for (const key of ['port_id', 'subnet_id'])
    if (key in info && (typeof info[key] !== 'string' || !UUID_LIKE.test(info[key] as string)))
      throw badRequest(`Bad router request: '${pythonText(info[key])}' is not a valid UUID.`);
  if (!forRemoval && 'port_id' in info && 'subnet_id' in info)
    throw badRequest('Bad router request: Cannot specify both subnet-id and port-id.');
  return {
    ...(typeof info.port_id === 'string' ? { portId: info.port_id } : {}),
    ...(typeof info.subnet_id === 'string' ? { subnetId: info.subnet_id } : {}),
  };
}

/** The router routes, inside `/v2.0` (a token required). */
export function routerRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const now = () => new Date().toISOString();
  const refresh = (id: string) => deps.servers.refreshRouter(id);

  api.get('/routers', async (request) => {
    const auth = authOf(request);
    const routers = await db.routers.list(auth.isCloudAdmin ? {} : { projectId: ownProject(auth) ?? '' });
    return { routers: filtered(request, await Promise.all(routers.map((r) => routerView(deps, r)))) };
  });

  api.get('/routers/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { router: shown(request, await routerView(deps, await visibleRouter(deps, authOf(request), id))) };
  });

  api.post('/routers', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_router');
    const { bulk, items } = postItems(request.body, 'router', ROUTER_ATTRIBUTES);
    const made: Router[] = [];
    try {
      for (const a of items) {
        const id = randomUUID();
        const gateway =
          a.external_gateway_info === undefined
            ? null
            : await gatewayOf(deps, auth, 'create_router', id, a.external_gateway_info);
        const projectId = creatorProject(auth, a);
        const at = now();
        made.push(
          await db.routers.create(
            {
              id,
              projectId,
              name: a.name === undefined ? '' : stringAttribute('name', a.name, NAME_SIZE),
              description:
                a.description === undefined ? '' : stringAttribute('description', a.description, DESCRIPTION_SIZE),
              adminStateUp: a.admin_state_up === undefined ? true : toBoolean(a.admin_state_up),
              enableSnat: gateway?.enableSnat ?? true,
              routes: [],
              createdAt: at,
              updatedAt: at,
            },
            gateway,
            (await db.quotas.get(projectId)).router,
          ),
        );
      }
    } catch (error) {
      // A bulk create is all or nothing (Neutron's).
      for (const r of made) await db.routers.delete(r.id).catch(() => undefined);
      throw neutronError(error, 'router');
    }
    for (const r of made) refresh(r.id);
    const views = await Promise.all(made.map((r) => routerView(deps, r)));
    return reply.code(201).send(bulk ? { routers: views } : { router: views[0] });
  });

  api.put('/routers/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const router = await visibleRouter(deps, auth, id);
    if (!changes(auth, router.projectId)) throw disallowed('update_router');
    const a = requestResource(request.body, 'router', ROUTER_ATTRIBUTES, 'PUT');
    const gateway =
      a.external_gateway_info === undefined
        ? undefined
        : await gatewayOf(deps, auth, 'update_router', id, a.external_gateway_info);
    try {
      // extraroute_db.py updates the routes first, then l3_db.py the gateway and the rest.
      const routes = a.routes === undefined ? undefined : routesAttribute(a.routes, id);
      if (routes) await db.routers.update(id, { routes }, now());
      if (gateway !== undefined) await db.routers.setGateway(id, gateway, now());
      const updated = await db.routers.update(
        id,
        {
          name: a.name === undefined ? undefined : stringAttribute('name', a.name, NAME_SIZE),
          description:
            a.description === undefined ? undefined : stringAttribute('description', a.description, DESCRIPTION_SIZE),
          adminStateUp: a.admin_state_up === undefined ? undefined : toBoolean(a.admin_state_up),
        },
        now(),
      );
      return { router: await routerView(deps, updated) };
    } catch (error) {
      throw neutronError(error, 'router');
    } finally {
      refresh(id);
    }
  });

  api.delete('/routers/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const router = await visibleRouter(deps, auth, id);
    if (!changes(auth, router.projectId)) throw disallowed('delete_router');
    await db.routers.delete(id).catch((error: unknown) => {
      throw neutronError(error, 'router');
    });
    refresh(id);
    return reply.code(204).send();
  });

  api.put('/routers/:id/add_router_interface', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const router = await visibleRouter(deps, auth, id);
    if (!changes(auth, router.projectId)) throw disallowed('add_router_interface');
    const { portId, subnetId } = interfaceRequest(request.body, false);
    const at = now();
    let made: RouterInterface;
    if (subnetId !== undefined) {
      const subnet = await db.networks.getSubnet(subnetId);
      const network = subnet ? await db.networks.get(subnet.networkId) : null;
      const mine = subnet?.projectId === ownProject(auth);
      if (!subnet || !network || !(auth.isCloudAdmin || mine || network.shared || network.external))
        throw neutronNotFound('Subnet', subnetId);
      if (!subnet.gatewayIp)
        throw badRequest('Bad router request: Subnet for router interface must have a gateway IP.');
      // l3_db.py `_add_interface_by_subnet` (LP-1757482): not another project's subnet, shared or not.
      if (!auth.isCloudAdmin && !mine)
        throw badRequest(
          `Bad router request: Cannot add interface to router because subnet ${subnetId} is not owned by project making the request.`,
        );
      made = await db.routers
        .addInterface(
          id,
          {
            kind: 'subnet',
            subnetId,
            port: {
              ...{ id: randomUUID(), name: '', networkId: subnet.networkId, projectId: router.projectId },
              ...{ deviceId: id, deviceOwner: ROUTER_INTERFACE_OWNER, macAddress: randomMac(), adminStateUp: true },
              ...{ description: '', serverMade: false, tag: null, createdAt: at, updatedAt: at },
            },
          },
          at,
        )
        .catch((error: unknown) => {
          throw neutronError(error, 'router');
        });
    } else {
      const port = await db.networks.getPort(portId ?? '');
      if (!port || (!auth.isCloudAdmin && port.projectId !== ownProject(auth)))
        throw neutronNotFound('Port', portId ?? '');
      // l3_db.py `_validate_port_in_range_or_admin`: outside a pool only on the caller's own subnet.
      if (!auth.isCloudAdmin)
        for (const f of port.fixedIps) {
          const subnet = await db.networks.getSubnet(f.subnetId);
          const ip = ipToInt(f.ipAddress);
          const pooled = subnet?.allocationPools.some((p) => ip >= ipToInt(p.start) && ip <= ipToInt(p.end));
          if (subnet && !pooled && subnet.projectId !== ownProject(auth))
            throw badRequest(
              `Bad router request: Cannot add interface to router because specified port ${port.id} has an IP address out of the allocation pool of subnet ${subnet.id}, which is not owned by the project making the request.`,
            );
        }
      made = await db.routers.addInterface(id, { kind: 'port', portId: port.id }, at).catch((error: unknown) => {
        throw neutronError(error, 'router');
      });
    }
    refresh(id);
    return interfaceInfo(router, made, made.subnetIds.at(-1));
  });

  api.put('/routers/:id/remove_router_interface', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const router = await visibleRouter(deps, auth, id);
    if (!changes(auth, router.projectId)) throw disallowed('remove_router_interface');
    const { portId, subnetId } = interfaceRequest(request.body, true);
    const removed = await db.routers.removeInterface(id, portId ?? null, subnetId ?? null).catch((error: unknown) => {
      throw neutronError(error, 'router');
    });
    refresh(id);
    return interfaceInfo(router, removed, removed.subnetIds[0]);
  });
}
