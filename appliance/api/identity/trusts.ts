import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DbConflictError, DbNotFoundError, type Trust, type User } from '../../db/index.js';
import { ADMIN_PROJECT } from '../bootstrap.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireToken } from '../context.js';
import { type ApiError, badRequest, conflict, forbidden, notFound, unauthorized } from '../faults.js';
import { expiryOf, microTime, roleRefsOf } from './application-credentials.js';
import { isObject, type Json, need, objectField } from './body.js';
import { collectionLinks, newId, roleView, selfLink } from './views.js';

/** Keystone's `[trust] max_redelegation_count` (its default): how long a chain of redelegations may grow. */
export const MAX_REDELEGATION_COUNT = 3;

const refused = (action: string) => forbidden(`You are not authorized to perform the requested action: ${action}.`);
/** Keystone's ValidationError: `attribute` missing from `target`. */
const expecting = (attribute: string, target: string) =>
  badRequest(
    `Expecting to find ${attribute} in ${target}. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.`,
  );

/** A trust's tokens may be issued: not expired (by the API's clock `now`, ms) nor used up. */
const usable = (trust: Trust, now: number): boolean =>
  (trust.expiresAt === null || trust.expiresAt > microTime(now)) && trust.remainingUses !== 0;

/**
 * The trust a token request's `scope` names (`{"OS-TRUST:trust": {"id": …}}`), or undefined if it
 * names none; a 400 if it names another scope too, as Keystone's AuthInfo.
 */
export function trustIdOf(scope: unknown): string | undefined {
  if (!isObject(scope) || !('OS-TRUST:trust' in scope)) return undefined;
  if (['project', 'domain', 'system', 'unscoped'].some((key) => key in scope)) {
    throw expecting('system, project, domain, OS-TRUST:trust or unscoped', 'scope');
  }
  const ref = scope['OS-TRUST:trust'];
  if (!isObject(ref) || typeof ref.id !== 'string' || ref.id === '') throw expecting('trust_id', 'trust');
  return ref.id;
}

/**
 * The trust `id` that `user` (authenticated) asks a token of, as Keystone's auth: a 401 if it is
 * gone, expired or used up; a 403 if the user is not its trustee or it delegates no project.
 */
export async function trustToScope(deps: ApiDeps, id: string, user: User): Promise<Trust & { projectId: string }> {
  const trust = await deps.db.trusts.get(id);
  if (!trust || !usable(trust, deps.tokens.now())) throw unauthorized(`Could not find trust: ${id}.`);
  if (user.id !== trust.trusteeUserId) throw forbidden('User is not a trustee.');
  if (trust.projectId === null) throw forbidden('Trustee has no delegated roles.');
  return { ...trust, projectId: trust.projectId };
}

/** Why a token of `trust` does not resolve (context.ts said no), in Keystone's words. */
export async function trustRefusal(deps: ApiDeps, trust: Trust & { projectId: string }): Promise<ApiError> {
  if (!(await deps.db.users.get(trust.trustorUserId))?.enabled) return forbidden('Trustor is disabled.');
  if (!(await deps.db.projects.get(trust.projectId))?.enabled) return unauthorized();
  return forbidden('Trustee has no delegated roles.');
}

/** Takes one of the trust's uses for a token just issued (Keystone's consume_use): a 403 if none is left. */
export async function consumeTrustUse(deps: ApiDeps, trust: Trust): Promise<void> {
  let taken: boolean;
  try {
    taken = await deps.db.trusts.consume(trust.id);
  } catch (error) {
    if (error instanceof DbNotFoundError) throw unauthorized(`Could not find trust: ${trust.id}.`);
    throw error;
  }
  if (!taken) throw forbidden(`No remaining uses for trust: ${trust.id}.`);
}

/** A create request's trust, checked as Keystone's JSON schema checks it. */
type TrustRequest = Pick<
  Trust,
  'trustorUserId' | 'trusteeUserId' | 'projectId' | 'impersonation' | 'expiresAt' | 'remainingUses'
> & {
  allowRedelegation: boolean;
  redelegationCount: number | null;
  roles: ({ id: string } | { name: string })[];
};

