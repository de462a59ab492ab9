import type { FastifyInstance } from 'fastify';
import type { Policy } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest } from '../faults.js';
import { extraOf, isObject, type Json, need } from './body.js';
import { collectionLinks, newId, selfLink } from './views.js';

const FIELDS = ['id', 'blob', 'type', 'links'];

/** A policy body's `blob` and `type`, typed as Keystone's schema types them. */
function policyFields(body: unknown): { policy: Json; blob?: string; type?: string } {
  const policy = isObject(body) ? (body.policy ?? {}) : {};
  if (!isObject(policy)) throw badRequest("Invalid input for field 'policy': not an object");
  const { blob, type } = policy;
  if (blob !== undefined && typeof blob !== 'string') throw badRequest("Invalid input for field 'blob': not a string");
  if (type !== undefined && (typeof type !== 'string' || type.length > 255)) {
    throw badRequest("Invalid input for field 'type': a string of at most 255 characters");
  }
  return { policy, ...(blob === undefined ? {} : { blob }), ...(type === undefined ? {} : { type }) };
}

/**
 * Keystone's `/v3/policies`, for the cloud admin: policy blobs stored for other services to
 * fetch, with any attributes their author adds. As in Keystone, nothing here enforces them:
 * rackseed's policy is its own code's.
 */
export async function policyRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const admin = {
    onRequest: requireToken(deps),
    preHandler: async (request: Parameters<typeof authOf>[0]) => requireCloudAdmin(authOf(request)),
  };
  const db = deps.db;
  const view = (p: Policy) => ({
    ...p.extra,
    id: p.id,
    blob: p.blob,
    type: p.type,
    links: selfLink(deps, `policies/${p.id}`),
  });
  const policy = async (id: string) => need(await db.policies.get(id), 'policy', id);

  app.get('/v3/policies', admin, async (request) => ({
    policies: (await db.policies.list({ type: queryString(request, 'type') })).map(view),
    links: collectionLinks(deps, request),
  }));
  app.post('/v3/policies', admin, async (request, reply) => {
    const { policy: body, blob, type } = policyFields(request.body);
    if (blob === undefined || type === undefined) throw badRequest("'blob' and 'type' are required properties");
    const created = await db.policies.create({ id: newId(), blob, type, extra: extraOf(body, FIELDS) });
    return reply.code(201).send({ policy: view(created) });
  });
  app.get('/v3/policies/:id', admin, async (request) => ({
    policy: view(await policy((request.params as { id: string }).id)),
  }));
  app.patch('/v3/policies/:id', admin, async (request) => {
    const { id } = request.params as { id: string };
    const { policy: body, blob, type } = policyFields(request.body);
    if (Object.keys(body).length === 0) throw badRequest('The policy to update has no properties');
    const before = await policy(id);
    const updated = await db.policies.update(id, {
      ...(blob === undefined ? {} : { blob }),
      ...(type === undefined ? {} : { type }),
      extra: { ...before.extra, ...extraOf(body, FIELDS) },
    });
    return { policy: view(updated) };
  });
  app.delete('/v3/policies/:id', admin, async (request, reply) => {
    const { id } = request.params as { id: string };
    await policy(id);
    await db.policies.delete(id);
    return reply.code(204).send();
  });
}
