import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Network, Port, Subnet } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireToken } from '../context.js';
import { ApiError, badRequest } from '../faults.js';
import { extensionRoutes } from './extensions.js';
import { quotaRoutes } from './quotas.js';

const neutronNotFound = (type: string, id: string) =>
  new ApiError(404, `${type} ${id} could not be found.`, `API_ERR_${type.toUpperCase()}_NOT_FOUND`);

const neutronTime = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

/** The `default` group Neutron makes for each project: servers are in it; it has no rules here. */
const defaultSecurityGroup = (projectId: string) => ({
  id: `default-${projectId}`,
  name: 'default',
  description: 'Default security group',
  project_id: projectId,
  tenant_id: projectId,
  security_group_rules: [],
  stateful: true,
  tags: [],
});

/** Neutron's `bool_from_string(strict=True)`: the words it takes for true and false, in any case. */
function neutronBoolean(text: string): boolean {
  const word = text.trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(word)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(word)) return false;
  throw badRequest(`Invalid input for operation: '${text}' cannot be converted to boolean.`);
}

/**
 * Neutron v2.0 under `/network`, minimal: the flat provider network and its subnet (read
 * only), the ports servers get, the `default` security group, quotas (quotas.ts) and the
 * extension list that says so (extensions.ts).
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
  const portView = (p: Port) => ({
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
    // Nova makes a server's ports in its project's `default` group (as the server shows it).
    security_groups: p.deviceOwner.startsWith('compute:') ? [defaultSecurityGroup(p.projectId).id] : [],
    allowed_address_pairs: [],
    description: '',
    tags: [],
    revision_number: 1,
    created_at: neutronTime(p.createdAt),
    updated_at: neutronTime(p.createdAt),
  });

  /**
   * Neutron's `?field=value` filters on any attribute of the view, repeated = any of. A boolean
   * attribute takes what Neutron's `bool_from_string` does (`shared=True` as neutronclient and
   * Horizon send it, `true`, `1`, `yes`, `on`…), anything else is a 400.
   */
  const filtered = <T extends Record<string, unknown>>(request: FastifyRequest, items: T[]): T[] => {
    const q = request.query as Record<string, string | string[]>;
    const filters = Object.entries(q).filter(([k]) => k !== 'fields' && k !== 'limit' && k !== 'marker');
    const booleans = new Map(
      filters.flatMap(([k, v]) =>
        items.some((item) => typeof item[k] === 'boolean')
          ? [[k, (Array.isArray(v) ? v : [v]).map(neutronBoolean)]]
          : [],
      ),
    );
    return items.filter((item) =>
      filters.every(([k, v]) => {
        if (!(k in item)) return true;
        const wanted: readonly (string | boolean)[] = booleans.get(k) ?? (Array.isArray(v) ? v : [v]);
        return wanted.includes(typeof item[k] === 'boolean' ? item[k] : String(item[k]));
      }),
    );
  };
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
        return { ports: filtered(request, ports.map(portView)) };
      });
      api.get('/ports/:id', async (request) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        const p = await db.networks.getPort(id);
        if (!p || (!auth.isCloudAdmin && p.projectId !== auth.project?.id)) throw neutronNotFound('Port', id);
        return { port: portView(p) };
      });
      api.get('/security-groups', async (request) => {
        const auth = authOf(request);
        // Neutron lists a non-admin its own project's groups only (there, a filter naming another
        // project finds none); the cloud admin sees any project's, as it asks.
        const own = auth.project?.id ?? '';
        const asked = queryString(request, 'tenant_id') ?? queryString(request, 'project_id');
        const projectId = auth.isCloudAdmin ? (asked ?? own) : own;
        if (!projectId) return { security_groups: [] };
        return { security_groups: filtered(request, [defaultSecurityGroup(projectId)]) };
      });
      quotaRoutes(api, db);
      extensionRoutes(api);
    },
    { prefix: '/v2.0' },
  );
}
