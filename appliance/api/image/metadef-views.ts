/**
 * What the metadefs routes share: the namespace a caller may see, request bodies and list
 * orders as Glance's deserializers take them, and the JSON Glance answers with (its wsme
 * models in glance/api/v2/model/metadef_*.py: a field that is null is left out).
 */
import type { FastifyRequest } from 'fastify';
import type {
  CloudDb,
  MetadefAssociation,
  MetadefDefinition,
  MetadefKind,
  MetadefNamespace,
  MetadefOrder,
  MetadefResourceType,
} from '../../db/index.js';
import { type AuthContext, queryString } from '../context.js';
import { badRequest, forbidden, notFound } from '../faults.js';
import { PROPERTY_KEYS } from './metadef-schemas.js';
import { glanceTime } from './views.js';

type Json = Record<string, unknown>;

/** `value` without its null and undefined fields. */
const present = (value: Json): Json => Object.fromEntries(Object.entries(value).filter(([, v]) => v != null));

const nsPath = (namespace: string) => `/v2/metadefs/namespaces/${namespace}`;

/**
 * Namespace `name` if the caller may see it (glance/db/sqlalchemy/metadef_api/namespace.py
 * `_is_namespace_visible`: the cloud admin every one, others the public ones and their
 * project's); else 404, whether it exists or not.
 */
export async function visibleNamespace(db: CloudDb, auth: AuthContext, name: string): Promise<MetadefNamespace> {
  const ns = await db.metadefs.getNamespace(name);
  if (!ns || !(auth.isCloudAdmin || ns.visibility === 'public' || ns.owner === auth.project?.id)) {
    throw notFound(`Metadata definition namespace=${name} was not found.`);
  }
  return ns;
}

/** Refuses to delete what a protected namespace holds, with Glance's message for `what`. */
export function refuseProtected(ns: MetadefNamespace, what: string): void {
  if (ns.protected) throw forbidden(`Metadata definition ${what} is protected and cannot be deleted.`);
}

/**
 * A `preValidation` hook, before the body's schema is checked: a body is needed, and the
 * fields in `readOnly` are refused (403, as Glance's deserializers' `_check_allowed`).
 */
export const bodyWithout =
  (readOnly: readonly string[]) =>
  async (request: FastifyRequest): Promise<void> => {
    const body = request.body;
    if (body === undefined || body === null) throw badRequest('Body expected in request.');
    if (typeof body !== 'object' || Array.isArray(body)) return; // the schema refuses it
    for (const key of readOnly) if (key in body) throw forbidden(`Attribute '${key}' is read-only.`);
  };

/**
 * A list's order from `limit`, `marker`, `sort_key` (one of `keys`, default `created_at`) and
 * `sort_dir` (default `desc`), as Glance's deserializers' `index`; 400 for a bad one.
 */
export function orderOf(
  request: FastifyRequest,
  keys: readonly MetadefOrder['key'][],
  defaultLimit?: number,
): MetadefOrder {
  const limitText = queryString(request, 'limit');
  if (limitText !== undefined && !/^-?\d+$/.test(limitText)) throw badRequest('limit param must be an integer');
  if (limitText !== undefined && Number(limitText) < 0) throw badRequest('limit param must be positive');
  const limit = limitText === undefined ? defaultLimit : Math.min(Number(limitText), 1000);
  const key = queryString(request, 'sort_key') ?? 'created_at';
  if (!(keys as readonly string[]).includes(key)) throw badRequest(`Invalid sort key: ${key}`);
  const dir = queryString(request, 'sort_dir') ?? 'desc';
  if (dir !== 'asc' && dir !== 'desc') throw badRequest(`Invalid sort direction: ${dir}`);
  const marker = queryString(request, 'marker');
  return {
    key: key as MetadefOrder['key'],
    dir,
    ...(marker === undefined ? {} : { marker }),
    ...(limit === undefined ? {} : { limit }),
  };
}

/** A property definition as Glance keeps it (wsme's `PropertyType`): its own fields, others dropped. */
export function propertyBody(raw: Json): Json {
  return Object.fromEntries(PROPERTY_KEYS.filter((k) => raw[k] !== undefined).map((k) => [k, raw[k]]));
}

/** An object's body as Glance keeps it (wsme's `MetadefObject`): description, required and properties. */
export function objectBody(raw: Json): Json {
  const properties = raw.properties as Record<string, Json> | undefined;
  return present({
    description: raw.description,
    required: raw.required,
    properties:
      properties && Object.fromEntries(Object.entries(properties).map(([name, p]) => [name, propertyBody(p)])),
  });
}

