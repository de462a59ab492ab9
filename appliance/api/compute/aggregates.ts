/**
 * Nova's host aggregates (`os-aggregates`, the cloud admin's) and availability zones
 * (`os-availability-zone`). An aggregate groups hosts under metadata; one whose metadata has
 * `availability_zone` makes its hosts that zone, which a server create may ask for (the
 * scheduler keeps to it: appliance/db/servers.ts `servers.place`). A host in no such aggregate
 * is in `nova`. The rules that keep a host in one zone, and a server in the zone it was placed
 * in, are the database's (appliance/db/aggregates.ts); their refusals are Nova's 400s, and 409s
 * for adding or removing a host. From microversion 2.41 an aggregate shows its `uuid`.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Aggregate, DbInvalidActionError, DEFAULT_ZONE } from '../../db/index.js';
import { type ApiDeps, authOf, requireCloudAdmin } from '../context.js';
import { badRequest, conflict, notFound } from '../faults.js';
import { body, isObject, nameField, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';
import { computeServiceOf } from './services.js';

const time = (iso: string | null) => (iso === null ? null : iso.replace(/Z$/, ''));

function aggregateView(request: FastifyRequest, a: Aggregate) {
  return {
    id: a.id,
    name: a.name,
    availability_zone: a.metadata.availability_zone ?? null,
    hosts: a.hosts,
    metadata: a.metadata,
    created_at: time(a.createdAt),
    updated_at: time(a.updatedAt),
    deleted_at: null,
    deleted: false,
    ...(atLeast(request, '2.41') ? { uuid: a.uuid } : {}),
  };
}

/** An availability zone's name: a name (fields.ts) without `:`, which separates a forced host. */
export function zoneField(v: unknown, field = 'availability_zone'): string {
  const name = nameField(v, field);
  if (name.includes(':')) throw badRequest(`Invalid input for field/attribute ${field}: it may not contain ':'.`);
  return name;
}

/** The aggregate id of the URL: an integer, else Nova's 400. */
function aggregateId(request: FastifyRequest): number {
  const { id } = request.params as { id: string };
  if (!/^-?\d+$/.test(id)) throw badRequest(`Invalid input: id must be an integer, not ${JSON.stringify(id)}.`);
  return Number(id);
}

/** Nova's host field (its `fqdn` schema). */
function hostField(o: Record<string, unknown>, where: string): string {
  rejectUnknown(o, ['host'], where);
  const host = o.host;
  if (typeof host !== 'string' || !/^[a-zA-Z0-9-._]{1,255}$/.test(host)) {
    throw badRequest(`Invalid input for field/attribute host.`);
  }
  return host;
}

/** Metadata as Nova's `metadata_with_null`: keys of 1-255 of [A-Za-z0-9-_:. ], values strings of ≤ 255 or null. */
function metadataWithNull(v: unknown): Record<string, string | null> {
  if (!isObject(v)) throw badRequest('Invalid input for field/attribute metadata: not an object');
  for (const [key, value] of Object.entries(v)) {
    if (
      !/^[a-zA-Z0-9-_:. ]{1,255}$/.test(key) ||
      !(value === null || (typeof value === 'string' && value.length <= 255))
    ) {
      throw badRequest(`Invalid input for field/attribute metadata: bad item '${key}'`);
    }
  }
  return v as Record<string, string | null>;
}

