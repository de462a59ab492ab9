/**
 * Nova's limits (`/limits`) and quotas (`os-quota-sets`): a project's quotas and what it
 * uses. From microversion 2.36 the network quotas Nova proxied to Neutron (fixed IPs,
 * floating IPs, security groups and their rules) are gone from both, and a quota update that
 * names one is refused (400), as Nova's. The defaults every project's quotas start from are
 * quota class `default`'s (`os-quota-class-sets`), whose server group quotas show from 2.50, when
 * its network quotas go.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { QuotaResource } from '../../db/index.js';
import { type ApiDeps, authOf, projectOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, forbidden } from '../faults.js';
import { body, intField, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';

const QUOTA_FIELDS = [
  'instances',
  'cores',
  'ram',
  'key_pairs',
  'metadata_items',
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'server_groups',
  'server_group_members',
  'fixed_ips',
  'floating_ips',
  'security_groups',
  'security_group_rules',
] as const satisfies readonly QuotaResource[];

/** Neutron's quotas, which Nova stopped showing at 2.36. */
const NETWORK_QUOTAS: readonly QuotaResource[] = [
  'fixed_ips',
  'floating_ips',
  'security_groups',
  'security_group_rules',
];

/** The injected file quotas, gone at 2.57 with the personality files they limited. */
const FILE_QUOTAS: readonly QuotaResource[] = [
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
];

/** The quotas a request's microversion shows. */
const quotaFields = (request: FastifyRequest): readonly QuotaResource[] =>
  QUOTA_FIELDS.filter(
    (f) =>
      !(atLeast(request, '2.36') && NETWORK_QUOTAS.includes(f)) &&
      !(atLeast(request, '2.57') && FILE_QUOTAS.includes(f)),
  );

/** The server group quotas, which a quota class shows from 2.50 (when its network quotas go). */
const GROUP_QUOTAS: readonly QuotaResource[] = ['server_groups', 'server_group_members'];

/** The quotas a quota class shows at a request's microversion. */
const classFields = (request: FastifyRequest): readonly QuotaResource[] =>
  QUOTA_FIELDS.filter(
    (f) =>
      (atLeast(request, '2.50') ? !NETWORK_QUOTAS.includes(f) : !GROUP_QUOTAS.includes(f)) &&
      !(atLeast(request, '2.57') && FILE_QUOTAS.includes(f)),
  );

export function registerLimitsAndQuotas(app: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;

  app.get('/limits', async (request) => {
    const { auth, project } = projectOf(request);
    const tenant = queryString(request, 'tenant_id');
    const projectId = tenant !== undefined && auth.isCloudAdmin ? tenant : project.id;
    const q = await db.quotas.get(projectId);
    const used = await db.servers.usage(projectId);
    const groups = await db.serverGroups.list({ projectId });
    return {
      limits: {
        rate: [],
        absolute: {
          maxServerMeta: q.metadata_items,
          ...(atLeast(request, '2.57') ? {} : { maxPersonality: q.injected_files }),
          // 2.39 removes the image metadata proxy, and its limit.
          ...(atLeast(request, '2.39') ? {} : { maxImageMeta: q.metadata_items }),
          ...(atLeast(request, '2.57') ? {} : { maxPersonalitySize: q.injected_file_content_bytes }),
          maxTotalKeypairs: q.key_pairs,
          maxServerGroups: q.server_groups,
          maxServerGroupMembers: q.server_group_members,
          maxTotalCores: q.cores,
          maxTotalInstances: q.instances,
          maxTotalRAMSize: q.ram,
          totalCoresUsed: used.cores,
          totalRAMUsed: used.ram,
          totalInstancesUsed: used.instances,
          totalServerGroupsUsed: groups.length,
          ...(atLeast(request, '2.36')
            ? {}
            : {
                maxSecurityGroupRules: q.security_group_rules,
                maxSecurityGroups: q.security_groups,
                maxTotalFloatingIps: q.floating_ips,
                totalFloatingIpsUsed: 0,
                totalSecurityGroupsUsed: 0,
              }),
        },
      },
    };
  });

  const quotaProject = async (request: FastifyRequest): Promise<string> => {
    const auth = authOf(request);
    const { project } = request.params as { project: string };
    if (!auth.isCloudAdmin && auth.project?.id !== project) throw forbidden();
    return project;
  };
  const quotaSet = (request: FastifyRequest, id: string, q: Record<QuotaResource, number>) => ({
    id,
    ...Object.fromEntries(quotaFields(request).map((f) => [f, q[f]])),
  });

  app.get('/os-quota-sets/:project', async (request) => {
    const id = await quotaProject(request);
    return { quota_set: quotaSet(request, id, await db.quotas.get(id)) };
  });
  app.get('/os-quota-sets/:project/defaults', async (request) => {
    const { project } = request.params as { project: string };
    return { quota_set: quotaSet(request, project, await db.quotas.getClass('default')) };
  });
  app.get('/os-quota-sets/:project/detail', async (request) => {
    const id = await quotaProject(request);
    const q = await db.quotas.get(id);
    const used = await db.servers.usage(id);
    const inUse: Partial<Record<QuotaResource, number>> = {
      instances: used.instances,
      cores: used.cores,
      ram: used.ram,
      server_groups: (await db.serverGroups.list({ projectId: id })).length,
    };
    return {
      quota_set: {
        id,
        ...Object.fromEntries(
          quotaFields(request).map((f) => [f, { limit: q[f], in_use: inUse[f] ?? 0, reserved: 0 }]),
        ),
      },
    };
  });
  app.put('/os-quota-sets/:project', async (request) => {
    requireCloudAdmin(authOf(request));
    const { project } = request.params as { project: string };
    const q = body(request, 'quota_set');
    const fields = quotaFields(request);
    rejectUnknown(q, [...fields, 'force'], "'quota_set'");
    const limits: Partial<Record<QuotaResource, number>> = {};
    for (const f of fields) if (q[f] !== undefined) limits[f] = intField(q[f], f, -1);
    const set = await db.quotas.set(project, limits);
    const { id: _id, ...rest } = quotaSet(request, project, set);
    return { quota_set: rest };
  });
  app.delete('/os-quota-sets/:project', async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const { project } = request.params as { project: string };
    await db.quotas.reset(project);
    return reply.code(202).send();
  });

  // Quota classes (the cloud admin's): class `default` holds every project's defaults; Nova
  // keeps any other class it is given, which no project uses.
  const classSet = (request: FastifyRequest, q: Record<QuotaResource, number>) =>
    Object.fromEntries(classFields(request).map((f) => [f, q[f]]));
  app.get('/os-quota-class-sets/:id', async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    return { quota_class_set: { id, ...classSet(request, await db.quotas.getClass(id)) } };
  });
  app.put('/os-quota-class-sets/:id', async (request) => {
    requireCloudAdmin(authOf(request));
    const { id } = request.params as { id: string };
    if (id.length < 1 || id.length > 255) throw badRequest('Invalid quota class name.');
    const q = body(request, 'quota_class_set');
    const fields = classFields(request);
    rejectUnknown(q, fields, "'quota_class_set'");
    const limits: Partial<Record<QuotaResource, number>> = {};
    for (const f of fields) if (q[f] !== undefined) limits[f] = intField(q[f], f, -1);
    return { quota_class_set: classSet(request, await db.quotas.setClass(id, limits)) };
  });
}
