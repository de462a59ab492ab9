/**
 * What a metadefs namespace defines: its objects, properties and tags, under
 * `/v2/metadefs/namespaces/{namespace}/` (glance/api/v2/metadef_objects.py,
 * metadef_properties.py, metadef_tags.py). Each is found through its namespace, which the caller
 * must see (else 404); changing one is the cloud admin's (else 403); deleting one from a
 * protected namespace is refused (403).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CloudDb, MetadefDefinition, MetadefKind, MetadefNamespace } from '../../db/index.js';
import { type AuthContext, authOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { BODY } from './metadef-schemas.js';
import {
  bodyWithout,
  definition,
  objectBody,
  objectView,
  orderOf,
  propertiesView,
  propertyBody,
  propertyView,
  refuseProtected,
  tagView,
  visibleNamespace,
} from './metadef-views.js';

type Json = Record<string, unknown>;

/** Glance's 404 for a definition not in its namespace (glance/common/exception.py `Metadef*NotFound`). */
function missing(kind: MetadefKind, name: string, namespace: string) {
  return notFound(`The metadata definition ${kind} with name=${name} was not found in namespace=${namespace}.`);
}

/** `X-Openstack-Append` as oslo's `bool_from_string` reads it. */
const appending = (request: FastifyRequest) =>
  ['1', 't', 'true', 'on', 'y', 'yes'].includes(String(request.headers['x-openstack-append'] ?? '').toLowerCase());

