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

export function requiredName(o: Json): string {
  const name = optionalString(o, 'name');
  if (!name || name.length > 255) throw badRequest("Invalid input for field 'name'");
  return name;
}

/** `value`, or Keystone's 404 for the `what` named `id`. */
export const need = <T>(value: T | null | undefined, what: string, id: string): T => {
  if (value === null || value === undefined) throw notFound(`Could not find ${what}: ${id}.`);
  return value;
};
