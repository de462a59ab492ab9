/**
 * Glance v2's metadata definitions catalog (metadefs), under `/v2/metadefs`: namespaces and
 * their resource type associations here, their objects, properties and tags in
 * metadef-definitions.ts, the schemas in metadef-schemas.ts (glance/api/v2/metadef_*.py).
 *
 * Authorization is Glance's default policy (glance/policies/metadef.py): everyone with a token
 * reads the public namespaces, a private one only its owner's project and the cloud admin
 * (whoever cannot see a namespace gets 404 for it and all it holds); every write is
 * `metadef_admin`'s, the cloud admin's. A protected namespace cannot be deleted, nor can what it
 * holds.
 */
import type { FastifyInstance } from 'fastify';
import {
  METADEF_NAMESPACE_ORDER,
  type MetadefDefinition,
  type MetadefNamespace,
  type MetadefNamespaceFilter,
} from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { metadefDefinitionRoutes } from './metadef-definitions.js';
import { BODY, metadefSchemaRoutes } from './metadef-schemas.js';
import {
  association,
  associationView,
  bodyWithout,
  namespaceContents,
  namespaceFields,
  namespaceView,
  objectView,
  orderOf,
  propertiesView,
  refuseProtected,
  resourceTypeView,
  visibleNamespace,
} from './metadef-views.js';

type Json = Record<string, unknown>;

const READ_ONLY = ['self', 'schema', 'created_at', 'updated_at'];

/**
 * A namespace shown whole: its objects, properties and tags too. Shown for `resourceType`, its
 * properties (its objects' too) take that association's prefix (metadef_namespaces.py
 * `_prefix_property_name`).
 */
function detailView(
  ns: MetadefNamespace,
  objects: MetadefDefinition[],
  properties: MetadefDefinition[],
  tags: MetadefDefinition[],
  resourceType: string | undefined,
): Json {
  const prefix = ns.resourceTypes.find((a) => a.name === resourceType)?.prefix ?? '';
  const prefixed = (map: Json | undefined) =>
    map && Object.fromEntries(Object.entries(map).map(([name, p]) => [prefix + name, p]));
  const objectViews = objects.map((o) => {
    const view: Json = objectView(ns.namespace, o);
    if (!prefix) return view;
    const required = view.required as string[] | undefined;
    return {
      ...view,
      properties: prefixed(view.properties as Json | undefined),
      ...(required ? { required: required.map((r) => prefix + r) } : {}),
    };
  });
  return {
    ...namespaceView(ns),
    ...(objects.length > 0 ? { objects: objectViews } : {}),
    ...(properties.length > 0 ? { properties: prefixed(propertiesView(properties)) } : {}),
    ...(tags.length > 0 ? { tags: tags.map((t) => ({ name: t.name })) } : {}),
  };
}

