import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  type ActorType,
  type EffectiveAssignment,
  type Role,
  type RoleAssignment,
  SYSTEM_ALL,
  type TargetType,
} from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, forbidden, notFound } from '../faults.js';
import { need } from './body.js';
import { collectionLinks, roleView } from './views.js';

const PLURAL = { user: 'users', group: 'groups', project: 'projects', domain: 'domains' } as const;

/** The path of a grant, as Keystone's `links.assignment`. */
function grantPath(a: RoleAssignment): string {
  const actor = `${PLURAL[a.actorType]}/${a.actorId}/roles/${a.roleId}`;
  if (a.targetType === 'system') return `system/${actor}`;
  const target = `${PLURAL[a.targetType]}/${a.targetId}/${actor}`;
  return a.inherited ? `OS-INHERIT/${target}/inherited_to_projects` : target;
}

const scopeOf = (type: TargetType, id: string, inherited: boolean) => ({
  ...(type === 'system' ? { system: { all: true } } : { [type]: { id } }),
  ...(inherited ? { 'OS-INHERIT:inherited_to': 'projects' } : {}),
});

/**
 * Keystone's grants: roles of users and groups on projects, domains and the system
 * (`/v3/{projects,domains}/{id}/{users,groups}/{id}/roles/{role}`, `/v3/system/…`), inherited
 * ones (`/v3/OS-INHERIT/…/inherited_to_projects`), and `/v3/role_assignments` with Keystone's
 * filters, `effective` (what a token would carry) and `include_names`. The cloud admin grants
 * and lists; a user lists their own. A domain-specific role is granted only within its domain.
 */
export async function assignmentRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const db = deps.db;
  const admin = async (request: FastifyRequest) => requireCloudAdmin(authOf(request));

  /** The domain a target is in (the system is in none); 404 when the target does not exist. */
  const targetDomain = async (type: TargetType, id: string): Promise<string | null> => {
    if (type === 'system') return null;
    if (type === 'domain') return need(await db.domains.get(id), 'domain', id).id;
    return need(await db.projects.get(id), 'project', id).domainId;
  };
  const checkActor = async (type: ActorType, id: string) => {
    if (type === 'user') need(await db.users.get(id), 'user', id);
    else need(await db.groups.get(id), 'group', id);
  };

  /** The routes of one kind of grant: `base` names the target and actor as `:t` and `:a`. */
  const grants = (base: string, targetType: TargetType, actorType: ActorType, inherited: boolean) => {
    const suffix = inherited ? '/inherited_to_projects' : '';
    const target = (request: FastifyRequest) => (request.params as { t?: string }).t ?? SYSTEM_ALL;
    const grantOf = async (request: FastifyRequest): Promise<RoleAssignment> => {
      const { a, r } = request.params as { a: string; r: string };
      const domainId = await targetDomain(targetType, target(request));
      await checkActor(actorType, a);
      const role = need(await db.roles.get(r), 'role', r);
      if (role.domainId !== null && role.domainId !== domainId) {
        throw forbidden(`The domain-specific role ${role.id} is only granted within its domain.`);
      }
      return { actorType, actorId: a, targetType, targetId: target(request), roleId: r, inherited };
    };
    app.put(`${base}/roles/:r${suffix}`, { onRequest: [auth, admin] }, async (request, reply) => {
      await db.assignments.grant(await grantOf(request));
      return reply.code(204).send();
    });
    // Answers HEAD too (Fastify's sibling route of a GET).
    app.get(`${base}/roles/:r${suffix}`, { onRequest: [auth, admin] }, async (request, reply) => {
      const grant = await grantOf(request);
      if ((await db.assignments.list(grant)).length === 0) throw notFound('Could not find role assignment.');
      return reply.code(204).send();
    });
    app.delete(`${base}/roles/:r${suffix}`, { onRequest: [auth, admin] }, async (request, reply) => {
      await db.assignments.revoke(await grantOf(request));
      return reply.code(204).send();
    });
    app.get(`${base}/roles${suffix}`, { onRequest: [auth, admin] }, async (request) => {
      const { a } = request.params as { a: string };
      await targetDomain(targetType, target(request));
      await checkActor(actorType, a);
      const held = await db.assignments.list({
        actorType,
        actorId: a,
        targetType,
        targetId: target(request),
        inherited,
      });
      const roles = (await Promise.all(held.map((g) => db.roles.get(g.roleId)))).filter((r): r is Role => r !== null);
      return { roles: roles.map((r) => roleView(deps, r)), links: collectionLinks(deps, request) };
    });
  };
  for (const actor of ['user', 'group'] as const) {
    const actors = `${PLURAL[actor]}/:a`;
    grants(`/v3/projects/:t/${actors}`, 'project', actor, false);
    grants(`/v3/domains/:t/${actors}`, 'domain', actor, false);
    grants(`/v3/system/${actors}`, 'system', actor, false);
    grants(`/v3/OS-INHERIT/domains/:t/${actors}`, 'domain', actor, true);
    grants(`/v3/OS-INHERIT/projects/:t/${actors}`, 'project', actor, true);
  }

  app.get('/v3/role_assignments', { onRequest: auth }, async (request) => {
    const me = authOf(request);
    const q = (name: string) => queryString(request, name);
    const userId = q('user.id');
    if (!me.isCloudAdmin && userId !== me.user.id) throw forbidden();
    const groupId = q('group.id');
    const effective = q('effective') !== undefined;
    const names = q('include_names') !== undefined && q('include_names')?.toLowerCase() !== 'false';
    if (userId !== undefined && groupId !== undefined) throw badRequest('Specify a user or a group, not both.');
    if (effective && groupId !== undefined) throw badRequest('An effective listing is of users, not groups.');
    const scopes = [q('scope.project.id'), q('scope.domain.id'), q('scope.system')].filter((s) => s !== undefined);
    if (scopes.length > 1) throw badRequest('Specify one scope.');
    const target: { targetType?: TargetType; targetIds?: string[] } = {};
    const projectId = q('scope.project.id');
    if (projectId !== undefined) {
      const subtree =
        q('include_subtree') !== undefined ? (await db.projects.descendants(projectId)).map((p) => p.id) : [];
      Object.assign(target, { targetType: 'project', targetIds: [projectId, ...subtree] });
    } else if (q('scope.domain.id') !== undefined) {
      Object.assign(target, { targetType: 'domain', targetIds: [q('scope.domain.id')] });
    } else if (q('scope.system') !== undefined) {
      Object.assign(target, { targetType: 'system', targetIds: [SYSTEM_ALL] });
    }
    const inheritedOnly = q('scope.OS-INHERIT:inherited_to') === 'projects';
    const roleId = q('role.id');
    const inTarget = (type: TargetType, id: string) =>
      target.targetType === undefined || (type === target.targetType && (target.targetIds ?? []).includes(id));

    const view = await assignmentViews(deps, names);
    if (effective) {
      const found = (await db.assignments.effective({ userId, roleId })).filter((e) =>
        inTarget(e.targetType, e.targetId),
      );
      return { role_assignments: await Promise.all(found.map(view.effective)), links: collectionLinks(deps, request) };
    }
    const found = (
      await db.assignments.list({
        actorType: userId !== undefined ? 'user' : groupId !== undefined ? 'group' : undefined,
        actorId: userId ?? groupId,
        roleId,
        inherited: inheritedOnly ? true : undefined,
      })
    ).filter((a) => inTarget(a.targetType, a.targetId));
    return { role_assignments: await Promise.all(found.map(view.granted)), links: collectionLinks(deps, request) };
  });
}

