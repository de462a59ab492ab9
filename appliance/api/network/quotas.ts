/**
 * Neutron's quotas (`quotas` and `quota_details` extensions, neutron/extensions/quotasv2.py and
 * quotasv2_detail.py) for the resources this Neutron subset has: networks, subnets, ports,
 * routers, floating IPs, security groups and their rules. A project reads its own; the cloud
 * admin reads any, sets them (`PUT`, refused under what a project already uses unless `force`)
 * and resets them to the defaults (`DELETE`).
 */
import type { FastifyInstance } from 'fastify';
import type { CloudDb, QuotaResource } from '../../db/index.js';
import { type AuthContext, authOf, requireCloudAdmin } from '../context.js';
import { badRequest, forbidden } from '../faults.js';

/**
 * Neutron's quota resource names, and the cloud database's quota each one is (the security group
 * ones are those Nova's API showed up to 2.35).
 */
const RESOURCES = {
  network: 'network',
  subnet: 'subnet',
  port: 'port',
  router: 'router',
  floatingip: 'floatingip',
  security_group: 'security_groups',
  security_group_rule: 'security_group_rules',
} as const satisfies Record<string, QuotaResource>;
type NeutronResource = keyof typeof RESOURCES;
const NAMES = Object.keys(RESOURCES) as NeutronResource[];

/** Neutron's `DB_INTEGER_MAX_VALUE` (neutron_lib/db/constants.py), the top of a limit's range. */
const DB_INTEGER_MAX_VALUE = 2 ** 31 - 1;

const pick = (q: Record<QuotaResource, number>) =>
  Object.fromEntries(NAMES.map((n) => [n, q[RESOURCES[n]]])) as Record<NeutronResource, number>;
const toDb = (limits: Partial<Record<NeutronResource, number>>): Partial<Record<QuotaResource, number>> =>
  Object.fromEntries(Object.entries(limits).map(([n, v]) => [RESOURCES[n as NeutronResource], v]));

/**
 * neutron_lib/api/converters.py `convert_to_int` then `type:range [-1, DB_INTEGER_MAX_VALUE]`:
 * an integer, or a string of one.
 */
function limitOf(name: string, value: unknown): number {
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw badRequest(`Invalid input for ${name}. Reason: '${String(value)}' is not an integer.`);
  if (n < -1 || n > DB_INTEGER_MAX_VALUE)
    throw badRequest(`Invalid input for ${name}. Reason: '${n}' is not in range -1 through ${DB_INTEGER_MAX_VALUE}.`);
  return n;
}

/** What project `id` holds of each resource (its own networks, subnets, ports, routers, floating IPs, groups and rules only). */
async function usage(db: CloudDb, id: string): Promise<Record<NeutronResource, number>> {
  const [networks, subnets, ports, routers, floatingIps, groups] = await Promise.all([
    db.networks.list({ projectId: id }),
    db.networks.subnets({ projectId: id }),
    db.networks.ports({ projectId: id }),
    db.routers.list({ projectId: id }),
    db.routers.floatingIps({ projectId: id }),
    db.securityGroups.usage(id),
  ]);
  const own = (items: { projectId: string }[]) => items.filter((i) => i.projectId === id).length;
  return {
    network: own(networks),
    subnet: own(subnets),
    port: ports.length,
    router: routers.length,
    floatingip: floatingIps.length,
    security_group: groups.groups,
    security_group_rule: groups.rules,
  };
}

/** Neutron's `get_quota` default policy: the project's own, or an admin's. */
function requireReader(auth: AuthContext, project: string): void {
  if (!auth.isCloudAdmin && auth.project?.id !== project) throw forbidden();
}

/** The quota routes, inside `/v2.0` (a token required). */
export function quotaRoutes(api: FastifyInstance, db: CloudDb): void {
  // The cloud admin's list of the projects whose quotas are not the defaults (`get_quotas`).
  api.get('/quotas', async (request) => {
    requireCloudAdmin(authOf(request));
    const defaults = pick(await db.quotas.getClass('default'));
    const quotas = [];
    for (const project of await db.projects.list({})) {
      const q = pick(await db.quotas.get(project.id));
      if (NAMES.some((n) => q[n] !== defaults[n])) quotas.push({ ...q, project_id: project.id, tenant_id: project.id });
    }
    return { quotas };
  });
  api.get('/quotas/:project', async (request) => {
    const { project } = request.params as { project: string };
    requireReader(authOf(request), project);
    return { quota: pick(await db.quotas.get(project)) };
  });
  api.get('/quotas/:project/default', async (request) => {
    const { project } = request.params as { project: string };
    requireReader(authOf(request), project);
    return { quota: pick(await db.quotas.getClass('default')) };
  });
  // Neutron takes a format suffix on any path; tempest's quotas client asks for `details.json`.
  for (const path of ['/quotas/:project/details', '/quotas/:project/details.json'])
    api.get(path, async (request) => {
      const { project } = request.params as { project: string };
      const auth = authOf(request);
      if (!auth.isCloudAdmin && auth.project?.id !== project)
        throw forbidden('Only admin is authorized to access quotas for another project');
      const [limits, used] = await Promise.all([db.quotas.get(project), usage(db, project)]);
      const q = pick(limits);
      return {
        quota: Object.fromEntries(NAMES.map((n) => [n, { limit: q[n], used: used[n], reserved: 0 }])),
      };
    });
  api.put('/quotas/:project', async (request) => {
    requireCloudAdmin(authOf(request));
    const { project } = request.params as { project: string };
    const body = request.body as { quota?: unknown } | null;
    if (typeof body?.quota !== 'object' || body.quota === null || Array.isArray(body.quota))
      throw badRequest('Resource body required');
    const { force, check_limit: _checkLimit, ...fields } = body.quota as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((k) => !(NAMES as string[]).includes(k));
    if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
    const limits = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, limitOf(k, v)])) as Partial<
      Record<NeutronResource, number>
    >;
    if (force !== true && force !== 'True' && force !== 'true') {
      const used = await usage(db, project);
      for (const [name, limit] of Object.entries(limits) as [NeutronResource, number][])
        if (limit !== -1 && used[name] > limit)
          throw badRequest(
            `Quota limit ${limit} for ${name} must be greater than or equal to already used ${used[name]}`,
          );
    }
    return { quota: pick(await db.quotas.set(project, toDb(limits))) };
  });
  api.delete('/quotas/:project', async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { project } = request.params as { project: string };
    // Back to the defaults for Neutron's resources only (Nova's quotas of the project stay).
    await db.quotas.set(project, toDb(pick(await db.quotas.getClass('default'))));
    return reply.code(204).send();
  });
}