/** The catalog's routes, on the `/v2` scope of the image API (whose hook has checked the token). */
export function metadefRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;

  /** The namespace, if the caller sees it (else 404) and may change it (else 403). */
  const writableNamespace = async (auth: AuthContext, name: string): Promise<MetadefNamespace> => {
    const ns = await visibleNamespace(db, auth, name);
    requireCloudAdmin(auth);
    return ns;
  };

  api.get('/metadefs/namespaces', async (request) => {
    const auth = authOf(request);
    const order = orderOf(request, METADEF_NAMESPACE_ORDER, 25);
    const visibility = queryString(request, 'visibility');
    if (visibility !== undefined && visibility !== 'public' && visibility !== 'private') {
      throw badRequest(`Invalid visibility value: ${visibility}`);
    }
    const resourceTypes = queryString(request, 'resource_types');
    const filter: MetadefNamespaceFilter = {
      projectId: auth.project?.id ?? null,
      admin: auth.isCloudAdmin,
      ...(visibility ? { visibility } : {}),
      ...(resourceTypes ? { resourceTypes: resourceTypes.split(',') } : {}),
    };
    const namespaces = await db.metadefs.listNamespaces(filter, order).catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'DB_ERR_NOT_FOUND') throw error;
      throw notFound(`Metadata definition namespace=${order.marker} was not found.`);
    });
    const params = new URLSearchParams(request.query as Record<string, string>);
    params.delete('marker');
    const query = params.toString();
    const last = namespaces[namespaces.length - 1];
    if (last) params.set('marker', last.namespace);
    return {
      namespaces: namespaces.map(namespaceView),
      first: `/v2/metadefs/namespaces${query ? `?${query}` : ''}`,
      schema: '/v2/schemas/metadefs/namespaces',
      ...(last && namespaces.length === order.limit ? { next: `/v2/metadefs/namespaces?${params.toString()}` } : {}),
    };
  });

  api.post(
    '/metadefs/namespaces',
    { schema: { body: BODY.namespace }, preValidation: bodyWithout(READ_ONLY) },
    async (request, reply) => {
      const auth = authOf(request);
      requireCloudAdmin(auth);
      const body = request.body as Json;
      const now = new Date().toISOString();
      const { resourceTypes, definitions } = namespaceContents(body, now);
      const ns = await db.metadefs.createNamespace(
        { ...namespaceFields(body, auth.project?.id ?? null, now), resourceTypes, createdAt: now },
        definitions,
      );
      const of = (kind: MetadefDefinition['kind']) => definitions.filter((d) => d.kind === kind);
      reply.header('Location', `${deps.publicUrl}/image/v2/metadefs/namespaces/${encodeURIComponent(ns.namespace)}`);
      return reply.code(201).send(detailView(ns, of('object'), of('property'), of('tag'), undefined));
    },
  );

  api.get('/metadefs/namespaces/:namespace', async (request) => {
    const { namespace } = request.params as { namespace: string };
    const ns = await visibleNamespace(db, authOf(request), namespace);
    const [objects, properties, tags] = await Promise.all([
      db.metadefs.definitions(namespace, 'object'),
      db.metadefs.definitions(namespace, 'property'),
      db.metadefs.definitions(namespace, 'tag'),
    ]);
    return detailView(ns, objects, properties, tags, queryString(request, 'resource_type'));
  });

  api.put(
    '/metadefs/namespaces/:namespace',
    { schema: { body: BODY.namespace }, preValidation: bodyWithout(READ_ONLY) },
    async (request) => {
      const auth = authOf(request);
      const { namespace } = request.params as { namespace: string };
      await writableNamespace(auth, namespace);
      const fields = namespaceFields(request.body as Json, auth.project?.id ?? null, new Date().toISOString());
      return namespaceView(await db.metadefs.updateNamespace(namespace, fields));
    },
  );

  api.delete('/metadefs/namespaces/:namespace', async (request, reply) => {
    const { namespace } = request.params as { namespace: string };
    const ns = await writableNamespace(authOf(request), namespace);
    refuseProtected(ns, `namespace ${namespace}`);
    await db.metadefs.deleteNamespace(namespace);
    return reply.code(204).send();
  });

  // Deleting all of a namespace's objects, properties or tags is deleting from the namespace itself.
  for (const [path, kind] of [
    ['objects', 'object'],
    ['properties', 'property'],
    ['tags', 'tag'],
  ] as const) {
    api.delete(`/metadefs/namespaces/:namespace/${path}`, async (request, reply) => {
      const { namespace } = request.params as { namespace: string };
      const ns = await writableNamespace(authOf(request), namespace);
      refuseProtected(ns, `namespace ${namespace}`);
      await db.metadefs.deleteDefinitions(namespace, kind);
      return reply.code(204).send();
    });
  }

  api.get('/metadefs/resource_types', async () => ({
    resource_types: (await db.metadefs.resourceTypes()).map(resourceTypeView),
  }));

  api.get('/metadefs/namespaces/:namespace/resource_types', async (request) => {
    const { namespace } = request.params as { namespace: string };
    const ns = await visibleNamespace(db, authOf(request), namespace);
    return { resource_type_associations: ns.resourceTypes.map(associationView) };
  });

  api.post(
    '/metadefs/namespaces/:namespace/resource_types',
    { schema: { body: BODY.resourceType }, preValidation: bodyWithout(['created_at', 'updated_at']) },
    async (request, reply) => {
      const { namespace } = request.params as { namespace: string };
      await writableNamespace(authOf(request), namespace);
      const created = await db.metadefs.associate(
        namespace,
        association(request.body as Json, new Date().toISOString()),
      );
      return reply.code(201).send(associationView(created));
    },
  );

  api.delete('/metadefs/namespaces/:namespace/resource_types/:name', async (request, reply) => {
    const { namespace, name } = request.params as { namespace: string; name: string };
    const ns = await writableNamespace(authOf(request), namespace);
    if (!ns.resourceTypes.some((a) => a.name === name)) {
      throw notFound(`Failed to find resource type ${name} to delete`);
    }
    refuseProtected(ns, `resource-type-association ${name}`);
    await db.metadefs.dissociate(namespace, name);
    return reply.code(204).send();
  });

  metadefDefinitionRoutes(api, db);
  metadefSchemaRoutes(api);
}