function trustRequestOf(body: unknown): TrustRequest {
  const t = objectField(body, 'trust');
  const invalid = (field: string, what: string) => badRequest(`Invalid input for field '${field}': ${what}`);
  for (const field of ['trustor_user_id', 'trustee_user_id', 'impersonation']) {
    if (!(field in t)) throw badRequest(`'${field}' is a required property`);
  }
  const text = (field: string, nullable: boolean): string | null => {
    const v = t[field] ?? null;
    if (v === null && nullable) return null;
    if (typeof v !== 'string') throw invalid(field, nullable ? 'not a string or null' : 'not a string');
    return v;
  };
  const integer = (field: string, minimum: number): number | null => {
    const v = t[field] ?? null;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(field, 'not an integer or null');
    if (v < minimum) throw invalid(field, `${v} is less than the minimum of ${minimum}`);
    return v;
  };
  if (typeof t.impersonation !== 'boolean') throw invalid('impersonation', 'not a boolean');
  const allow = t.allow_redelegation ?? null;
  if (allow !== null && typeof allow !== 'boolean') throw invalid('allow_redelegation', 'not a boolean or null');
  return {
    trustorUserId: text('trustor_user_id', false) as string,
    trusteeUserId: text('trustee_user_id', false) as string,
    projectId: text('project_id', true),
    impersonation: t.impersonation,
    expiresAt: text('expires_at', true),
    remainingUses: integer('remaining_uses', 1),
    allowRedelegation: allow === true,
    redelegationCount: integer('redelegation_count', 0),
    roles: t.roles === undefined || t.roles === null ? [] : roleRefsOf(t.roles),
  };
}

/**
 * Keystone's `_validate_redelegation`: what a trust made with a token of `parent` (or of a trust
 * above it in the chain) may be. Its expiry, if it has none, becomes the parent's.
 */
function checkRedelegation(
  parent: Trust,
  child: { remainingUses: number | null; expiresAt: string | null; roleIds: string[]; impersonation: boolean },
): string | null {
  const depth = parent.redelegationCount;
  if (!(depth > 0 && depth <= MAX_REDELEGATION_COUNT)) {
    throw forbidden(`Remaining redelegation depth of ${depth} out of allowed range of [0..${MAX_REDELEGATION_COUNT}]`);
  }
  if (child.remainingUses !== null) {
    throw forbidden(
      `Field "remaining_uses" is set to ${child.remainingUses} while it must not be set in order to redelegate a trust`,
    );
  }
  if (child.expiresAt !== null && parent.expiresAt !== null && parent.expiresAt < child.expiresAt) {
    throw forbidden('Requested expiration time is more than redelegated trust can provide');
  }
  if (!child.roleIds.every((id) => parent.roleIds.includes(id))) {
    throw forbidden('Some of requested roles are not in redelegated trust');
  }
  if (!parent.impersonation && child.impersonation) {
    throw forbidden(
      `Impersonation is not allowed because redelegated trust does not specify impersonation. Redelegated trust id: ${parent.id}`,
    );
  }
  return child.expiresAt ?? parent.expiresAt;
}

/**
 * Keystone's trusts (OS-TRUST, `/v3/OS-TRUST/trusts`): a trustor delegates some of the roles it
 * holds on a project to a trustee, who then gets tokens scoped to that project as the trustor
 * (impersonation) or as itself (auth.ts issues them, context.ts bounds them to the delegated
 * roles the trustor still holds). By Keystone's default policy: the trustor makes and deletes
 * its trusts; the trustor and the trustee read them; the admin reads and deletes any. A trust
 * that may be redelegated (`allow_redelegation`) lets a token made from it make a narrower one,
 * down a chain of at most {@link MAX_REDELEGATION_COUNT}. A trust goes with its trustor, its
 * trustee, its project and the trust it redelegates. No token made from an application
 * credential touches trusts.
 */
