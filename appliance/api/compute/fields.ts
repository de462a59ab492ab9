/**
 * The compute API's request fields, checked as Nova's JSON schemas check them: each helper
 * returns the value or throws the 400 Nova answers.
 */
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { ApiError, badRequest } from '../faults.js';

export type Json = Record<string, unknown>;
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function body(request: FastifyRequest, key: string): Json {
  const b = request.body;
  if (!isObject(b) || !isObject(b[key])) throw badRequest(`Invalid input: '${key}' is a required property`);
  return b[key];
}

export function rejectUnknown(o: Json, allowed: readonly string[], where: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw badRequest(
      `Invalid input for ${where}: Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} unexpected)`,
    );
  }
}

/** An action that takes no argument: novaclient sends null, tempest an empty object (else 400). */
export function noArgument(action: string, args: unknown): void {
  if (args !== null && !(isObject(args) && Object.keys(args).length === 0))
    throw badRequest(`Invalid input for field/attribute ${action}: it takes no argument.`);
}

export function nameField(v: unknown, field = 'name'): string {
  if (typeof v !== 'string' || v.length < 1 || v.length > 255 || v.trim() !== v || v.trim() === '') {
    throw badRequest(`Invalid input for field/attribute ${field}.`);
  }
  return v;
}

export function metadataField(v: unknown, max: number): Record<string, string> {
  if (!isObject(v)) throw badRequest('Invalid input for field/attribute metadata: not an object');
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (k.length < 1 || k.length > 255 || typeof value !== 'string' || value.length > 255) {
      throw badRequest(`Invalid input for field/attribute metadata: bad item '${k}'`);
    }
    out[k] = value;
  }
  if (Object.keys(out).length > max) throw new ApiError(403, 'Quota exceeded for metadata_items', 'API_ERR_QUOTA');
  return out;
}

export function accessIp(v: unknown, version: 4 | 6): string {
  if (v === undefined || v === '') return '';
  if (typeof v !== 'string' || !(version === 4 ? isIPv4(v) : isIPv6(v))) {
    throw badRequest(`Invalid input for field/attribute accessIPv${version}: not an IPv${version} address`);
  }
  // Nova stores addresses canonicalised (netaddr); the URL parser does the same for IPv6.
  return version === 4 ? v : new URL(`http://[${v}]/`).hostname.slice(1, -1);
}

export function intField(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw badRequest(`Invalid input for field/attribute ${field}.`);
  }
  return n;
}

export function boolish(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|1|yes|on)$/i.test(v)) return true;
  if (typeof v === 'string' && /^(false|0|no|off)$/i.test(v)) return false;
  throw badRequest(`Invalid input for field/attribute ${field}.`);
}

/**
 * A `description`: of a server (2.19) at most 255 printable characters, of a flavor (2.55) at
 * most 65535; or null for none.
 */
export function descriptionField(v: unknown, max = 255): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || v.length > max || [...v].some((c) => c < ' ' || c === '\u007f')) {
    throw badRequest(
      `Invalid input for field/attribute description: a string of at most ${max} printable characters, or null.`,
    );
  }
  return v;
}

/**
 * A UUID that `name` alone decides (RFC 4122 version 5, in a namespace of rackseed's): the same
 * on every API node and after every restart, for what Nova keeps a database id of and rackseed
 * derives from the live hosts (their services and hypervisors, from microversion 2.53).
 */
export function stableUuid(name: string): string {
  const bytes = createHash('sha1').update(`rackseed:${name}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const isUuid = (v: string): boolean =>
  /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v);

/** Nova's limit on user data: 65535 bytes of base64. */
const USER_DATA_MAX = 65535;

/** `user_data`: base64 of at most 64 KiB (Nova's schema), kept as given. */
export function userDataField(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (
    typeof value !== 'string' ||
    value.length > USER_DATA_MAX ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s/g, ''))
  ) {
    throw badRequest('Invalid input for field/attribute user_data. Value must be base64-encoded, 64 KiB at most.');
  }
  return value.replace(/\s/g, '');
}

/**
 * A create's or rebuild's `trusted_image_certificates` (2.63): Nova keeps them to verify the
 * image's signature with; rackseed verifies no image signature, so a list of them is refused
 * rather than kept for nothing. Null or absent is none.
 */
export function refuseTrustedCertificates(v: unknown): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v) || v.length < 1 || v.length > 50 || v.some((c) => typeof c !== 'string' || c === '')) {
    throw badRequest('Invalid input for field/attribute trusted_image_certificates.');
  }
  throw badRequest('Image signature certificate validation is not supported by this cloud.');
}
