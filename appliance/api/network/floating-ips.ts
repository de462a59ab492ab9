/**
 * Neutron's floating IPs (`/v2.0/floatingips`, the `router` extension's, with `fip-port-details`),
 * as neutron/db/l3_db.py has them: an address of an external network (a port there of its own,
 * `network:floatingip`, from the network's one IPAM) that a project holds, bound to a fixed
 * address of one of its ports behind a router whose gateway is on that network (`router_id` is
 * derived, never asked). Only the cloud admin chooses the address (Neutron's policy). A member
 * sees and changes its project's; the cloud admin all. Each committed change is carried to the
 * routers it touches in the background (`ServerService.refreshRouter`).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { FloatingIp, FloatingIpAssociation, Port } from '../../db/index.js';
import { FLOATING_IP_OWNER } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { ApiError, badRequest, forbidden } from '../faults.js';
import {
  type AttributeRules,
  filtered,
  neutronTime,
  postItems,
  pythonText,
  requestResource,
  shown,
  stringAttribute,
  UUID_LIKE,
} from './attributes.js';
import { visibleNetwork } from './networks.js';
import {
  changes,
  creatorProject,
  DESCRIPTION_SIZE,
  disallowed,
  ipAttribute,
  neutronError,
  neutronNotFound,
  ownProject,
} from './neutron.js';
import { randomMac } from './ports.js';

const FIP_POST = [
  'floating_ip_address',
  'subnet_id',
  'floating_network_id',
  'port_id',
  'fixed_ip_address',
  'tenant_id',
  'project_id',
  'description',
];
const FIP_ATTRIBUTES: AttributeRules = {
  known: ['id', ...FIP_POST, 'router_id', 'status', 'port_details'],
  post: FIP_POST,
  required: ['floating_network_id'],
  put: ['port_id', 'fixed_ip_address', 'description'],
};

/** `FloatingIPNotFound` (no full stop, as neutron_lib's). */
const fipNotFound = (id: string) =>
  new ApiError(404, `Floating IP ${id} could not be found`, 'API_ERR_FLOATING_IP_NOT_FOUND');

/** A floating IP as Neutron shows it; `port_details` the bound port's (fip_port_details.py). */
const fipView = (f: FloatingIp, port: Port | null) => ({
  id: f.id,
  tenant_id: f.projectId,
  project_id: f.projectId,
  floating_ip_address: f.floatingIpAddress,
  floating_network_id: f.floatingNetworkId,
  router_id: f.routerId,
  port_id: f.fixedPortId,
  fixed_ip_address: f.fixedIpAddress,
  status: f.fixedPortId === null ? 'DOWN' : 'ACTIVE',
  description: f.description,
  port_details: port
    ? {
        name: port.name,
        network_id: port.networkId,
        mac_address: port.macAddress,
        admin_state_up: port.adminStateUp,
        status: port.deviceId === '' ? 'DOWN' : 'ACTIVE',
        device_id: port.deviceId,
        device_owner: port.deviceOwner,
      }
    : null,
  tags: [],
  revision_number: 1,
  created_at: neutronTime(f.createdAt),
  updated_at: neutronTime(f.updatedAt),
});

/** `type:uuid_or_none` as an attribute's input error. */
function uuidOrNone(name: string, value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || !UUID_LIKE.test(value))
    throw badRequest(`Invalid input for ${name}. Reason: '${pythonText(value)}' is not a valid UUID.`);
  return value;
}

/**
 * The binding a request asks for (`port_id`, and `fixed_ip_address`), the port one the caller
 * sees (another project's is not found, as Neutron's `get_port` has it); null to unbind.
 */
async function associationOf(
  deps: ApiDeps,
  auth: AuthContext,
  a: Record<string, unknown>,
): Promise<FloatingIpAssociation | null> {
  const portId = uuidOrNone('port_id', a.port_id ?? null);
  const fixed =
    a.fixed_ip_address === undefined || a.fixed_ip_address === null
      ? null
      : ipAttribute('fixed_ip_address', a.fixed_ip_address);
  if (portId === null) {
    if (fixed !== null)
      throw badRequest('Bad floatingip request: fixed_ip_address cannot be specified without a port_id.');
    return null;
  }
  const port = await deps.db.networks.getPort(portId);
  if (!port || (!auth.isCloudAdmin && port.projectId !== ownProject(auth))) throw neutronNotFound('Port', portId);
  return { portId, fixedIpAddress: fixed };
}

