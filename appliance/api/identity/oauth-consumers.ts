import type { FastifyInstance } from 'fastify';
import type { OAuthConsumer } from '../../db/index.js';
import { type ApiDeps, authOf, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { extraOf, isObject, type Json } from './body.js';
import { collectionLinks, newId, selfLink } from './views.js';

const FIELDS = ['id', 'description', 'secret', 'links'];

/** A consumer body: Keystone reads `consumer` leniently (a missing one is empty). */
function consumerBody(body: unknown): Json {
  const consumer = isObject(body) ? body.consumer : undefined;
  if (consumer === undefined) return {};
  if (!isObject(consumer)) throw badRequest("Invalid input for field 'consumer': not an object");
  return consumer;
}

/** Keystone's consumer descriptions: a string or null, at most 64 characters (its column). */
function descriptionOf(o: Json): string | null | undefined {
  const value = o.description;
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string' || value.length > 64) {
    throw badRequest("Invalid input for field 'description': a string of at most 64 characters, or null");
  }
  return value;
}

/**
 * Keystone's OAuth1 consumers (`/v3/OS-OAUTH1/consumers`), for the cloud admin only: a
 * consumer's secret is made here and shown once, in the answer that makes it, and cannot be
 * set or changed (400). Only the consumers are served: no request or access tokens.
 */
export async function oauthConsumerRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const admin = {
    onRequest: requireToken(deps),
    preHandler: async (request: Parameters<typeof authOf>[0]) => requireCloudAdmin(authOf(request)),
  };
  const db = deps.db;
  const path = 'OS-OAUTH1/consumers';
  const view = (c: OAuthConsumer) => ({
    ...c.extra,
    id: c.id,
    description: c.description,
    links: selfLink(deps, `${path}/${c.id}`),
  });
  const consumer = async (id: string) => {
    const found = await db.oauthConsumers.get(id);
    if (!found) throw notFound('Consumer not found');
    return found;
  };

  app.get(`/v3/${path}`, admin, async (request) => ({
    consumers: (await db.oauthConsumers.list()).map(view),
    links: collectionLinks(deps, request),
  }));
  app.post(`/v3/${path}`, admin, async (request, reply) => {
    const body = consumerBody(request.body);
    const created = await db.oauthConsumers.create({
      id: newId(),
      description: descriptionOf(body) ?? null,
      // Keystone's consumer secrets, as its ids: a random UUID's 32 hex digits.
      secret: newId(),
      extra: extraOf(body, FIELDS),
    });
    return reply.code(201).send({ consumer: { ...view(created), secret: created.secret } });
  });
  app.get(`/v3/${path}/:id`, admin, async (request) => ({
    consumer: view(await consumer((request.params as { id: string }).id)),
  }));
  app.patch(`/v3/${path}/:id`, admin, async (request) => {
    const { id } = request.params as { id: string };
    const body = consumerBody(request.body);
    if (Object.keys(body).length === 0) throw badRequest('The consumer to update has no properties');
    if ('secret' in body) throw badRequest("A consumer's secret cannot be changed");
    if (body.id !== undefined && body.id !== id) throw badRequest('Cannot change ID');
    const description = descriptionOf(body);
    const before = await consumer(id);
    const updated = await db.oauthConsumers.update(id, {
      ...(description === undefined ? {} : { description }),
      extra: { ...before.extra, ...extraOf(body, FIELDS) },
    });
    return { consumer: view(updated) };
  });
  app.delete(`/v3/${path}/:id`, admin, async (request, reply) => {
    const { id } = request.params as { id: string };
    await consumer(id);
    await db.oauthConsumers.delete(id);
    return reply.code(204).send();
  });
}
