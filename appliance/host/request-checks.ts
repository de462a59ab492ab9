/** What the host service refuses before it makes anything: a request QEMU or the host could not carry out. */
import { HostRequestError } from './errors.js';
import { checkFirewall, isCidr } from './network/firewall.js';
import { checkSegment } from './network/segment.js';
import type { GuestRequest, PowerRequest } from './types.js';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A device tag, as Nova's API takes it. */
const TAG = /^[^/,]{1,60}$/;

/** Refuses a power that is not a {@link PowerRequest}. */
export function checkPower(power: unknown): asserts power is PowerRequest {
  if (!['running', 'paused', 'suspended', 'shutoff'].includes(power as string))
    throw new HostRequestError("power must be 'running', 'paused', 'suspended' or 'shutoff'");
}

/** Refuses a request that QEMU or the host could not carry out, before anything is made. */
export function checkRequest(request: GuestRequest): void {
  const positive = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
  if (!positive(request.vcpus) || request.vcpus > 64) throw new HostRequestError('vcpus must be an integer in 1..64');
  if (!positive(request.memoryMb) || request.memoryMb < 64)
    throw new HostRequestError('memoryMb must be an integer ≥ 64');
  if (!positive(request.diskGb)) throw new HostRequestError('diskGb must be a positive integer');
  checkPower(request.power);
  if (!request.image?.pool || !request.image?.name) throw new HostRequestError('image needs a pool and a name');
  if (request.image.flatten !== undefined && typeof request.image.flatten !== 'boolean')
    throw new HostRequestError('image.flatten must be a boolean');
  // The NICs sit in PCI slots 3 to 31 (qemu.ts).
  if ((request.nics ?? []).length > 29) throw new HostRequestError('a guest has at most 29 NICs');
  const tagged = (tag: unknown) => tag === undefined || tag === null || (typeof tag === 'string' && TAG.test(tag));
  if (!tagged(request.rootDiskTag)) throw new HostRequestError('rootDiskTag must be 1 to 60 characters, no / or ,');
  for (const nic of request.nics ?? []) {
    if (typeof nic.portId !== 'string' || !UUID.test(nic.portId))
      throw new HostRequestError(`port ${String(nic.portId)} is not a port id (a lower-case UUID)`);
    if (!isCidr(`${String(nic.ip)}/32`))
      throw new HostRequestError(`port ${nic.portId}: ${String(nic.ip)} is not an IPv4 address`);
    checkFirewall(nic.portId, nic.firewall);
    checkSegment(nic.portId, nic.segment);
    // A tap, its bridge and a VXLAN device take it (IPv4's least is 68: RFC 791).
    if (!Number.isInteger(nic.mtu) || nic.mtu < 68 || nic.mtu > 65535)
      throw new HostRequestError(`port ${nic.portId}: mtu must be an integer in 68..65535`);
    if (!MAC.test(nic.mac))
      throw new HostRequestError(`port ${nic.portId}: ${nic.mac} is not a lower-case MAC address`);
    if (!tagged(nic.tag))
      throw new HostRequestError(`port ${nic.portId}: its tag must be 1 to 60 characters, no / or ,`);
  }
}
