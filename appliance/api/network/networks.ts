/**
 * Neutron's networks (`/v2.0/networks`), as neutron/db/db_base_plugin_v2.py and ML2 have them:
 * the shared flat provider network the cloud was made with, and a project's own networks, each a
 * VXLAN segment (the lowest free VNI, MTU 1450 for the tunnel's headers) that only its project's
 * servers are on. A member makes and changes its project's networks and reads the shared and
 * the external ones (`router:external`, where routers' gateways and floating IPs take their
 * addresses: the provider network, and any the cloud admin makes so); the cloud admin all, and
 * sees (and may choose) their `provider:*` segment. Deleting a network deletes its subnets and
 * its unbound floating IPs, and is refused while a port is on it.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Network } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { badRequest, forbidden } from '../faults.js';
import {
  type AttributeRules,
  filtered,
  neutronTime,
  postItems,
  requestResource,
  shown,
  stringAttribute,
  toBoolean,
} from './attributes.js';
import {
  changes,
  createAll,
  creatorProject,
  DESCRIPTION_SIZE,
  disallowed,
  NAME_SIZE,
  neutronConflict,
  neutronError,
  neutronNotFound,
  ownProject,
  sees,
} from './neutron.js';

/** The provider network's physical network name (ML2's `flat_networks`). */
const PHYSICAL_NETWORK = 'physnet0';
/** A VXLAN segment's MTU: the provider's 1500 less VXLAN's 50 bytes of headers (ML2's `global_physnet_mtu` less overhead). */
const VXLAN_MTU = 1450;
const VNI_MAX = 16777215;

const PROVIDER = ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id'];
/** neutron_lib's network attribute map with the `external-net`, `net-mtu`, `provider` and standard attributes. */
const NETWORK_ATTRIBUTES: AttributeRules = {
  known: [
    'id',
    'name',
    'subnets',
    'status',
    'admin_state_up',
    'shared',
    'project_id',
    'tenant_id',
    'router:external',
    'mtu',
    'description',
    ...PROVIDER,
  ],
  post: ['name', 'admin_state_up', 'shared', 'project_id', 'tenant_id', 'router:external', 'description', ...PROVIDER],
  put: ['name', 'admin_state_up', 'shared', 'router:external', 'description'],
};

/** A network as Neutron shows it; the admin sees its segment (the `provider` extension's policy). */
export async function networkView(deps: ApiDeps, n: Network, auth: AuthContext) {
  return {
    id: n.id,
    name: n.name,
    subnets: (await deps.db.networks.subnets({ networkId: n.id })).map((s) => s.id),
    status: 'ACTIVE',
    admin_state_up: n.adminStateUp,
    shared: n.shared,
    project_id: n.projectId,
    tenant_id: n.projectId,
    'router:external': n.external,
    availability_zones: ['nova'],
    availability_zone_hints: [],
    mtu: n.mtu,
    port_security_enabled: true,
    description: n.description,
    tags: [],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    revision_number: 1,
    created_at: neutronTime(n.createdAt),
    updated_at: neutronTime(n.updatedAt),
    ...(auth.isCloudAdmin
      ? {
          'provider:network_type': n.networkType,
          'provider:physical_network': n.networkType === 'flat' ? PHYSICAL_NETWORK : null,
          'provider:segmentation_id': n.segmentationId,
        }
      : {}),
  };
}

/** The network, if the caller sees it (its project's or a shared one; the admin's any); NetworkNotFound otherwise. */
export async function visibleNetwork(deps: ApiDeps, auth: AuthContext, id: string): Promise<Network> {
  const n = await deps.db.networks.get(id);
  if (!n || !sees(auth, n.projectId, n.shared || n.external)) throw neutronNotFound('Network', id);
  return n;
}

/** The segment a POST asks for: a VXLAN one unless the cloud admin asks otherwise (ML2's `_process_provider_create`). */
function requestedSegment(
  auth: AuthContext,
  a: Record<string, unknown>,
): Pick<Network, 'networkType' | 'segmentationId'> {
  if (!PROVIDER.some((k) => k in a)) return { networkType: 'vxlan', segmentationId: null };
  if (!auth.isCloudAdmin)
    throw forbidden('(rule:create_network and rule:create_network:provider:network_type) is disallowed by policy');
  const type = a['provider:network_type'];
  const physical = a['provider:physical_network'];
  const id = a['provider:segmentation_id'];
  if (type === 'flat') {
    if (id !== undefined && id !== null)
      throw badRequest('Invalid input for operation: segmentation_id specified for flat provider network.');
    throw neutronConflict(`Unable to create the flat network. Physical network ${PHYSICAL_NETWORK} is in use.`);
  }
  if (type !== 'vxlan')
    throw badRequest(`Invalid input for operation: network_type value '${String(type)}' not supported.`);
  if (physical !== undefined && physical !== null)
    throw badRequest('Invalid input for operation: provider:physical_network specified for vxlan network.');
  if (id === undefined || id === null) return { networkType: 'vxlan', segmentationId: null };
  const vni = typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id;
  if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 1 || vni > VNI_MAX)
    throw badRequest(`Invalid input for operation: segmentation_id out of range (1 through ${VNI_MAX}).`);
  return { networkType: 'vxlan', segmentationId: vni };
}

