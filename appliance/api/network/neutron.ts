/**
 * What the network, subnet and port routes share: Neutron's faults for them
 * (neutron_lib/exceptions/__init__.py, each with its status and message), the project a POST
 * makes its resource in, who may see and change a resource (a member: its project's, and the
 * shared networks and their subnets to read; the cloud admin: all), and IPv4 addresses and
 * CIDRs checked as neutron_lib's validators check them.
 */
import type { AuthContext } from '../context.js';
import { ApiError, badRequest, forbidden, notFound } from '../faults.js';
import { stringAttribute } from './attributes.js';

/** Neutron's `NAME_FIELD_SIZE`, `DESCRIPTION_FIELD_SIZE`, `DEVICE_ID_FIELD_SIZE`… (neutron_lib/db/constants.py). */
export const NAME_SIZE = 255;
export const DESCRIPTION_SIZE = 255;
export const DEVICE_SIZE = 255;
const PROJECT_ID_SIZE = 255;

/** `NetworkNotFound`, `SubnetNotFound`, `PortNotFound`. */
export const neutronNotFound = (type: string, id: string) =>
  new ApiError(404, `${type} ${id} could not be found.`, `API_ERR_${type.toUpperCase()}_NOT_FOUND`);
/** `OverQuota` (409 in Neutron, not Nova's 403). */
export const overQuota = (resource: string) =>
  new ApiError(409, `Quota exceeded for resources: ['${resource}'].`, 'API_ERR_OVER_QUOTA');
/** A 409 of Neutron's `InUse`/`Conflict` family, its message Neutron's. */
export const neutronConflict = (message: string) => new ApiError(409, message, 'API_ERR_CONFLICT');
/** What neutron/policy.py answers a visible resource the caller may not change. */
export const disallowed = (action: string) => forbidden(`rule:${action} is disallowed by policy`);

const code = (error: unknown) => (error as { code?: unknown } | null)?.code;

/**
 * A database error of a network, subnet or port write as Neutron answers it: over quota a 409,
 * an address or MAC in use or none left a 409, a bad address a 400 (the message is Neutron's,
 * made by the database module); anything else as it is.
 */
export function neutronError(error: unknown, resource: string): unknown {
  switch (code(error)) {
    case 'DB_ERR_QUOTA_EXCEEDED':
      return overQuota(resource);
    case 'DB_ERR_CONFLICT':
    case 'DB_ERR_EXHAUSTED':
      return neutronConflict((error as Error).message);
    case 'DB_ERR_INVALID_ACTION':
      return badRequest((error as Error).message);
    case 'DB_ERR_NOT_FOUND': {
      const message = (error as Error).message;
      const named = /^(\w+) (\S+) could not be found/.exec(message);
      // A missing link (a router's interface, a route to a network) is told as the database says.
      if (!named) return notFound(message);
      const [, what = 'Resource', id = ''] = named;
      return neutronNotFound(what.charAt(0).toUpperCase() + what.slice(1), id);
    }
    default:
      return error;
  }
}

/**
 * A (bulk) create's items made one after the other, all or nothing as Neutron's bulk create: a
 * failure removes those made before it, and is answered as {@link neutronError} says.
 */
export async function createAll<T extends { id: string }>(
  wanted: readonly T[],
  create: (item: T) => Promise<T>,
  remove: (id: string) => Promise<unknown>,
  resource: string,
): Promise<T[]> {
  const made: T[] = [];
  try {
    for (const item of wanted) made.push(await create(item));
  } catch (error) {
    for (const item of made) await remove(item.id).catch(() => undefined);
    throw neutronError(error, resource);
  }
  return made;
}

/** The caller's project, or null for a token without one. */
export const ownProject = (auth: AuthContext): string | null => auth.project?.id ?? null;

/**
 * The project a POST makes its resource in: the one it names (only the cloud admin may name
 * another than its token's), else the token's.
 */
export function creatorProject(auth: AuthContext, attributes: Record<string, unknown>): string {
  const named = attributes.project_id ?? attributes.tenant_id;
  if (named !== undefined) {
    const project = stringAttribute('project_id', named, PROJECT_ID_SIZE);
    if (project !== ownProject(auth) && !auth.isCloudAdmin)
      throw badRequest(
        "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
      );
    return project;
  }
  const project = ownProject(auth);
  if (!project) throw badRequest('This token has no project: the request must name its project_id.');
  return project;
}

/** A resource the caller sees: the cloud admin all, a member its project's (and the shared or external ones, `shared`). */
export const sees = (auth: AuthContext, projectId: string, shared = false): boolean =>
  auth.isCloudAdmin || shared || projectId === ownProject(auth);

/** Neutron's `PolicyNotAuthorized` for an action and the sub-attributes of one of its attributes (neutron/policy.py `_build_subattr_match_rule`). */
export function disallowedSubattributes(action: string, attribute: string, keys: readonly string[]) {
  const subs = keys.map((k) => `rule:${action}:${attribute}:${k}`).join(' and ');
  return forbidden(`(rule:${action} and (rule:${action}:${attribute} and (${subs}))) is disallowed by policy`);
}

/** A resource the caller may change: the cloud admin any, a member (not a reader) its project's. */
export const changes = (auth: AuthContext, projectId: string): boolean =>
  auth.canWrite && (auth.isCloudAdmin || projectId === ownProject(auth));

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** Whether `text` is a dotted-quad IPv4 address. */
export const isIpv4 = (text: unknown): text is string => typeof text === 'string' && IPV4.test(text);
/** Whether `text` looks like an IPv6 address (rackseed has no IPv6 subnet to put it on). */
export const isIpv6 = (text: unknown): text is string =>
  typeof text === 'string' && /^[0-9a-f:.]+$/i.test(text) && text.includes(':');

/** An IPv4 address as a number, and back. */
export const ipToInt = (ip: string): number => ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
export const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** The first and last address of an IPv4 CIDR, as numbers. */
export function cidrRange(cidr: string): { first: number; last: number } {
  const [address = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const first = Math.floor(ipToInt(address) / size) * size;
  return { first, last: first + size - 1 };
}

/** neutron_lib `validate_ip_address` as an attribute's input error; IPv4 only. */
export function ipAttribute(name: string, value: unknown): string {
  if (!isIpv4(value))
    throw badRequest(`Invalid input for ${name}. Reason: '${String(value)}' is not a valid IP address.`);
  return value;
}

/**
 * neutron_lib `validate_subnet` for an IPv4 CIDR: a network address and its prefix length, the
 * address with no host bits set (Neutron's recommendation is the answer's).
 */
export function cidrAttribute(name: string, value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const [address, bits, ...rest] = text.split('/');
  const prefix = Number(bits);
  if (!isIpv4(address) || rest.length > 0 || bits === undefined || !/^\d+$/.test(bits) || prefix > 32)
    throw badRequest(`Invalid input for ${name}. Reason: '${text}' is not a valid IP subnet.`);
  const canonical = `${intToIp(cidrRange(text).first)}/${prefix}`;
  if (canonical !== text)
    throw badRequest(
      `Invalid input for ${name}. Reason: '${text}' isn't a recommended IP subnet, '${canonical}' is recommended.`,
    );
  return text;
}
