/**
 * Nova's server groups (`os-server-groups`): a project's groups, each with one policy that the
 * scheduler applies to the servers created in it (`os:scheduler_hints` `group`): `affinity`
 * (its servers on one host) or `anti-affinity` (each on a host of its own), refused when no
 * host fits; from microversion 2.15 `soft-affinity` and `soft-anti-affinity`, the same as a
 * preference. Its live servers are its members; from 2.13 it shows its project and user; from
 * 2.64 it has one `policy` and its `rules`: an anti-affinity group may allow up to
 * `max_server_per_host` of its servers on a host. The cloud admin sees every project's with
 * `all_projects`.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerGroup, ServerGroupPolicy } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, projectOf, queryString, requireWriter } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { body, boolish, intField, isObject, nameField, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';

const HARD_POLICIES: readonly ServerGroupPolicy[] = ['affinity', 'anti-affinity'];
const SOFT_POLICIES: readonly ServerGroupPolicy[] = ['soft-affinity', 'soft-anti-affinity'];

function groupView(request: FastifyRequest, group: ServerGroup) {
  return {
    id: group.id,
    name: group.name,
    // 2.64: one policy and its rules, in place of the list of policies and the metadata.
    ...(atLeast(request, '2.64')
      ? {
          policy: group.policy,
          rules:
            group.rules.maxServerPerHost === undefined ? {} : { max_server_per_host: group.rules.maxServerPerHost },
        }
      : { policies: [group.policy], metadata: {} }),
    members: group.members,
    ...(atLeast(request, '2.13') ? { project_id: group.projectId, user_id: group.userId } : {}),
  };
}

/** A create's policy: `policies`, a list of one, before 2.64; `policy` and its `rules` from it. */
function requestedPolicy(request: FastifyRequest, g: Record<string, unknown>) {
  const allowed = atLeast(request, '2.15') ? [...HARD_POLICIES, ...SOFT_POLICIES] : HARD_POLICIES;
  if (!atLeast(request, '2.64')) {
    rejectUnknown(g, ['name', 'policies'], "'server_group'");
    const policies = g.policies;
    if (!Array.isArray(policies) || policies.length !== 1 || !allowed.includes(policies[0] as ServerGroupPolicy)) {
      throw badRequest(`Invalid input for field/attribute policies: one of ${allowed.join(', ')}.`);
    }
    return { policy: policies[0] as ServerGroupPolicy, rules: {} };
  }
  rejectUnknown(g, ['name', 'policy', 'rules'], "'server_group'");
  if (!allowed.includes(g.policy as ServerGroupPolicy)) {
    throw badRequest(`Invalid input for field/attribute policy: one of ${allowed.join(', ')}.`);
  }
  const policy = g.policy as ServerGroupPolicy;
  if (g.rules === undefined) return { policy, rules: {} };
  if (!isObject(g.rules)) throw badRequest('Invalid input for field/attribute rules: an object.');
  rejectUnknown(g.rules, ['max_server_per_host'], "'rules'");
  if (g.rules.max_server_per_host === undefined) return { policy, rules: {} };
  if (policy !== 'anti-affinity') {
    throw badRequest(`Only anti-affinity policy supports "max_server_per_host" rule.`);
  }
  return { policy, rules: { maxServerPerHost: intField(g.rules.max_server_per_host, 'max_server_per_host', 1) } };
}

/** A group the caller may see: its project's, or any for the cloud admin; else 404. */
async function visibleGroup(deps: ApiDeps, auth: AuthContext, id: string): Promise<ServerGroup> {
  const group = await deps.db.serverGroups.get(id);
  if (!group || (!auth.isCloudAdmin && group.projectId !== auth.project?.id))
    throw notFound(`Instance group ${id} could not be found.`);
  return group;
}

/**
 * The server group a server create names in its scheduler hints (`os:scheduler_hints`, or the
 * older `OS-SCH-HNT:scheduler_hints`), checked as visible to the caller; null for none. Other
 * hints are for filters rackseed does not run (as a default Nova's), and are ignored.
 */
export async function hintedServerGroup(deps: ApiDeps, request: FastifyRequest): Promise<ServerGroup | null> {
  const whole = request.body as Record<string, unknown>;
  const hints = whole['os:scheduler_hints'] ?? whole['OS-SCH-HNT:scheduler_hints'];
  if (hints === undefined) return null;
  if (!isObject(hints)) throw badRequest('Invalid input for field/attribute os:scheduler_hints.');
  if (hints.group === undefined) return null;
  if (typeof hints.group !== 'string' || !/^[0-9a-f]{8}(-?[0-9a-f]{4}){3}-?[0-9a-f]{12}$/i.test(hints.group))
    throw badRequest('Invalid input for field/attribute group. Value must be a UUID.');
  return visibleGroup(deps, authOf(request), hints.group).catch(() => {
    throw badRequest(`Invalid input: server group ${String(hints.group)} could not be found.`);
  });
}

export function registerServerGroups(app: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;

  app.post('/os-server-groups', async (request) => {
    const { auth, project } = projectOf(request);
    requireWriter(auth);
    const g = body(request, 'server_group');
    const { policy, rules } = requestedPolicy(request, g);
    const name = nameField(g.name);
    const quotas = await db.quotas.get(project.id);
    const group = await db.serverGroups.create(
      {
        id: randomUUID(),
        name,
        projectId: project.id,
        userId: auth.user.id,
        policy,
        rules,
        createdAt: new Date().toISOString(),
      },
      quotas.server_groups,
    );
    return { server_group: groupView(request, group) };
  });

  app.get('/os-server-groups', async (request) => {
    const { auth, project } = projectOf(request);
    const allAsked = queryString(request, 'all_projects');
    const all = auth.isCloudAdmin && allAsked !== undefined && boolish(allAsked, 'all_projects');
    const limitText = queryString(request, 'limit');
    const offsetText = queryString(request, 'offset');
    const offset = offsetText === undefined ? 0 : intField(offsetText, 'offset', 0);
    const groups = await db.serverGroups.list(all ? {} : { projectId: project.id });
    const end = limitText === undefined ? undefined : offset + intField(limitText, 'limit', 0);
    return { server_groups: groups.slice(offset, end).map((g) => groupView(request, g)) };
  });

  app.get('/os-server-groups/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { server_group: groupView(request, await visibleGroup(deps, authOf(request), id)) };
  });

  app.delete('/os-server-groups/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const auth = authOf(request);
    await visibleGroup(deps, auth, id);
    requireWriter(auth);
    await db.serverGroups.delete(id);
    return reply.code(204).send();
  });
}
