import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ApiDeps, authOf, queryAll, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, forbidden, notFound, unauthorized } from '../faults.js';
import { scopesOf } from './auth.js';
import { type Json, need, objectField, optionalBool, optionalString, requiredName } from './body.js';
import { hashPassword, verifyPassword } from './passwords.js';
import {
  checkPasswordRules,
  checkSelfServiceChange,
  mergeUserOptions,
  newPassword,
  passwordExpiryFilter,
} from './security-compliance.js';
import { collectionLinks, descriptionOf, groupView, newId, projectView, truthy, userView } from './views.js';

/** A user's attributes of Keystone's own; any other a client sends is kept as an extra one. */
const OWN = new Set([
  'id',
  'name',
  'domain_id',
  'enabled',
  'password',
  'default_project_id',
  'email',
  'description',
  'options',
  'links',
  'password_expires_at',
]);
const extraOf = (u: Json): Record<string, unknown> =>
  Object.fromEntries(Object.entries(u).filter(([key]) => !OWN.has(key)));

/**
 * Keystone's `/v3/users` (its default policy: the cloud admin administers users; a user reads
 * itself, its projects and its groups; whoever knows a user's password may change it), with its
 * security compliance rules (security-compliance.ts): a new password must match the regex; the
 * admin's is not checked against the history but recorded in it, and expires at once when users
 * must change it on first use; a user's own change keeps to the history, the minimum age and
 * `lock_password`.
 */
export async function userRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;
  const selfOrAdmin = (request: FastifyRequest, id: string) => {
    const me = authOf(request);
    if (!me.isCloudAdmin && me.user.id !== id) throw forbidden();
  };

  app.get('/v3/users', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const expiry = passwordExpiryFilter(queryAll(request, 'password_expires_at'));
    const users = await db.users.list({
      name: queryString(request, 'name'),
      domainId: queryString(request, 'domain_id'),
      enabled: truthy(queryString(request, 'enabled')),
    });
    return { users: users.filter(expiry).map((u) => userView(deps, u)), links: collectionLinks(deps, request) };
  });
  app.post('/v3/users', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const u = objectField(request.body, 'user');
    const domainId = optionalString(u, 'domain_id') ?? 'default';
    if (!(await db.domains.get(domainId))) throw notFound(`Could not find domain: ${domainId}.`);
    const password = optionalString(u, 'password');
    if (password !== undefined) checkPasswordRules(deps.securityCompliance, password);
    const options = mergeUserOptions({}, u.options);
    const set =
      password === undefined
        ? null
        : newPassword(deps.securityCompliance, options, await hashPassword(password), deps.tokens.now(), 'admin');
    const user = await db.users.create({
      id: newId(),
      name: requiredName(u),
      domainId,
      enabled: optionalBool(u, 'enabled') ?? true,
      passwordHash: set?.hash ?? null,
      defaultProjectId: optionalString(u, 'default_project_id') ?? null,
      email: optionalString(u, 'email') ?? null,
      description: descriptionOf(u) ?? '',
      extra: extraOf(u),
      options,
      passwordChangedAt: null,
      passwordExpiresAt: set?.expiresAt ?? null,
      passwordSelfService: false,
    });
    return reply.code(201).send({ user: userView(deps, user) });
  });
  app.get('/v3/users/:id', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    selfOrAdmin(request, id);
    return { user: userView(deps, need(await db.users.get(id), 'user', id)) };
  });
  app.patch('/v3/users/:id', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const u = objectField(request.body, 'user');
    const current = need(await db.users.get(id), 'user', id);
    if (u.domain_id !== undefined && u.domain_id !== current.domainId) {
      throw badRequest("A user's domain cannot be changed.");
    }
    const password = optionalString(u, 'password');
    if (password !== undefined) checkPasswordRules(deps.securityCompliance, password);
    const options = mergeUserOptions(current.options, u.options);
    const extra = extraOf(u);
    // Enabling the user unlocks it (the database forgets its failed logins), as Keystone.
    const user = await db.users.update(id, {
      name: u.name === undefined ? undefined : requiredName(u),
      enabled: optionalBool(u, 'enabled'),
      email: optionalString(u, 'email'),
      description: descriptionOf(u),
      defaultProjectId: optionalString(u, 'default_project_id'),
      extra: Object.keys(extra).length === 0 ? undefined : { ...current.extra, ...extra },
      options: u.options === undefined ? undefined : options,
      password:
        password === undefined
          ? undefined
          : newPassword(deps.securityCompliance, options, await hashPassword(password), deps.tokens.now(), 'admin'),
    });
    return { user: userView(deps, user) };
  });
  app.delete('/v3/users/:id', { onRequest: auth }, async (request, reply) => {
    const me = authOf(request);
    requireCloudAdmin(me);
    const { id } = request.params as { id: string };
    need(await db.users.get(id), 'user', id);
    if (me.user.id === id) throw forbidden('The cloud admin cannot delete itself.');
    await db.users.delete(id);
    return reply.code(204).send();
  });
  app.get('/v3/users/:id/projects', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    selfOrAdmin(request, id);
    need(await db.users.get(id), 'user', id);
    const ids = await scopesOf(deps, id, 'project');
    const projects = (await db.projects.list({})).filter((p) => ids.has(p.id));
    return { projects: projects.map((p) => projectView(deps, p)), links: collectionLinks(deps, request) };
  });
  app.get('/v3/users/:id/groups', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    selfOrAdmin(request, id);
    need(await db.users.get(id), 'user', id);
    const groups = await db.groups.ofUser(id);
    return { groups: groups.map((g) => groupView(deps, g)), links: collectionLinks(deps, request) };
  });
  // Keystone's self-service password change takes no token: the original password proves who
  // asks, counted by the lockout as a login is; an expired one still may (that is how it is
  // renewed). The user's tokens issued until now end.
  app.post('/v3/users/:id/password', async (request, reply) => {
    const { id } = request.params as { id: string };
    const u = objectField(request.body, 'user');
    const original = optionalString(u, 'original_password');
    const password = optionalString(u, 'password');
    if (original === undefined || password === undefined) {
      throw badRequest('original_password and password are required');
    }
    const user = await db.users.get(id);
    const failures = await deps.logins.admit(request.ip, user);
    if (!user?.passwordHash || !(await verifyPassword(original, user.passwordHash))) {
      await deps.logins.failed(request.ip, user?.id ?? null);
      throw unauthorized('The request you have made requires authentication.');
    }
    if (!user.enabled) throw unauthorized('The request you have made requires authentication.');
    await deps.logins.succeeded(user.id, failures);
    const settings = deps.securityCompliance;
    checkPasswordRules(settings, password);
    const now = deps.tokens.now();
    const history =
      settings.uniqueLastPasswordCount > 0 ? await db.users.passwordHistory(id, settings.uniqueLastPasswordCount) : [];
    await checkSelfServiceChange(settings, user, now, history, (hash) => verifyPassword(password, hash));
    await db.users.update(id, {
      password: newPassword(settings, user.options, await hashPassword(password), now, 'user'),
    });
    return reply.code(204).send();
  });
}
