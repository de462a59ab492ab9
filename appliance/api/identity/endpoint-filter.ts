import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EndpointGroup, EndpointGroupFilters, Project } from '../../db/index.js';
import { type ApiDeps, authOf, queryString, requireCloudAdmin, requireToken } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { isObject, type Json, need } from './body.js';
import { catalogEndpoint, catalogEndpoints, endpointRef, endpointsOfProject, selects } from './catalog.js';
import { collectionLinks, newId, projectView, selfLink } from './views.js';

const PREFIX = 'OS-EP-FILTER';
const INTERFACES = ['public', 'internal', 'admin'];

/** Keystone's endpoint group filters: `service_id`, `region_id` and `interface` only, as typed by its schema. */
function filtersOf(value: unknown, required: boolean): EndpointGroupFilters {
  if (!isObject(value)) throw badRequest("Invalid input for field 'filters': not an object");
  if (required && Object.keys(value).length === 0) throw badRequest('filters field is required and cannot be empty');
  const filters: EndpointGroupFilters = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'service_id' && typeof v === 'string') filters.serviceId = v;
    else if (key === 'region_id' && (typeof v === 'string' || v === null)) filters.regionId = v;
    else if (key === 'interface' && typeof v === 'string' && INTERFACES.includes(v)) {
      filters.interface = v as EndpointGroupFilters['interface'];
    } else if (['service_id', 'region_id', 'interface'].includes(key)) {
      throw badRequest(`Invalid input for field 'filters.${key}'`);
    } else {
      throw badRequest('Expecting to find service_id or region_id or interface in endpoint_group');
    }
  }
  return filters;
}

/** An endpoint group body: `name`, `description` and `filters`, nothing else (Keystone's schema). */
function groupFields(body: unknown): Json {
  if (!isObject(body) || !isObject(body.endpoint_group))
    throw badRequest('Expecting to find endpoint_group in request body');
  const group = body.endpoint_group;
  const unknown = Object.keys(group).find((key) => !['name', 'description', 'filters'].includes(key));
  if (unknown !== undefined) throw badRequest(`Additional properties are not allowed ('${unknown}' was unexpected)`);
  const { name, description } = group;
  if (name !== undefined && (typeof name !== 'string' || name.trim().length === 0 || name.length > 255)) {
    throw badRequest("Invalid input for field 'name': 1 to 255 characters, not all blank");
  }
  if (description !== undefined && description !== null && typeof description !== 'string') {
    throw badRequest("Invalid input for field 'description': not a string or null");
  }
  return group;
}

/**
 * Keystone's endpoint filter (`/v3/OS-EP-FILTER`), for the cloud admin: endpoint groups (the
 * endpoints whose service, region or interface their filters name), and which endpoints and
 * endpoint groups each project is given. A project given any sees only those in its token's
 * catalog (tokenCatalog). The API's own endpoints (`nova-public`…) can be given as any other.
 */