/** Keystone's role assignment entries, with the names of what they name when `names`. */
async function assignmentViews(deps: ApiDeps, names: boolean) {
  const db = deps.db;
  const link = (path: string) => `${deps.publicUrl}/identity/v3/${path}`;
  const named = async (type: ActorType | TargetType | 'role', id: string) => {
    if (!names || type === 'system') return { id };
    const record =
      type === 'user'
        ? await db.users.get(id)
        : type === 'group'
          ? await db.groups.get(id)
          : type === 'project'
            ? await db.projects.get(id)
            : type === 'domain'
              ? await db.domains.get(id)
              : await db.roles.get(id);
    if (!record) return { id };
    const domainId = 'domainId' in record ? record.domainId : undefined;
    const domain = domainId ? await db.domains.get(domainId) : null;
    return { id, name: record.name, ...(domain ? { domain: { id: domain.id, name: domain.name } } : {}) };
  };
  const scope = async (type: TargetType, id: string, inherited: boolean) =>
    type === 'system'
      ? scopeOf(type, id, inherited)
      : { ...scopeOf(type, id, inherited), [type]: await named(type, id) };
  return {
    granted: async (a: RoleAssignment) => ({
      role: await named('role', a.roleId),
      [a.actorType]: await named(a.actorType, a.actorId),
      scope: await scope(a.targetType, a.targetId, a.inherited),
      links: { assignment: link(grantPath(a)) },
    }),
    effective: async (e: EffectiveAssignment) => ({
      role: await named('role', e.roleId),
      user: await named('user', e.userId),
      scope: await scope(e.targetType, e.targetId, false),
      links: {
        assignment: link(grantPath(e.source)),
        ...(e.source.actorType === 'group' ? { membership: link(`groups/${e.source.actorId}/users/${e.userId}`) } : {}),
        ...(e.priorRoleId ? { prior_role: link(`roles/${e.priorRoleId}`) } : {}),
      },
    }),
  };
}