/** The floating IP routes, inside `/v2.0` (a token required). */
export function floatingIpRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const now = () => new Date().toISOString();
  const refresh = (...routers: (string | null)[]) => {
    for (const id of new Set(routers)) if (id !== null) deps.servers.refreshRouter(id);
  };

  const viewsOf = async (fips: FloatingIp[]) =>
    Promise.all(fips.map(async (f) => fipView(f, f.fixedPortId ? await db.networks.getPort(f.fixedPortId) : null)));
  const visibleFip = async (auth: AuthContext, id: string): Promise<FloatingIp> => {
    const f = await db.routers.getFloatingIp(id);
    if (!f || (!auth.isCloudAdmin && f.projectId !== ownProject(auth))) throw fipNotFound(id);
    return f;
  };

  api.get('/floatingips', async (request) => {
    const auth = authOf(request);
    const fips = await db.routers.floatingIps(auth.isCloudAdmin ? {} : { projectId: ownProject(auth) ?? '' });
    return { floatingips: filtered(request, await viewsOf(fips)) };
  });

  api.get('/floatingips/:id', async (request) => {
    const { id } = request.params as { id: string };
    const [view] = await viewsOf([await visibleFip(authOf(request), id)]);
    return { floatingip: shown(request, view ?? {}) };
  });

  api.post('/floatingips', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_floatingip');
    const { bulk, items } = postItems(request.body, 'floatingip', FIP_ATTRIBUTES);
    const made: FloatingIp[] = [];
    try {
      for (const a of items) {
        const networkId = uuidOrNone('floating_network_id', a.floating_network_id);
        const address =
          a.floating_ip_address === undefined || a.floating_ip_address === null
            ? undefined
            : ipAttribute('floating_ip_address', a.floating_ip_address);
        if (address !== undefined && !auth.isCloudAdmin)
          throw forbidden(
            '(rule:create_floatingip and rule:create_floatingip:floating_ip_address) is disallowed by policy',
          );
        const subnetId = uuidOrNone('subnet_id', a.subnet_id ?? null);
        const network = await visibleNetwork(deps, auth, networkId ?? '');
        if (!network.external)
          throw badRequest(`Bad floatingip request: Network ${network.id} is not a valid external network.`);
        const projectId = creatorProject(auth, a);
        const association = await associationOf(deps, auth, a);
        const fixedIps =
          address === undefined && subnetId === null
            ? null
            : [
                {
                  ...(subnetId === null ? {} : { subnetId }),
                  ...(address === undefined ? {} : { ipAddress: address }),
                },
              ];
        const at = now();
        const id = randomUUID();
        made.push(
          await db.routers.createFloatingIp(
            {
              id,
              projectId,
              floatingNetworkId: network.id,
              description:
                a.description === undefined ? '' : stringAttribute('description', a.description, DESCRIPTION_SIZE),
              createdAt: at,
              updatedAt: at,
            },
            {
              ...{ id: randomUUID(), name: '', networkId: network.id, projectId: '', deviceId: id },
              ...{ deviceOwner: FLOATING_IP_OWNER, macAddress: randomMac(), adminStateUp: true, description: '' },
              ...{ serverMade: false, tag: null, createdAt: at, updatedAt: at },
            },
            fixedIps,
            association,
            (await db.quotas.get(projectId)).floatingip,
          ),
        );
      }
    } catch (error) {
      // A bulk create is all or nothing (Neutron's).
      for (const f of made) await db.routers.deleteFloatingIp(f.id).catch(() => undefined);
      throw neutronError(error, 'floatingip');
    }
    refresh(...made.map((f) => f.routerId));
    const views = await viewsOf(made);
    return reply.code(201).send(bulk ? { floatingips: views } : { floatingip: views[0] });
  });

  api.put('/floatingips/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const before = await visibleFip(auth, id);
    if (!changes(auth, before.projectId)) throw disallowed('update_floatingip');
    const a = requestResource(request.body, 'floatingip', FIP_ATTRIBUTES, 'PUT');
    const keep = !('port_id' in a);
    if (keep && a.fixed_ip_address !== undefined && a.fixed_ip_address !== null)
      throw badRequest('Bad floatingip request: fixed_ip_address cannot be specified without a port_id.');
    const association = keep ? null : await associationOf(deps, auth, a);
    const updated = await db.routers
      .updateFloatingIp(
        id,
        association,
        keep,
        a.description === undefined ? null : stringAttribute('description', a.description, DESCRIPTION_SIZE),
        now(),
      )
      .catch((error: unknown) => {
        throw neutronError(error, 'floatingip');
      });
    refresh(before.routerId, updated.routerId);
    const [view] = await viewsOf([updated]);
    return { floatingip: view };
  });

  api.delete('/floatingips/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const fip = await visibleFip(auth, id);
    if (!changes(auth, fip.projectId)) throw disallowed('delete_floatingip');
    await db.routers.deleteFloatingIp(id).catch((error: unknown) => {
      throw neutronError(error, 'floatingip');
    });
    refresh(fip.routerId);
    return reply.code(204).send();
  });
}