export async function endpointFilterRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const admin = {
    onRequest: requireToken(deps),
    preHandler: async (request: FastifyRequest) => requireCloudAdmin(authOf(request)),
  };
  const db = deps.db;
  const groupsPath = `/v3/${PREFIX}/endpoint_groups`;

  const groupView = (g: EndpointGroup) => ({
    id: g.id,
    name: g.name,
    description: g.description,
    filters: {
      ...(g.filters.serviceId === undefined ? {} : { service_id: g.filters.serviceId }),
      ...(g.filters.regionId === undefined ? {} : { region_id: g.filters.regionId }),
      ...(g.filters.interface === undefined ? {} : { interface: g.filters.interface }),
    },
    links: selfLink(deps, `${PREFIX}/endpoint_groups/${g.id}`),
  });
  const group = async (id: string) => need(await db.endpointGroups.get(id), 'endpoint group', id);
  const project = async (id: string) => need(await db.projects.get(id), 'project', id);
  const endpoint = async (id: string) => need(await catalogEndpoint(deps, id), 'endpoint', id);
  const projectsOf = async (ids: string[]): Promise<Project[]> =>
    (await Promise.all(ids.map((id) => db.projects.get(id)))).filter((p): p is Project => p !== null);
  const params = (request: FastifyRequest) => request.params as { id: string; project: string; endpoint: string };

  // Endpoint groups.
  app.get(groupsPath, admin, async (request) => ({
    endpoint_groups: (await db.endpointGroups.list({ name: queryString(request, 'name') })).map(groupView),
    links: collectionLinks(deps, request),
  }));
  app.post(groupsPath, admin, async (request, reply) => {
    const body = groupFields(request.body);
    if (body.name === undefined) throw badRequest("'name' is a required property");
    const created = await db.endpointGroups.create({
      id: newId(),
      name: body.name as string,
      description: (body.description as string | null | undefined) ?? null,
      filters: filtersOf(body.filters, true),
    });
    return reply.code(201).send({ endpoint_group: groupView(created) });
  });
  app.get(`${groupsPath}/:id`, admin, async (request) => ({
    endpoint_group: groupView(await group(params(request).id)),
  }));
  app.patch(`${groupsPath}/:id`, admin, async (request) => {
    const { id } = params(request);
    const body = groupFields(request.body);
    if (Object.keys(body).length === 0) throw badRequest('The endpoint group to update has no properties');
    await group(id);
    const updated = await db.endpointGroups.update(id, {
      ...(body.name === undefined ? {} : { name: body.name as string }),
      ...(body.description === undefined ? {} : { description: body.description as string | null }),
      ...(body.filters === undefined ? {} : { filters: filtersOf(body.filters, false) }),
    });
    return { endpoint_group: groupView(updated) };
  });
  app.delete(`${groupsPath}/:id`, admin, async (request, reply) => {
    const { id } = params(request);
    await group(id);
    await db.endpointGroups.delete(id);
    return reply.code(204).send();
  });
  app.get(`${groupsPath}/:id/endpoints`, admin, async (request) => {
    const { filters } = await group(params(request).id);
    const endpoints = (await catalogEndpoints(deps)).filter((e) => selects(filters, e));
    return { endpoints: endpoints.map((e) => endpointRef(deps, e)), links: collectionLinks(deps, request) };
  });

  // Endpoint groups given to projects.
  app.get(`${groupsPath}/:id/projects`, admin, async (request) => ({
    projects: (await projectsOf(await db.endpointGroups.projects(params(request).id))).map((p) => projectView(deps, p)),
    links: collectionLinks(deps, request),
  }));
  const groupAndProject = async (request: FastifyRequest) => {
    const { id, project: projectId } = params(request);
    await project(projectId);
    await group(id);
    return { id, projectId };
  };
  app.put(`${groupsPath}/:id/projects/:project`, admin, async (request, reply) => {
    const { id, projectId } = await groupAndProject(request);
    await db.endpointGroups.addProject(id, projectId);
    return reply.code(204).send();
  });
  app.get(`${groupsPath}/:id/projects/:project`, admin, async (request) => {
    const { id, projectId } = await groupAndProject(request);
    if (!(await db.endpointGroups.projects(id)).includes(projectId)) {
      throw notFound('Endpoint Group Project Association not found');
    }
    return {
      project_endpoint_group: {
        endpoint_group_id: id,
        project_id: projectId,
        links: selfLink(deps, `${PREFIX}/endpoint_groups/${id}/projects/${projectId}`),
      },
    };
  });
  app.delete(`${groupsPath}/:id/projects/:project`, admin, async (request, reply) => {
    const { id, projectId } = await groupAndProject(request);
    await db.endpointGroups.removeProject(id, projectId);
    return reply.code(204).send();
  });
  app.get(`/v3/${PREFIX}/projects/:project/endpoint_groups`, admin, async (request) => {
    const { project: projectId } = params(request);
    await project(projectId);
    return {
      endpoint_groups: (await db.endpointGroups.ofProject(projectId)).map(groupView),
      links: collectionLinks(deps, request),
    };
  });

  // Endpoints given to projects one by one.
  const endpointAndProject = async (request: FastifyRequest) => {
    const { project: projectId, endpoint: endpointId } = params(request);
    await endpoint(endpointId);
    await project(projectId);
    return { projectId, endpointId };
  };
  const projectEndpoint = `/v3/${PREFIX}/projects/:project/endpoints/:endpoint`;
  app.put(projectEndpoint, admin, async (request, reply) => {
    const { projectId, endpointId } = await endpointAndProject(request);
    await db.projectEndpoints.add(projectId, endpointId);
    return reply.code(204).send();
  });
  // Keystone answers a GET as a HEAD: 204 when the project has the endpoint.
  app.get(projectEndpoint, admin, async (request, reply) => {
    const { projectId, endpointId } = await endpointAndProject(request);
    if ((await db.projectEndpoints.list({ projectId, endpointId })).length === 0) {
      throw notFound(`Endpoint ${endpointId} not found in project ${projectId}`);
    }
    return reply.code(204).send();
  });
  app.delete(projectEndpoint, admin, async (request, reply) => {
    const { project: projectId, endpoint: endpointId } = params(request);
    await db.projectEndpoints.remove(projectId, endpointId);
    return reply.code(204).send();
  });
  app.get(`/v3/${PREFIX}/projects/:project/endpoints`, admin, async (request) => {
    const { project: projectId } = params(request);
    await project(projectId);
    const [endpoints, filter] = await Promise.all([catalogEndpoints(deps), db.projectEndpoints.filterOf(projectId)]);
    return {
      endpoints: endpointsOfProject(endpoints, filter).map((e) => endpointRef(deps, e)),
      links: collectionLinks(deps, request),
    };
  });
  app.get(`/v3/${PREFIX}/endpoints/:endpoint/projects`, admin, async (request) => {
    const { endpoint: endpointId } = params(request);
    await endpoint(endpointId);
    const ids = (await db.projectEndpoints.list({ endpointId })).map((a) => a.projectId);
    return {
      projects: (await projectsOf(ids)).map((p) => projectView(deps, p)),
      links: collectionLinks(deps, request),
    };
  });
}
