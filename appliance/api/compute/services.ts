/**
 * Nova's services (`os-services`, the cloud admin's): each live host runs `nova-compute`,
 * `nova-scheduler` and `nova-conductor` as Nova lists them. An admin disables a host's service
 * (with a reason) or, from microversion 2.11, forces it down; the scheduler and the evacuation
 * then place no server on a host whose `nova-compute` is either (appliance/compute/placement.ts).
 * A forced-down service shows `state: down`, and from 2.11 `forced_down`. From 2.53 a service
 * is named by a UUID (stable: derived from its host and binary) and changed by one PUT of it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ComputeService, DEFAULT_ZONE } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, conflict, notFound } from '../faults.js';
import { boolish, isObject, isUuid, rejectUnknown, stableUuid } from './fields.js';
import { atLeast } from './microversions.js';

/** Each binary's zone: `nova-compute`'s is its host's (null here), the others Nova's `internal`. */
const BINARIES = [
  { binary: 'nova-compute', zone: null },
  { binary: 'nova-scheduler', zone: 'internal' },
  { binary: 'nova-conductor', zone: 'internal' },
] as const;

/** What an admin set on `host`'s `nova-compute`, if anything. */
export function computeServiceOf(services: readonly ComputeService[], host: string): ComputeService | undefined {
  return services.find((s) => s.host === host && s.binary === 'nova-compute');
}

/** Nova's host_status (2.16) from a host's `nova-compute`: DOWN when forced down, MAINTENANCE when disabled. */
export function hostStatusOf(host: string, live: ReadonlySet<string>, services: readonly ComputeService[]): string {
  if (!host) return '';
  const compute = computeServiceOf(services, host);
  if (!live.has(host) || compute?.forcedDown) return 'DOWN';
  return compute?.disabled ? 'MAINTENANCE' : 'UP';
}

/** The stable UUID of a host's service (2.53). */
export const serviceUuid = (host: string, binary: string): string => stableUuid(`service:${host}:${binary}`);

/** A disabled reason: 1 to 255 characters. */
function reasonField(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > 255) {
    throw badRequest('Invalid input for field/attribute disabled_reason: 1 to 255 characters.');
  }
  return reason;
}

