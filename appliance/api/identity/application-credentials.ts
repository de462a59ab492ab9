import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AccessRule, type ApplicationCredential, DbConflictError, type Role } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireToken } from '../context.js';
import { badRequest, conflict, forbidden, notFound } from '../faults.js';
import { ACCESS_RULE_METHODS } from './access-rules.js';
import { isObject, need, objectField, optionalBool, requiredName } from './body.js';
import { hashPassword } from './passwords.js';
import { collectionLinks, newId, selfLink } from './views.js';

/** The fields of Keystone's application credential create schema (additionalProperties: false). */
const FIELDS = new Set([
  'id',
  'name',
  'secret',
  'description',
  'expires_at',
  'project_id',
  'roles',
  'access_rules',
  'unrestricted',
  'system',
]);
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;
/** keystone parameter_types.id_string. */
const ID_STRING = /^[a-zA-Z0-9-]{1,64}$/;

/**
 * Keystone's `expires_at` (utils.parse_expiration_date: ISO 8601, UTC unless it names a zone) as
 * UTC with microseconds, `2026-12-07T02:48:23.123456Z`; null if it is not such a time.
 */
export function expiryOf(value: string): string | null {
  const m = ISO_8601.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s = '00', fraction = '', zone = 'Z'] = m;
  const fields = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const local = new Date(Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5]));
  const exact =
    local.getUTCFullYear() === fields[0] &&
    local.getUTCMonth() === fields[1] - 1 &&
    local.getUTCDate() === fields[2] &&
    local.getUTCHours() === fields[3] &&
    local.getUTCMinutes() === fields[4] &&
    local.getUTCSeconds() === fields[5];
  if (!exact) return null;
  const offset = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  const minutes = offset ? (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) : 0;
  const utc = new Date(local.getTime() - minutes * 60_000);
  return `${utc.toISOString().slice(0, 19)}.${fraction.padEnd(6, '0').slice(0, 6)}Z`;
}

/** `ms` since the epoch as {@link expiryOf} writes times, so that the two compare as strings. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, '000Z');

/**
 * Keystone's `_check_unrestricted_application_credential`: a token made from a restricted
 * application credential may not make or delete application credentials (nor trusts, nor EC2
 * credentials).
 */
export function requireUnrestricted(auth: AuthContext, what = 'application credentials'): void {
  if (auth.claims.methods.includes('application_credential') && !auth.applicationCredential?.unrestricted) {
    throw forbidden(
      `You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional ${what}.`,
    );
  }
}

const invalid = (detail: string) => badRequest(`Invalid application credential: ${detail}`);

/** An access rule of a create request: an existing one of the user's by id, or service, path and method. */
function accessRuleOf(value: unknown): { id?: string; service?: string; path?: string; method?: string } {
  if (!isObject(value)) throw badRequest("Invalid input for field 'access_rules': each is an object");
  const { id, service, path, method } = value;
  if (id !== undefined && (typeof id !== 'string' || !ID_STRING.test(id))) {
    throw badRequest("Invalid input for field 'id': 1 to 64 letters, digits or dashes");
  }
  if (service !== undefined && (typeof service !== 'string' || !ID_STRING.test(service))) {
    throw badRequest("Invalid input for field 'service': a service type, 1 to 64 letters, digits or dashes");
  }
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || path.length > 225)) {
    throw badRequest("Invalid input for field 'path': a path starting with '/', at most 225 characters");
  }
  if (method !== undefined && !(ACCESS_RULE_METHODS as readonly unknown[]).includes(method)) {
    throw badRequest(`Invalid input for field 'method': one of ${ACCESS_RULE_METHODS.join(', ')}`);
  }
  return {
    ...(id === undefined ? {} : { id }),
    ...(service === undefined ? {} : { service: service as string }),
    ...(path === undefined ? {} : { path: path as string }),
    ...(method === undefined ? {} : { method: method as string }),
  };
}

/** The request's roles, each `{id}` or `{name}` (Keystone's schema: exactly one of the two); trusts' too. */
export function roleRefsOf(value: unknown): ({ id: string } | { name: string })[] {
  if (!Array.isArray(value)) throw badRequest("Invalid input for field 'roles': not an array");
  return value.map((ref) => {
    const keys = isObject(ref) ? Object.keys(ref) : [];
    if (!isObject(ref) || keys.length !== 1)
      throw badRequest("Invalid input for field 'roles': each is {id} or {name}");
    if (typeof ref.id === 'string' && ID_STRING.test(ref.id)) return { id: ref.id };
    if (typeof ref.name === 'string' && ref.name.length > 0 && ref.name.length <= 255) return { name: ref.name };
    throw badRequest("Invalid input for field 'roles': each is {id} or {name}");
  });
}