export function registerAggregates(app: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const admin = { onRequest: async (request: FastifyRequest) => requireCloudAdmin(authOf(request)) };
  const found = async (id: number) => {
    const aggregate = await db.aggregates.get(id);
    if (!aggregate) throw notFound(`Aggregate ${id} could not be found.`);
    return aggregate;
  };

  app.get('/os-aggregates', admin, async (request) => ({
    aggregates: (await db.aggregates.list()).map((a) => aggregateView(request, a)),
  }));

  // Nova answers 200 (not 201) and, as it did before returning objects, without hosts and metadata.
  app.post('/os-aggregates', admin, async (request) => {
    const b = body(request, 'aggregate');
    rejectUnknown(b, ['name', 'availability_zone'], 'aggregate');
    const name = nameField(b.name);
    const zone =
      b.availability_zone === undefined || b.availability_zone === null ? null : zoneField(b.availability_zone);
    const created = await db.aggregates.create({
      uuid: randomUUID(),
      name,
      metadata: zone ? { availability_zone: zone } : {},
      createdAt: new Date().toISOString(),
    });
    const { hosts: _hosts, metadata: _metadata, ...view } = aggregateView(request, created);
    return { aggregate: view };
  });

  app.get('/os-aggregates/:id', admin, async (request) => ({
    aggregate: aggregateView(request, await found(aggregateId(request))),
  }));

  app.put('/os-aggregates/:id', admin, async (request) => {
    const id = aggregateId(request);
    const b = body(request, 'aggregate');
    rejectUnknown(b, ['name', 'availability_zone'], 'aggregate');
    if (b.name === undefined && b.availability_zone === undefined) {
      throw badRequest("Invalid input for aggregate: 'name' or 'availability_zone' is required.");
    }
    await found(id);
    const updated = await db.aggregates.update(
      id,
      {
        ...(b.name === undefined ? {} : { name: nameField(b.name) }),
        ...(b.availability_zone === undefined
          ? {}
          : { metadata: { availability_zone: b.availability_zone === null ? null : zoneField(b.availability_zone) } }),
      },
      new Date().toISOString(),
    );
    return { aggregate: aggregateView(request, updated) };
  });

  // Nova answers 200 with no body.
  app.delete('/os-aggregates/:id', admin, async (request, reply) => {
    const id = aggregateId(request);
    await found(id);
    await db.aggregates.delete(id);
    return reply.code(200).send();
  });

  app.post('/os-aggregates/:id/action', admin, async (request) => {
    const id = aggregateId(request);
    const b = request.body;
    if (!isObject(b) || Object.keys(b).length !== 1) throw badRequest('There is no such action.');
    const [action] = Object.keys(b) as [string];
    const args = b[action];
    if (!isObject(args)) throw badRequest(`Invalid input: '${action}' must be an object.`);
    // Adding or removing a host that would move servers to another zone is Nova's 409.
    const asConflict = (error: unknown) => {
      throw error instanceof DbInvalidActionError ? conflict(error.message) : error;
    };
    let aggregate: Aggregate;
    switch (action) {
      case 'add_host': {
        const host = hostField(args, 'add_host');
        await found(id);
        if (!deps.servers.driver.hosts().some((h) => h.hostname === host)) {
          throw notFound(`Compute host ${host} could not be found.`);
        }
        aggregate = await db.aggregates.addHost(id, host).catch(asConflict);
        break;
      }
      case 'remove_host': {
        const host = hostField(args, 'remove_host');
        if (!(await found(id)).hosts.includes(host)) throw notFound(`Cannot remove host ${host} in aggregate ${id}`);
        aggregate = await db.aggregates.removeHost(id, host).catch(asConflict);
        break;
      }
      case 'set_metadata': {
        rejectUnknown(args, ['metadata'], 'set_metadata');
        const metadata = metadataWithNull(args.metadata);
        await found(id);
        aggregate = await db.aggregates.update(id, { metadata }, new Date().toISOString());
        break;
      }
      default:
        throw badRequest('There is no such action.');
    }
    return { aggregate: aggregateView(request, aggregate) };
  });
}

/**
 * The zones the live hosts are in, each with its hosts: a host's zone is its aggregate's, else
 * `nova`. A zone is available when one of its hosts' `nova-compute` is up and enabled.
 */
export async function liveZones(deps: ApiDeps): Promise<Map<string, string[]>> {
  const zones = await deps.db.aggregates.zones();
  const out = new Map<string, string[]>();
  for (const h of deps.servers.driver.hosts()) {
    const zone = zones[h.hostname] ?? DEFAULT_ZONE;
    out.set(zone, [...(out.get(zone) ?? []), h.hostname]);
  }
  return out;
}

export function registerAvailabilityZones(app: FastifyInstance, deps: ApiDeps): void {
  const started = new Date().toISOString().replace(/Z$/, '');

  /** Each zone of the live hosts, and whether one of its hosts is up and enabled; sorted by name. */
  const zoneStates = async () => {
    const services = await deps.db.computeServices.list();
    const up = (host: string) => {
      const s = computeServiceOf(services, host);
      return !s?.forcedDown && !s?.disabled;
    };
    return {
      services,
      zones: [...(await liveZones(deps))]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, hosts]) => ({ name, hosts, available: hosts.some(up) })),
    };
  };

  app.get('/os-availability-zone', async () => ({
    availabilityZoneInfo: (await zoneStates()).zones.map((z) => ({
      zoneName: z.name,
      zoneState: { available: z.available },
      hosts: null,
    })),
  }));

  // Nova's detail also lists its `internal` zone, of the control services every host runs.
  app.get('/os-availability-zone/detail', async (request) => {
    requireCloudAdmin(authOf(request));
    const { services, zones } = await zoneStates();
    const state = (host: string) => {
      const s = computeServiceOf(services, host);
      return { available: !s?.forcedDown, active: !s?.disabled, updated_at: s ? time(s.updatedAt) : started };
    };
    const hosts = deps.servers.driver.hosts().map((h) => h.hostname);
    return {
      availabilityZoneInfo: [
        ...zones.map((z) => ({
          zoneName: z.name,
          zoneState: { available: z.available },
          hosts: Object.fromEntries(z.hosts.map((h) => [h, { 'nova-compute': state(h) }])),
        })),
        ...(hosts.length > 0
          ? [
              {
                zoneName: 'internal',
                zoneState: { available: true },
                hosts: Object.fromEntries(
                  hosts.map((h) => {
                    const up = { available: true, active: true, updated_at: started };
                    return [h, { 'nova-scheduler': up, 'nova-conductor': up }];
                  }),
                ),
              },
            ]
          : []),
      ],
    };
  });
}
