/**
 * Nova's `os-hosts` (the cloud admin's, microversions 2.1 to 2.42; a 404 from 2.43, where
 * Nova removed it for `os-hypervisors` and `os-services`). The list names each live host's
 * services with their zones, skipping disabled ones; a host's detail is what it has and what
 * its servers use, in total and by project. Enabling a host, its maintenance mode and its power
 * actions answer 501, as they do with Nova's libvirt driver: `os-services` disables a host, and
 * a node's power belongs to its BMC and the fencer.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_ZONE } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin } from '../context.js';
import { ApiError, badRequest, notFound } from '../faults.js';
import { isObject, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';

const SERVICES = [
  { binary: 'nova-compute', topic: 'compute' },
  { binary: 'nova-scheduler', topic: 'scheduler' },
  { binary: 'nova-conductor', topic: 'conductor' },
] as const;

const notImplemented = () =>
  new ApiError(501, 'Virt driver does not implement host operations.', 'API_ERR_NOT_IMPLEMENTED');

export function registerHosts(app: FastifyInstance, deps: ApiDeps): void {
  const driver = deps.servers.driver;
  /** The cloud admin's, before 2.43; the live host the URL names (404 for none). */
  const guard = (request: FastifyRequest) => {
    if (atLeast(request, '2.43')) throw notFound('The resource could not be found.');
    requireCloudAdmin(authOf(request));
  };
  const liveHost = (request: FastifyRequest) => {
    guard(request);
    const { host } = request.params as { host: string };
    const found = driver.hosts().find((h) => h.hostname === host);
    if (!found) throw notFound(`Compute host ${host} could not be found.`);
    return found;
  };

  app.get('/os-hosts', async (request) => {
    guard(request);
    const zone = queryString(request, 'zone');
    const [zones, services] = await Promise.all([deps.db.aggregates.zones(), deps.db.computeServices.list()]);
    const disabled = (host: string, binary: string) =>
      services.some((s) => s.host === host && s.binary === binary && s.disabled);
    const hosts = driver.hosts().flatMap((h) =>
      SERVICES.filter((s) => !disabled(h.hostname, s.binary)).map((s) => ({
        host_name: h.hostname,
        service: s.topic,
        zone: s.binary === 'nova-compute' ? (zones[h.hostname] ?? DEFAULT_ZONE) : 'internal',
      })),
    );
    return { hosts: zone ? hosts.filter((h) => h.zone === zone) : hosts };
  });

  app.get('/os-hosts/:host', async (request) => {
    const host = liveHost(request);
    const byProject = await deps.db.servers.projectUsageOn(host.hostname);
    const used = Object.values(byProject).reduce(
      (sum, u) => ({ vcpus: sum.vcpus + u.vcpus, memoryMb: sum.memoryMb + u.memoryMb, diskGb: sum.diskGb + u.diskGb }),
      { vcpus: 0, memoryMb: 0, diskGb: 0 },
    );
    const resource = (project: string, u: { vcpus: number; memoryMb: number; diskGb: number }) => ({
      resource: { host: host.hostname, project, cpu: u.vcpus, memory_mb: u.memoryMb, disk_gb: u.diskGb },
    });
    return {
      host: [
        resource('(total)', { vcpus: host.vcpus, memoryMb: host.memoryMb, diskGb: host.localGb }),
        resource('(used_now)', used),
        resource('(used_max)', used),
        ...Object.entries(byProject).map(([project, u]) => resource(project, u)),
      ],
    };
  });

  app.put('/os-hosts/:host', async (request) => {
    liveHost(request);
    const b = request.body;
    if (!isObject(b)) throw badRequest('The request body must be an object');
    rejectUnknown(b, ['status', 'maintenance_mode'], 'the request body');
    const given = ['status', 'maintenance_mode'].filter((name) => b[name] !== undefined);
    if (given.length === 0) throw badRequest("Invalid input: 'status' or 'maintenance_mode' is required.");
    for (const name of given) {
      if (!['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE'].includes(b[name] as string)) {
        throw badRequest(`Invalid input for field/attribute ${name}: 'enable' or 'disable'.`);
      }
    }
    throw notImplemented();
  });

  for (const action of ['startup', 'shutdown', 'reboot']) {
    app.get(`/os-hosts/:host/${action}`, async (request) => {
      liveHost(request);
      throw notImplemented();
    });
  }
}