/**
 * Keystone's application credentials (`/v3/users/{id}/application_credentials`) and access rules
 * (`/v3/users/{id}/access_rules`), by its default policy: a user makes its own (with a
 * project-scoped token; the credential acts on that project with some of the token's roles);
 * the user or the cloud admin reads and deletes them. The secret is shown once, at creation, and
 * kept only as a password's hash. Tokens made from one are issued by auth.ts and bounded by
 * context.ts. A trust's token touches none of them (Keystone's).
 */
export async function applicationCredentialRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;

  const credentialView = (c: ApplicationCredential, secret?: string) => ({
    id: c.id,
    name: c.name,
    description: c.description,
    // Keystone's datetime as its JSON writes it: microseconds, no zone.
    expires_at: c.expiresAt === null ? null : c.expiresAt.replace(/Z$/, ''),
    project_id: c.projectId,
    roles: c.roles.map((r) => ({ id: r.id, name: r.name, domain_id: r.domainId })),
    unrestricted: c.unrestricted,
    ...(c.accessRules.length === 0
      ? {}
      : { access_rules: c.accessRules.map((r) => ({ id: r.id, service: r.service, path: r.path, method: r.method })) }),
    ...(secret === undefined ? {} : { secret }),
    links: selfLink(deps, `users/${c.userId}/application_credentials/${c.id}`),
  });
  const accessRuleView = (r: AccessRule) => ({
    id: r.id,
    service: r.service,
    path: r.path,
    method: r.method,
    links: selfLink(deps, `access_rules/${r.id}`),
  });

  /**
   * Keystone's `_block_delegated_token_app_creds`: not with a trust's token, whose user may be
   * the trustor it impersonates (a credential made so would outlive the trust).
   */
  const notDelegated = (me: AuthContext): void => {
    if (me.trust) throw forbidden('Cannot manage application credentials with a token issued via delegation.');
  };
  /** The user's own, or the cloud admin (Keystone's admin_or_owner and system reader or owner). */
  const ownerOrAdmin = (request: FastifyRequest, userId: string): AuthContext => {
    const me = authOf(request);
    if (!me.isCloudAdmin && me.user.id !== userId) throw forbidden();
    notDelegated(me);
    return me;
  };
  /**
   * The credential `id` of user `userId`: 403 if the caller may not see it (Keystone checks its
   * owner, not the path's user), 404 if there is none under that user.
   */
  const credentialOf = async (request: FastifyRequest, userId: string, id: string) => {
    const found = await db.applicationCredentials.get(id);
    ownerOrAdmin(request, found?.userId ?? userId);
    if (!found || found.userId !== userId) throw notFound(`Could not find Application Credential: ${id}.`);
    return found;
  };
  const accessRuleOfUser = async (request: FastifyRequest, userId: string, id: string) => {
    ownerOrAdmin(request, userId);
    const found = await db.applicationCredentials.getAccessRule(id);
    if (!found || found.userId !== userId) throw notFound(`Could not find Access Rule: ${id}.`);
    return found;
  };

  /** The roles a new credential delegates: those asked for (by id or name) and the roles they imply, all the token's. */
  const delegatedRoles = async (me: AuthContext, refs: unknown): Promise<Role[]> => {
    const asked = refs === undefined || refs === null ? [] : roleRefsOf(refs);
    if (asked.length === 0) return me.roles;
    const ids: string[] = [];
    for (const ref of asked) {
      if ('id' in ref) ids.push(ref.id);
      else {
        const [role] = await db.roles.list({ name: ref.name });
        ids.push(need(role, 'role', ref.name).id);
      }
    }
    const implications = await db.roles.implications({});
    for (let i = 0; i < ids.length; i++) {
      for (const { priorId, impliedId } of implications) {
        if (priorId === ids[i] && !ids.includes(impliedId)) ids.push(impliedId);
      }
    }
    // Never more than the token carries (Keystone: no escalation through a delegated token).
    const held = new Map(me.roles.map((r) => [r.id, r]));
    return ids.map((id) => {
      const role = held.get(id);
      if (!role) throw invalid('Cannot create an application credential with unassigned role');
      return role;
    });
  };
  /** The access rules of a create request, each the user's existing rule (by id) or a new one. */
  const newAccessRules = async (userId: string, value: unknown): Promise<Omit<AccessRule, 'userId'>[]> => {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw badRequest("Invalid input for field 'access_rules': not an array");
    const rules: Omit<AccessRule, 'userId'>[] = [];
    for (const rule of value.map(accessRuleOf)) {
      if (rule.id !== undefined) {
        const found = await db.applicationCredentials.getAccessRule(rule.id);
        if (!found || found.userId !== userId) throw notFound(`Could not find Access Rule: ${rule.id}.`);
        rules.push({ id: found.id, service: found.service, path: found.path, method: found.method });
      } else if (rule.service === undefined || rule.path === undefined || rule.method === undefined) {
        throw badRequest("Invalid input for field 'access_rules': each needs an id, or a service, a path and a method");
      } else rules.push({ id: newId(), service: rule.service, path: rule.path, method: rule.method });
    }
    return rules;
  };

  app.post('/v3/users/:userId/application_credentials', { onRequest: auth }, async (request, reply) => {
    const { userId } = request.params as { userId: string };
    const body = objectField(request.body, 'application_credential');
    const extra = Object.keys(body).find((key) => !FIELDS.has(key));
    if (extra !== undefined) throw badRequest(`Additional properties are not allowed ('${extra}' was unexpected)`);
    const me = authOf(request);
    // Keystone's create policy is the owner's only: not even the cloud admin makes one for another.
    if (me.user.id !== userId) throw forbidden('Cannot create an application credential for another user.');
    notDelegated(me);
    requireUnrestricted(me);
    if (!me.project) throw forbidden('An application credential is made with a project-scoped token, for its project.');
    const name = requiredName(body);
    const description = body.description ?? null;
    if (description !== null && typeof description !== 'string') {
      throw badRequest("Invalid input for field 'description': not a string or null");
    }
    const given = body.secret ?? null;
    if (given !== null && typeof given !== 'string') throw badRequest("Invalid input for field 'secret': not a string");
    let expiresAt: string | null = null;
    if (body.expires_at !== undefined && body.expires_at !== null) {
      if (typeof body.expires_at !== 'string') throw badRequest("Invalid input for field 'expires_at': not a string");
      expiresAt = expiryOf(body.expires_at);
      if (expiresAt === null) throw badRequest('Timestamp not in expected format: expires_at is an ISO 8601 time.');
      if (expiresAt < microTime(deps.tokens.now())) throw badRequest("The 'expires_at' must not be before now.");
    }
    const unrestricted = body.unrestricted === null ? false : (optionalBool(body, 'unrestricted') ?? false);
    const roles = await delegatedRoles(me, body.roles);
    const accessRules = await newAccessRules(userId, body.access_rules);
    // Keystone's secret: 64 random bytes, URL-safe base64 without padding.
    const secret = given || randomBytes(64).toString('base64url');
    let created: ApplicationCredential;
    try {
      created = await db.applicationCredentials.create({
        id: newId(),
        userId,
        name,
        description,
        secretHash: await hashPassword(secret),
        projectId: me.project.id,
        expiresAt,
        unrestricted,
        roleIds: roles.map((r) => r.id),
        accessRules,
      });
    } catch (error) {
      if (error instanceof DbConflictError) {
        throw conflict(
          `Conflict occurred attempting to store application_credential - Duplicate entry found with name ${name}.`,
        );
      }
      throw error;
    }
    return reply.code(201).send({ application_credential: credentialView(created, secret) });
  });

  app.get('/v3/users/:userId/application_credentials', { onRequest: auth }, async (request) => {
    const { userId } = request.params as { userId: string };
    ownerOrAdmin(request, userId);
    const name = queryString(request, 'name');
    const found = await db.applicationCredentials.list({ userId, ...(name === undefined ? {} : { name }) });
    return { application_credentials: found.map((c) => credentialView(c)), links: collectionLinks(deps, request) };
  });

  app.get('/v3/users/:userId/application_credentials/:id', { onRequest: auth }, async (request) => {
    const { userId, id } = request.params as { userId: string; id: string };
    return { application_credential: credentialView(await credentialOf(request, userId, id)) };
  });

  app.delete('/v3/users/:userId/application_credentials/:id', { onRequest: auth }, async (request, reply) => {
    const { userId, id } = request.params as { userId: string; id: string };
    const found = await credentialOf(request, userId, id);
    requireUnrestricted(authOf(request));
    await db.applicationCredentials.delete(found.id);
    return reply.code(204).send();
  });

  app.get('/v3/users/:userId/access_rules', { onRequest: auth }, async (request) => {
    const { userId } = request.params as { userId: string };
    ownerOrAdmin(request, userId);
    const filter = { service: queryString(request, 'service'), path: queryString(request, 'path') };
    const method = queryString(request, 'method');
    const found = await db.applicationCredentials.accessRules({ userId, ...filter, method });
    return { access_rules: found.map(accessRuleView), links: collectionLinks(deps, request) };
  });

  app.get('/v3/users/:userId/access_rules/:id', { onRequest: auth }, async (request) => {
    const { userId, id } = request.params as { userId: string; id: string };
    return { access_rule: accessRuleView(await accessRuleOfUser(request, userId, id)) };
  });

  app.delete('/v3/users/:userId/access_rules/:id', { onRequest: auth }, async (request, reply) => {
    const { userId, id } = request.params as { userId: string; id: string };
    await accessRuleOfUser(request, userId, id);
    try {
      await db.applicationCredentials.deleteAccessRule(id);
    } catch (error) {
      // Keystone's ForbiddenNotSecurity: the rule is still some credential's.
      if (error instanceof DbConflictError) throw forbidden('May not delete access rule in use');
      throw error;
    }
    return reply.code(204).send();
  });
}
