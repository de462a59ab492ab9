import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { notFound } from '../faults.js';
import { need, objectField, optionalString, requiredName } from './body.js';
import { collectionLinks, descriptionOf, groupView, newId, userView } from './views.js';

/**
 * Keystone's `/v3/groups` and their members (the cloud admin's, as Keystone's default policy).
 * A group is in one domain; its name is unique there. Its grants (see assignments.ts) reach every
 * member, and go with it.
 */
export async function groupRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;
  const admin = async (request: FastifyRequest) => requireCloudAdmin(authOf(request));
  const membership = async (request: FastifyRequest) => {
    const { g, u } = request.params as { g: string; u: string };
    need(await db.groups.get(g), 'group', g);
    need(await db.users.get(u), 'user', u);
    return { g, u };
  };

  app.get('/v3/groups', { onRequest: [auth, admin] }, async (request) => {
    const groups = await db.groups.list({
      name: queryString(request, 'name'),
      domainId: queryString(request, 'domain_id'),
    });
    return { groups: groups.map((g) => groupView(deps, g)), links: collectionLinks(deps, request) };
  });
  app.post('/v3/groups', { onRequest: [auth, admin] }, async (request, reply) => {
    const g = objectField(request.body, 'group');
    const domainId = optionalString(g, 'domain_id') ?? 'default';
    if (!(await db.domains.get(domainId))) throw notFound(`Could not find domain: ${domainId}.`);
    const group = await db.groups.create({
      id: newId(),
      name: requiredName(g),
      domainId,
      description: descriptionOf(g) ?? '',
    });
    return reply.code(201).send({ group: groupView(deps, group) });
  });
  app.get('/v3/groups/:g', { onRequest: [auth, admin] }, async (request) => {
    const { g } = request.params as { g: string };
    return { group: groupView(deps, need(await db.groups.get(g), 'group', g)) };
  });
  app.patch('/v3/groups/:g', { onRequest: [auth, admin] }, async (request) => {
    const { g } = request.params as { g: string };
    const body = objectField(request.body, 'group');
    need(await db.groups.get(g), 'group', g);
    const group = await db.groups.update(g, {
      name: body.name === undefined ? undefined : requiredName(body),
      description: descriptionOf(body),
    });
    return { group: groupView(deps, group) };
  });
  app.delete('/v3/groups/:g', { onRequest: [auth, admin] }, async (request, reply) => {
    const { g } = request.params as { g: string };
    need(await db.groups.get(g), 'group', g);
    await db.groups.delete(g);
    return reply.code(204).send();
  });

  app.get('/v3/groups/:g/users', { onRequest: [auth, admin] }, async (request) => {
    const { g } = request.params as { g: string };
    need(await db.groups.get(g), 'group', g);
    return { users: (await db.groups.members(g)).map((u) => userView(deps, u)), links: collectionLinks(deps, request) };
  });
  app.put('/v3/groups/:g/users/:u', { onRequest: [auth, admin] }, async (request, reply) => {
    const { g, u } = await membership(request);
    await db.groups.addMember(g, u);
    return reply.code(204).send();
  });
  app.head('/v3/groups/:g/users/:u', { onRequest: [auth, admin] }, async (request, reply) => {
    const { g, u } = await membership(request);
    if (!(await db.groups.members(g)).some((m) => m.id === u)) throw notFound(`User ${u} is not in group ${g}.`);
    return reply.code(204).send();
  });
  app.delete('/v3/groups/:g/users/:u', { onRequest: [auth, admin] }, async (request, reply) => {
    const { g, u } = await membership(request);
    await db.groups.removeMember(g, u);
    return reply.code(204).send();
  });
}
