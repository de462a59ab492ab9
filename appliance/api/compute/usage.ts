/**
 * Nova's `os-simple-tenant-usage`: what each project's servers used over a period (`start`,
 * `end`; each defaults to now): the hours each was alive in it, and those hours times its
 * vCPUs, memory and disk, counting servers deleted since (Nova's instances by window: launched
 * before the end, not deleted before the start). The cloud admin lists every project that used
 * something (`detailed=1` adds their servers); a project reads its own, servers included.
 * Horizon's overview and usage pages are drawn from it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ServerStateValue, serverStatusView } from '../../../statemachines/index.js';
import { machineOf } from '../../compute/index.js';
import type { Flavor, ServerLifetime } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, forbidden, notFound } from '../faults.js';

const HOUR_MS = 3_600_000;

export function registerSimpleTenantUsage(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/os-simple-tenant-usage', async (request) => {
    // The router ignores a trailing slash: `…/os-simple-tenant-usage/` names a project, the empty one.
    if (request.url.split('?')[0]?.endsWith('/')) throw notFound('The resource could not be found.');
    requireCloudAdmin(authOf(request));
    const period = periodOf(request);
    const detailed = queryString(request, 'detailed') === '1';
    const lifetimes = await deps.db.servers.lifetimes(period.iso);
    const byProject = new Map<string, ServerLifetime[]>();
    for (const l of lifetimes) byProject.set(l.projectId, [...(byProject.get(l.projectId) ?? []), l]);
    const flavors = await flavorsOf(deps, lifetimes);
    return {
      tenant_usages: [...byProject].map(([projectId, servers]) => {
        const { server_usages, ...totals } = tenantUsage(projectId, servers, flavors, period);
        return detailed ? { ...totals, server_usages } : totals;
      }),
    };
  });

  app.get('/os-simple-tenant-usage/:tenant', async (request) => {
    const auth = authOf(request);
    const { tenant } = request.params as { tenant: string };
    // Nova's policy: the project's own members, or the cloud admin.
    if (!auth.isCloudAdmin && auth.project?.id !== tenant) throw forbidden();
    const period = periodOf(request);
    const lifetimes = await deps.db.servers.lifetimes({ ...period.iso, projectId: tenant });
    if (lifetimes.length === 0) return { tenant_usage: {} };
    return { tenant_usage: tenantUsage(tenant, lifetimes, await flavorsOf(deps, lifetimes), period) };
  });
}

interface Period {
  start: Date;
  end: Date;
  iso: { start: string; end: string };
}

/** The period asked for; 400 for a time Nova would not parse, or a start after the end. */
function periodOf(request: FastifyRequest): Period {
  const now = new Date();
  const start = parseTime(queryString(request, 'start'), now, 'start');
  const end = parseTime(queryString(request, 'end'), now, 'end');
  if (start.getTime() > end.getTime()) {
    throw badRequest('Invalid start time. The start time cannot occur after the end time.');
  }
  return { start, end, iso: { start: start.toISOString(), end: end.toISOString() } };
}

/** Nova's formats, `YYYY-MM-DDThh:mm:ss[.ffffff]` or `YYYY-MM-DD hh:mm:ss.ffffff`, in UTC. */
function parseTime(value: string | undefined, now: Date, which: string): Date {
  if (value === undefined) return now;
  const match = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?$/.exec(value);
  const date = match ? new Date(`${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw badRequest(`Invalid ${which} time.`);
  return date;
}

/** The flavors the servers were made with, by id (one that was deleted since is missing). */
async function flavorsOf(deps: ApiDeps, lifetimes: ServerLifetime[]): Promise<Map<string, Flavor>> {
  const ids = [...new Set(lifetimes.map((l) => l.flavorId))];
  const found = await Promise.all(ids.map((id) => deps.db.flavors.get(id)));
  return new Map(found.flatMap((f) => (f ? [[f.id, f] as const] : [])));
}

/** One project's usage over the period, as Nova computes it. */
function tenantUsage(projectId: string, servers: ServerLifetime[], flavors: Map<string, Flavor>, period: Period) {
  const now = Date.now();
  const totals = { hours: 0, vcpus: 0, memory: 0, disk: 0 };
  const server_usages = servers.map((l) => {
    const launched = Date.parse(l.launchedAt);
    const terminated = l.terminatedAt === null ? undefined : Date.parse(l.terminatedAt);
    const from = Math.max(launched, period.start.getTime());
    const to = Math.min(terminated ?? period.end.getTime(), period.end.getTime());
    const hours = Math.max(0, to - from) / HOUR_MS;
    const flavor = flavors.get(l.flavorId);
    const localGb = flavor ? flavor.disk + flavor.ephemeral : 0;
    const vcpus = flavor?.vcpus ?? l.vcpus;
    const memoryMb = flavor?.ram ?? l.memoryMb;
    totals.hours += hours;
    totals.vcpus += vcpus * hours;
    totals.memory += memoryMb * hours;
    totals.disk += localGb * hours;
    return {
      instance_id: l.id,
      name: l.name,
      tenant_id: l.projectId,
      flavor: flavor?.name ?? l.flavorId,
      hours,
      vcpus,
      memory_mb: memoryMb,
      local_gb: localGb,
      started_at: novaIso(l.launchedAt),
      ended_at: l.terminatedAt === null ? null : novaIso(l.terminatedAt),
      state:
        l.terminatedAt === null
          ? serverStatusView(l.state as ServerStateValue, machineOf(l).context).vmState
          : 'terminated',
      uptime: Math.floor(((terminated ?? now) - launched) / 1000),
    };
  });
  return {
    tenant_id: projectId,
    start: novaIso(period.iso.start),
    stop: novaIso(period.iso.end),
    total_hours: totals.hours,
    total_vcpus_usage: totals.vcpus,
    total_memory_mb_usage: totals.memory,
    total_local_gb_usage: totals.disk,
    server_usages,
  };
}

/** `YYYY-MM-DDThh:mm:ss.ffffff`, as Nova writes a usage's times (Python's isoformat, UTC). */
function novaIso(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000').replace(/Z$/, '');
}
