import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type ServerStateValue, serverStatusView } from '../../../statemachines/index.js';
import { hostnameOf, machineOf } from '../../compute/index.js';
import type { CloudDb, Flavor, Server } from '../../db/index.js';
import { novaMicroTime, novaTime } from '../context.js';
import { atLeast } from './microversions.js';

/** Links of a Nova resource: `self` with the version, `bookmark` without. */
export function links(base: string, collection: string, id: string) {
  return [
    { rel: 'self', href: `${base}/compute/v2.1/${collection}/${id}` },
    { rel: 'bookmark', href: `${base}/compute/${collection}/${id}` },
  ];
}

/** A flavor in a list: from 2.55 with its description. */
export function flavorBasic(request: FastifyRequest, base: string, f: Flavor) {
  return {
    id: f.id,
    name: f.name,
    ...(atLeast(request, '2.55') ? { description: f.description } : {}),
    links: links(base, 'flavors', f.id),
  };
}

/**
 * nova/api/openstack/compute/views/flavors.py `show`: from 2.55 with its description, from 2.61
 * its extra specs (which anyone who sees the flavor may read); from 2.75 no swap is 0, not ''.
 */
export function flavorDetail(request: FastifyRequest, base: string, f: Flavor) {
  return {
    id: f.id,
    name: f.name,
    ram: f.ram,
    disk: f.disk,
    vcpus: f.vcpus,
    swap: f.swap === 0 && !atLeast(request, '2.75') ? '' : f.swap,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
    'OS-FLV-DISABLED:disabled': f.disabled,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: f.rxtxFactor,
    links: links(base, 'flavors', f.id),
    ...(atLeast(request, '2.55') ? { description: f.description } : {}),
    ...(atLeast(request, '2.61') ? { extra_specs: f.extraSpecs } : {}),
  };
}

export function serverBasic(base: string, s: Server) {
  return { id: s.id, name: s.name, links: links(base, 'servers', s.id) };
}

/** The floating IPs bound to the servers' ports, by port and fixed address (`portId/addr`). */
export async function floatingAddresses(db: CloudDb, servers: readonly Server[]): Promise<Map<string, string[]>> {
  const fixedPortIds = [...new Set(servers.flatMap((s) => s.addresses.map((a) => a.portId)))];
  const bound = new Map<string, string[]>();
  if (fixedPortIds.length === 0) return bound;
  for (const f of await db.routers.floatingIps({ fixedPortIds }))
    bound.set(`${f.fixedPortId}/${f.fixedIpAddress}`, [
      ...(bound.get(`${f.fixedPortId}/${f.fixedIpAddress}`) ?? []),
      f.floatingIpAddress,
    ]);
  return bound;
}

/**
 * A server's addresses by network, each fixed address followed by the floating IPs bound to it
 * (Nova's network info from Neutron); with Nova's extended fields in a server's detail, not after
 * an update or rebuild.
 */
function addresses(s: Server, extended: boolean, floating: ReadonlyMap<string, readonly string[]> = new Map()) {
  const byNetwork: Record<string, unknown[]> = {};
  const entry = (a: Server['addresses'][number], addr: string, type: 'fixed' | 'floating') => ({
    version: a.version,
    addr,
    ...(extended ? { 'OS-EXT-IPS:type': type, 'OS-EXT-IPS-MAC:mac_addr': a.mac } : {}),
  });
  for (const a of s.addresses) {
    const list = (byNetwork[a.network] ??= []);
    list.push(entry(a, a.addr, 'fixed'));
    for (const addr of floating.get(`${a.portId}/${a.addr}`) ?? []) list.push(entry(a, addr, 'floating'));
  }
  return byNetwork;
}

/** Nova's hostId: sha224 of project id and host, so tenants can tell co-located servers apart. */
export function hostIdOf(projectId: string, host: string): string {
  return createHash('sha224').update(`${projectId}${host}`).digest('hex');
}
/** Empty for a server on no host (not placed yet, or shelved and offloaded), as Nova's. */
const hostId = (s: Server): string => (s.host ? hostIdOf(s.projectId, s.host) : '');

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE']);

/** The status Nova shows for a stored server. */
export function statusOf(s: Server) {
  const m = machineOf(s);
  return { view: serverStatusView(s.state as ServerStateValue, m.context), fault: m.context.fault };
}

