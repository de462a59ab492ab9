/**
 * What a server create asks of its devices: its networks (`networks`) and its block devices
 * (`block_device_mapping_v2`, the legacy `block_device_mapping`), with their device tags
 * (microversion 2.32, then again from 2.42: Nova dropped them from 2.33 to 2.41 by mistake).
 * A tag reaches the guest in its metadata (`meta_data.json` `devices`, with the device's PCI
 * address). A server boots from its image, on a local root disk: rackseed offers no volume
 * yet, so a mapping that asks for one is refused (400) rather than ignored.
 */
import type { FastifyRequest } from 'fastify';
import type { ApiDeps, AuthContext } from '../context.js';
import { badRequest, conflict } from '../faults.js';
import { isIpv4 } from '../network/neutron.js';
import { isObject, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';

/** One network a new server gets a port on (a new one, at `fixedIp` if named, or the user's `portId`), with its device tag. */
export interface RequestedNic {
  readonly networkId: string;
  readonly portId: string | null;
  readonly fixedIp: string | null;
  readonly tag: string | null;
}

/** Nova's `fixed_ip`: an IPv4 address (rackseed's subnets are IPv4 only). */
function fixedIpField(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (!isIpv4(value))
    throw badRequest(
      `Invalid input for field/attribute fixed_ip. Value: ${String(value)}. '${String(value)}' is not a 'ipv4'`,
    );
  return value;
}

/** Whether the request's microversion takes device tags: 2.32, and 2.42 on. */
function takesDeviceTags(request: FastifyRequest): boolean {
  return (atLeast(request, '2.32') && !atLeast(request, '2.33')) || atLeast(request, '2.42');
}

/** A device tag as Nova's schema takes it: 1 to 60 characters, no `/` or `,`. */
function deviceTag(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length < 1 || value.length > 60 || /[/,]/.test(value)) {
    throw badRequest(`Invalid input for field/attribute tag. Value: ${String(value)}.`);
  }
  return value;
}

/**
 * The networks a new server gets: the ones asked for (a network of the project or a shared one,
 * at an address if `fixed_ip` names one, or a port the project made and no server holds), the
 * same network as often as asked; `none`; or `auto` (from microversion 2.37, which makes
 * `networks` required; before, leaving it out means the same), the only network the project
 * sees (409 when it sees several, as Nova's NetworkAmbiguous; no port when it sees none).
 */
