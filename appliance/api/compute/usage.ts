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
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf } from './paging.js';

const HOUR_MS = 3_600_000;

export function registerSimpleTenantUsage(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/os-simple-tenant-usage', async (request) => {
    // The router ignores a trailing slash: `…/os-simple-tenant-usage/` names a project, the empty one.
    if (request.url.split('?')[0]?.endsWith('/')) throw notFound('The resource could not be found.');
    requireCloudAdmin(authOf(request));
    const period = periodOf(request);
    const detailed = queryString(request, 'detailed') === '1';
    const { lifetimes, links } = paged(request, 'os-simple-tenant-usage', await deps.db.servers.lifetimes(period.iso));
    const byProject = new Map<string, ServerLifetime[]>();
    for (const l of lifetimes) byProject.set(l.projectId, [...(byProject.get(l.projectId) ?? []), l]);
    const flavors = await flavorsOf(deps, lifetimes);
    return {
      tenant_usages: [...byProject].map(([projectId, servers]) => {
        const { server_usages, ...totals } = tenantUsage(projectId, servers, flavors, period);
        return detailed ? { ...totals, server_usages } : totals;
      }),
      ...(links ? { tenant_usages_links: links } : {}),
    };
  });

  app.get('/os-simple-tenant-usage/:tenant', async (request) => {
    const auth = authOf(request);
    const { tenant } = request.params as { tenant: string };
    // Nova's policy: the project's own members, or the cloud admin.
    if (!auth.isCloudAdmin && auth.project?.id !== tenant) throw forbidden();
    const period = periodOf(request);
    const { lifetimes, links } = paged(
      request,
      `os-simple-tenant-usage/${tenant}`,
      await deps.db.servers.lifetimes({ ...period.iso, projectId: tenant }),
    );
    if (lifetimes.length === 0) return { tenant_usage: {} };
    return {
      tenant_usage: tenantUsage(tenant, lifetimes, await flavorsOf(deps, lifetimes), period),
      ...(links ? { tenant_usage_links: links } : {}),
    };
  });

  /**
   * One page of the servers counted: from 2.40 `limit` and `marker` (a server's id), with a
   * `next` link when more are left; before, at most Nova's max_limit of 1000, silently.
   */
  const paged = (request: FastifyRequest, path: string, all: ServerLifetime[]) => {
    const page = atLeast(request, '2.40') ? pageOf(request) : { limit: 1000 };
    const { shown, more } = pageItems(all, page, (l) => l.id);
    const last = shown.at(-1);
    return {
      lifetimes: shown,
      links: more && last && atLeast(request, '2.40') ? nextLink(deps, request, path, last.id, page.limit) : undefined,
    };
  };
}

interface Period {
  start: Date;
  end: Date;
  iso: { start: string; end: string };
}

/**
 * The period asked for; 400 for a time Nova would not parse, or a start after the end. An end
 * in the future is now (Nova's `show` and `index`): a running server is counted up to now, as
 * Horizon's overview asks for the usage until the end of today.
 */
function periodOf(request: FastifyRequest): Period {
  const now = new Date();
  const start = parseTime(queryString(request, 'start'), now, 'start');
  const asked = parseTime(queryString(request, 'end'), now, 'end');
  if (start.getTime() > asked.getTime()) {
    throw badRequest('Invalid start time. The start time cannot occur after the end time.');
  }
  const end = asked.getTime() > now.getTime() ? now : asked;
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

/**
 * Nova's `os-instance_usage_audit_log` (the cloud admin's): how far each compute host got with
 * the usage audit of the last completed period (a month, before now or before the time asked
 * for). rackseed's hosts run no usage audit, as Nova's do not by default
 * (`instance_usage_audit = False`): every live host is listed as not run.
 */
export function registerInstanceUsageAuditLog(app: FastifyInstance, deps: ApiDeps): void {
  const auditLog = (before: Date) => {
    const end = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth(), 1));
    const begin = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
    const hosts = deps.servers.driver.hosts().map((h) => h.hostname);
    const python = (d: Date) =>
      d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, '');
    return {
      period_beginning: python(begin),
      period_ending: python(end),
      num_hosts: hosts.length,
      num_hosts_done: 0,
      num_hosts_running: 0,
      num_hosts_not_run: hosts.length,
      hosts_not_run: hosts,
      total_instances: 0,
      total_errors: 0,
      overall_status: `${hosts.length === 0 ? 'ALL' : `0 of ${hosts.length}`} hosts done. 0 errors.`,
      log: {},
    };
  };

  app.get('/os-instance_usage_audit_log', async (request) => {
    requireCloudAdmin(authOf(request));
    return { instance_usage_audit_logs: auditLog(new Date()) };
  });

  // The time is Nova's "YYYY-MM-DD HH:MM:SS[.ffffff]", read as UTC.
  app.get('/os-instance_usage_audit_log/:before', async (request) => {
    requireCloudAdmin(authOf(request));
    const { before } = request.params as { before: string };
    const [, ...parts] = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,6})?$/.exec(before) ?? [];
    const written = parts.map(Number);
    const [year = NaN, month = NaN, day, hour, minute, second] = written;
    const at = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
    // A day or time out of range (Feb 30th, 25 o'clock) does not read back as written.
    const read = [at.getUTCFullYear(), at.getUTCMonth() + 1, at.getUTCDate(), at.getUTCHours(), at.getUTCMinutes()];
    if (written.length === 0 || read.some((v, i) => v !== written[i]) || at.getUTCSeconds() !== second) {
      throw badRequest(`Invalid timestamp for date ${before}`);
    }
    return { instance_usage_audit_log: auditLog(at) };
  });
}
