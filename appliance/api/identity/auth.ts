import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  type ApplicationCredential,
  type Domain,
  type Project,
  SYSTEM_ALL,
  type TokenScope,
  type User,
} from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, keystoneTime, requireToken, resolveToken } from '../context.js';
import { badRequest, forbidden, notFound, unauthorized } from '../faults.js';
import { microTime } from './application-credentials.js';
import { isObject, type Json, objectField } from './body.js';
import { tokenCatalog } from './catalog.js';
import { verifyPassword } from './passwords.js';
import { scopeOf, type TokenClaims } from './tokens.js';
import { consumeTrustUse, trustIdOf, trustRefusal, trustToScope } from './trusts.js';
import { passwordExpired, passwordExpiredFault, revokedByPasswordChange } from './security-compliance.js';
import { collectionLinks, domainView, passwordExpiresAt, projectView, selfLink } from './views.js';

const UNAUTHENTICATED = 'The request you have made requires authentication.';

/** The domain a `{id}` or `{name}` reference names; a name that names none is a 401, as Keystone. */
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

/**
 * The application credential an `application_credential` method names (by id, or by name and
 * user) and the user it authenticates, if its secret is right: as a password, a wrong secret
 * counts toward the user's lockout. An expired credential, or one of a disabled user, does not
 * authenticate.
 */
async function applicationCredentialLogin(
  deps: ApiDeps,
  identity: Json,
  source: string,
): Promise<{ user: User; credential: ApplicationCredential }> {
  const body = objectField(identity, 'application_credential');
  if (typeof body.secret !== 'string') throw badRequest('application_credential.secret is required');
  let credential: ApplicationCredential | null = null;
  if (typeof body.id === 'string') credential = await deps.db.applicationCredentials.get(body.id);
  else if (typeof body.name === 'string') {
    const u = objectField(body, 'user');
    let owner: User | null = null;
    if (typeof u.id === 'string') owner = await deps.db.users.get(u.id);
    else if (typeof u.name === 'string' && u.domain !== undefined)
      owner = await deps.db.users.findByName(await findDomainId(deps, u.domain), u.name);
    else throw badRequest('application_credential.user needs an id, or a name and a domain');
    if (owner) [credential = null] = await deps.db.applicationCredentials.list({ userId: owner.id, name: body.name });
  } else throw badRequest('application_credential needs an id, or a name and a user');
  const user = credential ? await deps.db.users.get(credential.userId) : null;
  const failures = await deps.logins.admit(source, user);
  if (!credential || !(await verifyPassword(body.secret, credential.secretHash))) {
    await deps.logins.failed(source, user?.id ?? null);
    throw unauthorized(UNAUTHENTICATED);
  }
  if (credential.expiresAt !== null && credential.expiresAt <= microTime(deps.tokens.now())) {
    throw unauthorized(UNAUTHENTICATED);
  }
  if (!user?.enabled || !(await deps.db.domains.get(user.domainId))?.enabled) throw unauthorized(UNAUTHENTICATED);
  await deps.logins.succeeded(user.id, failures);
  return { user, credential };
}

/**
 * A user's tokens issued in the second its password last changed are revoked
 * ({@link revokedByPasswordChange}): a token asked for in that very second is made in the next
 * one instead, rather than be born revoked.
 */
async function pastPasswordChange(deps: ApiDeps, user: User): Promise<void> {
  const now = deps.tokens.now();
  if (!revokedByPasswordChange(user, Math.floor(now / 1000))) return;
  await new Promise((resolve) => setTimeout(resolve, 1000 - (now % 1000)));
}

/** Who the `auth.identity` part of a token request from address `source` names, if it proves it. */
async function authenticate(
  deps: ApiDeps,
  identity: Json,
  source: string,
): Promise<{ user: User; methods: string[]; parent?: TokenClaims; credential?: ApplicationCredential }> {
  const methods = identity.methods;
  if (!Array.isArray(methods) || methods.length === 0) throw badRequest('auth.identity.methods is required');
  if (methods.includes('application_credential')) {
    const { user, credential } = await applicationCredentialLogin(deps, identity, source);
    return { user, methods: ['application_credential'], credential };
  }
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
    // counts, a disabled user's right one does not, nor an expired one (which may still be
    // changed: POST /v3/users/{id}/password).
    const failures = await deps.logins.admit(source, user);
    if (!user || !user.passwordHash || !(await verifyPassword(secret, user.passwordHash))) {
      await deps.logins.failed(source, user?.id ?? null);
      throw unauthorized(UNAUTHENTICATED);
    }
    if (!user.enabled || !(await deps.db.domains.get(user.domainId))?.enabled) throw unauthorized(UNAUTHENTICATED);
    if (passwordExpired(user, deps.tokens.now())) throw passwordExpiredFault(user.id);
    await deps.logins.succeeded(user.id, failures);
    return { user, methods: ['password'] };
  }
  if (methods.includes('token')) {
    const t = objectField(identity, 'token');
    if (typeof t.id !== 'string') throw badRequest('token.id is required');
    const claims = await deps.tokens.verify(t.id);
    const user = claims ? await deps.db.users.get(claims.userId) : null;
    if (!claims || !user || !user.enabled) throw unauthorized(UNAUTHENTICATED);
    // Keystone's TokenNotFound for a token its revocation event ends.
    if (revokedByPasswordChange(user, claims.issuedAt)) throw notFound('Failed to validate token');
    return {
      user,
      methods: claims.methods.includes('token') ? claims.methods : [...claims.methods, 'token'],
      parent: claims,
    };
  }
  throw unauthorized(`Unsupported authentication method: ${methods.join(', ')}`);
}

