import type { FastifyInstance } from 'fastify';
import type { Network, Port, Subnet } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireToken } from '../context.js';
import { ApiError, badRequest } from '../faults.js';
import { type AttributeRules, filtered, neutronTime, requestResource, shown } from './attributes.js';
import { extensionRoutes } from './extensions.js';
import { quotaRoutes } from './quotas.js';
import { securityGroupRoutes, updatePortGroups } from './security-groups.js';

const neutronNotFound = (type: string, id: string) =>
  new ApiError(404, `${type} ${id} could not be found.`, `API_ERR_${type.toUpperCase()}_NOT_FOUND`);

/** The port attributes Neutron's PUT refuses ("Cannot update read-only attribute"). */
const PORT_READ_ONLY = [
  'id',
  'network_id',
  'project_id',
  'tenant_id',
  'status',
  'created_at',
  'updated_at',
  'revision_number',
];

/**
 * What a `PUT /ports/{id}` may name: the port's attributes. Of those Neutron lets a PUT change,
 * only `security_groups` changes here; the others may be given as they are.
 */
const portAttributes = (view: Record<string, unknown>): AttributeRules => ({
  known: Object.keys(view),
  post: [],
  put: Object.keys(view).filter((k) => !PORT_READ_ONLY.includes(k)),
});

/**
 * Neutron v2.0 under `/network`, minimal: the flat provider network and its subnet (read
 * only), the ports servers get (whose security groups may change), security groups and their
 * rules (security-groups.ts), quotas (quotas.ts) and the extension list that says so
 * (extensions.ts).
 */
export async function networkRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const db = deps.db;
  const base = deps.publicUrl;

  const versions = {
    versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${base}/network/v2.0/` }] }],
  };
  app.get('/', async () => versions);

  const networkView = async (n: Network, auth: AuthContext) => ({
    id: n.id,
    name: n.name,
    subnets: (await db.networks.subnets({ networkId: n.id })).map((s) => s.id),
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
    description: '',
    tags: [],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    revision_number: 1,
    created_at: neutronTime(n.createdAt),
    updated_at: neutronTime(n.createdAt),
    ...(auth.isCloudAdmin
      ? { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet0', 'provider:segmentation_id': null }
      : {}),
  });
  const subnetView = (s: Subnet) => ({
    id: s.id,
    name: s.name,
    network_id: s.networkId,
    project_id: s.projectId,
    tenant_id: s.projectId,
    cidr: s.cidr,
    gateway_ip: s.gatewayIp,
    ip_version: s.ipVersion,
    enable_dhcp: s.enableDhcp,
    allocation_pools: [{ start: s.poolStart, end: s.poolEnd }],
    dns_nameservers: [],
    host_routes: [],
    ipv6_ra_mode: null,
    ipv6_address_mode: null,
    subnetpool_id: null,
    description: '',
    tags: [],
    revision_number: 0,
    created_at: neutronTime(s.createdAt),
    updated_at: neutronTime(s.createdAt),
  });
  const portView = (p: Port, securityGroups: string[]) => ({
    id: p.id,
    name: p.name,
    network_id: p.networkId,
    project_id: p.projectId,
    tenant_id: p.projectId,
    device_id: p.deviceId,
    device_owner: p.deviceOwner,
    mac_address: p.macAddress,
    fixed_ips: [{ subnet_id: p.subnetId, ip_address: p.ipAddress }],
    status: 'ACTIVE',
    admin_state_up: true,
    security_groups: securityGroups,
    allowed_address_pairs: [],
    description: '',
    tags: [],
    revision_number: 1,
    created_at: neutronTime(p.createdAt),
    updated_at: neutronTime(p.createdAt),
  });

  const scope = (auth: AuthContext) => (auth.isCloudAdmin ? {} : { projectId: auth.project?.id ?? '' });

  await app.register(
    async (api) => {
      api.addHook('onRequest', requireToken(deps));

      api.get('/networks', async (request) => {
        const auth = authOf(request);
        const networks = await db.networks.list({ ...scope(auth), name: queryString(request, 'name') });
        return { networks: filtered(request, await Promise.all(networks.map((n) => networkView(n, auth)))) };
      });
      api.get('/networks/:id', async (request) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        const n = await db.networks.get(id);
        if (!n || (!auth.isCloudAdmin && !n.shared && n.projectId !== auth.project?.id))
          throw neutronNotFound('Network', id);
        return { network: await networkView(n, auth) };
      });
      api.get('/subnets', async (request) => {
        const subnets = await db.networks.subnets(scope(authOf(request)));
        return { subnets: filtered(request, subnets.map(subnetView)) };
      });
      api.get('/subnets/:id', async (request) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        const s = await db.networks.getSubnet(id);
        const visible = s ? (await db.networks.subnets(scope(auth))).some((x) => x.id === s.id) : false;
        if (!s || !visible) throw neutronNotFound('Subnet', id);
        return { subnet: subnetView(s) };
      });
      api.get('/ports', async (request) => {
        const ports = await db.networks.ports({
          ...scope(authOf(request)),
          deviceId: queryString(request, 'device_id'),
          networkId: queryString(request, 'network_id'),
        });
        const groups = await db.securityGroups.ofPorts(ports.map((p) => p.id));
        return {
          ports: filtered(
            request,
            ports.map((p) => portView(p, groups[p.id] ?? [])),
          ),
        };
      });
      const visiblePort = async (auth: AuthContext, id: string): Promise<Port> => {
        const p = await db.networks.getPort(id);
        if (!p || (!auth.isCloudAdmin && p.projectId !== auth.project?.id)) throw neutronNotFound('Port', id);
        return p;
      };
      const portViewOf = async (p: Port) => portView(p, (await db.securityGroups.ofPorts([p.id]))[p.id] ?? []);
      api.get('/ports/:id', async (request) => {
        const { id } = request.params as { id: string };
        return { port: shown(request, await portViewOf(await visiblePort(authOf(request), id))) };
      });
      api.put('/ports/:id', async (request) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        const p = await visiblePort(auth, id);
        if (!auth.canWrite) throw new ApiError(403, 'rule:update_port is disallowed by policy', 'API_ERR_FORBIDDEN');
        const view: Record<string, unknown> = await portViewOf(p);
        const attributes = requestResource(request.body, 'port', portAttributes(view), 'PUT');
        for (const [name, value] of Object.entries(attributes))
          if (name !== 'security_groups' && JSON.stringify(value) !== JSON.stringify(view[name]))
            throw badRequest(
              `Invalid input for ${name}. Reason: this cloud's ports keep their ${name}; a PUT may change only their security_groups.`,
            );
        if ('security_groups' in attributes) await updatePortGroups(deps, auth, p, attributes.security_groups);
        return { port: await portViewOf(p) };
      });
      securityGroupRoutes(api, deps);
      quotaRoutes(api, db);
      extensionRoutes(api);
    },
    { prefix: '/v2.0' },
  );
}