export async function trustRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;
  const base = 'OS-TRUST/trusts';

  const trustView = (t: Trust, withRoles: boolean) => ({
    id: t.id,
    trustor_user_id: t.trustorUserId,
    trustee_user_id: t.trusteeUserId,
    project_id: t.projectId,
    impersonation: t.impersonation,
    // Keystone's isotime(subsecond=True): to the second, written with microseconds.
    expires_at: t.expiresAt === null ? null : `${t.expiresAt.slice(0, 19)}.000000Z`,
    remaining_uses: t.remainingUses,
    redelegated_trust_id: t.redelegatedTrustId,
    redelegation_count: t.redelegationCount,
    deleted_at: null,
    ...(withRoles ? { roles: t.roles.map((r) => roleView(deps, r)), roles_links: rolesLinks(t) } : {}),
    links: selfLink(deps, `${base}/${t.id}`),
  });
  const rolesLinks = (t: Trust) => ({ ...selfLink(deps, `${base}/${t.id}/roles`), next: null, previous: null });

  /**
   * Keystone's `admin_required`, which any admin role meets: here the cloud admin, or a token
   * with the admin role of a user who is the cloud admin by its grants (the admin role on the
   * admin project, its domain or the system) whatever project the token is scoped to, as
   * tempest's identity admins list every trust. Never a delegated token: its roles are not
   * the user's grants.
   */
  const isAdmin = async (me: AuthContext): Promise<boolean> => {
    if (me.isCloudAdmin) return true;
    if (!me.isProjectAdmin || me.trust || me.applicationCredential) return false;
    const [admin] = await db.roles.list({ name: 'admin' });
    if (!admin) return false;
    const adminProject = await db.projects.findByName(ADMIN_PROJECT.domainId, ADMIN_PROJECT.name);
    return (await db.assignments.effective({ userId: me.user.id, roleId: admin.id })).some(
      (a) =>
        a.targetType === 'system' ||
        (a.targetType === 'domain' && a.targetId === ADMIN_PROJECT.domainId) ||
        (a.targetType === 'project' && a.targetId === adminProject?.id),
    );
  };
  /** The admin, or a system reader (Keystone's `role:reader and system_scope:all`): may read any trust. */
  const isReader = async (me: AuthContext) =>
    (me.system && me.roles.some((r) => r.name === 'reader')) || (await isAdmin(me));
  /** Keystone's `_check_application_credential`: no trust operation with an application credential's token. */
  const noApplicationCredential = (me: AuthContext) => {
    if (me.claims.methods.includes('application_credential')) {
      throw refused("Using method 'application_credential' is not allowed for managing trusts");
    }
  };
  /**
   * The trust of the request's path that the caller may read (`action` names Keystone's policy):
   * 404 if it is gone, expired or used up (before the policy, as Keystone's lp#1840288), 403 if
   * the caller is neither its trustor nor its trustee nor a reader of all.
   */
  const readable = async (request: FastifyRequest, action: string): Promise<Trust> => {
    const { id } = request.params as { id: string };
    const found = await db.trusts.get(id);
    if (!found || !usable(found, deps.tokens.now())) throw notFound(`Could not find trust: ${id}.`);
    const me = authOf(request);
    const party = me.user.id === found.trustorUserId || me.user.id === found.trusteeUserId;
    if (!party && !(await isReader(me))) throw refused(action);
    noApplicationCredential(me);
    return found;
  };
  /** The role ids of a create request's roles, a name's role looked up (404 if none has it). */
  const roleIdsOf = async (refs: TrustRequest['roles']): Promise<string[]> => {
    const ids: string[] = [];
    for (const ref of refs) {
      if ('id' in ref) ids.push(ref.id);
      else {
        const [role] = await db.roles.list({ name: ref.name });
        ids.push(need(role, 'role', ref.name).id);
      }
    }
    return [...new Set(ids)];
  };
  /** The trust and those above it in its chain, nearest first. */
  const pedigree = async (trust: Trust): Promise<Trust[]> => {
    const chain = [trust];
    for (let at = trust; at.redelegatedTrustId !== null;) {
      const parent = await db.trusts.get(at.redelegatedTrustId);
      if (!parent || chain.some((t) => t.id === parent.id))
        throw notFound(`Could not find trust: ${at.redelegatedTrustId}.`);
      chain.push(parent);
      at = parent;
    }
    return chain;
  };

  app.post(`/v3/${base}`, { onRequest: auth }, async (request, reply) => {
    const asked = trustRequestOf(request.body);
    const me = authOf(request);
    // identity:create_trust: its trustor's own, with a project-scoped token.
    if (me.user.id !== asked.trustorUserId || !me.project) throw refused('identity:create_trust');
    noApplicationCredential(me);
    if (asked.projectId !== null && asked.roles.length === 0) throw refused('At least one role should be specified');
    need(await db.users.get(asked.trusteeUserId), 'user', asked.trusteeUserId);
    const roleIds = await roleIdsOf(asked.roles);
    // Roles the trustor holds on the trust's project (a trust without a project delegates none).
    const held = new Set<string>();
    if (asked.projectId !== null) {
      need(await db.projects.get(asked.projectId), 'project', asked.projectId);
      const on = { userId: me.user.id, targetType: 'project' as const, targetId: asked.projectId };
      for (const a of await db.assignments.effective(on)) held.add(a.roleId);
    }
    const missing = roleIds.find((id) => !held.has(id));
    if (missing !== undefined) throw notFound(`Could not find role: ${missing}.`);
    let expiresAt: string | null = null;
    if (asked.expiresAt !== null) {
      expiresAt = expiryOf(asked.expiresAt);
      if (expiresAt === null) {
        throw badRequest(
          'Timestamp not in expected format. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.',
        );
      }
      if (expiresAt < microTime(deps.tokens.now())) {
        throw badRequest(
          "The 'expires_at' must not be before now. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.",
        );
      }
    }
    // Keystone's trust manager: how far it may be redelegated, and, made with a trust's token,
    // no more than the chain above it gives.
    const redelegatable = asked.allowRedelegation && asked.redelegationCount !== 0;
    let count: number | null = 0;
    if (redelegatable) {
      if (asked.redelegationCount !== null && asked.redelegationCount > MAX_REDELEGATION_COUNT) {
        throw forbidden(
          `Requested redelegation depth of ${asked.redelegationCount} is greater than allowed ${MAX_REDELEGATION_COUNT}`,
        );
      }
      if (asked.remainingUses !== null) throw badRequest('remaining_uses must not be set if redelegation is allowed');
      count = asked.redelegationCount;
    }
    const parent = me.trust;
    if (parent) {
      const remaining = parent.redelegationCount - 1;
      if (redelegatable && asked.redelegationCount && asked.redelegationCount !== remaining) {
        throw forbidden(
          'Modifying "redelegation_count" upon redelegation is forbidden. Omitting this parameter is advised.',
        );
      }
      count ??= remaining;
      for (const above of await pedigree(parent)) {
        expiresAt = checkRedelegation(above, { ...asked, expiresAt, roleIds });
      }
    }
    let created: Trust;
    try {
      created = await db.trusts.create({
        id: newId(),
        trustorUserId: asked.trustorUserId,
        trusteeUserId: asked.trusteeUserId,
        projectId: asked.projectId,
        impersonation: asked.impersonation,
        expiresAt,
        remainingUses: asked.remainingUses,
        redelegatedTrustId: parent?.id ?? null,
        redelegationCount: count ?? MAX_REDELEGATION_COUNT,
        roleIds,
      });
    } catch (error) {
      if (error instanceof DbConflictError)
        throw conflict('Conflict occurred attempting to store trust - Duplicate entry.');
      throw error;
    }
    return reply.code(201).send({ trust: trustView(created, true) });
  });

  app.get(`/v3/${base}`, { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const trustor = queryString(request, 'trustor_user_id');
    const trustee = queryString(request, 'trustee_user_id');
    if (trustor) {
      if (me.user.id !== trustor && !(await isReader(me))) throw refused('identity:list_trusts_for_trustor');
    } else if (trustee) {
      if (me.user.id !== trustee && !(await isReader(me))) throw refused('identity:list_trusts_for_trustee');
    } else if (!(await isReader(me))) throw refused('identity:list_trusts');
    noApplicationCredential(me);
    // As Keystone's: a query that names neither finds nothing.
    const query = Object.keys(request.query as Json).length > 0;
    const found = trustor
      ? await db.trusts.list({ trustorUserId: trustor })
      : trustee
        ? await db.trusts.list({ trusteeUserId: trustee })
        : query
          ? []
          : await db.trusts.list({});
    return { trusts: found.map((t) => trustView(t, false)), links: collectionLinks(deps, request) };
  });

  app.get(`/v3/${base}/:id`, { onRequest: auth }, async (request) => ({
    trust: trustView(await readable(request, 'identity:get_trust'), true),
  }));

  // Keystone finds no expired or used-up trust to delete; rackseed, which has no trust_flush,
  // lets the trustor delete those its list still shows.
  app.delete(`/v3/${base}/:id`, { onRequest: auth }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const found = await db.trusts.get(id);
    if (!found) throw notFound(`Could not find trust: ${id}.`);
    const me = authOf(request);
    if (me.user.id !== found.trustorUserId && !(await isAdmin(me))) throw refused('identity:delete_trust');
    noApplicationCredential(me);
    try {
      await db.trusts.delete(id);
    } catch (error) {
      if (error instanceof DbNotFoundError) throw notFound(`Could not find trust: ${id}.`);
      throw error;
    }
    return reply.code(204).send();
  });

  app.get(`/v3/${base}/:id/roles`, { onRequest: auth }, async (request) => {
    const trust = await readable(request, 'identity:list_roles_for_trust');
    return { roles: trust.roles.map((r) => roleView(deps, r)), links: rolesLinks(trust) };
  });

  // Its HEAD is fastify's, from the GET: 200 without a body, as Keystone's.
  app.get(`/v3/${base}/:id/roles/:roleId`, { onRequest: auth }, async (request) => {
    const trust = await readable(request, 'identity:get_role_for_trust');
    const { roleId } = request.params as { roleId: string };
    const role = trust.roles.find((r) => r.id === roleId);
    if (!role) throw notFound(`Could not find role: ${roleId}.`);
    return { role: roleView(deps, role) };
  });
}
