/**
 * Nova's proxies of the network API (`os-networks`, `os-tenant-networks`; microversions 2.1
 * to 2.35, a 404 from 2.36, where Nova removed its proxies): the networks the caller's project
 * sees in Neutron's API (appliance/api/network), in the shape nova-network left them. Their
 * writes were nova-network's, which Nova removed in 21.0.0: 410.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Network } from '../../db/index.js';
import { type ApiDeps, authOf } from '../context.js';
import { ApiError, notFound } from '../faults.js';
import { atLeast } from './microversions.js';

/** The nova-network fields `os-networks` still names, all null; the cloud admin sees its admin fields too. */
const FIELDS = ['cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'netmask_v6'];
const ADMIN_FIELDS = [
  ...['created_at', 'updated_at', 'deleted_at', 'deleted', 'injected', 'bridge', 'vlan', 'vpn_public_address'],
  ...['vpn_public_port', 'vpn_private_address', 'dhcp_start', 'project_id', 'host', 'bridge_interface'],
  ...['multi_host', 'priority', 'rxtx_base', 'mtu', 'dhcp_server', 'enable_dhcp', 'share_address'],
];

const gone = () =>
  new ApiError(410, 'This resource is no longer available (nova-network was removed).', 'API_ERR_GONE');

export function registerNetworkProxies(app: FastifyInstance, deps: ApiDeps): void {
  /** The networks the caller's project sees, before 2.36 (404 after). */
  const visible = async (request: FastifyRequest) => {
    if (atLeast(request, '2.36')) throw notFound('The resource could not be found.');
    const auth = authOf(request);
    return { auth, networks: await deps.db.networks.list(auth.project ? { projectId: auth.project.id } : {}) };
  };
  const one = async (request: FastifyRequest) => {
    const { id } = request.params as { id: string };
    const { auth, networks } = await visible(request);
    const network = networks.find((n) => n.id === id);
    if (!network) throw notFound('Network not found');
    return { auth, network };
  };
  const networkView = (n: Network, admin: boolean) => ({
    id: n.id,
    label: n.name,
    ...Object.fromEntries([...FIELDS, ...(admin ? ADMIN_FIELDS : [])].map((f) => [f, null])),
  });
  // Nova has always said `"cidr": "None"` here with Neutron.
  const tenantView = (n: Network) => ({ id: n.id, cidr: 'None', label: n.name });

  app.get('/os-networks', async (request) => {
    const { auth, networks } = await visible(request);
    return { networks: networks.map((n) => networkView(n, auth.isCloudAdmin)) };
  });
  app.get('/os-networks/:id', async (request) => {
    const { auth, network } = await one(request);
    return { network: networkView(network, auth.isCloudAdmin) };
  });
  app.get('/os-tenant-networks', async (request) => ({
    networks: (await visible(request)).networks.map(tenantView),
  }));
  app.get('/os-tenant-networks/:id', async (request) => ({ network: tenantView((await one(request)).network) }));
  for (const url of [
    '/os-networks',
    '/os-networks/:id',
    '/os-networks/:id/action',
    '/os-networks/add',
    '/os-tenant-networks',
    '/os-tenant-networks/:id',
  ]) {
    app.route({
      method: ['POST', 'DELETE'],
      url,
      handler: async () => {
        throw gone();
      },
    });
  }
}