/**
 * The scope a token request asks for: a project (by id, or by name in a domain), a domain (by
 * id or name), the system, or none. With no scope, the user's default project if they hold a
 * role on it (Keystone's rule). Whether the user holds a role on it is checked when the new
 * token is resolved.
 */
async function requestedScope(deps: ApiDeps, user: User, scope: unknown): Promise<TokenScope> {
  if (scope === undefined) {
    if (!user.defaultProjectId) return null;
    const roles = await deps.db.assignments.effective({
      userId: user.id,
      targetType: 'project',
      targetId: user.defaultProjectId,
    });
    return roles.length > 0 ? { targetType: 'project', targetId: user.defaultProjectId } : null;
  }
  if (scope === 'unscoped') return null;
  if (!isObject(scope)) throw badRequest('scope must be an object');
  if (isObject(scope.system)) {
    if (scope.system.all !== true) throw badRequest('system scope is {"all": true}');
    return { targetType: 'system', targetId: SYSTEM_ALL };
  }
  if (isObject(scope.domain)) {
    return { targetType: 'domain', targetId: await findDomainId(deps, scope.domain) };
  }
  const ref = objectField(scope, 'project');
  let project: Project | null = null;
  if (typeof ref.id === 'string') project = await deps.db.projects.get(ref.id);
  else if (typeof ref.name === 'string')
    project = await deps.db.projects.findByName(await findDomainId(deps, ref.domain), ref.name);
  else throw badRequest('project needs an id or a name');
  if (!project) throw unauthorized('Could not find the project to scope to.');
  return { targetType: 'project', targetId: project.id };
}

const domainRef = async (deps: ApiDeps, id: string) => {
  const d: Domain | null = await deps.db.domains.get(id);
  return { id, name: d?.name ?? id };
};

/** A token's application credential, as Keystone's token shows it (render_token.py). */
function credentialRef(c: NonNullable<AuthContext['applicationCredential']>) {
  return {
    id: c.id,
    name: c.name,
    restricted: !c.unrestricted,
    ...(c.accessRules.length === 0
      ? {}
      : { access_rules: c.accessRules.map((r) => ({ id: r.id, service: r.service, path: r.path, method: r.method })) }),
  };
}