export function metadefDefinitionRoutes(api: FastifyInstance, db: CloudDb): void {
  const base = '/metadefs/namespaces/:namespace';
  const params = (request: FastifyRequest) => request.params as { namespace: string; name: string };

  /** The namespace the caller sees (else 404), and which the caller may change (else 403). */
  const writable = async (auth: AuthContext, namespace: string): Promise<MetadefNamespace> => {
    const ns = await visibleNamespace(db, auth, namespace);
    requireCloudAdmin(auth);
    return ns;
  };
  /** Definition `name` of `kind` in `namespace`, or 404. */
  const existing = async (namespace: string, kind: MetadefKind, name: string): Promise<MetadefDefinition> => {
    const found = await db.metadefs.getDefinition(namespace, kind, name);
    if (!found) throw missing(kind, name, namespace);
    return found;
  };
  /** Adds one definition to a namespace the caller may change. */
  const add = async (request: FastifyRequest, kind: MetadefKind, name: string, body: Json) => {
    const { namespace } = params(request);
    await writable(authOf(request), namespace);
    const [created] = await db.metadefs.addDefinitions(
      namespace,
      [definition(kind, name, body, new Date().toISOString())],
      false,
    );
    return created as MetadefDefinition;
  };
  /** Replaces definition `name` of `kind` (renaming it to `newName`) in a namespace the caller may change. */
  const replace = async (request: FastifyRequest, kind: MetadefKind, newName: string, body: Json) => {
    const { namespace, name } = params(request);
    await writable(authOf(request), namespace);
    const old = await existing(namespace, kind, name);
    const now = new Date().toISOString();
    return db.metadefs.updateDefinition(namespace, name, { ...old, name: newName, body, updatedAt: now });
  };
  /** Deletes definition `name` of `kind`, unless its namespace is protected. */
  const remove = async (request: FastifyRequest, kind: MetadefKind, what: string) => {
    const { namespace, name } = params(request);
    const ns = await writable(authOf(request), namespace);
    await existing(namespace, kind, name);
    refuseProtected(ns, `${what} ${name}`);
    await db.metadefs.deleteDefinitions(namespace, kind, name);
  };
  const visible = async (request: FastifyRequest) => {
    const { namespace } = params(request);
    await visibleNamespace(db, authOf(request), namespace);
    return namespace;
  };

  // Objects (metadef_objects.py): listed whole, oldest first.
  const objectReadOnly = bodyWithout(['self', 'schema', 'created_at', 'updated_at']);
  api.get(`${base}/objects`, async (request) => {
    const namespace = await visible(request);
    const objects = await db.metadefs.definitions(namespace, 'object');
    return { objects: objects.map((o) => objectView(namespace, o)), schema: '/v2/schemas/metadefs/objects' };
  });
  api.post(
    `${base}/objects`,
    { schema: { body: BODY.newObject }, preValidation: objectReadOnly },
    async (request, reply) => {
      const body = request.body as Json;
      const created = await add(request, 'object', body.name as string, objectBody(body));
      return reply.code(201).send(objectView(params(request).namespace, created));
    },
  );
  api.get(`${base}/objects/:name`, async (request) => {
    const namespace = await visible(request);
    return objectView(namespace, await existing(namespace, 'object', params(request).name));
  });
  api.put(
    `${base}/objects/:name`,
    { schema: { body: BODY.object }, preValidation: objectReadOnly },
    async (request) => {
      const body = request.body as Json;
      return objectView(
        params(request).namespace,
        await replace(request, 'object', body.name as string, objectBody(body)),
      );
    },
  );
  api.delete(`${base}/objects/:name`, async (request, reply) => {
    await remove(request, 'object', 'object');
    return reply.code(204).send();
  });

  // Properties (metadef_properties.py): a map by name. Shown for a resource type, a property is
  // named with that association's prefix.
  const propertyReadOnly = bodyWithout(['created_at', 'updated_at']);
  api.get(`${base}/properties`, async (request) => {
    const namespace = await visible(request);
    return { properties: propertiesView(await db.metadefs.definitions(namespace, 'property')) };
  });
  api.post(
    `${base}/properties`,
    { schema: { body: BODY.property }, preValidation: propertyReadOnly },
    async (request, reply) => {
      const body = request.body as Json;
      return reply
        .code(201)
        .send(propertyView(await add(request, 'property', body.name as string, propertyBody(body))));
    },
  );
  api.get(`${base}/properties/:name`, async (request) => {
    const { namespace } = params(request);
    const ns = await visibleNamespace(db, authOf(request), namespace);
    let { name } = params(request);
    const resourceType = queryString(request, 'resource_type');
    if (resourceType) {
      const target = ns.resourceTypes.find((a) => a.name === resourceType);
      if (!target) {
        throw notFound(
          `The metadata definition resource-type association of resource-type=${resourceType} to namespace=${namespace}, was not found.`,
        );
      }
      const prefix = target.prefix ?? '';
      if (!prefix || !name.startsWith(prefix)) {
        throw notFound(
          `Property ${name} does not start with the expected resource type association prefix of '${prefix}'.`,
        );
      }
      name = name.slice(prefix.length);
    }
    return propertyView(await existing(namespace, 'property', name));
  });
  api.put(
    `${base}/properties/:name`,
    { schema: { body: BODY.property }, preValidation: propertyReadOnly },
    async (request) => {
      const body = request.body as Json;
      return propertyView(await replace(request, 'property', body.name as string, propertyBody(body)));
    },
  );
  api.delete(`${base}/properties/:name`, async (request, reply) => {
    await remove(request, 'property', 'property');
    return reply.code(204).send();
  });

  // Tags (metadef_tags.py): paged and ordered (newest first by default), names only in lists.
  const tagReadOnly = bodyWithout(['created_at', 'updated_at']);
  api.get(`${base}/tags`, async (request) => {
    const namespace = await visible(request);
    const order = orderOf(request, ['name', 'created_at', 'updated_at']);
    const tags = await db.metadefs.definitions(namespace, 'tag', order).catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'DB_ERR_NOT_FOUND') throw error;
      throw missing('tag', order.marker ?? '', namespace);
    });
    return { tags: tags.map((t) => ({ name: t.name })) };
  });
  // Replaces the namespace's tags with these, or adds them with `X-Openstack-Append: true`; all or none.
  api.post(`${base}/tags`, { schema: { body: BODY.tags }, preValidation: tagReadOnly }, async (request, reply) => {
    const { namespace } = params(request);
    await writable(authOf(request), namespace);
    const now = new Date().toISOString();
    const names = ((request.body as { tags?: { name: string }[] }).tags ?? []).map((t) => t.name);
    // Glance changes nothing for an empty list, even without X-Openstack-Append.
    if (names.length > 0) {
      const tags = names.map((name) => definition('tag', name, {}, now));
      await db.metadefs.addDefinitions(namespace, tags, !appending(request));
    }
    return reply.code(201).send({ tags: names.map((name) => ({ name })) });
  });
  api.post(`${base}/tags/:name`, async (request, reply) => {
    const { namespace, name } = params(request);
    await visibleNamespace(db, authOf(request), namespace);
    if (name.length > 80) throw badRequest(`Tag name ${name} is longer than 80 characters.`);
    return reply.code(201).send(tagView(await add(request, 'tag', name, {})));
  });
  api.get(`${base}/tags/:name`, async (request) => {
    const namespace = await visible(request);
    return tagView(await existing(namespace, 'tag', params(request).name));
  });
  api.put(`${base}/tags/:name`, { schema: { body: BODY.tag }, preValidation: tagReadOnly }, async (request) => {
    return tagView(await replace(request, 'tag', (request.body as { name: string }).name, {}));
  });
  api.delete(`${base}/tags/:name`, async (request, reply) => {
    await remove(request, 'tag', 'tag');
    return reply.code(204).send();
  });
}
