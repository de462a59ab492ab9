import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Project, Role, User } from '../../db/index.js';
import {
  type ApiDeps,
  type AuthContext,
  authOf,
  keystoneTime,
  queryString,
  requireCloudAdmin,
  requireToken,
  resolveToken,
} from '../context.js';
import { badRequest, forbidden, notFound, unauthorized } from '../faults.js';
import { isObject, type Json, need, objectField, optionalBool, optionalString, requiredName } from './body.js';
import { catalogRoutes, tokenCatalog } from './catalog.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { TokenClaims } from './tokens.js';

function versionV3(deps: ApiDeps) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${deps.publicUrl}/identity/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

const DOMAIN_REF = { id: 'default', name: 'Default' };

const userView = (deps: ApiDeps, u: User) => ({
  id: u.id,
  name: u.name,
  domain_id: u.domainId,
  enabled: u.enabled,
  default_project_id: u.defaultProjectId ?? undefined,
  email: u.email ?? undefined,
  description: u.description,
  password_expires_at: null,
  options: {},
  links: { self: `${deps.publicUrl}/identity/v3/users/${u.id}` },
});

const projectView = (deps: ApiDeps, p: Project) => ({
  id: p.id,
  name: p.name,
  domain_id: p.domainId,
  description: p.description,
  enabled: p.enabled,
  parent_id: p.parentId ?? p.domainId,
  is_domain: false,
  tags: p.tags,
  options: {},
  links: { self: `${deps.publicUrl}/identity/v3/projects/${p.id}` },
});

const roleView = (deps: ApiDeps, r: Role) => ({
  id: r.id,
  name: r.name,
  domain_id: r.domainId,
  description: r.description,
  options: {},
  links: { self: `${deps.publicUrl}/identity/v3/roles/${r.id}` },
});

async function findDomainId(deps: ApiDeps, ref: unknown): Promise<string> {
  if (ref === undefined) return 'default';
  if (!isObject(ref)) throw badRequest('domain must be an object');
  if (typeof ref.id === 'string') return ref.id;
  if (typeof ref.name === 'string') {
    const [domain] = await deps.db.domains.list({ name: ref.name });
    if (!domain) throw unauthorized(`Could not find domain: ${ref.name}`);
    return domain.id;
  }
  throw badRequest('domain needs an id or a name');
}

/** Who the `auth.identity` part of a token request from address `source` names, if it proves it. */
async function authenticate(
  deps: ApiDeps,
  identity: Json,
  source: string,
): Promise<{ user: User; methods: string[]; parent?: TokenClaims }> {
  const methods = identity.methods;
  if (!Array.isArray(methods) || methods.length === 0) throw badRequest('auth.identity.methods is required');
  if (methods.includes('password')) {
    const password = objectField(identity, 'password');
    const u = objectField(password, 'user');
    const secret = u.password;
    if (typeof secret !== 'string') throw badRequest('password is required');
    let user: User | null = null;
    if (typeof u.id === 'string') user = await deps.db.users.get(u.id);
    else if (typeof u.name === 'string')
      user = await deps.db.users.findByName(await findDomainId(deps, u.domain), u.name);
    else throw badRequest('user needs an id or a name');
    // As Keystone: a locked user is refused before its password is checked; a wrong password
    // counts, a disabled user's right one does not.
    const failures = await deps.logins.admit(source, user?.id ?? null);
    if (!user || !user.passwordHash || !(await verifyPassword(secret, user.passwordHash))) {
      await deps.logins.failed(source, user?.id ?? null);
      throw unauthorized('The request you have made requires authentication.');
    }
    if (!user.enabled) throw unauthorized('The request you have made requires authentication.');
    await deps.logins.succeeded(user.id, failures);
    return { user, methods: ['password'] };
  }
  if (methods.includes('token')) {
    const t = objectField(identity, 'token');
    if (typeof t.id !== 'string') throw badRequest('token.id is required');
    const claims = await deps.tokens.verify(t.id);
    const user = claims ? await deps.db.users.get(claims.userId) : null;
    if (!claims || !user || !user.enabled) throw unauthorized('The request you have made requires authentication.');
    return {
      user,
      methods: claims.methods.includes('token') ? claims.methods : [...claims.methods, 'token'],
      parent: claims,
    };
  }
  throw unauthorized(`Unsupported authentication method: ${methods.join(', ')}`);
}