/** The basic part of a server's detail (the PUT /servers/{id} and rebuild answers); `locked` from 2.9, `description` from 2.19, `tags` from 2.26. */
export function serverUpdateView(request: FastifyRequest, base: string, s: Server) {
  const { view, fault } = statusOf(s);
  return {
    id: s.id,
    name: s.name,
    status: view.status,
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: s.metadata,
    hostId: hostId(s),
    image: s.imageId
      ? { id: s.imageId, links: [{ rel: 'bookmark', href: `${base}/compute/images/${s.imageId}` }] }
      : '',
    flavor: atLeast(request, '2.47')
      ? {
          vcpus: s.flavor.vcpus,
          ram: s.flavor.ram,
          disk: s.flavor.disk,
          ephemeral: s.flavor.ephemeral,
          swap: s.flavor.swap,
          original_name: s.flavor.name,
          extra_specs: s.flavor.extraSpecs,
        }
      : { id: s.flavorId, links: [{ rel: 'bookmark', href: `${base}/compute/flavors/${s.flavorId}` }] },
    created: novaTime(s.createdAt),
    updated: novaTime(s.updatedAt),
    addresses: addresses(s, false),
    accessIPv4: s.accessIPv4,
    accessIPv6: s.accessIPv6,
    links: links(base, 'servers', s.id),
    'OS-DCF:diskConfig': 'MANUAL',
    ...(PROGRESS_STATUSES.has(view.status) ? { progress: view.status === 'ACTIVE' ? 100 : 0 } : {}),
    ...(view.status === 'ERROR' && fault
      ? { fault: { code: 500, created: novaTime(s.updatedAt), message: fault.message } }
      : {}),
    ...(atLeast(request, '2.9') ? { locked: s.lockedBy !== null } : {}),
    ...(atLeast(request, '2.19') ? { description: s.description } : {}),
    ...(atLeast(request, '2.26') ? { tags: s.tags } : {}),
    // rackseed verifies no image signature, so no server has trusted certificates (2.63).
    ...(atLeast(request, '2.63') ? { trusted_image_certificates: null } : {}),
    ...(atLeast(request, '2.73') ? { locked_reason: s.lockedReason } : {}),
  };
}

/** From 2.71, in a server's own view (not the lists): the server groups it is in (one at most). */
export function serverGroupsField(request: FastifyRequest, s: Server) {
  return atLeast(request, '2.71') ? { server_groups: s.serverGroupId === null ? [] : [s.serverGroupId] } : {};
}

/** A rebuild's answer: the update view, from 2.54 with the key pair and from 2.57 the user data. */
export function serverRebuildView(request: FastifyRequest, base: string, s: Server) {
  return {
    ...serverUpdateView(request, base, s),
    ...(atLeast(request, '2.54') ? { key_name: s.keyName } : {}),
    ...(atLeast(request, '2.57') ? { user_data: s.userData } : {}),
    ...serverGroupsField(request, s),
  };
}

/**
 * GET /servers/{id} and /servers/detail (nova/api/openstack/compute/views/servers.py): its
 * addresses with the floating IPs bound to them (`floating`, {@link floatingAddresses}), the
 * names of its ports' security groups (`securityGroups`, security-groups.ts; none shown when it
 * is in none, as Nova leaves them out), the cloud admin sees where it runs (`OS-EXT-SRV-ATTR:`),
 * from 2.3 how it was made (its disk is a virtio disk, `/dev/vda`, with no kernel or ramdisk of
 * its own), and from 2.16 its host's status, which `hostStatus` gives (for the cloud admin only).
 */
export function serverDetail(
  request: FastifyRequest,
  base: string,
  s: Server,
  admin: boolean,
  securityGroups: readonly string[],
  floating: ReadonlyMap<string, readonly string[]>,
  hostStatus?: (host: string) => string,
) {
  const { view } = statusOf(s);
  return {
    ...serverUpdateView(request, base, s),
    addresses: addresses(s, true, floating),
    key_name: s.keyName,
    ...(securityGroups.length > 0 ? { security_groups: securityGroups.map((name) => ({ name })) } : {}),
    'OS-EXT-AZ:availability_zone': s.availabilityZone,
    'OS-EXT-STS:vm_state': view.vmState,
    'OS-EXT-STS:task_state': view.taskState,
    'OS-EXT-STS:power_state': view.powerState,
    'OS-SRV-USG:launched_at': s.launchedAt ? novaMicroTime(s.launchedAt) : null,
    'OS-SRV-USG:terminated_at': null,
    'os-extended-volumes:volumes_attached': [],
    config_drive: '',
    ...(admin
      ? {
          'OS-EXT-SRV-ATTR:host': s.host || null,
          'OS-EXT-SRV-ATTR:hypervisor_hostname': s.host || null,
          'OS-EXT-SRV-ATTR:instance_name': `instance-${s.id.slice(0, 8)}`,
        }
      : {}),
    ...(admin && atLeast(request, '2.3')
      ? {
          'OS-EXT-SRV-ATTR:reservation_id': s.reservationId,
          'OS-EXT-SRV-ATTR:launch_index': s.launchIndex,
          'OS-EXT-SRV-ATTR:hostname': hostnameOf(s.name),
          'OS-EXT-SRV-ATTR:kernel_id': '',
          'OS-EXT-SRV-ATTR:ramdisk_id': '',
          'OS-EXT-SRV-ATTR:root_device_name': s.launchedAt ? '/dev/vda' : null,
          'OS-EXT-SRV-ATTR:user_data': s.userData,
        }
      : {}),
    ...(hostStatus && atLeast(request, '2.16') ? { host_status: hostStatus(s.host) } : {}),
  };
}