export async function requestedNetworks(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
  networks: unknown,
  maxCount: number,
): Promise<RequestedNic[]> {
  const projectId = auth.project?.id;
  const visible = await deps.db.networks.list(projectId === undefined ? {} : { projectId });
  const required = atLeast(request, '2.37');
  if (networks === undefined && required) throw badRequest("Invalid input: 'networks' is a required property");
  if (required && networks === 'none') return [];
  if ((required && networks === 'auto') || networks === undefined) {
    if (visible.length > 1) throw conflict('Multiple possible networks found, use a Network ID to be more specific.');
    return visible[0] ? [{ networkId: visible[0].id, portId: null, fixedIp: null, tag: null }] : [];
  }
  if (!Array.isArray(networks)) throw badRequest('Invalid input for field/attribute networks.');
  const tags = takesDeviceTags(request);
  const nics: RequestedNic[] = [];
  for (const n of networks as unknown[]) {
    if (!isObject(n)) throw badRequest('Invalid input for field/attribute networks.');
    rejectUnknown(n, ['uuid', 'port', 'fixed_ip', ...(tags ? ['tag'] : [])], "'networks'");
    const tag = deviceTag(n.tag);
    if (n.port !== undefined && n.port !== null) {
      if (typeof n.port !== 'string') throw badRequest('Bad networks format: port uuid is not in proper format');
      // nova/compute/api.py `_check_requested_networks` and network/neutron.py `validate_networks`.
      if (maxCount > 1)
        throw badRequest(
          'Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.',
        );
      const port = await deps.db.networks.getPort(n.port);
      if (!port || (!auth.isCloudAdmin && port.projectId !== projectId))
        throw badRequest(`Port id ${n.port} could not be found.`);
      if (port.deviceId !== '') throw conflict(`Port ${port.id} is still in use.`);
      if (port.fixedIps.length === 0) throw badRequest(`Port ${port.id} requires a FixedIP in order to be used.`);
      nics.push({ networkId: port.networkId, portId: port.id, fixedIp: null, tag });
      continue;
    }
    if (typeof n.uuid !== 'string') throw badRequest('Bad networks format: network uuid is not in proper format');
    if (!visible.some((v) => v.id === n.uuid)) throw badRequest(`Network ${n.uuid} could not be found.`);
    const fixedIp = fixedIpField(n.fixed_ip);
    if (fixedIp !== null && maxCount > 1)
      throw badRequest('max_count cannot be greater than 1 if an fixed_ip is specified.');
    if ((await deps.db.networks.subnets({ networkId: n.uuid })).length === 0)
      throw badRequest(`Network ${n.uuid} requires a subnet in order to boot instances on.`);
    if (fixedIp !== null) {
      // nova/network/neutron.py `validate_networks`: FixedIpAlreadyInUse, a 400.
      const holder = (await deps.db.networks.ports({ networkId: n.uuid })).find((p) =>
        p.fixedIps.some((f) => f.ipAddress === fixedIp),
      );
      if (holder) throw badRequest(`Fixed IP address ${fixedIp} is already in use on instance ${holder.deviceId}.`);
    }
    nics.push({ networkId: n.uuid, portId: null, fixedIp, tag });
  }
  return nics;
}

/**
 * The image a server boots from and its root disk's tag, from `imageRef` and the block device
 * mappings: at most one, the image (`source_type: image`) on a local disk (`destination_type:
 * local`) at boot index 0, naming the same image as `imageRef` when both are given.
 */
export function requestedRootDisk(
  request: FastifyRequest,
  server: Record<string, unknown>,
): { imageRef: unknown; tag: string | null } {
  const refuse = (why: string) => badRequest(`Block Device Mapping is Invalid: ${why}`);
  const legacy = server.block_device_mapping;
  if (legacy !== undefined && (!Array.isArray(legacy) || legacy.length > 0)) {
    throw refuse('a legacy mapping names a volume, and rackseed offers no volume yet.');
  }
  const mappings = server.block_device_mapping_v2;
  if (mappings === undefined) return { imageRef: server.imageRef, tag: null };
  if (!Array.isArray(mappings)) throw refuse('block_device_mapping_v2 must be a list.');
  if (mappings.length === 0) return { imageRef: server.imageRef, tag: null };
  const [root, ...more] = mappings as unknown[];
  if (more.length > 0 || !isObject(root)) {
    throw refuse('one mapping only, the image on a local root disk: rackseed offers no volume yet.');
  }
  rejectUnknown(
    root,
    [
      'boot_index',
      'source_type',
      'destination_type',
      'uuid',
      'delete_on_termination',
      'volume_size',
      'device_name',
      'disk_bus',
      'device_type',
      ...(takesDeviceTags(request) ? ['tag'] : []),
    ],
    "'block_device_mapping_v2'",
  );
  if (
    root.source_type !== 'image' ||
    (root.destination_type ?? 'local') !== 'local' ||
    String(root.boot_index) !== '0'
  ) {
    throw refuse('only the image on a local root disk (source_type image, destination_type local, boot_index 0).');
  }
  if (root.delete_on_termination === false) throw refuse('a local root disk is deleted with its server.');
  if (typeof root.uuid !== 'string') throw refuse("the image mapping's uuid is required.");
  const imageRef = server.imageRef ?? root.uuid;
  if (typeof imageRef === 'string' && imageRef !== '' && imageRef.replace(/^.*\/images\//, '') !== root.uuid) {
    throw refuse('imageRef and the image mapping name different images.');
  }
  return { imageRef: root.uuid, tag: deviceTag(root.tag) };
}