async function scopeProject(deps: ApiDeps, user: User, scope: unknown): Promise<Project | null> {
  if (scope === undefined || scope === 'unscoped') {
    if (!user.defaultProjectId) return null;
    const p = await deps.db.projects.get(user.defaultProjectId);
    const granted = p ? await deps.db.assignments.list({ userId: user.id, projectId: p.id }) : [];
    return p && granted.length > 0 ? p : null;
  }
  if (!isObject(scope)) throw badRequest('scope must be an object');
  if (isObject(scope.domain) || isObject(scope.system)) {
    throw unauthorized('Only project-scoped and unscoped tokens are supported.');
  }
  const ref = objectField(scope, 'project');
  let project: Project | null = null;
  if (typeof ref.id === 'string') project = await deps.db.projects.get(ref.id);
  else if (typeof ref.name === 'string')
    project = await deps.db.projects.findByName(await findDomainId(deps, ref.domain), ref.name);
  else throw badRequest('project needs an id or a name');
  if (!project || !project.enabled) throw unauthorized('Could not find the project to scope to.');
  const granted = await deps.db.assignments.list({ userId: user.id, projectId: project.id });
  if (granted.length === 0) throw unauthorized(`User ${user.id} has no access to project ${project.id}`);
  return project;
}

async function tokenBody(deps: ApiDeps, ctx: AuthContext) {
  const c = ctx.claims;
  return {
    token: {
      methods: c.methods,
      audit_ids: [c.auditId],
      expires_at: keystoneTime(c.expiresAt),
      issued_at: keystoneTime(c.issuedAt),
      user: { id: ctx.user.id, name: ctx.user.name, domain: DOMAIN_REF, password_expires_at: null },
      ...(ctx.project
        ? {
            project: { id: ctx.project.id, name: ctx.project.name, domain: DOMAIN_REF },
            is_domain: false,
            roles: ctx.roles.map((r) => ({ id: r.id, name: r.name })),
            catalog: await tokenCatalog(deps),
          }
        : {}),
    },
  };
}

async function subjectToken(deps: ApiDeps, request: FastifyRequest): Promise<AuthContext> {
  const header = request.headers['x-subject-token'];
  const token = Array.isArray(header) ? header[0] : header;
  const ctx = token ? await resolveToken(deps, token) : null;
  if (!ctx) throw notFound('Could not find token.');
  const caller = authOf(request);
  // A user may look at their own tokens; the cloud admin at anyone's.
  if (!caller.isCloudAdmin && caller.user.id !== ctx.user.id) throw forbidden();
  return ctx;
}

/**
 * Keystone v3 under `/identity`: tokens (password and token methods, validation,
 * revocation), catalog, domains, projects, users, roles and role assignments.
 */
