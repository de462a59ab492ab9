/**
 * Neutron's subnets (`/v2.0/subnets`), IPv4 only, as neutron/db/db_base_plugin_v2.py and
 * neutron/ipam/utils.py check them: a CIDR with no host bits, its gateway (by default its first
 * address; null for none), its allocation pools (by default the CIDR less its network, broadcast
 * and gateway addresses), DNS servers and host routes handed to its guests by DHCP, whether DHCP
 * serves it. Subnets of one network may not overlap; one with a port's address on it stays.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AllocationPool, HostRoute, Subnet } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { badRequest } from '../faults.js';
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
} from './attributes.js';
import { visibleNetwork } from './networks.js';
import {
  changes,
  cidrAttribute,
  cidrRange,
  createAll,
  creatorProject,
  DESCRIPTION_SIZE,
  disallowed,
  intToIp,
  ipAttribute,
  ipToInt,
  NAME_SIZE,
  neutronConflict,
  neutronError,
  neutronNotFound,
  ownProject,
  sees,
} from './neutron.js';

/** Neutron's `max_dns_nameservers` and `max_subnet_host_routes` defaults. */
const MAX_DNS = 5;
const MAX_ROUTES = 20;

/** What a subnet's POST may name: every attribute but its id. */
const SUBNET_POST = [
  'name',
  'ip_version',
  'network_id',
  'subnetpool_id',
  'cidr',
  'gateway_ip',
  'allocation_pools',
  'dns_nameservers',
  'host_routes',
  'project_id',
  'tenant_id',
  'enable_dhcp',
  'ipv6_ra_mode',
  'ipv6_address_mode',
  'description',
];

const SUBNET_ATTRIBUTES: AttributeRules = {
  known: ['id', ...SUBNET_POST],
  post: SUBNET_POST,
  required: ['network_id', 'ip_version'],
  put: ['name', 'gateway_ip', 'allocation_pools', 'dns_nameservers', 'host_routes', 'enable_dhcp', 'description'],
};

const poolText = (p: AllocationPool) => `${p.start}-${p.end}`;

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
  allocation_pools: s.allocationPools,
  dns_nameservers: s.dnsNameservers,
  host_routes: s.hostRoutes,
  ipv6_ra_mode: null,
  ipv6_address_mode: null,
  subnetpool_id: null,
  description: s.description,
  tags: [],
  revision_number: 1,
  created_at: neutronTime(s.createdAt),
  updated_at: neutronTime(s.updatedAt),
});

/** The CIDR's addresses less its network, broadcast and gateway addresses (`ipam/utils.py` `generate_pools`). */
function defaultPools(cidr: string, gateway: string | null): AllocationPool[] {
  const { first, last } = cidrRange(cidr);
  // A /31 or /32 has no network or broadcast address to leave out (RFC 3021).
  const [low, high] = last - first < 2 ? [first, last] : [first + 1, last - 1];
  const gw = gateway === null ? null : ipToInt(gateway);
  const ranges: [number, number][] =
    gw === null || gw < low || gw > high
      ? [[low, high]]
      : [
          [low, gw - 1],
          [gw + 1, high],
        ];
  return ranges.filter(([a, b]) => a <= b).map(([a, b]) => ({ start: intToIp(a), end: intToIp(b) }));
}

/** `allocation_pools` checked as `_validate_allocation_pools` does: in the CIDR, ordered, not overlapping. */
function poolsAttribute(value: unknown, cidr: string): AllocationPool[] {
  const reason = (why: string) => badRequest(`Invalid input for allocation_pools. Reason: ${why}.`);
  if (!Array.isArray(value)) throw reason(`'${pythonText(value)}' is not a list`);
  const range = cidrRange(cidr);
  const pools = value.map((p: unknown) => {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw reason(`'${pythonText(p)}' is not a dictionary`);
    const { start, end, ...rest } = p as Record<string, unknown>;
    if (Object.keys(rest).length) throw reason(`Unrecognized key(s) '${Object.keys(rest).join(', ')}'`);
    const pool = { start: ipAttribute('allocation_pools', start), end: ipAttribute('allocation_pools', end) };
    if (ipToInt(pool.start) > ipToInt(pool.end))
      throw badRequest(`The allocation pool ${poolText(pool)} is not valid.`);
    if (ipToInt(pool.start) < range.first || ipToInt(pool.end) > range.last)
      throw badRequest(`The allocation pool ${poolText(pool)} spans beyond the subnet cidr ${cidr}.`);
    return pool;
  });
  for (const [i, a] of pools.entries())
    for (const b of pools.slice(i + 1))
      if (ipToInt(a.start) <= ipToInt(b.end) && ipToInt(b.start) <= ipToInt(a.end))
        throw neutronConflict(
          `Found overlapping allocation pools: ${poolText(a)} and ${poolText(b)} for subnet ${cidr}.`,
        );
  return pools;
}