/** A name that wsme's models require where the schema does not (a namespace's associations, objects, tags). */
function nameOf(item: Json): string {
  if (typeof item.name !== 'string') {
    throw badRequest(`Invalid input for field/attribute name. Value: ${String(item.name)}. Mandatory field missing.`);
  }
  return item.name;
}

/** A new definition of `kind`, made now. */
export const definition = (kind: MetadefKind, name: string, body: Json, now: string): MetadefDefinition => ({
  kind,
  name,
  body,
  createdAt: now,
  updatedAt: now,
});

/** A new association, made now, from its JSON (`name`, `prefix`, `properties_target`). */
export function association(raw: Json, now: string): MetadefAssociation {
  return {
    name: nameOf(raw),
    prefix: (raw.prefix as string | undefined) ?? null,
    propertiesTarget: (raw.properties_target as string | undefined) ?? null,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * A namespace's own fields from Glance's JSON for it, with Glance's defaults for those left out
 * (a `PUT` replaces them all): private, not protected, owned by `owner` (the caller's project;
 * a token of no project, the system's or a domain's, must name the owner).
 */
export function namespaceFields(body: Json, owner: string | null, now: string) {
  const ownedBy = (body.owner as string | undefined) ?? owner;
  if (ownedBy === null) throw badRequest('This token has no project to own the namespace: give its owner.');
  return {
    namespace: body.namespace as string,
    displayName: (body.display_name as string | undefined) ?? null,
    description: (body.description as string | undefined) ?? null,
    visibility: (body.visibility as MetadefNamespace['visibility'] | undefined) ?? 'private',
    protected: (body.protected as boolean | undefined) ?? false,
    owner: ownedBy,
    updatedAt: now,
  };
}

/**
 * A namespace's associations and definitions from Glance's JSON for it (a `POST` body, or one of
 * Glance's etc/metadefs files): `resource_type_associations`, `properties`, `objects`, `tags`.
 */
export function namespaceContents(body: Json, now: string) {
  const list = (key: string) => (body[key] as Json[] | undefined) ?? [];
  const properties = (body.properties as Record<string, Json> | undefined) ?? {};
  return {
    resourceTypes: list('resource_type_associations').map((a) => association(a, now)),
    definitions: [
      ...Object.entries(properties).map(([name, p]) => definition('property', name, propertyBody(p), now)),
      ...list('objects').map((o) => definition('object', nameOf(o), objectBody(o), now)),
      ...list('tags').map((t) => definition('tag', nameOf(t), {}, now)),
    ],
  };
}

export const associationView = (a: MetadefAssociation) =>
  present({
    name: a.name,
    prefix: a.prefix,
    properties_target: a.propertiesTarget,
    created_at: glanceTime(a.createdAt),
    updated_at: glanceTime(a.updatedAt),
  });

export const resourceTypeView = (t: MetadefResourceType) => ({
  name: t.name,
  created_at: glanceTime(t.createdAt),
  updated_at: glanceTime(t.updatedAt),
});

/** A namespace's own fields, with its associations when it has some. */
export const namespaceView = (ns: MetadefNamespace): Json =>
  present({
    namespace: ns.namespace,
    display_name: ns.displayName,
    description: ns.description,
    visibility: ns.visibility,
    protected: ns.protected,
    owner: ns.owner,
    created_at: glanceTime(ns.createdAt),
    updated_at: glanceTime(ns.updatedAt),
    resource_type_associations: ns.resourceTypes.length > 0 ? ns.resourceTypes.map(associationView) : null,
    self: nsPath(ns.namespace),
    schema: '/v2/schemas/metadefs/namespace',
  });

export const objectView = (namespace: string, o: MetadefDefinition) => ({
  name: o.name,
  ...o.body,
  created_at: glanceTime(o.createdAt),
  updated_at: glanceTime(o.updatedAt),
  self: `${nsPath(namespace)}/objects/${o.name}`,
  schema: '/v2/schemas/metadefs/object',
});

/** One property, named (in a map of properties, the name is its key). */
export const propertyView = (p: MetadefDefinition) => ({ ...p.body, name: p.name });

/** Properties by name, each as Glance keeps it. */
export const propertiesView = (properties: MetadefDefinition[]): Record<string, Json> =>
  Object.fromEntries(properties.map((p) => [p.name, p.body]));

export const tagView = (t: MetadefDefinition) => ({
  name: t.name,
  created_at: glanceTime(t.createdAt),
  updated_at: glanceTime(t.updatedAt),
});
