import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  type CatalogEndpoint,
  type CatalogService,
  DbConflictError,
  type EndpointGroupFilters,
  type ProjectEndpointFilter,
  type Region,
} from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, conflict, forbidden } from '../faults.js';
import { extraOf, type Json, need, objectField, optionalBool, optionalString } from './body.js';

/** The services this API implements, in every catalog and never stored: an admin cannot change them. */
const BUILT_IN = [
  { type: 'identity', name: 'keystone', path: '/identity' },
  { type: 'compute', name: 'nova', path: '/compute/v2.1' },
  { type: 'image', name: 'glance', path: '/image' },
  { type: 'network', name: 'neutron', path: '/network' },
] as const;

const INTERFACES = ['public', 'internal', 'admin'] as const;

function builtInServices(): CatalogService[] {
  return BUILT_IN.map((s) => ({ id: s.name, type: s.type, name: s.name, description: null, enabled: true, extra: {} }));
}

function builtInEndpoints(deps: ApiDeps): CatalogEndpoint[] {
  return BUILT_IN.flatMap((s) =>
    INTERFACES.map((iface) => ({
      id: `${s.name}-${iface}`,
      serviceId: s.name,
      interface: iface,
      regionId: deps.region,
      url: `${deps.publicUrl}${s.path}`,
      enabled: true,
      extra: {},
    })),
  );
}

const builtInRegion = (deps: ApiDeps): Region => ({
  id: deps.region,
  description: '',
  parentRegionId: null,
  extra: {},
});

/** Every endpoint: the API's own, then those an admin registered. */
export async function catalogEndpoints(deps: ApiDeps): Promise<CatalogEndpoint[]> {
  return [...builtInEndpoints(deps), ...(await deps.db.endpoints.list({}))];
}

/** One endpoint, the API's own or a registered one, or null. */
export async function catalogEndpoint(deps: ApiDeps, id: string): Promise<CatalogEndpoint | null> {
  return builtInEndpoints(deps).find((e) => e.id === id) ?? (await deps.db.endpoints.get(id));
}

/** An endpoint as Keystone shows it (with the v2-era `region` beside `region_id`). */
export const endpointRef = (deps: ApiDeps, e: CatalogEndpoint) => ({
  ...e.extra,
  id: e.id,
  interface: e.interface,
  region_id: e.regionId,
  region: e.regionId,
  service_id: e.serviceId,
  url: e.url,
  enabled: e.enabled,
  links: { self: `${deps.publicUrl}/identity/v3/endpoints/${e.id}` },
});

/** Whether an endpoint group's filters select endpoint `e`: every attribute they name is equal. */
export function selects(filters: EndpointGroupFilters, e: CatalogEndpoint): boolean {
  return (
    (filters.serviceId === undefined || filters.serviceId === e.serviceId) &&
    (filters.regionId === undefined || filters.regionId === e.regionId) &&
    (filters.interface === undefined || filters.interface === e.interface)
  );
}

/**
 * The endpoints a project is given by the endpoint filter (Keystone's
 * list_endpoints_for_project): those associated with it one by one that still exist, then
 * those its endpoint groups select, disabled ones too.
 */
export function endpointsOfProject(endpoints: CatalogEndpoint[], filter: ProjectEndpointFilter): CatalogEndpoint[] {
  const direct = new Set(filter.endpointIds);
  return endpoints.filter((e) => direct.has(e.id) || filter.groups.some((g) => selects(g, e)));
}

/**
 * The catalog a token carries: the API's own services, then every enabled service an admin
 * registered that has an enabled endpoint, with those endpoints (as Keystone lists them). A
 * project's catalog holds only the endpoints the endpoint filter gives it (OS-EP-FILTER), when
 * it gives it any, as Keystone's SQL catalog does (return_all_endpoints_if_no_filter).
 */
export async function tokenCatalog(deps: ApiDeps, projectId: string | null): Promise<unknown[]> {
  const [services, endpoints, filter] = await Promise.all([
    deps.db.services.list({}),
    catalogEndpoints(deps),
    projectId === null ? null : deps.db.projectEndpoints.filterOf(projectId),
  ]);
  const all = [...builtInServices(), ...services.filter((s) => s.enabled)];
  const given = filter ? endpointsOfProject(endpoints, filter) : [];
  const shown = given.length > 0 ? given : endpoints;
  const byService = new Map<string, CatalogEndpoint[]>();
  for (const e of shown.filter((e) => e.enabled)) {
    byService.set(e.serviceId, [...(byService.get(e.serviceId) ?? []), e]);
  }
  return all.flatMap((service) => {
    const its = byService.get(service.id) ?? [];
    if (its.length === 0) return [];
    return [
      {
        id: service.id,
        type: service.type,
        name: service.name ?? '',
        endpoints: its.map((e) => ({
          id: e.id,
          interface: e.interface,
          region_id: e.regionId,
          region: e.regionId,
          url: e.url,
        })),
      },
    ];
  });
}