/** The gateway is no pool's address (`GatewayConflictWithAllocationPools`, a 409). */
function checkGateway(gateway: string | null, pools: readonly AllocationPool[], cidr: string): void {
  if (gateway === null) return;
  const { first, last } = cidrRange(cidr);
  const gw = ipToInt(gateway);
  if (last - first >= 2 && gw >= first && gw <= last && (gw === first || gw === last))
    throw badRequest(`Invalid input for operation: Gateway is not valid on subnet.`);
  const pool = pools.find((p) => gw >= ipToInt(p.start) && gw <= ipToInt(p.end));
  if (pool) throw neutronConflict(`Gateway ip ${gateway} conflicts with allocation pool ${poolText(pool)}.`);
}

function dnsAttribute(value: unknown): string[] {
  if (!Array.isArray(value))
    throw badRequest(`Invalid input for dns_nameservers. Reason: '${pythonText(value)}' is not a list.`);
  const servers = value.map((v) => ipAttribute('dns_nameservers', v));
  const twice = servers.find((s, i) => servers.indexOf(s) !== i);
  if (twice !== undefined)
    throw badRequest(`Invalid input for dns_nameservers. Reason: Duplicate nameserver '${twice}'.`);
  if (servers.length > MAX_DNS)
    throw badRequest(
      `Unable to complete operation for subnet. The number of DNS nameservers exceeds the limit ${MAX_DNS}.`,
    );
  return servers;
}

function routesAttribute(value: unknown): HostRoute[] {
  const reason = (why: string) => badRequest(`Invalid input for host_routes. Reason: ${why}.`);
  if (!Array.isArray(value)) throw reason(`'${pythonText(value)}' is not a list`);
  const routes = value.map((r: unknown) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw reason(`'${pythonText(r)}' is not a dictionary`);
    const { destination, nexthop, ...rest } = r as Record<string, unknown>;
    if (Object.keys(rest).length) throw reason(`Unrecognized key(s) '${Object.keys(rest).join(', ')}'`);
    return { destination: cidrAttribute('host_routes', destination), nexthop: ipAttribute('host_routes', nexthop) };
  });
  if (routes.length > MAX_ROUTES)
    throw badRequest(
      `Unable to complete operation for subnet. The number of host routes exceeds the limit ${MAX_ROUTES}.`,
    );
  return routes;
}

/** The subnet, if the caller sees it (of its project or of a network it sees); SubnetNotFound otherwise. */
async function visibleSubnet(deps: ApiDeps, auth: AuthContext, id: string): Promise<Subnet> {
  const s = await deps.db.networks.getSubnet(id);
  const network = s ? await deps.db.networks.get(s.networkId) : null;
  if (!s || !network || !sees(auth, s.projectId, network.shared || network.external))
    throw neutronNotFound('Subnet', id);
  return s;
}

