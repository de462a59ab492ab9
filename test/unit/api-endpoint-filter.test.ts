import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type IdentityCaller, identityCaller, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Keystone's endpoint filter (OS-EP-FILTER): endpoint groups, the endpoints and groups given to
// projects, and the catalog of a project's tokens that they limit, as tempest's
// test_endpoint_groups and `openstack endpoint group` / `openstack endpoint add project` use it.
describe('Keystone v3 OS-EP-FILTER', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let projectId: string;
  let call: IdentityCaller;
  const groups = '/OS-EP-FILTER/endpoint_groups';
  const newGroup = async (filters: object, name = 'group') => {
    const r = await call({ method: 'POST', url: groups, payload: { endpoint_group: { name, filters } } });
    expect(r.status).toBe(201);
    return r.body.endpoint_group.id as string;
  };
  type Catalog = { type: string; endpoints: { id: string }[] }[];
  /** The catalog as `type: endpoint ids`. */
  const shape = (catalog: Catalog) => Object.fromEntries(catalog.map((s) => [s.type, s.endpoints.map((e) => e.id)]));
  const catalogOf = async (token: string) =>
    shape((await call({ method: 'GET', url: '/auth/catalog', token })).body.catalog);

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    call = identityCaller(t.api, admin);
    member = await tenant(t.api, admin, 'epf-member', 'member');
    projectId = (await call({ method: 'GET', url: '/projects?name=epf-member' })).body.projects[0].id;
  });
  afterAll(async () => t.stop());

  it('makes, lists, shows, checks, changes and deletes endpoint groups', async () => {
    const made = await call({
      method: 'POST',
      url: groups,
      payload: { endpoint_group: { name: 'computes', description: 'nova', filters: { service_id: 'nova' } } },
    });
    expect(made.status).toBe(201);
    const g = made.body.endpoint_group;
    expect(g).toEqual({
      id: g.id,
      name: 'computes',
      description: 'nova',
      filters: { service_id: 'nova' },
      links: { self: `http://cloud.test/identity/v3/OS-EP-FILTER/endpoint_groups/${g.id}` },
    });
    expect((await call({ method: 'GET', url: groups })).body.endpoint_groups).toContainEqual(g);
    expect((await call({ method: 'GET', url: `${groups}?name=computes` })).body.endpoint_groups).toEqual([g]);
    expect((await call({ method: 'GET', url: `${groups}/${g.id}` })).body.endpoint_group).toEqual(g);
    expect((await call({ method: 'HEAD', url: `${groups}/${g.id}` })).status).toBe(200);
    const changed = await call({
      method: 'PATCH',
      url: `${groups}/${g.id}`,
      payload: {
        endpoint_group: { name: 'images', description: null, filters: { service_id: 'glance', interface: 'admin' } },
      },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.endpoint_group).toMatchObject({
      name: 'images',
      description: null,
      filters: { service_id: 'glance', interface: 'admin' },
    });
    const endpoints = await call({ method: 'GET', url: `${groups}/${g.id}/endpoints` });
    expect(endpoints.body.endpoints.map((e: { id: string }) => e.id)).toEqual(['glance-admin']);
    expect(endpoints.body.endpoints[0]).toMatchObject({ service_id: 'glance', interface: 'admin', enabled: true });
    expect((await call({ method: 'DELETE', url: `${groups}/${g.id}` })).status).toBe(204);
    expect((await call({ method: 'GET', url: `${groups}/${g.id}` })).status).toBe(404);
    expect((await call({ method: 'HEAD', url: `${groups}/${g.id}` })).status).toBe(404);
    expect((await call({ method: 'DELETE', url: `${groups}/${g.id}` })).status).toBe(404);
  });

  it('refuses bad endpoint groups with 400', async () => {
    const bad = [
      { name: 'x', filters: {} },
      { name: 'x' },
      { filters: { service_id: 'nova' } },
      { name: '', filters: { service_id: 'nova' } },
      { name: 'x', filters: { enabled: true } },
      { name: 'x', filters: { interface: 'private' } },
      { name: 'x', filters: { service_id: 7 } },
      { name: 'x', filters: { service_id: 'nova' }, colour: 'red' },
      { name: 'x', filters: 'nova' },
    ];
    for (const endpoint_group of bad) {
      const r = await call({ method: 'POST', url: groups, payload: { endpoint_group } });
      expect(r.status, JSON.stringify(endpoint_group)).toBe(400);
    }
    const id = await newGroup({ region_id: 'RegionOne' });
    for (const endpoint_group of [{}, { id }, { filters: { url: 'x' } }]) {
      expect((await call({ method: 'PATCH', url: `${groups}/${id}`, payload: { endpoint_group } })).status).toBe(400);
    }
  });

  it('gives endpoint groups to projects', async () => {
    const id = await newGroup({ interface: 'internal' }, 'internals');
    const association = `${groups}/${id}/projects/${projectId}`;
    expect((await call({ method: 'GET', url: association })).status).toBe(404);
    expect((await call({ method: 'PUT', url: association })).status).toBe(204);
    expect((await call({ method: 'PUT', url: association })).status).toBe(409);
    const shown = await call({ method: 'GET', url: association });
    expect(shown.body.project_endpoint_group).toMatchObject({ endpoint_group_id: id, project_id: projectId });
    expect((await call({ method: 'HEAD', url: association })).status).toBe(200);
    const projects = await call({ method: 'GET', url: `${groups}/${id}/projects` });
    expect(projects.body.projects.map((p: { id: string; name: string }) => [p.id, p.name])).toEqual([
      [projectId, 'epf-member'],
    ]);
    const ofProject = await call({ method: 'GET', url: `/OS-EP-FILTER/projects/${projectId}/endpoint_groups` });
    expect(ofProject.body.endpoint_groups.map((g: { id: string }) => g.id)).toEqual([id]);
    expect((await call({ method: 'PUT', url: `${groups}/${id}/projects/no-such-project` })).status).toBe(404);
    expect((await call({ method: 'PUT', url: `${groups}/no-such-group/projects/${projectId}` })).status).toBe(404);
    expect((await call({ method: 'GET', url: '/OS-EP-FILTER/projects/no-such-project/endpoint_groups' })).status).toBe(
      404,
    );
    expect((await call({ method: 'DELETE', url: association })).status).toBe(204);
    expect((await call({ method: 'DELETE', url: association })).status).toBe(404);
    // A deleted group leaves no association behind.
    await call({ method: 'PUT', url: association });
    await call({ method: 'DELETE', url: `${groups}/${id}` });
    expect(
      (await call({ method: 'GET', url: `/OS-EP-FILTER/projects/${projectId}/endpoint_groups` })).body,
    ).toMatchObject({ endpoint_groups: [] });
  });

  it('gives endpoints, the API’s own too, to projects one by one', async () => {
    const association = `/OS-EP-FILTER/projects/${projectId}/endpoints/nova-public`;
    expect((await call({ method: 'HEAD', url: association })).status).toBe(404);
    expect((await call({ method: 'PUT', url: association })).status).toBe(204);
    expect((await call({ method: 'PUT', url: association })).status).toBe(409);
    expect((await call({ method: 'HEAD', url: association })).status).toBe(204);
    expect((await call({ method: 'GET', url: association })).status).toBe(204);
    const endpoints = await call({ method: 'GET', url: `/OS-EP-FILTER/projects/${projectId}/endpoints` });
    expect(endpoints.body.endpoints.map((e: { id: string }) => e.id)).toEqual(['nova-public']);
    const projects = await call({ method: 'GET', url: '/OS-EP-FILTER/endpoints/nova-public/projects' });
    expect(projects.body.projects.map((p: { id: string }) => p.id)).toEqual([projectId]);
    expect((await call({ method: 'PUT', url: `/OS-EP-FILTER/projects/${projectId}/endpoints/nope` })).status).toBe(404);
    expect((await call({ method: 'PUT', url: '/OS-EP-FILTER/projects/nope/endpoints/nova-public' })).status).toBe(404);
    expect((await call({ method: 'GET', url: '/OS-EP-FILTER/endpoints/nope/projects' })).status).toBe(404);
    expect((await call({ method: 'DELETE', url: association })).status).toBe(204);
    expect((await call({ method: 'DELETE', url: association })).status).toBe(404);
    expect((await call({ method: 'HEAD', url: association })).status).toBe(404);
  });

  it("limits a project's catalog to the endpoints it is given, when it is given any", async () => {
    const full = await catalogOf(member);
    expect(Object.keys(full)).toEqual(['identity', 'compute', 'image', 'network']);
    expect(await catalogOf(admin)).toEqual(full);

    // A registered service with two endpoints, one disabled.
    const service = (await call({ method: 'POST', url: '/services', payload: { service: { type: 'object-store' } } }))
      .body.service.id as string;
    const endpoint = async (iface: string, enabled: boolean) =>
      (
        await call({
          method: 'POST',
          url: '/endpoints',
          payload: { endpoint: { service_id: service, interface: iface, url: 'https://swift.test', enabled } },
        })
      ).body.endpoint.id as string;
    const swiftPublic = await endpoint('public', true);
    await endpoint('internal', false);

    await call({ method: 'PUT', url: `/OS-EP-FILTER/projects/${projectId}/endpoints/keystone-public` });
    const group = await newGroup({ service_id: service });
    await call({ method: 'PUT', url: `${groups}/${group}/projects/${projectId}` });
    const filtered = { identity: ['keystone-public'], 'object-store': [swiftPublic] };
    expect(await catalogOf(member)).toEqual(filtered);
    const issued = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity: { methods: ['token'], token: { id: member } },
          scope: { project: { id: projectId } },
        },
      },
    });
    expect(shape(issued.json().token.catalog)).toEqual(filtered);
    // Other projects see the whole catalog, the new service included.
    expect((await catalogOf(admin))['object-store']).toEqual([swiftPublic]);

    // A stored endpoint's associations go with it; the group's filter no longer selects anything.
    await call({ method: 'DELETE', url: `/services/${service}` });
    expect(
      (await call({ method: 'GET', url: `/OS-EP-FILTER/projects/${projectId}/endpoints` })).body.endpoints,
    ).toEqual([expect.objectContaining({ id: 'keystone-public' })]);
    expect(await catalogOf(member)).toEqual({ identity: ['keystone-public'] });
    await call({ method: 'DELETE', url: `/OS-EP-FILTER/projects/${projectId}/endpoints/keystone-public` });
    expect(await catalogOf(member)).toEqual(full);
    await call({ method: 'DELETE', url: `${groups}/${group}` });
  });

  it("drops a project's associations with the project", async () => {
    const name = 'epf-doomed';
    await tenant(t.api, admin, name, 'member');
    const doomed = (await call({ method: 'GET', url: `/projects?name=${name}` })).body.projects[0].id as string;
    const group = await newGroup({ interface: 'public' });
    await call({ method: 'PUT', url: `${groups}/${group}/projects/${doomed}` });
    await call({ method: 'PUT', url: `/OS-EP-FILTER/projects/${doomed}/endpoints/glance-public` });
    expect((await call({ method: 'DELETE', url: `/projects/${doomed}` })).status).toBe(204);
    expect((await call({ method: 'GET', url: `${groups}/${group}/projects` })).body.projects).toEqual([]);
    expect(
      (await call({ method: 'GET', url: '/OS-EP-FILTER/endpoints/glance-public/projects' })).body.projects,
    ).toEqual([]);
    expect(await t.db.projectEndpoints.list({ projectId: doomed })).toEqual([]);
  });

  it('is for the cloud admin only', async () => {
    const id = await newGroup({ interface: 'admin' });
    for (const [method, url] of [
      ['GET', groups],
      ['GET', `${groups}/${id}`],
      ['DELETE', `${groups}/${id}`],
      ['PUT', `${groups}/${id}/projects/${projectId}`],
      ['PUT', `/OS-EP-FILTER/projects/${projectId}/endpoints/nova-public`],
      ['GET', `/OS-EP-FILTER/projects/${projectId}/endpoints`],
    ] as const) {
      expect((await call({ method, url, token: member })).status, `${method} ${url}`).toBe(403);
    }
    expect(
      (
        await call({
          method: 'POST',
          url: groups,
          token: member,
          payload: { endpoint_group: { name: 'x', filters: {} } },
        })
      ).status,
    ).toBe(403);
  });
});
