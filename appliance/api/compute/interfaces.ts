/**
 * A server's devices as Nova shows them beside the server: its ports (`os-interface`: network,
 * MAC, addresses, and from microversion 2.70 its device tag) and its NUMA topology (from 2.78,
 * `/topology`: none, as rackseed pins no guest to host NUMA nodes). A port is attached only when
 * the server is made (rackseed hot-plugs no NIC yet), so attaching and detaching are refused.
 */
import type { FastifyInstance } from 'fastify';
import type { Port, Server } from '../../db/index.js';
import { serverPorts } from '../../compute/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { ApiError, notFound } from '../faults.js';
import { atLeast } from './microversions.js';

const notSupported = () =>
  new ApiError(409, 'rackseed attaches and detaches no network interface on a built server yet.', 'API_ERR_CONFLICT');

export function registerInterfaces(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  const portView = (request: Parameters<typeof atLeast>[0], p: Port) => ({
    port_state: 'ACTIVE',
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    port_id: p.id,
    net_id: p.networkId,
    mac_addr: p.macAddress,
    ...(atLeast(request, '2.70') ? { tag: p.tag } : {}),
  });
  const portsOf = async (auth: AuthContext, id: string) => {
    const server = await visibleServer(auth, id);
    return serverPorts(deps.db, server);
  };

  app.get('/servers/:id/os-interface', async (request) => {
    const ports = await portsOf(authOf(request), (request.params as { id: string }).id);
    return { interfaceAttachments: ports.map((p) => portView(request, p)) };
  });
  app.get('/servers/:id/os-interface/:port', async (request) => {
    const { id, port } = request.params as { id: string; port: string };
    const found = (await portsOf(authOf(request), id)).find((p) => p.id === port);
    if (!found) throw notFound(`Port ${port} is not attached`);
    return { interfaceAttachment: portView(request, found) };
  });
  app.post('/servers/:id/os-interface', async (request) => {
    await visibleServer(authOf(request), (request.params as { id: string }).id);
    throw notSupported();
  });
  app.delete('/servers/:id/os-interface/:port', async (request) => {
    await visibleServer(authOf(request), (request.params as { id: string }).id);
    throw notSupported();
  });

  app.get('/servers/:id/topology', async (request) => {
    if (!atLeast(request, '2.78')) throw notFound('The resource could not be found.');
    await visibleServer(authOf(request), (request.params as { id: string }).id);
    return { nodes: [], pagesize_kb: null };
  });
}
