import { badRequest, notFound } from '../faults.js';

// The request bodies' fields, checked as Keystone checks them (its JSON schemas' messages), and
// the records they name.

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function objectField(body: unknown, key: string): Json {
  if (!isObject(body) || !isObject(body[key])) throw badRequest(`Expecting to find ${key} in request body`);
  return body[key];
}

export function optionalString(o: Json, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`Invalid input for field '${key}': not a string`);
  return v;
}

export function optionalBool(o: Json, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`Invalid input for field '${key}': not a boolean`);
  return v;
}

/** Keystone's names: 1 to `max` characters (64 for domains and projects, 255 for the rest), not all blank. */
export function requiredName(o: Json, max = 255): string {
  const name = optionalString(o, 'name');
  if (!name || name.trim().length === 0 || name.length > max) {
    throw badRequest(`Invalid input for field 'name': 1 to ${max} characters, not all blank`);
  }
  return name;
}

/** `value`, or Keystone's 404 for the `what` named `id`. */
export const need = <T>(value: T | null | undefined, what: string, id: string): T => {
  if (value === null || value === undefined) throw notFound(`Could not find ${what}: ${id}.`);
  return value;
};

/** The attributes Keystone keeps as they come: every field of the body that is not one of `known`. */
export function extraOf(body: Json, known: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([key]) => !known.includes(key)));
}
