import type { FastifyInstance } from 'fastify';
import type { Domain } from '../../db/index.js';
import { ADMIN_PROJECT } from '../bootstrap.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { forbidden } from '../faults.js';
import { need, objectField, optionalBool, requiredName } from './body.js';
import { collectionLinks, descriptionOf, domainView, newId, truthy } from './views.js';

/** Changes a domain; the admin project's domain stays enabled (403): disabling it would lock the cloud admin out. */
export async function updateDomain(deps: ApiDeps, id: string, patch: Partial<Omit<Domain, 'id'>>): Promise<Domain> {
  if (id === ADMIN_PROJECT.domainId && patch.enabled === false) {
    throw forbidden("The admin project's domain cannot be disabled.");
  }
  return deps.db.domains.update(id, patch);
}

/** Deletes a disabled domain with everything in it; an enabled one is a 403, as Keystone. */
export async function deleteDomain(deps: ApiDeps, domain: Domain): Promise<void> {
  if (domain.enabled) throw forbidden('Cannot delete a domain that is enabled, please disable it first.');
  await deps.db.domains.delete(domain.id);
}

/**
 * Keystone's `/v3/domains` (its default policy): the cloud admin lists, creates, changes and
 * deletes them; anyone sees the domain of their token's project or domain.
 */
export async function domainRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;

  app.get('/v3/domains', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const domains = await db.domains.list({
      name: queryString(request, 'name'),
      enabled: truthy(queryString(request, 'enabled')),
    });
    return { domains: domains.map((d) => domainView(deps, d)), links: collectionLinks(deps, request) };
  });
  app.post('/v3/domains', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const d = objectField(request.body, 'domain');
    const domain = await db.domains.create({
      id: newId(),
      name: requiredName(d, 64),
      description: descriptionOf(d) ?? '',
      enabled: optionalBool(d, 'enabled') ?? true,
    });
    return reply.code(201).send({ domain: domainView(deps, domain) });
  });
  app.get('/v3/domains/:id', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const { id } = request.params as { id: string };
    const own = me.domain?.id === id || me.project?.domainId === id;
    if (!me.isCloudAdmin && !own) throw forbidden();
    return { domain: domainView(deps, need(await db.domains.get(id), 'domain', id)) };
  });
  app.patch('/v3/domains/:id', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const d = objectField(request.body, 'domain');
    need(await db.domains.get(id), 'domain', id);
    const domain = await updateDomain(deps, id, {
      name: d.name === undefined ? undefined : requiredName(d, 64),
      description: descriptionOf(d),
      enabled: optionalBool(d, 'enabled'),
    });
    return { domain: domainView(deps, domain) };
  });
  app.delete('/v3/domains/:id', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    await deleteDomain(deps, need(await db.domains.get(id), 'domain', id));
    return reply.code(204).send();
  });
}