async function tokenBody(deps: ApiDeps, ctx: AuthContext) {
  const c = ctx.claims;
  const scoped = ctx.project !== null || ctx.domain !== null || ctx.system;
  return {
    token: {
      methods: c.methods,
      audit_ids: [c.auditId],
      expires_at: keystoneTime(c.expiresAt),
      issued_at: keystoneTime(c.issuedAt),
      user: {
        id: ctx.user.id,
        name: ctx.user.name,
        domain: await domainRef(deps, ctx.user.domainId),
        password_expires_at: passwordExpiresAt(ctx.user),
      },
      ...(ctx.project
        ? {
            project: {
              id: ctx.project.id,
              name: ctx.project.name,
              domain: await domainRef(deps, ctx.project.domainId),
            },
            // Keystone's render_token: not for a trust's token.
            ...(ctx.trust ? {} : { is_domain: false }),
          }
        : {}),
      ...(ctx.trust
        ? {
            'OS-TRUST:trust': {
              id: ctx.trust.id,
              impersonation: ctx.trust.impersonation,
              trustee_user: { id: ctx.trust.trusteeUserId },
              trustor_user: { id: ctx.trust.trustorUserId },
            },
          }
        : {}),
      ...(ctx.domain ? { domain: { id: ctx.domain.id, name: ctx.domain.name } } : {}),
      ...(ctx.system ? { system: { all: true } } : {}),
      ...(ctx.applicationCredential ? { application_credential: credentialRef(ctx.applicationCredential) } : {}),
      ...(scoped
        ? {
            roles: ctx.roles.map((r) => ({ id: r.id, name: r.name })),
            catalog: await tokenCatalog(deps, ctx.project?.id ?? null),
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
  // A user may look at their own tokens (a trustee at those of its trusts); the cloud admin at anyone's.
  if (!caller.isCloudAdmin && caller.user.id !== ctx.user.id && caller.user.id !== ctx.trust?.trusteeUserId) {
    throw forbidden();
  }
  return ctx;
}

/** The targets of one type on which the user holds an effective role. */
export async function scopesOf(deps: ApiDeps, userId: string, targetType: 'project' | 'domain'): Promise<Set<string>> {
  return new Set((await deps.db.assignments.effective({ userId, targetType })).map((a) => a.targetId));
}

/**
 * Keystone's `/v3/auth`: tokens (the password, token and application_credential methods; scoped
 * to a project, a domain or the system, or unscoped; validated and revoked), the catalog, and the
 * scopes a token may ask for (`/auth/projects`, `/auth/domains`, `/auth/system`). A token made
 * from another ends when that one does; one made from an application credential (or from such a
 * token) is scoped to its project, cannot be rescoped, and ends by the credential's expiry. A
 * trust's trustee gets a token of the trust (`OS-TRUST:trust` scope): on its project, as its
 * trustor if it impersonates, one of its remaining uses taken; such a token makes no other.
 */
export async function authRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;

  app.post('/v3/auth/tokens', async (request, reply) => {
    const a = objectField(request.body, 'auth');
    const identity = objectField(a, 'identity');
    const { user, methods, parent, credential } = await authenticate(deps, identity, request.ip);
    if (parent?.trustId !== undefined) {
      throw forbidden(
        'You are not authorized to perform the requested action: Using trust-scoped token to create another token. Create a new trust-scoped token instead.',
      );
    }
    // A credential's token, and one made from it, act on its project only (Keystone's).
    const credentialId = credential?.id ?? parent?.applicationCredentialId;
    if (credentialId !== undefined && a.scope !== undefined) {
      if (credential) {
        throw unauthorized(
          'Error authenticating with application credential: Application credentials cannot request a scope.',
        );
      }
      throw forbidden(
        'You are not authorized to perform the requested action: Using an application credential token to create a scoped token is not allowed.',
      );
    }
    const trustId = trustIdOf(a.scope);
    const trust = trustId === undefined ? undefined : await trustToScope(deps, trustId, user);
    let scope: TokenScope;
    if (credential) scope = { targetType: 'project', targetId: credential.projectId };
    else if (parent?.applicationCredentialId !== undefined) scope = scopeOf(parent);
    else if (trust) scope = { targetType: 'project', targetId: trust.projectId };
    else scope = await requestedScope(deps, user, a.scope);
    // Never past its credential's expiry (Keystone's fix of CVE-2022-2447).
    const credentialEnd = credential?.expiresAt
      ? Math.floor(Date.parse(`${credential.expiresAt.slice(0, 23)}Z`) / 1000)
      : undefined;
    const expiresAt = Math.min(parent?.expiresAt ?? Infinity, credentialEnd ?? Infinity);
    await pastPasswordChange(deps, user);
    const { token } = await deps.tokens.issue(trust?.impersonation ? trust.trustorUserId : user.id, scope, methods, {
      ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
      ...(credentialId === undefined ? {} : { applicationCredentialId: credentialId }),
      ...(trust ? { trustId: trust.id } : {}),
    });
    const ctx = await resolveToken(deps, token);
    if (!ctx && trust) throw await trustRefusal(deps, trust);
    if (!ctx) {
      throw unauthorized(
        scope
          ? `User ${user.id} has no role on the ${scope.targetType} it asked for, or it is disabled`
          : UNAUTHENTICATED,
      );
    }
    if (trust) await consumeTrustUse(deps, trust);
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

  app.get('/v3/auth/catalog', { onRequest: auth }, async (request) => ({
    catalog: await tokenCatalog(deps, authOf(request).project?.id ?? null),
    links: selfLink(deps, 'auth/catalog'),
  }));
  app.get('/v3/auth/projects', { onRequest: auth }, async (request) => {
    const ids = await scopesOf(deps, authOf(request).user.id, 'project');
    const projects = (await db.projects.list({ enabled: true })).filter((p) => ids.has(p.id));
    return { projects: projects.map((p) => projectView(deps, p)), links: collectionLinks(deps, request) };
  });
  app.get('/v3/auth/domains', { onRequest: auth }, async (request) => {
    const ids = await scopesOf(deps, authOf(request).user.id, 'domain');
    const domains = (await db.domains.list({ enabled: true })).filter((d) => ids.has(d.id));
    return { domains: domains.map((d) => domainView(deps, d)), links: collectionLinks(deps, request) };
  });
  app.get('/v3/auth/system', { onRequest: auth }, async (request) => {
    const held = await db.assignments.effective({ userId: authOf(request).user.id, targetType: 'system' });
    return { system: held.length > 0 ? [{ all: true }] : [], links: collectionLinks(deps, request) };
  });
}
