/**
 * The JSON schemas of Glance's metadata definitions catalog, as Glance v2 serves them at
 * `/v2/schemas/metadefs/*` (glance/api/v2/metadef_*.py `get_schema`, `get_collection_schema`,
 * built by glance/schema.py's `Schema.raw`), and the request bodies checked against the same
 * documents (`bodySchema`), as Glance's deserializers validate them.
 */
import type { FastifyInstance } from 'fastify';
import { collectionSchema } from './image-schema.js';

type Schema = Record<string, unknown>;

const positiveInteger = { type: 'integer', minimum: 0 };
const positiveIntegerDefault0 = { allOf: [{ $ref: '#/definitions/positiveInteger' }, { default: 0 }] };
const TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', null];
const created = (what: string) => ({
  type: 'string',
  readOnly: true,
  description: `Date and time of ${what} creation`,
  format: 'date-time',
});
const updated = (what: string) => ({
  type: 'string',
  readOnly: true,
  description: `Date and time of the last ${what} modification`,
  format: 'date-time',
});
const readOnlyString = { readOnly: true, type: 'string' };

/** One property definition's fields (metadef_namespaces.py `get_schema_definitions()['property']`). */
const PROPERTY_FIELDS: Schema = {
  name: { type: 'string', maxLength: 80 },
  title: { type: 'string' },
  description: { type: 'string' },
  operators: { type: 'array', items: { type: 'string' } },
  type: { type: 'string', enum: TYPES },
  required: { $ref: '#/definitions/stringArray' },
  minimum: { type: 'number' },
  maximum: { type: 'number' },
  maxLength: { $ref: '#/definitions/positiveInteger' },
  minLength: { $ref: '#/definitions/positiveIntegerDefault0' },
  pattern: { type: 'string', format: 'regex' },
  enum: { type: 'array' },
  readonly: { type: 'boolean' },
  default: {},
  items: { type: 'object', properties: { type: { type: 'string', enum: TYPES }, enum: { type: 'array' } } },
  maxItems: { $ref: '#/definitions/positiveInteger' },
  minItems: { $ref: '#/definitions/positiveIntegerDefault0' },
  uniqueItems: { type: 'boolean', default: false },
  additionalItems: { type: 'boolean' },
};

/** The definitions the namespace and object schemas share. */
const DEFINITIONS: Schema = {
  positiveInteger,
  positiveIntegerDefault0,
  stringArray: { type: 'array', items: { type: 'string' }, uniqueItems: true },
  property: {
    type: 'object',
    additionalProperties: { type: 'object', required: ['title', 'type'], properties: PROPERTY_FIELDS },
  },
};

const NAMESPACE: Schema = {
  name: 'namespace',
  properties: {
    namespace: { type: 'string', description: 'The unique namespace text.', maxLength: 80 },
    display_name: {
      type: 'string',
      description: 'The user friendly name for the namespace. Used by UI if available.',
      maxLength: 80,
    },
    description: {
      type: 'string',
      description: 'Provides a user friendly description of the namespace.',
      maxLength: 500,
    },
    visibility: { type: 'string', description: 'Scope of namespace accessibility.', enum: ['public', 'private'] },
    protected: { type: 'boolean', description: 'If true, namespace will not be deletable.' },
    owner: { type: 'string', description: 'Owner of the namespace.', maxLength: 255 },
    created_at: created('namespace'),
    updated_at: updated('namespace'),
    schema: readOnlyString,
    self: readOnlyString,
    resource_type_associations: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, prefix: { type: 'string' }, properties_target: { type: 'string' } },
      },
    },
    properties: { $ref: '#/definitions/property' },
    objects: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          required: { $ref: '#/definitions/stringArray' },
          properties: { $ref: '#/definitions/property' },
        },
      },
    },
    tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
  },
  additionalProperties: false,
  definitions: DEFINITIONS,
  required: ['namespace'],
};

const OBJECT: Schema = {
  name: 'object',
  properties: {
    name: { type: 'string', maxLength: 80 },
    description: { type: 'string' },
    required: { $ref: '#/definitions/stringArray' },
    properties: { $ref: '#/definitions/property' },
    schema: readOnlyString,
    self: readOnlyString,
    created_at: created('object'),
    updated_at: updated('object'),
  },
  additionalProperties: false,
  definitions: DEFINITIONS,
  required: ['name'],
};

