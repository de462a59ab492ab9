import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role } from '../../db/index.js';
import { ROLES } from '../bootstrap.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, forbidden, notFound } from '../faults.js';
import { need, objectField, optionalString, requiredName } from './body.js';
import { collectionLinks, descriptionOf, newId, roleView, selfLink } from './views.js';

/** Keystone's `[assignment] prohibited_implied_role`: no role implies these. */
const PROHIBITED_IMPLIED = new Set(['admin']);

/**
 * Keystone's `/v3/roles`: global roles and domain-specific ones (`domain_id`), and the
 * implications between them (`/roles/{prior}/implies/{implied}`, `/role_inferences`). Anyone
 * with a token reads the global roles and those of their token's domain; the cloud admin reads
 * all, and changes them. As Keystone: a global role never
 * implies a domain-specific one, and no role implies `admin`. The roles every cloud has
 * (bootstrap's admin, member, reader) are kept: renaming or deleting one is a 403.
 */
export async function roleRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;
  const admin = async (request: FastifyRequest) => requireCloudAdmin(authOf(request));
  const builtIn = (role: Role) => role.domainId === null && (ROLES as readonly string[]).includes(role.name);
  const brief = (r: Role) => ({ id: r.id, name: r.name, links: selfLink(deps, `roles/${r.id}`) });

  app.get('/v3/roles', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const domainId = queryString(request, 'domain_id');
    const own = domainId === me.domain?.id || domainId === me.project?.domainId;
    if (domainId !== undefined && !me.isCloudAdmin && !own) throw forbidden();
    const roles = await db.roles.list({ name: queryString(request, 'name'), domainId });
    return { roles: roles.map((r) => roleView(deps, r)), links: collectionLinks(deps, request) };
  });
  app.post('/v3/roles', { onRequest: [auth, admin] }, async (request, reply) => {
    const r = objectField(request.body, 'role');
    const domainId = optionalString(r, 'domain_id') ?? null;
    if (domainId !== null && !(await db.domains.get(domainId))) throw notFound(`Could not find domain: ${domainId}.`);
    const role = await db.roles.create({
      id: newId(),
      name: requiredName(r),
      domainId,
      description: descriptionOf(r) ?? '',
    });
    return reply.code(201).send({ role: roleView(deps, role) });
  });
  app.get('/v3/roles/:id', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const { id } = request.params as { id: string };
    const role = need(await db.roles.get(id), 'role', id);
    const own = role.domainId === null || role.domainId === me.domain?.id || role.domainId === me.project?.domainId;
    if (!me.isCloudAdmin && !own) throw forbidden();
    return { role: roleView(deps, role) };
  });
  app.patch('/v3/roles/:id', { onRequest: [auth, admin] }, async (request) => {
    const { id } = request.params as { id: string };
    const r = objectField(request.body, 'role');
    const current = need(await db.roles.get(id), 'role', id);
    if (r.domain_id !== undefined && r.domain_id !== current.domainId) {
      throw badRequest("A role's domain cannot be changed.");
    }
    const name = r.name === undefined ? undefined : requiredName(r);
    if (builtIn(current) && name !== undefined && name !== current.name) {
      throw forbidden(`The role ${current.name} cannot be renamed.`);
    }
    return { role: roleView(deps, await db.roles.update(id, { name, description: descriptionOf(r) })) };
  });
  app.delete('/v3/roles/:id', { onRequest: [auth, admin] }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const role = need(await db.roles.get(id), 'role', id);
    if (builtIn(role)) throw forbidden(`The role ${role.name} cannot be deleted.`);
    await db.roles.delete(id);
    return reply.code(204).send();
  });

  // Implied roles.
  const pair = async (request: FastifyRequest) => {
    const { prior, implied } = request.params as { prior: string; implied: string };
    return {
      prior: need(await db.roles.get(prior), 'role', prior),
      implied: need(await db.roles.get(implied), 'role', implied),
    };
  };
  const implies = async (prior: Role, implied: Role) =>
    (await db.roles.implications({ priorId: prior.id })).some((i) => i.impliedId === implied.id);
  const inference = (prior: Role, implied: Role) => ({
    role_inference: { prior_role: brief(prior), implies: brief(implied) },
    links: selfLink(deps, `roles/${prior.id}/implies/${implied.id}`),
  });
  app.put('/v3/roles/:prior/implies/:implied', { onRequest: [auth, admin] }, async (request, reply) => {
    const { prior, implied } = await pair(request);
    if (PROHIBITED_IMPLIED.has(implied.name) && implied.domainId === null) {
      throw forbidden(`${implied.name} may not be an implied role.`);
    }
    if (prior.domainId === null && implied.domainId !== null) {
      throw forbidden('A global role cannot imply a domain-specific role.');
    }
    if (!(await implies(prior, implied))) await db.roles.imply(prior.id, implied.id);
    return reply.code(201).send(inference(prior, implied));
  });
  // Before its GET: Keystone's check answers 204, not the GET's 200.
  app.head('/v3/roles/:prior/implies/:implied', { onRequest: [auth, admin] }, async (request, reply) => {
    const { prior, implied } = await pair(request);
    if (!(await implies(prior, implied))) throw notFound(`${prior.id} does not imply ${implied.id}.`);
    return reply.code(204).send();
  });
  app.get('/v3/roles/:prior/implies/:implied', { onRequest: [auth, admin] }, async (request) => {
    const { prior, implied } = await pair(request);
    if (!(await implies(prior, implied))) throw notFound(`${prior.id} does not imply ${implied.id}.`);
    return inference(prior, implied);
  });
  app.delete('/v3/roles/:prior/implies/:implied', { onRequest: [auth, admin] }, async (request, reply) => {
    const { prior, implied } = await pair(request);
    await db.roles.unimply(prior.id, implied.id);
    return reply.code(204).send();
  });

  /** Each prior role with the roles it implies directly. */
  const inferences = async (priorId?: string) => {
    const byPrior = new Map<string, Role[]>();
    for (const i of await db.roles.implications({ priorId })) {
      const implied = await db.roles.get(i.impliedId);
      if (implied) byPrior.set(i.priorId, [...(byPrior.get(i.priorId) ?? []), implied]);
    }
    const found: { prior_role: ReturnType<typeof brief>; implies: ReturnType<typeof brief>[] }[] = [];
    for (const [id, implied] of byPrior) {
      const prior = await db.roles.get(id);
      if (prior) found.push({ prior_role: brief(prior), implies: implied.map(brief) });
    }
    return found;
  };
  app.get('/v3/roles/:prior/implies', { onRequest: [auth, admin] }, async (request) => {
    const { prior } = request.params as { prior: string };
    const role = need(await db.roles.get(prior), 'role', prior);
    const [found] = await inferences(prior);
    return {
      role_inference: found ?? { prior_role: brief(role), implies: [] },
      links: selfLink(deps, `roles/${prior}/implies`),
    };
  });
  app.get('/v3/role_inferences', { onRequest: [auth, admin] }, async () => ({
    role_inferences: await inferences(),
    links: selfLink(deps, 'role_inferences'),
  }));
}
