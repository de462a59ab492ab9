/**
 * Neutron's handling of a resource's attributes in requests and answers, shared by the network
 * routes: the request body's checks (neutron/api/v2/base.py `prepare_request_body`,
 * neutron_lib/api/attributes.py), the converters and validators the resources use
 * (neutron_lib/api/converters.py, validators), the list filters and `fields`, and the
 * timestamps as Neutron prints them. Each message is Neutron's own.
 */
import type { FastifyRequest } from 'fastify';
import { badRequest } from '../faults.js';

/** Neutron's timestamps: seconds, no fraction. */
export const neutronTime = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z');

/** A value as Python's `%s` prints it in Neutron's messages (`None`, `True`, `['a', 1]`). */
export function pythonText(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return value;
  const repr = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : pythonText(v));
  if (Array.isArray(value)) return `[${value.map(repr).join(', ')}]`;
  if (typeof value === 'object')
    return `{${Object.entries(value as object)
      .map(([k, v]) => `'${k}': ${repr(v)}`)
      .join(', ')}}`;
  return String(value);
}

/** oslo's `bool_from_string(strict=True)`: the words it takes for true and false, in any case. */
export function neutronBoolean(text: string): boolean {
  const word = text.trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(word)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(word)) return false;
  throw badRequest(`Invalid input for operation: '${text}' cannot be converted to boolean.`);
}

/** neutron_lib/api/converters.py `convert_to_boolean`: a boolean, or a word or number that is one. */
export function toBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  return neutronBoolean(typeof value === 'string' || typeof value === 'number' ? String(value) : pythonText(value));
}

/** `type:string` with a length cap (neutron_lib/api/validators `validate_string`), as an attribute's input error. */
export function stringAttribute(name: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string')
    throw badRequest(`Invalid input for ${name}. Reason: '${pythonText(value)}' is not a valid string.`);
  if (value.length > maxLength)
    throw badRequest(`Invalid input for ${name}. Reason: '${value}' exceeds maximum length of ${maxLength}.`);
  return value;
}

/** oslo's `is_uuid_like`: 32 hex digits, dashes where a UUID has them or none, any case. */
export const UUID_LIKE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** `type:uuid_list` (oslo's `is_uuid_like` on each item, no duplicates). */
export function uuidListAttribute(name: string, value: unknown): string[] {
  const reason = (why: string) => badRequest(`Invalid input for ${name}. Reason: ${why}.`);
  if (!Array.isArray(value)) throw reason(`'${pythonText(value)}' is not a list`);
  const duplicates = [...new Set(value.filter((v, i) => value.indexOf(v) !== i))];
  if (duplicates.length) throw reason(`Duplicate items in the list: '${duplicates.map(pythonText).join(', ')}'`);
  for (const item of value)
    if (typeof item !== 'string' || !UUID_LIKE.test(item)) throw reason(`'${pythonText(item)}' is not a valid UUID`);
  return value as string[];
}

/** What a resource's attributes allow in a request (the `allow_post`/`allow_put` of Neutron's attribute maps). */
export interface AttributeRules {
  /** Every attribute of the resource, in the order Neutron converts and validates them. */
  known: readonly string[];
  /** Those a POST may give, and those it must (no default). */
  post: readonly string[];
  required?: readonly string[];
  /** Those a PUT may change. */
  put?: readonly string[];
}

/**
 * The resource's object of a request body (`{"security_group": {...}}`), its attributes checked as
 * `prepare_request_body` does for one item: unknown ones, ones the method may not set, required
 * ones. A bulk body (`{"security_groups": [...]}`) is `bulkItems`'.
 */
export function requestResource(
  body: unknown,
  resource: string,
  rules: AttributeRules,
  method: 'POST' | 'PUT',
): Record<string, unknown> {
  if (body === null || body === undefined || (typeof body === 'object' && Object.keys(body).length === 0))
    throw badRequest('Resource body required');
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('Body contains invalid data');
  const item = (body as Record<string, unknown>)[resource];
  if (item === undefined || item === null) throw badRequest(`Unable to find '${resource}' in request body`);
  return checkedItem(item, resource, rules, method);
}

function checkedItem(
  item: unknown,
  resource: string,
  rules: AttributeRules,
  method: 'POST' | 'PUT',
): Record<string, unknown> {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw badRequest(`Object '${resource}' contains invalid data`);
  const attributes = item as Record<string, unknown>;
  if ('tenant_id' in attributes && 'project_id' in attributes && attributes.tenant_id !== attributes.project_id)
    throw badRequest("'project_id' and 'tenant_id' do not match");
  const unknown = Object.keys(attributes).filter((k) => !rules.known.includes(k));
  if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
  for (const name of rules.known) {
    if (method === 'POST') {
      if (rules.post.includes(name)) {
        if (rules.required?.includes(name) && !(name in attributes))
          throw badRequest(`Failed to parse request. Required attribute '${name}' not specified`);
      } else if (name in attributes) throw badRequest(`Attribute '${name}' not allowed in POST`);
    } else if (name in attributes && !rules.put?.includes(name))
      throw badRequest(`Cannot update read-only attribute ${name}`);
  }
  return attributes;
}

/**
 * The items of a POST's body, one (`{"security_group": {...}}`) or many (`{"security_groups":
 * [...]}`, each item bare or wrapped), each checked; `bulk` says which the client sent.
 */
export function postItems(
  body: unknown,
  resource: string,
  rules: AttributeRules,
): { bulk: boolean; items: Record<string, unknown>[] } {
  const collection = `${resource}s`;
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && collection in body) {
    const list = (body as Record<string, unknown>)[collection];
    if (!Array.isArray(list) || list.length === 0) throw badRequest('Resources required');
    return {
      bulk: true,
      items: list.map((entry: unknown) => {
        const wrapped = typeof entry === 'object' && entry !== null && resource in entry;
        return checkedItem(wrapped ? (entry as Record<string, unknown>)[resource] : entry, resource, rules, 'POST');
      }),
    };
  }
  return { bulk: false, items: [requestResource(body, resource, rules, 'POST')] };
}

