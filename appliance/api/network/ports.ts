/**
 * Neutron's ports (`/v2.0/ports`), as neutron/db/db_base_plugin_v2.py and its IPAM have them: a
 * port on a network the caller sees, with the fixed IPv4 addresses it asks for (a subnet, an
 * address, or both; none asked, one from the network's subnets), its MAC (one of Neutron's
 * `fa:16:3e` range unless named; unique on its network), its device, and its security groups
 * (its project's default group unless named). A server's create makes its own ports, or binds a
 * port made here (device `compute:nova`); the server's delete deletes the former and unbinds
 * the latter. A member sees and changes its project's ports (on its own networks and the shared
 * ones); the cloud admin all. A router's and a floating IP's ports go only with them; a port's
 * delete unbinds its floating IPs, and the address one is bound to stays while it is.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type FixedIpRequest, FLOATING_IP_OWNER, type Port } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { badRequest, forbidden } from '../faults.js';
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
  uuidListAttribute,
} from './attributes.js';
import { visibleNetwork } from './networks.js';
import {
  changes,
  creatorProject,
  DESCRIPTION_SIZE,
  DEVICE_SIZE,
  disallowed,
  isIpv4,
  isIpv6,
  NAME_SIZE,
  neutronConflict,
  neutronError,
  neutronNotFound,
  ownProject,
} from './neutron.js';
import { updatePortGroups } from './security-groups.js';

/** Neutron's `base_mac` (neutron/conf/common.py): the OpenStack range `fa:16:3e`. */
const BASE_MAC = 'fa:16:3e';
/** A MAC of Neutron's range, as Neutron's `_generate_macs` draws one. */
export const randomMac = () =>
  `${BASE_MAC}:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

const PORT_POST = [
  'name',
  'network_id',
  'admin_state_up',
  'mac_address',
  'fixed_ips',
  'device_id',
  'device_owner',
  'project_id',
  'tenant_id',
  'security_groups',
  'description',
];
const PORT_ATTRIBUTES: AttributeRules = {
  known: ['id', ...PORT_POST, 'status', 'allowed_address_pairs'],
  post: PORT_POST,
  required: ['network_id'],
  put: [
    'name',
    'admin_state_up',
    'mac_address',
    'fixed_ips',
    'device_id',
    'device_owner',
    'security_groups',
    'description',
  ],
};

const portView = (p: Port, securityGroups: string[]) => ({
  id: p.id,
  name: p.name,
  network_id: p.networkId,
  project_id: p.projectId,
  tenant_id: p.projectId,
  device_id: p.deviceId,
  device_owner: p.deviceOwner,
  mac_address: p.macAddress,
  fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
  // An unbound port is DOWN (no device plugs it), a bound one ACTIVE.
  status: p.deviceId === '' ? 'DOWN' : 'ACTIVE',
  admin_state_up: p.adminStateUp,
  security_groups: securityGroups,
  allowed_address_pairs: [],
  description: p.description,
  tags: [],
  revision_number: 1,
  created_at: neutronTime(p.createdAt),
  updated_at: neutronTime(p.updatedAt),
});

/** neutron_lib `validate_mac_address`: six hex octets, not all zero, not a multicast address. */
function macAttribute(value: unknown): string {
  const mac = typeof value === 'string' ? value.toLowerCase().replace(/-/g, ':') : '';
  const valid = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && mac !== '00:00:00:00:00:00';
  if (!valid || (parseInt(mac.slice(0, 2), 16) & 1) === 1)
    throw badRequest(`Invalid input for mac_address. Reason: '${pythonText(value)}' is not a valid MAC address.`);
  return mac;
}

/** neutron_lib `validate_fixed_ips`: a list of `{subnet_id?, ip_address?}`, each IPv4 (this cloud's subnets are). */
export function fixedIpsAttribute(value: unknown, networkId: string): FixedIpRequest[] {
  const reason = (why: string) => badRequest(`Invalid input for fixed_ips. Reason: ${why}.`);
  if (!Array.isArray(value)) throw reason(`'${pythonText(value)}' is not a list`);
  return value.map((f: unknown): FixedIpRequest => {
    if (typeof f !== 'object' || f === null || Array.isArray(f))
      throw reason(`Invalid data format for fixed IP: '${pythonText(f)}'`);
    const { subnet_id: subnetId, ip_address: ip, ...rest } = f as Record<string, unknown>;
    if (Object.keys(rest).length) throw reason(`Invalid data format for fixed IP: '${pythonText(f)}'`);
    if (subnetId !== undefined && typeof subnetId !== 'string')
      throw reason(`'${pythonText(subnetId)}' is not a valid UUID`);
    if (ip !== undefined) {
      if (isIpv6(ip))
        throw badRequest(`IP address ${ip} is not a valid IP for any of the subnets on the specified network.`);
      if (!isIpv4(ip)) throw reason(`'${pythonText(ip)}' is not a valid IP address`);
    }
    if (subnetId === undefined && ip === undefined)
      throw badRequest(
        `Invalid input for operation: Failed to create port on network ${networkId}, because fixed_ips included invalid subnet None.`,
      );
    return {
      ...(subnetId === undefined ? {} : { subnetId }),
      ...(ip === undefined ? {} : { ipAddress: ip as string }),
    };
  });
}

/** The ports query's `fixed_ips=ip_address=…` / `fixed_ips=subnet_id=…` filters (Neutron's). */
function fixedIpFilters(request: FastifyRequest): ((p: Port) => boolean)[] {
  const asked = (request.query as Record<string, string | string[] | undefined>).fixed_ips;
  const values = asked === undefined ? [] : Array.isArray(asked) ? asked : [asked];
  return values.map((v) => {
    const [key = '', wanted = ''] = v.split('=');
    if (key === 'ip_address') return (p) => p.fixedIps.some((f) => f.ipAddress === wanted);
    if (key === 'subnet_id') return (p) => p.fixedIps.some((f) => f.subnetId === wanted);
    if (key === 'ip_address_substr') return (p) => p.fixedIps.some((f) => f.ipAddress.includes(wanted));
    throw badRequest(`Invalid input for fixed_ips. Reason: '${v}' is not a valid filter.`);
  });
}

/** The port routes, inside `/v2.0` (a token required). */
export function portRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const now = () => new Date().toISOString();

  const viewsOf = async (ports: Port[]) => {
    const groups = await db.securityGroups.ofPorts(ports.map((p) => p.id));
    return ports.map((p) => portView(p, groups[p.id] ?? []));
  };
  const visiblePort = async (auth: AuthContext, id: string): Promise<Port> => {
    const p = await db.networks.getPort(id);
    if (!p || (!auth.isCloudAdmin && p.projectId !== ownProject(auth))) throw neutronNotFound('Port', id);
    return p;
  };

  api.get('/ports', async (request) => {
    const auth = authOf(request);
    const q = request.query as Record<string, unknown>;
    const one = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const byIp = fixedIpFilters(request);
    const ports = (
      await db.networks.ports({
        ...(auth.isCloudAdmin ? {} : { projectId: ownProject(auth) ?? '' }),
        deviceId: one(q.device_id),
        networkId: one(q.network_id),
      })
    ).filter((p) => byIp.every((matches) => matches(p)));
    return { ports: filtered(request, await viewsOf(ports)) };
  });

  api.get('/ports/:id', async (request) => {
    const { id } = request.params as { id: string };
    const [view] = await viewsOf([await visiblePort(authOf(request), id)]);
    return { port: shown(request, view ?? {}) };
  });

  api.post('/ports', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_port');
    const { bulk, items } = postItems(request.body, 'port', PORT_ATTRIBUTES);
    const made: Port[] = [];
    try {
      for (const a of items) {
        const network = await visibleNetwork(deps, auth, stringAttribute('network_id', a.network_id, 36));
        // Neutron's `create_port`: the network's owner, a shared network, or the admin; an
        // external network is for routers and floating IPs to take addresses from.
        if (!auth.isCloudAdmin && !network.shared && network.projectId !== ownProject(auth))
          throw disallowed('create_port');
        const projectId = creatorProject(auth, a);
        const fixedIps =
          a.fixed_ips === undefined || a.fixed_ips === null ? null : fixedIpsAttribute(a.fixed_ips, network.id);
        // Neutron's `create_port:fixed_ips:ip_address` and `:mac_address`: the network's owner or the admin.
        const ownsNetwork = auth.isCloudAdmin || network.projectId === ownProject(auth);
        if (!ownsNetwork && fixedIps?.some((f) => f.ipAddress !== undefined))
          throw forbidden('(rule:create_port and rule:create_port:fixed_ips:ip_address) is disallowed by policy');
        if (!ownsNetwork && a.mac_address !== undefined)
          throw forbidden('(rule:create_port and rule:create_port:mac_address) is disallowed by policy');
        let groups: string[];
        if (a.security_groups === undefined) {
          groups = [(await db.securityGroups.ensureDefault(projectId, now())).id];
        } else {
          groups = a.security_groups === null ? [] : uuidListAttribute('security_groups', a.security_groups);
          for (const id of groups) {
            const group = await db.securityGroups.get(id);
            if (!group || (!auth.isCloudAdmin && group.projectId !== projectId))
              throw neutronNotFound('Security group', id);
          }
        }
        const at = now();
        made.push(
          await db.networks.createPort(
            {
              id: randomUUID(),
              name: a.name === undefined ? '' : stringAttribute('name', a.name, NAME_SIZE),
              networkId: network.id,
              projectId,
              deviceId: a.device_id === undefined ? '' : stringAttribute('device_id', a.device_id, DEVICE_SIZE),
              deviceOwner:
                a.device_owner === undefined ? '' : stringAttribute('device_owner', a.device_owner, DEVICE_SIZE),
              macAddress: a.mac_address === undefined ? randomMac() : macAttribute(a.mac_address),
              adminStateUp: a.admin_state_up === undefined ? true : toBoolean(a.admin_state_up),
              description:
                a.description === undefined ? '' : stringAttribute('description', a.description, DESCRIPTION_SIZE),
              serverMade: false,
              tag: null,
              createdAt: at,
              updatedAt: at,
            },
            fixedIps,
            groups,
            (await db.quotas.get(projectId)).port,
          ),
        );
      }
    } catch (error) {
      // A bulk create is all or nothing (Neutron's).
      for (const p of made) await db.networks.deletePort(p.id).catch(() => undefined);
      throw neutronError(error, 'port');
    }
    for (const projectId of new Set(made.map((p) => p.projectId))) deps.servers.refreshFirewalls(projectId);
    const views = await viewsOf(made);
    return reply.code(201).send(bulk ? { ports: views } : { port: views[0] });
  });

  /**
   * A port a server's guest has as a NIC stays as it is while the server lives: rackseed plugs
   * and unplugs no NIC on a built server (Neutron would have Nova detach it), so deleting it,
   * re-addressing it or giving it to another device would leave the guest on a port, an address
   * or a firewall the database no longer holds.
   */
  const refuseWhilePlugged = async (p: Port, what: string) => {
    const server = p.deviceId === '' ? null : await db.servers.get(p.deviceId);
    if (server && server.state !== 'deleted' && server.addresses.some((address) => address.portId === p.id))
      throw neutronConflict(
        `Port ${p.id} is a network interface of server ${server.id}, which rackseed does not detach from a built server: it cannot be ${what} until the server is deleted.`,
      );
  };

  api.put('/ports/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const p = await visiblePort(auth, id);
    if (!changes(auth, p.projectId)) throw disallowed('update_port');
    const a = requestResource(request.body, 'port', PORT_ATTRIBUTES, 'PUT');
    if (a.mac_address !== undefined && !auth.isCloudAdmin) throw disallowed('update_port:mac_address');
    if (a.mac_address !== undefined && p.deviceId !== '')
      throw badRequest(`Port ${id} is bound: its MAC address cannot change.`);
    const fixedIps =
      a.fixed_ips === undefined ? null : a.fixed_ips === null ? [] : fixedIpsAttribute(a.fixed_ips, p.networkId);
    const same = (given: unknown, held: string) => given === undefined || given === held;
    const sameIps =
      fixedIps === null ||
      JSON.stringify(fixedIps.map((f) => f.ipAddress ?? null)) === JSON.stringify(p.fixedIps.map((f) => f.ipAddress));
    if (!same(a.device_id, p.deviceId) || !same(a.device_owner, p.deviceOwner) || !sameIps)
      await refuseWhilePlugged(p, 'given another device or other addresses');
    // l3_db.py `prevent_internal_ip_change_for_fip`: the address a floating IP is bound to stays.
    const [bound] = await db.routers.floatingIps({ fixedPortIds: [id] });
    if (fixedIps !== null && bound?.fixedIpAddress && !fixedIps.some((f) => f.ipAddress === bound.fixedIpAddress))
      throw badRequest(
        `Bad port request: Cannot update the fixed_ips of the port ${id}, because its original fixed_ip has been associated to a floating ip.`,
      );
    try {
      await db.networks.updatePort(
        id,
        {
          name: a.name === undefined ? undefined : stringAttribute('name', a.name, NAME_SIZE),
          description:
            a.description === undefined ? undefined : stringAttribute('description', a.description, DESCRIPTION_SIZE),
          adminStateUp: a.admin_state_up === undefined ? undefined : toBoolean(a.admin_state_up),
          deviceId: a.device_id === undefined ? undefined : stringAttribute('device_id', a.device_id, DEVICE_SIZE),
          deviceOwner:
            a.device_owner === undefined ? undefined : stringAttribute('device_owner', a.device_owner, DEVICE_SIZE),
          macAddress: a.mac_address === undefined ? undefined : macAttribute(a.mac_address),
        },
        fixedIps,
        now(),
      );
    } catch (error) {
      throw neutronError(error, 'port');
    }
    if ('security_groups' in a) await updatePortGroups(deps, auth, p, a.security_groups);
    else if (fixedIps !== null) deps.servers.refreshFirewalls(p.projectId);
    const router = await db.routers.ofPort(id);
    if (router !== null) deps.servers.refreshRouter(router);
    const [view] = await viewsOf([(await db.networks.getPort(id)) ?? p]);
    return { port: view };
  });

  api.delete('/ports/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const p = await visiblePort(auth, id);
    if (!changes(auth, p.projectId)) throw disallowed('delete_port');
    await refuseWhilePlugged(p, 'deleted');
    // l3_db.py `prevent_l3_port_deletion`: a router's or a floating IP's port goes with it.
    const owner =
      p.deviceOwner === FLOATING_IP_OWNER
        ? (await db.routers.getFloatingIp(p.deviceId))?.id
        : await db.routers.ofPort(id);
    if (owner)
      throw neutronConflict(
        `Port ${id} cannot be deleted directly via the port API: has device owner ${p.deviceOwner}.`,
      );
    // l3_db.py `disassociate_floatingips`: unbound with it, but not behind the back of the admin who bound them.
    const fips = await db.routers.floatingIps({ fixedPortIds: [id] });
    if (!auth.isCloudAdmin && fips.some((f) => f.projectId !== ownProject(auth)))
      throw neutronConflict(
        `Unable to complete the operation on port ${id} because the port still has an associated floating IP.`,
      );
    await db.networks.deletePort(id);
    deps.servers.refreshFirewalls(p.projectId);
    for (const router of new Set(fips.map((f) => f.routerId))) if (router !== null) deps.servers.refreshRouter(router);
    return reply.code(204).send();
  });
}