/** One property (metadef_properties.py): its name is required, unless it is a key of a collection. */
const property = (requireName: boolean): Schema => ({
  name: 'property',
  properties: PROPERTY_FIELDS,
  additionalProperties: false,
  definitions: {
    positiveInteger,
    positiveIntegerDefault0,
    stringArray: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true },
  },
  required: requireName ? ['title', 'type', 'name'] : ['title', 'type'],
});

const RESOURCE_TYPE: Schema = {
  name: 'resource_type_association',
  properties: {
    name: {
      type: 'string',
      description:
        'Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html',
      maxLength: 80,
    },
    prefix: {
      type: 'string',
      description:
        'Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :).',
      maxLength: 80,
    },
    properties_target: {
      type: 'string',
      description:
        'Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity.',
      maxLength: 80,
    },
    created_at: { ...created(''), description: 'Date and time of resource type association' },
    updated_at: updated('resource type association'),
  },
  additionalProperties: false,
  required: ['name'],
};

const TAG: Schema = {
  name: 'tag',
  properties: { name: { type: 'string', maxLength: 80 }, created_at: created('tag'), updated_at: updated('tag') },
  additionalProperties: false,
  required: ['name'],
};

/** The body of `POST …/tags` (metadef_tags.py `get_schema_for_list`): served by no URL. */
const TAG_LIST: Schema = {
  name: 'tags',
  properties: {
    tags: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' } },
        required: ['name'],
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
};

/** glance/schema.py `CollectionSchema.raw` (a list) or `DictCollectionSchema.raw` (a map by name). */
function collection(name: string, item: Schema, form: 'array' | 'object' = 'array'): Schema {
  const { definitions, ...rest } = item;
  const items = form === 'array' ? { type: 'array', items: rest } : { type: 'object', additionalProperties: rest };
  return { ...collectionSchema(name, items), ...(definitions ? { definitions } : {}) };
}

const SERVED: Record<string, Schema> = {
  namespace: NAMESPACE,
  namespaces: collection('namespaces', NAMESPACE),
  object: OBJECT,
  objects: collection('objects', OBJECT),
  property: property(true),
  properties: collection('properties', property(false), 'object'),
  resource_type: RESOURCE_TYPE,
  resource_types: collection('resource_type_associations', RESOURCE_TYPE),
  tag: TAG,
  tags: collection('tags', TAG),
};

/**
 * `schema` as a self-contained validator of request bodies: its local `$ref`s inlined, without
 * its name, links and `default`s (which Glance's jsonschema never fills in, and fastify's Ajv would).
 */
function forValidation(node: Schema, root: Schema = node): Schema {
  const ref = node.$ref;
  if (typeof ref === 'string') {
    const target = (root.definitions as Record<string, Schema>)[ref.replace('#/definitions/', '')];
    if (!target) throw new TypeError(`unresolved $ref ${ref}`);
    return forValidation(target, root);
  }
  // Glance's root schemas have no type (a list body fails later, in wsme); here it is a 400 at once.
  const out: Schema = 'properties' in node && !('type' in node) ? { type: 'object' } : {};
  for (const [key, value] of Object.entries(node)) {
    if (['default', 'definitions', 'links'].includes(key) || (key === 'name' && node === root)) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, forValidation(v, root)]),
      );
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object') {
      out[key] = forValidation(value as Schema, root);
    } else if (key === 'allOf') {
      out[key] = (value as Schema[]).map((v) => forValidation(v, root));
    } else {
      out[key] = value;
    }
  }
  return out;
}

const objectBody = forValidation(OBJECT);

/**
 * The request bodies, each checked as Glance's deserializer checks it. A new object's properties
 * are each also checked against the property schema (metadef_objects.py `create`).
 */
export const BODY = {
  namespace: forValidation(NAMESPACE),
  object: objectBody,
  newObject: {
    ...objectBody,
    properties: {
      ...(objectBody.properties as Schema),
      properties: { type: 'object', additionalProperties: forValidation(property(false)) },
    },
  },
  property: forValidation(property(true)),
  resourceType: forValidation(RESOURCE_TYPE),
  tag: forValidation(TAG),
  tags: forValidation(TAG_LIST),
} as const;

/** The fields a property definition keeps (Glance's wsme `PropertyType`): others are dropped. */
export const PROPERTY_KEYS: readonly string[] = [...Object.keys(PROPERTY_FIELDS), 'confidential'];

/** `GET /v2/schemas/metadefs/{namespace,object,property,resource_type,tag}` and their collections. */
export function metadefSchemaRoutes(api: FastifyInstance): void {
  for (const [path, schema] of Object.entries(SERVED)) {
    api.get(`/schemas/metadefs/${path}`, async () => schema);
  }
}
