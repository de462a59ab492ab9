/**
 * Nova's server tags (microversion 2.26): short strings a project puts on its servers and
 * filters its server list by (`tags`, `tags-any`, `not-tags`, `not-tags-any`). At most 50 a
 * server, each 1 to 60 characters with no `/` or `,`. Changed only while the server is active
 * or stopped, as Nova's; each change is one transaction (appliance/db/server-tags.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, requireWriter } from '../context.js';
import { badRequest, conflict, notFound } from '../faults.js';
import { isObject } from './fields.js';
import { atLeast } from './microversions.js';
import { statusOf } from './views.js';

const MAX_TAGS = 50;

/** A tag as Nova's schema takes it; 400 otherwise. */
function tagField(v: unknown): string {
  if (typeof v !== 'string' || v.length < 1 || v.length > 60 || /[/,]/.test(v)) {
    throw badRequest(`Invalid input for field/attribute tag. Value: ${String(v)}: 1 to 60 characters, no '/' or ','.`);
  }
  return v;
}

/** A create's `tags` (2.52): at most 50, each a tag, duplicates once; none before 2.52 (the field is refused). */
export function createTags(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_TAGS) {
    throw badRequest(`Invalid input for field/attribute tags: a list of at most ${MAX_TAGS} tags.`);
  }
  return [...new Set(v.map(tagField))];
}

/** The comma-separated tags of a list filter (`?tags=a,b`), or undefined when not asked for (or before 2.26). */
export function tagFilter(request: FastifyRequest, name: string): string[] | undefined {
  if (!atLeast(request, '2.26')) return undefined;
  const value = (request.query as Record<string, unknown>)[name];
  if (typeof value !== 'string') return undefined;
  return value.split(',').filter((t) => t.length > 0);
}

export function registerServerTags(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  /** The server of a tag call: 404 before 2.26 (no such URL), and for a server the caller does not see. */
  const serverOf = async (request: FastifyRequest): Promise<{ auth: AuthContext; server: Server }> => {
    if (!atLeast(request, '2.26')) throw notFound('The resource could not be found.');
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    return { auth, server: await visibleServer(auth, id) };
  };
  /** A change of tags: the caller writes, and the server is active, stopped, paused or suspended (409 otherwise, as Nova). */
  const changeable = async (request: FastifyRequest, what: string): Promise<Server> => {
    const { auth, server } = await serverOf(request);
    requireWriter(auth);
    if (!['active', 'shutoff', 'paused', 'suspended'].includes(server.state)) {
      throw conflict(`Cannot '${what}' instance ${server.id} while it is in vm_state ${statusOf(server).view.vmState}`);
    }
    return server;
  };
  const tooMany = () => badRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS}`);

  app.get('/servers/:id/tags', async (request) => ({ tags: (await serverOf(request)).server.tags }));

  app.put('/servers/:id/tags', async (request) => {
    const server = await changeable(request, 'update tags');
    const b = request.body;
    if (!isObject(b) || !Array.isArray(b.tags) || Object.keys(b).length !== 1) {
      throw badRequest("Invalid input: 'tags' is a required property, a list");
    }
    const tags = b.tags.map(tagField);
    if (new Set(tags).size > MAX_TAGS) throw tooMany();
    return { tags: await deps.db.serverTags.set(server.id, tags) };
  });

  app.delete('/servers/:id/tags', async (request, reply) => {
    const server = await changeable(request, 'delete tags');
    await deps.db.serverTags.set(server.id, []);
    return reply.code(204).send();
  });

  app.get('/servers/:id/tags/:tag', async (request, reply) => {
    const { server } = await serverOf(request);
    const { tag } = request.params as { tag: string };
    if (!server.tags.includes(tag)) throw notFound(`Tag ${tag} is not found for instance ${server.id}.`);
    return reply.code(204).send();
  });

  app.put('/servers/:id/tags/:tag', async (request, reply) => {
    const server = await changeable(request, 'update tag');
    const tag = tagField((request.params as { tag: string }).tag);
    let created: boolean;
    try {
      created = await deps.db.serverTags.add(server.id, tag);
    } catch (error) {
      if ((error as { code?: string }).code === 'DB_ERR_CONFLICT') throw tooMany();
      throw error;
    }
    if (!created) return reply.code(204).send();
    const location = `${deps.publicUrl}/compute/v2.1/servers/${server.id}/tags/${encodeURIComponent(tag)}`;
    return reply.code(201).header('Location', location).send();
  });

  app.delete('/servers/:id/tags/:tag', async (request, reply) => {
    const server = await changeable(request, 'delete tag');
    const { tag } = request.params as { tag: string };
    if (!(await deps.db.serverTags.remove(server.id, tag))) {
      throw notFound(`Tag ${tag} is not found for instance ${server.id}.`);
    }
    return reply.code(204).send();
  });
}
