/**
 * Nova's hypervisors (`os-hypervisors`, the cloud admin's): one per live host, numbered in
 * name order, with its real inventory and what the servers placed on it use. Its state and
 * status are its `nova-compute` service's (services.ts): `down` when forced down, `disabled`
 * (with the reason) when an admin disabled it. From microversion 2.28 `cpu_info` is an object,
 * a JSON string before; from 2.33 the lists are paged. From 2.53 a hypervisor is named by a
 * UUID its host decides, the lists filter by `hypervisor_hostname_pattern` and add servers
 * with `with_servers`, which replace `/search` and `/servers`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HostInfo } from '../../compute/index.js';
import type { Server } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { boolish, isUuid, stableUuid } from './fields.js';
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf } from './paging.js';
import { computeServiceOf, serviceUuid } from './services.js';

/** The detail figures summed by `os-hypervisors/statistics`. */
const SUMMED = [
  'vcpus',
  'memory_mb',
  'local_gb',
  'vcpus_used',
  'memory_mb_used',
  'local_gb_used',
  'free_ram_mb',
  'free_disk_gb',
  'current_workload',
  'running_vms',
  'disk_available_least',
] as const;

/** A hypervisor's id: from 2.53 a UUID its host decides, before its number in name order. */
function hypervisorId(request: FastifyRequest, index: number, host: string): number | string {
  return atLeast(request, '2.53') ? stableUuid(`hypervisor:${host}`) : index + 1;
}