const query = (request: FastifyRequest) => request.query as Record<string, string | string[]>;

/** The `fields` a request asks to see (none: all of them). */
const askedFields = (request: FastifyRequest): string[] => {
  const fields = query(request).fields;
  return fields === undefined ? [] : Array.isArray(fields) ? fields : [fields];
};

/** The item with only the attributes the request's `fields` name (all when it names none). */
export function shown<T extends Record<string, unknown>>(request: FastifyRequest, item: T): Partial<T> {
  const fields = askedFields(request);
  if (fields.length === 0) return item;
  return Object.fromEntries(Object.entries(item).filter(([k]) => fields.includes(k))) as Partial<T>;
}

/** Query parameters that are no attribute filter (paging, sorting, `fields`), or that the routes filter on themselves (a port's `fixed_ips`). */
const NOT_FILTERS = new Set(['fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir', 'fixed_ips']);

/**
 * Neutron's `?field=value` filters on any attribute of the view, repeated = any of, then `fields`.
 * A boolean attribute takes what Neutron's `bool_from_string` does (`shared=True` as neutronclient
 * and Horizon send it, `true`, `1`, `yes`, `on`…), anything else is a 400; a list attribute (a
 * port's `security_groups`) matches when it holds any of the values.
 */
export function filtered<T extends Record<string, unknown>>(request: FastifyRequest, items: T[]): Partial<T>[] {
  const filters = Object.entries(query(request)).filter(([k]) => !NOT_FILTERS.has(k));
  const booleans = new Map(
    filters.flatMap(([k, v]) =>
      items.some((item) => typeof item[k] === 'boolean') ? [[k, (Array.isArray(v) ? v : [v]).map(neutronBoolean)]] : [],
    ),
  );
  return items
    .filter((item) =>
      filters.every(([k, v]) => {
        if (!(k in item)) return true;
        const wanted: readonly (string | boolean)[] = booleans.get(k) ?? (Array.isArray(v) ? v : [v]);
        const value = item[k];
        if (Array.isArray(value)) return value.some((x) => wanted.includes(String(x)));
        return wanted.includes(typeof value === 'boolean' ? value : String(value));
      }),
    )
    .map((item) => shown(request, item));
}