/** The subnet routes, inside `/v2.0` (a token required). */
export function subnetRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const now = () => new Date().toISOString();

  api.get('/subnets', async (request) => {
    const auth = authOf(request);
    const subnets = await db.networks.subnets(auth.isCloudAdmin ? {} : { projectId: ownProject(auth) ?? '' });
    return { subnets: filtered(request, subnets.map(subnetView)) };
  });

  api.get('/subnets/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { subnet: shown(request, subnetView(await visibleSubnet(deps, authOf(request), id))) };
  });

  api.post('/subnets', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_subnet');
    const { bulk, items } = postItems(request.body, 'subnet', SUBNET_ATTRIBUTES);
    const wanted: Subnet[] = [];
    for (const a of items) {
      const version =
        typeof a.ip_version === 'string' && /^\d+$/.test(a.ip_version) ? Number(a.ip_version) : a.ip_version;
      if (version !== 4 && version !== 6)
        throw badRequest(`Invalid input for ip_version. Reason: '${pythonText(a.ip_version)}' is not in [4, 6].`);
      if (version === 6 || [a.ipv6_ra_mode, a.ipv6_address_mode].some((m) => m !== undefined && m !== null))
        throw badRequest('Invalid input for ip_version. Reason: this cloud has IPv4 subnets only (no IPv6).');
      if (a.subnetpool_id !== undefined && a.subnetpool_id !== null)
        throw badRequest('Invalid input for subnetpool_id. Reason: this cloud has no subnet pools.');
      if (a.cidr === undefined || a.cidr === null)
        throw badRequest('Bad subnets request: a cidr must be specified in the absence of a subnet pool');
      const network = await visibleNetwork(deps, auth, stringAttribute('network_id', a.network_id, 36));
      if (!changes(auth, network.projectId)) throw disallowed('create_subnet');
      const cidr = cidrAttribute('cidr', a.cidr);
      const { first, last } = cidrRange(cidr);
      const gatewayIp =
        a.gateway_ip === null
          ? null
          : a.gateway_ip === undefined
            ? intToIp(first + 1)
            : ipAttribute('gateway_ip', a.gateway_ip);
      if (last - first < 2 && a.gateway_ip === undefined)
        throw badRequest(`Invalid input for operation: ${cidr} has no address for a gateway; give gateway_ip null.`);
      const allocationPools =
        a.allocation_pools === undefined ? defaultPools(cidr, gatewayIp) : poolsAttribute(a.allocation_pools, cidr);
      if (a.allocation_pools !== undefined) checkGateway(gatewayIp, allocationPools, cidr);
      const at = now();
      wanted.push({
        id: randomUUID(),
        name: a.name === undefined ? '' : stringAttribute('name', a.name, NAME_SIZE),
        networkId: network.id,
        projectId: creatorProject(auth, a),
        cidr,
        gatewayIp,
        ipVersion: 4,
        enableDhcp: a.enable_dhcp === undefined ? true : toBoolean(a.enable_dhcp),
        allocationPools,
        dnsNameservers:
          a.dns_nameservers === undefined || a.dns_nameservers === null ? [] : dnsAttribute(a.dns_nameservers),
        hostRoutes: a.host_routes === undefined || a.host_routes === null ? [] : routesAttribute(a.host_routes),
        description: a.description === undefined ? '' : stringAttribute('description', a.description, DESCRIPTION_SIZE),
        createdAt: at,
        updatedAt: at,
      });
    }
    const made = await createAll(
      wanted,
      async (s) => db.networks.createSubnet(s, (await db.quotas.get(s.projectId)).subnet),
      (id) => db.networks.deleteSubnet(id),
      'subnet',
    );
    const views = made.map(subnetView);
    return reply.code(201).send(bulk ? { subnets: views } : { subnet: views[0] });
  });

  api.put('/subnets/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const s = await visibleSubnet(deps, auth, id);
    if (!changes(auth, s.projectId)) throw disallowed('update_subnet');
    const a = requestResource(request.body, 'subnet', SUBNET_ATTRIBUTES, 'PUT');
    const gatewayIp =
      a.gateway_ip === undefined ? s.gatewayIp : a.gateway_ip === null ? null : ipAttribute('gateway_ip', a.gateway_ip);
    const allocationPools =
      a.allocation_pools === undefined ? s.allocationPools : poolsAttribute(a.allocation_pools, s.cidr);
    if (a.gateway_ip !== undefined || a.allocation_pools !== undefined)
      checkGateway(gatewayIp, allocationPools, s.cidr);
    const updated = await db.networks.updateSubnet(
      id,
      {
        name: a.name === undefined ? undefined : stringAttribute('name', a.name, NAME_SIZE),
        description:
          a.description === undefined ? undefined : stringAttribute('description', a.description, DESCRIPTION_SIZE),
        gatewayIp,
        allocationPools,
        enableDhcp: a.enable_dhcp === undefined ? undefined : toBoolean(a.enable_dhcp),
        dnsNameservers:
          a.dns_nameservers === undefined
            ? undefined
            : a.dns_nameservers === null
              ? []
              : dnsAttribute(a.dns_nameservers),
        hostRoutes:
          a.host_routes === undefined ? undefined : a.host_routes === null ? [] : routesAttribute(a.host_routes),
      },
      now(),
    );
    return { subnet: subnetView(updated) };
  });

  api.delete('/subnets/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const s = await visibleSubnet(deps, auth, id);
    if (!changes(auth, s.projectId)) throw disallowed('delete_subnet');
    try {
      await db.networks.deleteSubnet(id);
    } catch (error) {
      throw neutronError(error, 'subnet');
    }
    return reply.code(204).send();
  });
}