export function registerHypervisors(app: FastifyInstance, deps: ApiDeps): void {
  const driver = deps.servers.driver;

  /** What every view of a request needs, read once: the servers' use of each host and the hosts' services. */
  const facts = async (request: FastifyRequest) => {
    requireCloudAdmin(authOf(request));
    const [servers, services, used] = await Promise.all([
      deps.db.servers.list({}, { limit: Number.MAX_SAFE_INTEGER }),
      deps.db.computeServices.list(),
      deps.db.servers.hostUsage(),
    ]);
    // What each host's servers hold (with their own flavors; a resized server's old host keeps its room).
    const usage = new Map(Object.entries(used));
    const stateOf = (host: string) => {
      const s = computeServiceOf(services, host);
      return {
        state: s?.forcedDown ? 'down' : 'up',
        status: s?.disabled ? 'disabled' : 'enabled',
        disabledReason: s?.disabledReason ?? null,
      };
    };
    const summary = (index: number, h: HostInfo) => {
      const { state, status } = stateOf(h.hostname);
      return { id: hypervisorId(request, index, h.hostname), hypervisor_hostname: h.hostname, state, status };
    };
    const detail = (index: number, h: HostInfo) => {
      const u = usage.get(h.hostname);
      const cpuInfo = {
        arch: 'x86_64',
        model: 'fake',
        vendor: 'rackseed',
        topology: { cores: 1, threads: 1, sockets: h.vcpus },
      };
      return {
        ...summary(index, h),
        hypervisor_type: h.hypervisorType,
        hypervisor_version: h.hypervisorVersion,
        host_ip: h.hostIp,
        vcpus: h.vcpus,
        memory_mb: h.memoryMb,
        local_gb: h.localGb,
        vcpus_used: u?.vcpus ?? 0,
        memory_mb_used: u?.memoryMb ?? 0,
        local_gb_used: u?.diskGb ?? 0,
        free_ram_mb: h.memoryMb - (u?.memoryMb ?? 0),
        free_disk_gb: h.localGb - (u?.diskGb ?? 0),
        current_workload: 0,
        running_vms: u?.servers ?? 0,
        disk_available_least: h.localGb - (u?.diskGb ?? 0),
        cpu_info: atLeast(request, '2.28') ? cpuInfo : JSON.stringify(cpuInfo),
        service: {
          host: h.hostname,
          // As os-services numbers it (three services a host) before 2.53.
          id: atLeast(request, '2.53') ? serviceUuid(h.hostname, 'nova-compute') : index * 3 + 1,
          disabled_reason: stateOf(h.hostname).disabledReason,
        },
      };
    };
    /** The hypervisors whose name holds `part`, with their servers. */
    const matching = (part: string) =>
      driver
        .hosts()
        .map((h, i) => ({ h, i }))
        .filter(({ h }) => h.hostname.includes(part))
        .map(({ h, i }) => ({ ...summary(i, h), servers: serversOn(servers, h.hostname) }));
    return { summary, detail, matching, servers };
  };
  const serversOn = (servers: readonly Server[], host: string) =>
    servers.filter((s) => s.host === host).map((s) => ({ uuid: s.id, name: `instance-${s.id.slice(0, 8)}` }));
  /** The host of hypervisor `id`: its number, from 2.53 its UUID (400 for another id); 404 for none. */
  const hostAt = (request: FastifyRequest, id: string): { index: number; host: HostInfo } => {
    if (atLeast(request, '2.53') && !isUuid(id)) throw badRequest(`Invalid uuid ${id}`);
    const hosts = driver.hosts();
    const index = hosts.findIndex((h, i) => String(hypervisorId(request, i, h.hostname)) === id.toLowerCase());
    const host = hosts[index];
    if (!host) throw notFound(`Hypervisor with ID ${id} could not be found.`);
    return { index, host };
  };
  /** From 2.53, `with_servers` adds a hypervisor's servers to it. */
  const withServers = (request: FastifyRequest) => {
    const v = queryString(request, 'with_servers');
    return atLeast(request, '2.53') && v !== undefined && boolish(v, 'with_servers');
  };

  /**
   * The hypervisors of a list, paged from 2.33 (`limit`, `marker`: a hypervisor's id), all of them
   * before; from 2.53 those whose name holds `hypervisor_hostname_pattern` (which is not paged),
   * with their servers if `with_servers` asks.
   */
  const listed = <T extends { id: number | string; hypervisor_hostname: string }>(
    request: FastifyRequest,
    path: string,
    every: T[],
    servers: readonly Server[],
  ) => {
    const pattern = atLeast(request, '2.53') ? queryString(request, 'hypervisor_hostname_pattern') : undefined;
    const all = every
      .filter((h) => pattern === undefined || h.hypervisor_hostname.includes(pattern))
      .map((h) => (withServers(request) ? { ...h, servers: serversOn(servers, h.hypervisor_hostname) } : h));
    if (pattern !== undefined) {
      if (queryString(request, 'limit') !== undefined || queryString(request, 'marker') !== undefined) {
        throw badRequest('Paging over hypervisors with hypervisor_hostname_pattern is not supported.');
      }
      if (all.length === 0) throw notFound(`No hypervisor matching '${pattern}' could be found.`);
      return { hypervisors: all };
    }
    if (!atLeast(request, '2.33')) return { hypervisors: all };
    const page = pageOf(request);
    const { shown, more } = pageItems(all, page, (h) => String(h.id));
    const last = shown[shown.length - 1];
    return {
      hypervisors: shown,
      ...(more && last ? { hypervisors_links: nextLink(deps, request, path, String(last.id), page.limit) } : {}),
    };
  };
  app.get('/os-hypervisors', async (request) => {
    const { summary, servers } = await facts(request);
    return listed(
      request,
      'os-hypervisors',
      driver.hosts().map((h, i) => summary(i, h)),
      servers,
    );
  });
  app.get('/os-hypervisors/detail', async (request) => {
    const { detail, servers } = await facts(request);
    return listed(
      request,
      'os-hypervisors/detail',
      driver.hosts().map((h, i) => detail(i, h)),
      servers,
    );
  });
  app.get('/os-hypervisors/statistics', async (request) => {
    const { detail } = await facts(request);
    const all = driver.hosts().map((h, i) => detail(i, h));
    const statistics = Object.fromEntries(SUMMED.map((k) => [k, all.reduce((acc, h) => acc + h[k], 0)]));
    return { hypervisor_statistics: { count: all.length, ...statistics } };
  });
  app.get('/os-hypervisors/:id', async (request) => {
    const { detail, servers } = await facts(request);
    const { index, host } = hostAt(request, (request.params as { id: string }).id);
    return {
      hypervisor: {
        ...detail(index, host),
        ...(withServers(request) ? { servers: serversOn(servers, host.hostname) } : {}),
      },
    };
  });
  app.get('/os-hypervisors/:id/uptime', async (request) => {
    const { summary } = await facts(request);
    const { index, host } = hostAt(request, (request.params as { id: string }).id);
    return { hypervisor: { ...summary(index, host), uptime: ' 00:00:00 up 1 day, load average: 0.00, 0.00, 0.00' } };
  });
  // Replaced at 2.53 by the lists' hypervisor_hostname_pattern and with_servers.
  app.get('/os-hypervisors/:id/servers', async (request) => {
    if (atLeast(request, '2.53')) throw notFound('The resource could not be found.');
    const { matching } = await facts(request);
    const { id } = request.params as { id: string };
    const found = matching(id);
    if (found.length === 0) throw notFound(`No hypervisor matching '${id}' could be found.`);
    return { hypervisors: found };
  });
  app.get('/os-hypervisors/:id/search', async (request) => {
    if (atLeast(request, '2.53')) throw notFound('The resource could not be found.');
    const { matching } = await facts(request);
    const { id } = request.params as { id: string };
    const found = matching(id).map(({ servers: _s, ...rest }) => rest);
    if (found.length === 0) throw notFound(`No hypervisor matching '${id}' could be found.`);
    return { hypervisors: found };
  });
}
