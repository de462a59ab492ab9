/**
 * The compute API's request fields, checked as Nova's JSON schemas check them: each helper
 * returns the value or throws the 400 Nova answers.
 */
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

/** A server's `description` (2.19): at most 255 printable characters, or null for none. */
export function descriptionField(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || v.length > 255 || [...v].some((c) => c < ' ' || c === '\u007f')) {
    throw badRequest(
      'Invalid input for field/attribute description: a string of at most 255 printable characters, or null.',
    );
  }
  return v;
}