export async function identityRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;

  app.get('/', async (_req, reply) => reply.code(300).send({ versions: { values: [versionV3(deps)] } }));
  app.get('/v3', async () => ({ version: versionV3(deps) }));
  await catalogRoutes(app, deps);

  app.post('/v3/auth/tokens', async (request, reply) => {
    const a = objectField(request.body, 'auth');
    const identity = objectField(a, 'identity');
    const { user, methods } = await authenticate(deps, identity, request.ip);
    const project = await scopeProject(deps, user, a.scope);
    const { token } = await deps.tokens.issue(user.id, project?.id ?? null, methods);
    const ctx = await resolveToken(deps, token);
    if (!ctx) throw unauthorized();
    reply.header('X-Subject-Token', token);
    return reply.code(201).send(await tokenBody(deps, ctx));
  });

  app.get('/v3/auth/tokens', { onRequest: auth }, async (request) =>
    tokenBody(deps, await subjectToken(deps, request)),
  );
  app.delete('/v3/auth/tokens', { onRequest: auth }, async (request, reply) => {
    const ctx = await subjectToken(deps, request);
    await deps.tokens.revoke(ctx.claims);
    return reply.code(204).send();
  });

  app.get('/v3/auth/catalog', { onRequest: auth }, async () => ({
    catalog: await tokenCatalog(deps),
    links: { self: `${deps.publicUrl}/identity/v3/auth/catalog` },
  }));
  app.get('/v3/auth/projects', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const projects = await userProjects(me.user.id);
    return { projects: projects.map((p) => projectView(deps, p)), links: { self: null, next: null, previous: null } };
  });

  async function userProjects(userId: string): Promise<Project[]> {
    const ids = new Set((await db.assignments.list({ userId })).map((a) => a.projectId));
    return (await db.projects.list({})).filter((p) => ids.has(p.id));
  }

  // Domains: only the default domain exists.
  const domainView = (d: { id: string; name: string; description: string; enabled: boolean }) => ({
    ...d,
    tags: [],
    options: {},
    links: { self: `${deps.publicUrl}/identity/v3/domains/${d.id}` },
  });
  app.get('/v3/domains', { onRequest: auth }, async (request) => ({
    domains: (await db.domains.list({ name: queryString(request, 'name') })).map(domainView),
    links: { self: null, next: null, previous: null },
  }));
  app.get('/v3/domains/:id', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    return { domain: domainView(need(await db.domains.get(id), 'domain', id)) };
  });

  // Projects.
  app.get('/v3/projects', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const enabled = queryString(request, 'enabled');
    const parentId = queryString(request, 'parent_id');
    const isDomain = queryString(request, 'is_domain');
    let projects = await db.projects.list({
      name: queryString(request, 'name'),
      domainId: queryString(request, 'domain_id'),
      enabled: enabled === undefined ? undefined : !['false', '0', 'False'].includes(enabled),
    });
    if (parentId !== undefined) projects = projects.filter((p) => (p.parentId ?? p.domainId) === parentId);
    if (isDomain !== undefined && ['true', 'True', '1'].includes(isDomain)) projects = [];
    if (!me.isCloudAdmin) {
      const mine = new Set((await userProjects(me.user.id)).map((p) => p.id));
      projects = projects.filter((p) => mine.has(p.id));
    }
    return { projects: projects.map((p) => projectView(deps, p)), links: { self: null, next: null, previous: null } };
  });
  app.post('/v3/projects', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const p = objectField(request.body, 'project');
    if (p.is_domain === true) throw badRequest('Domains as projects are not supported.');
    const domainId = optionalString(p, 'domain_id') ?? 'default';
    if (!(await db.domains.get(domainId))) throw badRequest(`Could not find domain: ${domainId}`);
    const parentId = optionalString(p, 'parent_id');
    if (parentId !== undefined && parentId !== domainId && !(await db.projects.get(parentId))) {
      throw badRequest(`Could not find parent project: ${parentId}`);
    }
    const project = await db.projects.create({
      id: randomUUID().replace(/-/g, ''),
      name: requiredName(p),
      domainId,
      description: optionalString(p, 'description') ?? '',
      enabled: optionalBool(p, 'enabled') ?? true,
      parentId: parentId === domainId ? null : (parentId ?? null),
      tags: Array.isArray(p.tags) ? p.tags.map(String) : [],
    });
    return reply.code(201).send({ project: projectView(deps, project) });
  });
  app.get('/v3/projects/:id', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const { id } = request.params as { id: string };
    const project = need(await db.projects.get(id), 'project', id);
    if (!me.isCloudAdmin && me.project?.id !== id) throw forbidden();
    return { project: projectView(deps, project) };
  });
  app.patch('/v3/projects/:id', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const p = objectField(request.body, 'project');
    need(await db.projects.get(id), 'project', id);
    const project = await db.projects.update(id, {
      name: p.name === undefined ? undefined : requiredName(p),
      description: optionalString(p, 'description'),
      enabled: optionalBool(p, 'enabled'),
      tags: Array.isArray(p.tags) ? p.tags.map(String) : undefined,
    });
    return { project: projectView(deps, project) };
  });
  app.delete('/v3/projects/:id', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    need(await db.projects.get(id), 'project', id);
    await db.projects.delete(id);
    return reply.code(204).send();
  });

  // Users.
  app.get('/v3/users', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const enabled = queryString(request, 'enabled');
    const users = await db.users.list({
      name: queryString(request, 'name'),
      domainId: queryString(request, 'domain_id'),
      enabled: enabled === undefined ? undefined : !['false', '0', 'False'].includes(enabled),
    });
    return { users: users.map((u) => userView(deps, u)), links: { self: null, next: null, previous: null } };
  });
  app.post('/v3/users', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const u = objectField(request.body, 'user');
    const domainId = optionalString(u, 'domain_id') ?? 'default';
    if (!(await db.domains.get(domainId))) throw badRequest(`Could not find domain: ${domainId}`);
    const password = optionalString(u, 'password');
    const user = await db.users.create({
      id: randomUUID().replace(/-/g, ''),
      name: requiredName(u),
      domainId,
      enabled: optionalBool(u, 'enabled') ?? true,
      passwordHash: password === undefined ? null : await hashPassword(password),
      defaultProjectId: optionalString(u, 'default_project_id') ?? optionalString(u, 'project_id') ?? null,
      email: optionalString(u, 'email') ?? null,
      description: optionalString(u, 'description') ?? '',
    });
    return reply.code(201).send({ user: userView(deps, user) });
  });
  const selfOrAdmin = (request: FastifyRequest, id: string) => {
    const me = authOf(request);
    if (!me.isCloudAdmin && me.user.id !== id) throw forbidden();
  };
  app.get('/v3/users/:id', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    selfOrAdmin(request, id);
    return { user: userView(deps, need(await db.users.get(id), 'user', id)) };
  });
  app.patch('/v3/users/:id', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    const u = objectField(request.body, 'user');
    need(await db.users.get(id), 'user', id);
    const password = optionalString(u, 'password');
    const user = await db.users.update(id, {
      name: u.name === undefined ? undefined : requiredName(u),
      enabled: optionalBool(u, 'enabled'),
      email: optionalString(u, 'email'),
      description: optionalString(u, 'description'),
      defaultProjectId: optionalString(u, 'default_project_id'),
      passwordHash: password === undefined ? undefined : await hashPassword(password),
    });
    return { user: userView(deps, user) };
  });
  app.delete('/v3/users/:id', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    need(await db.users.get(id), 'user', id);
    await db.users.delete(id);
    return reply.code(204).send();
  });
  app.get('/v3/users/:id/projects', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    selfOrAdmin(request, id);
    need(await db.users.get(id), 'user', id);
    return {
      projects: (await userProjects(id)).map((p) => projectView(deps, p)),
      links: { self: null, next: null, previous: null },
    };
  });
  app.post('/v3/users/:id/password', { onRequest: auth }, async (request, reply: FastifyReply) => {
    const { id } = request.params as { id: string };
    const me = authOf(request);
    if (me.user.id !== id) throw forbidden('Users may only change their own password.');
    const u = objectField(request.body, 'user');
    const original = optionalString(u, 'original_password');
    const password = optionalString(u, 'password');
    if (original === undefined || password === undefined)
      throw badRequest('original_password and password are required');
    const user = need(await db.users.get(id), 'user', id);
    if (!user.passwordHash || !(await verifyPassword(original, user.passwordHash)))
      throw unauthorized('Invalid original password.');
    await db.users.update(id, { passwordHash: await hashPassword(password) });
    return reply.code(204).send();
  });

  // Roles.
  app.get('/v3/roles', { onRequest: auth }, async (request) => ({
    roles: (await db.roles.list({ name: queryString(request, 'name') })).map((r) => roleView(deps, r)),
    links: { self: null, next: null, previous: null },
  }));
  app.post('/v3/roles', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const r = objectField(request.body, 'role');
    const role = await db.roles.create({
      id: randomUUID().replace(/-/g, ''),
      name: requiredName(r),
      domainId: optionalString(r, 'domain_id') ?? null,
      description: optionalString(r, 'description') ?? '',
    });
    return reply.code(201).send({ role: roleView(deps, role) });
  });
  app.get('/v3/roles/:id', { onRequest: auth }, async (request) => {
    const { id } = request.params as { id: string };
    return { role: roleView(deps, need(await db.roles.get(id), 'role', id)) };
  });
  app.delete('/v3/roles/:id', { onRequest: auth }, async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    need(await db.roles.get(id), 'role', id);
    await db.roles.delete(id);
    return reply.code(204).send();
  });

  // Role assignments on projects.
  const assignmentTarget = async (request: FastifyRequest) => {
    requireCloudAdmin(authOf(request));
    const { p, u, r } = request.params as { p: string; u: string; r: string };
    need(await db.projects.get(p), 'project', p);
    need(await db.users.get(u), 'user', u);
    need(await db.roles.get(r), 'role', r);
    return { projectId: p, userId: u, roleId: r };
  };
  app.put('/v3/projects/:p/users/:u/roles/:r', { onRequest: auth }, async (request, reply) => {
    await db.assignments.grant(await assignmentTarget(request));
    return reply.code(204).send();
  });
  app.head('/v3/projects/:p/users/:u/roles/:r', { onRequest: auth }, async (request, reply) => {
    const a = await assignmentTarget(request);
    const found = await db.assignments.list(a);
    if (found.length === 0) throw notFound('Role assignment not found.');
    return reply.code(204).send();
  });
  app.delete('/v3/projects/:p/users/:u/roles/:r', { onRequest: auth }, async (request, reply) => {
    await db.assignments.revoke(await assignmentTarget(request));
    return reply.code(204).send();
  });
  app.get('/v3/projects/:p/users/:u/roles', { onRequest: auth }, async (request) => {
    requireCloudAdmin(authOf(request));
    const { p, u } = request.params as { p: string; u: string };
    const ids = new Set((await db.assignments.list({ projectId: p, userId: u })).map((a) => a.roleId));
    return { roles: (await db.roles.list({})).filter((r) => ids.has(r.id)).map((r) => roleView(deps, r)) };
  });
  app.get('/v3/role_assignments', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const userId = queryString(request, 'user.id');
    if (!me.isCloudAdmin && userId !== me.user.id) throw forbidden();
    const list = await db.assignments.list({
      userId,
      projectId: queryString(request, 'scope.project.id'),
      roleId: queryString(request, 'role.id'),
    });
    return {
      role_assignments: list.map((a) => ({
        user: { id: a.userId },
        role: { id: a.roleId },
        scope: { project: { id: a.projectId } },
        links: {
          assignment: `${deps.publicUrl}/identity/v3/projects/${a.projectId}/users/${a.userId}/roles/${a.roleId}`,
        },
      })),
      links: { self: null, next: null, previous: null },
    };
  });
}