export function registerServices(app: FastifyInstance, deps: ApiDeps): void {
  const driver = deps.servers.driver;
  const started = new Date().toISOString().replace(/Z$/, '');

  /** Every live host's services as Nova shows them: from 2.53 identified by a UUID, before by a number. */
  const serviceViews = async (request: FastifyRequest) => {
    const set = await deps.db.computeServices.list();
    const zones = await deps.db.aggregates.zones();
    return driver.hosts().flatMap((h, i) =>
      BINARIES.map((b, j) => {
        const s = set.find((one) => one.host === h.hostname && one.binary === b.binary);
        return {
          id: atLeast(request, '2.53') ? serviceUuid(h.hostname, b.binary) : i * BINARIES.length + j + 1,
          binary: b.binary,
          host: h.hostname,
          zone: b.zone ?? zones[h.hostname] ?? DEFAULT_ZONE,
          status: s?.disabled ? 'disabled' : 'enabled',
          state: s?.forcedDown ? 'down' : 'up',
          updated_at: s ? s.updatedAt.replace(/Z$/, '') : started,
          disabled_reason: s?.disabledReason ?? null,
          ...(atLeast(request, '2.11') ? { forced_down: s?.forcedDown ?? false } : {}),
        };
      }),
    );
  };

  app.get('/os-services', async (request) => {
    requireCloudAdmin(authOf(request));
    const host = queryString(request, 'host');
    const binary = queryString(request, 'binary');
    return {
      services: (await serviceViews(request)).filter(
        (s) => (host === undefined || s.host === host) && (binary === undefined || s.binary === binary),
      ),
    };
  });

  /** The service a URL names: from 2.53 by UUID (400 for another id), before by number; 404 for none. */
  const serviceAt = async (request: FastifyRequest) => {
    requireCloudAdmin(authOf(request));
    const { action: id } = request.params as { action: string };
    if (atLeast(request, '2.53') ? !isUuid(id) : !/^\d+$/.test(id)) throw badRequest(`Invalid service id ${id}`);
    const found = (await serviceViews(request)).find((s) => String(s.id) === id.toLowerCase());
    if (!found) throw notFound(`Service ${id} could not be found.`);
    return found;
  };

  // From 2.53 one PUT changes a nova-compute service: its status (with a reason), forced_down.
  const updateV253 = async (request: FastifyRequest) => {
    const service = await serviceAt(request);
    const b = request.body;
    if (!isObject(b)) throw badRequest('The request body must be an object');
    rejectUnknown(b, ['status', 'disabled_reason', 'forced_down'], 'the request body');
    if (service.binary !== 'nova-compute') {
      throw badRequest(
        `Updating a ${service.binary} service is not supported. Only nova-compute services can be updated.`,
      );
    }
    if (b.status !== undefined && b.status !== 'enabled' && b.status !== 'disabled') {
      throw badRequest("Invalid input for field/attribute status: 'enabled' or 'disabled'.");
    }
    if (b.disabled_reason !== undefined && b.status !== 'disabled') {
      throw badRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
    }
    const reason = b.disabled_reason === undefined ? null : reasonField(b.disabled_reason);
    if (b.status === undefined && b.forced_down === undefined) {
      throw badRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.");
    }
    await deps.db.computeServices.set(service.host, service.binary, {
      ...(b.status === undefined ? {} : { disabled: b.status === 'disabled', disabledReason: reason }),
      ...(b.forced_down === undefined ? {} : { forcedDown: boolish(b.forced_down, 'forced_down') }),
    });
    const updated = (await serviceViews(request)).find((s) => s.id === service.id);
    return { service: updated };
  };

  // Nova deletes a decommissioned host's service; rackseed lists the live hosts' only, and a
  // node's services leave with the node (its removal from the cluster), so a delete is refused.
  app.delete('/os-services/:action', async (request) => {
    const service = await serviceAt(request);
    const hosting = service.binary === 'nova-compute' && (await deps.db.servers.projectUsageOn(service.host));
    if (hosting && Object.keys(hosting).length > 0) {
      throw conflict(
        'Unable to delete compute service that is hosting instances. Migrate or delete the instances first.',
      );
    }
    throw conflict(`The service of live host ${service.host} cannot be deleted: it leaves with its node.`);
  });

  /** The host and binary a PUT names, both of a live host; 404 otherwise, as Nova's HostBinaryNotFound. */
  const target = (request: FastifyRequest, fields: readonly string[]) => {
    requireCloudAdmin(authOf(request));
    const b = request.body;
    if (!isObject(b)) throw badRequest('The request body must be an object');
    rejectUnknown(b, ['host', 'binary', ...fields], 'the request body');
    if (typeof b.host !== 'string' || typeof b.binary !== 'string') {
      throw badRequest("Invalid input: 'host' and 'binary' are required strings");
    }
    if (!driver.hosts().some((h) => h.hostname === b.host) || !BINARIES.some((x) => x.binary === b.binary)) {
      throw notFound(`Compute host ${b.host} with binary ${b.binary} could not be found.`);
    }
    return { host: b.host, binary: b.binary, b };
  };

  app.put('/os-services/:action', async (request) => {
    if (atLeast(request, '2.53')) return updateV253(request);
    const { action } = request.params as { action: string };
    switch (action) {
      case 'enable': {
        const { host, binary } = target(request, []);
        await deps.db.computeServices.set(host, binary, { disabled: false, disabledReason: null });
        return { service: { host, binary, status: 'enabled' } };
      }
      case 'disable': {
        const { host, binary } = target(request, []);
        await deps.db.computeServices.set(host, binary, { disabled: true });
        return { service: { host, binary, status: 'disabled' } };
      }
      case 'disable-log-reason': {
        const { host, binary, b } = target(request, ['disabled_reason']);
        const reason = reasonField(b.disabled_reason);
        await deps.db.computeServices.set(host, binary, { disabled: true, disabledReason: reason });
        return { service: { host, binary, status: 'disabled', disabled_reason: reason } };
      }
      case 'force-down': {
        if (!atLeast(request, '2.11')) break;
        const { host, binary, b } = target(request, ['forced_down']);
        if (b.forced_down === undefined) throw badRequest("Invalid input: 'forced_down' is a required property");
        const forcedDown = boolish(b.forced_down, 'forced_down');
        await deps.db.computeServices.set(host, binary, { forcedDown });
        return { service: { host, binary, forced_down: forcedDown } };
      }
    }
    throw notFound('The resource could not be found.');
  });
}