/**
 * Keystone's catalog administration: `/v3/services`, `/v3/endpoints`, `/v3/regions` (cloud
 * admin only, as Keystone's default policy). The API's own services, endpoints and region are
 * listed with the rest and refused to change (403: they are what this API serves). A service's
 * endpoints go with it; a region goes with the regions under it, and not while an endpoint
 * names one of them (403, Keystone's RegionDeletionError).
 */
export async function catalogRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const auth = requireToken(deps);
  const admin = {
    onRequest: auth,
    preHandler: async (request: Parameters<typeof authOf>[0]) => requireCloudAdmin(authOf(request)),
  };
  const db = deps.db;
  const link = (kind: string, id: string) => ({ self: `${deps.publicUrl}/identity/v3/${kind}/${id}` });
  const listLinks = { self: null, next: null, previous: null };
  const builtIn = (what: string, id: string) =>
    forbidden(`The ${what} ${id} is built into this cloud and cannot be changed.`);

  const serviceView = (s: CatalogService) => ({
    ...s.extra,
    id: s.id,
    type: s.type,
    ...(s.name === null ? {} : { name: s.name }),
    ...(s.description === null ? {} : { description: s.description }),
    enabled: s.enabled,
    links: link('services', s.id),
  });
  const endpointView = (e: CatalogEndpoint) => endpointRef(deps, e);
  const regionView = (r: Region) => ({
    ...r.extra,
    id: r.id,
    description: r.description,
    parent_region_id: r.parentRegionId,
    links: link('regions', r.id),
  });
  const isBuiltInService = (id: string) => BUILT_IN.some((s) => s.name === id);
  const builtInEndpoint = (id: string) => builtInEndpoints(deps).find((e) => e.id === id);
  const service = async (id: string) =>
    need(builtInServices().find((s) => s.id === id) ?? (await db.services.get(id)), 'service', id);
  const endpoint = async (id: string) => need(await catalogEndpoint(deps, id), 'endpoint', id);
  const region = async (id: string) =>
    need(id === deps.region ? builtInRegion(deps) : await db.regions.get(id), 'region', id);

  // The cloud's own region is not stored, so it has no regions under it.
  const parentRegion = async (id: string) => {
    if (id === deps.region) throw builtIn('region', id);
    await region(id);
  };

  /**
   * An endpoint's region, from `region_id`, which must name one (else 400), or else from the
   * older `region`, which Keystone creates when it does not exist (for its v2-era clients, and
   * tempest's endpoint tests rely on it).
   */
  const endpointRegion = async (body: Json): Promise<string | null | undefined> => {
    const legacy = body.region_id === undefined || body.region_id === null;
    const id = legacy ? optionalString(body, 'region') : optionalString(body, 'region_id');
    if (id === undefined) return 'region_id' in body || 'region' in body ? null : undefined;
    if (id === deps.region || (await db.regions.get(id))) return id;
    if (!legacy) throw badRequest(`Region ${id} not found.`);
    try {
      await db.regions.create({ id: checkedRegionId(id), description: '', parentRegionId: null, extra: {} });
    } catch (error) {
      if (!(error instanceof DbConflictError)) throw error; // made meanwhile by another request
    }
    return id;
  };

  // Services.
  app.get('/v3/services', admin, async (request) => {
    const type = queryString(request, 'type');
    const name = queryString(request, 'name');
    const services = [...builtInServices(), ...(await db.services.list({}))].filter(
      (s) => (type === undefined || s.type === type) && (name === undefined || s.name === name),
    );
    return { services: services.map(serviceView), links: listLinks };
  });
  app.post('/v3/services', admin, async (request, reply) => {
    const body = objectField(request.body, 'service');
    const type = optionalString(body, 'type');
    if (!type || type.length > 255) throw badRequest("Invalid input for field 'type'");
    const created = await db.services.create({
      id: randomUUID().replace(/-/g, ''),
      type,
      name: optionalString(body, 'name') ?? null,
      description: optionalString(body, 'description') ?? null,
      enabled: optionalBool(body, 'enabled') ?? true,
      extra: extraOf(body, ['id', 'type', 'name', 'description', 'enabled', 'links']),
    });
    return reply.code(201).send({ service: serviceView(created) });
  });
  app.get('/v3/services/:id', admin, async (request) => ({
    service: serviceView(await service(idOf(request.params))),
  }));
  app.patch('/v3/services/:id', admin, async (request) => {
    const id = idOf(request.params);
    if (isBuiltInService(id)) throw builtIn('service', id);
    const body = objectField(request.body, 'service');
    if (body.id !== undefined && body.id !== id) throw badRequest('Cannot change the ID of a service.');
    const before = await service(id);
    const type = optionalString(body, 'type');
    if (type !== undefined && (type.length === 0 || type.length > 255))
      throw badRequest("Invalid input for field 'type'");
    const updated = await db.services.update(id, {
      ...(type === undefined ? {} : { type }),
      ...('name' in body ? { name: optionalString(body, 'name') ?? null } : {}),
      ...('description' in body ? { description: optionalString(body, 'description') ?? null } : {}),
      ...(optionalBool(body, 'enabled') === undefined ? {} : { enabled: optionalBool(body, 'enabled') }),
      extra: { ...before.extra, ...extraOf(body, ['id', 'type', 'name', 'description', 'enabled', 'links']) },
    });
    return { service: serviceView(updated) };
  });
  app.delete('/v3/services/:id', admin, async (request, reply) => {
    const id = idOf(request.params);
    if (isBuiltInService(id)) throw builtIn('service', id);
    await service(id);
    await db.services.delete(id);
    return reply.code(204).send();
  });

  // Endpoints.
  app.get('/v3/endpoints', admin, async (request) => {
    const iface = queryString(request, 'interface');
    const serviceId = queryString(request, 'service_id');
    const regionId = queryString(request, 'region_id');
    const endpoints = [...builtInEndpoints(deps), ...(await db.endpoints.list({}))].filter(
      (e) =>
        (iface === undefined || e.interface === iface) &&
        (serviceId === undefined || e.serviceId === serviceId) &&
        (regionId === undefined || e.regionId === regionId),
    );
    return { endpoints: endpoints.map(endpointView), links: listLinks };
  });
  app.post('/v3/endpoints', admin, async (request, reply) => {
    const body = objectField(request.body, 'endpoint');
    const serviceId = optionalString(body, 'service_id');
    if (!serviceId) throw badRequest("'service_id' is a required property");
    if (isBuiltInService(serviceId)) throw builtIn('service', serviceId);
    await service(serviceId);
    const regionId = (await endpointRegion(body)) ?? null;
    const created = await db.endpoints.create({
      id: randomUUID().replace(/-/g, ''),
      serviceId,
      interface: interfaceOf(body, true) ?? 'public',
      regionId,
      url: urlOf(body, true) ?? '',
      enabled: optionalBool(body, 'enabled') ?? true,
      extra: extraOf(body, ENDPOINT_FIELDS),
    });
    return reply.code(201).send({ endpoint: endpointView(created) });
  });
  app.get('/v3/endpoints/:id', admin, async (request) => ({
    endpoint: endpointView(await endpoint(idOf(request.params))),
  }));
  app.patch('/v3/endpoints/:id', admin, async (request) => {
    const id = idOf(request.params);
    if (builtInEndpoint(id)) throw builtIn('endpoint', id);
    const body = objectField(request.body, 'endpoint');
    if (body.id !== undefined && body.id !== id) throw badRequest('Cannot change the ID of an endpoint.');
    const before = await endpoint(id);
    const serviceId = optionalString(body, 'service_id');
    if (serviceId !== undefined) {
      if (isBuiltInService(serviceId)) throw builtIn('service', serviceId);
      await service(serviceId);
    }
    const regionId = await endpointRegion(body);
    const iface = interfaceOf(body, false);
    const url = urlOf(body, false);
    const enabled = optionalBool(body, 'enabled');
    const updated = await db.endpoints.update(id, {
      ...(serviceId === undefined ? {} : { serviceId }),
      ...(regionId === undefined ? {} : { regionId }),
      ...(iface === undefined ? {} : { interface: iface }),
      ...(url === undefined ? {} : { url }),
      ...(enabled === undefined ? {} : { enabled }),
      extra: { ...before.extra, ...extraOf(body, ENDPOINT_FIELDS) },
    });
    return { endpoint: endpointView(updated) };
  });
  app.delete('/v3/endpoints/:id', admin, async (request, reply) => {
    const id = idOf(request.params);
    if (builtInEndpoint(id)) throw builtIn('endpoint', id);
    await endpoint(id);
    await db.endpoints.delete(id);
    return reply.code(204).send();
  });

  // Regions.
  app.get('/v3/regions', admin, async (request) => {
    const parent = queryString(request, 'parent_region_id');
    const regions = [builtInRegion(deps), ...(await db.regions.list({}))].filter(
      (r) => parent === undefined || r.parentRegionId === parent,
    );
    return { regions: regions.map(regionView), links: listLinks };
  });
  const createRegion = async (id: string, body: Json): Promise<Region> => {
    if (id === deps.region) throw conflict(`Duplicate ID, ${id}.`);
    const parentRegionId = optionalString(body, 'parent_region_id') ?? null;
    if (parentRegionId !== null) await parentRegion(parentRegionId);
    try {
      return await db.regions.create({
        id,
        description: optionalString(body, 'description') ?? '',
        parentRegionId,
        extra: extraOf(body, REGION_FIELDS),
      });
    } catch (error) {
      if (error instanceof DbConflictError) throw conflict(`Duplicate ID, ${id}.`);
      throw error;
    }
  };
  app.post('/v3/regions', admin, async (request, reply) => {
    const body = objectField(request.body, 'region');
    const id = optionalString(body, 'id') ?? randomUUID().replace(/-/g, '');
    return reply.code(201).send({ region: regionView(await createRegion(checkedRegionId(id), body)) });
  });
  app.put('/v3/regions/:id', admin, async (request, reply) => {
    const id = checkedRegionId(idOf(request.params));
    const body = objectField(request.body, 'region');
    if (body.id !== undefined && body.id !== id)
      throw badRequest('The region id in the body is not the one in the URL.');
    return reply.code(201).send({ region: regionView(await createRegion(id, body)) });
  });
  app.get('/v3/regions/:id', admin, async (request) => ({ region: regionView(await region(idOf(request.params))) }));
  app.patch('/v3/regions/:id', admin, async (request) => {
    const id = idOf(request.params);
    if (id === deps.region) throw builtIn('region', id);
    const body = objectField(request.body, 'region');
    if (body.id !== undefined && body.id !== id) throw badRequest('Cannot change the ID of a region.');
    const before = await region(id);
    const parent = 'parent_region_id' in body ? (optionalString(body, 'parent_region_id') ?? null) : undefined;
    if (parent !== undefined && parent !== null) await parentRegion(parent);
    const description = optionalString(body, 'description');
    try {
      const updated = await db.regions.update(id, {
        ...(description === undefined ? {} : { description }),
        ...(parent === undefined ? {} : { parentRegionId: parent }),
        extra: { ...before.extra, ...extraOf(body, REGION_FIELDS) },
      });
      return { region: regionView(updated) };
    } catch (error) {
      if (error instanceof DbConflictError) throw badRequest(error.message); // Keystone's CircularRegionHierarchyError
      throw error;
    }
  });
  app.delete('/v3/regions/:id', admin, async (request, reply) => {
    const id = idOf(request.params);
    if (id === deps.region) throw builtIn('region', id);
    await region(id);
    try {
      await db.regions.delete(id);
    } catch (error) {
      if (error instanceof DbConflictError) throw forbidden(error.message);
      throw error;
    }
    return reply.code(204).send();
  });
}

const ENDPOINT_FIELDS = ['id', 'service_id', 'interface', 'region_id', 'region', 'url', 'enabled', 'links'];
const REGION_FIELDS = ['id', 'description', 'parent_region_id', 'links'];

function idOf(params: unknown): string {
  return (params as { id: string }).id;
}

function interfaceOf(body: Json, required: boolean): CatalogEndpoint['interface'] | undefined {
  const value = body.interface;
  if (value === undefined && !required) return undefined;
  if (!INTERFACES.includes(value as never)) {
    throw badRequest(
      `Invalid input for field 'interface': ${JSON.stringify(value)} is not one of public, internal, admin`,
    );
  }
  return value as CatalogEndpoint['interface'];
}

function urlOf(body: Json, required: boolean): string | undefined {
  const value = body.url;
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/\S+$/.test(value) || value.length > 225) {
    throw badRequest("Invalid input for field 'url'");
  }
  return value;
}

/** Keystone's region ids: up to 255 characters, no slash (they are path segments). */
function checkedRegionId(id: string): string {
  if (id.length === 0 || id.length > 255 || id.includes('/')) throw badRequest("Invalid input for field 'id'");
  return id;
}