/** The network routes, inside `/v2.0` (a token required). */
export function networkRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const now = () => new Date().toISOString();

  api.get('/networks', async (request) => {
    const auth = authOf(request);
    const mine = ownProject(auth);
    const networks = auth.isCloudAdmin ? await db.networks.list({}) : await db.networks.list({ projectId: mine ?? '' });
    return { networks: filtered(request, await Promise.all(networks.map((n) => networkView(deps, n, auth)))) };
  });

  api.get('/networks/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    return { network: shown(request, await networkView(deps, await visibleNetwork(deps, auth, id), auth)) };
  });

  api.post('/networks', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_network');
    const { bulk, items } = postItems(request.body, 'network', NETWORK_ATTRIBUTES);
    const wanted = items.map((a): Network => {
      const shared = a.shared === undefined ? false : toBoolean(a.shared);
      if (shared && !auth.isCloudAdmin)
        throw forbidden('(rule:create_network and rule:create_network:shared) is disallowed by policy');
      const external = a['router:external'] === undefined ? false : toBoolean(a['router:external']);
      if (external && !auth.isCloudAdmin)
        throw forbidden('(rule:create_network and rule:create_network:router:external) is disallowed by policy');
      const segment = requestedSegment(auth, a);
      const at = now();
      return {
        id: randomUUID(),
        name: a.name === undefined ? '' : stringAttribute('name', a.name, NAME_SIZE),
        projectId: creatorProject(auth, a),
        shared,
        external,
        mtu: VXLAN_MTU,
        adminStateUp: a.admin_state_up === undefined ? true : toBoolean(a.admin_state_up),
        ...segment,
        description: a.description === undefined ? '' : stringAttribute('description', a.description, DESCRIPTION_SIZE),
        createdAt: at,
        updatedAt: at,
      };
    });
    const made = await createAll(
      wanted,
      async (n) => db.networks.create(n, (await db.quotas.get(n.projectId)).network),
      (id) => db.networks.delete(id),
      'network',
    );
    const views = await Promise.all(made.map((n) => networkView(deps, n, auth)));
    return reply.code(201).send(bulk ? { networks: views } : { network: views[0] });
  });

  api.put('/networks/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const n = await visibleNetwork(deps, auth, id);
    if (!changes(auth, n.projectId)) throw disallowed('update_network');
    const a = requestResource(request.body, 'network', NETWORK_ATTRIBUTES, 'PUT');
    const shared = a.shared === undefined ? undefined : toBoolean(a.shared);
    if (shared !== undefined && shared !== n.shared) {
      if (!auth.isCloudAdmin) throw disallowed('update_network:shared');
      // neutron/db/db_base_plugin_v2.py `_validate_shared_update`.
      if (!shared && (await db.networks.ports({ networkId: id })).some((p) => p.projectId !== n.projectId))
        throw neutronConflict(
          `Unable to reconfigure sharing settings for network ${id}. Multiple tenants are using it.`,
        );
    }
    const external = a['router:external'] === undefined ? undefined : toBoolean(a['router:external']);
    if (external !== undefined && external !== n.external && !auth.isCloudAdmin)
      throw disallowed('update_network:router:external');
    const updated = await db.networks
      .update(
        id,
        {
          external,
          name: a.name === undefined ? undefined : stringAttribute('name', a.name, NAME_SIZE),
          description:
            a.description === undefined ? undefined : stringAttribute('description', a.description, DESCRIPTION_SIZE),
          adminStateUp: a.admin_state_up === undefined ? undefined : toBoolean(a.admin_state_up),
          shared,
        },
        now(),
      )
      .catch((error: unknown) => {
        throw neutronError(error, 'network');
      });
    return { network: await networkView(deps, updated, auth) };
  });

  api.delete('/networks/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const n = await visibleNetwork(deps, auth, id);
    if (!changes(auth, n.projectId)) throw disallowed('delete_network');
    try {
      await db.networks.delete(id);
    } catch (error) {
      throw neutronError(error, 'network');
    }
    return reply.code(204).send();
  });
}
