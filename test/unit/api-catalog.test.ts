import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type IdentityCaller, identityCaller, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Keystone's catalog administration (/v3/services, /v3/endpoints, /v3/regions) on the embedded
// cloud database, as tempest's identity admin tests and `openstack service/endpoint/region` use it.
describe('Keystone v3 catalog: services, endpoints, regions', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let call: IdentityCaller;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    call = identityCaller(t.api, admin);
    member = await tenant(t.api, admin, 'catalog-member', 'member');
  });
  afterAll(async () => t.stop());

  it('lists the API’s own services, endpoints and region, which cannot be changed', async () => {
    const services = await call({ method: 'GET', url: '/services' });
    expect(services.status).toBe(200);
    expect(services.body.services.map((s: { type: string }) => s.type)).toEqual([
      'identity',
      'compute',
      'image',
      'network',
    ]);
    const endpoints = await call({ method: 'GET', url: '/endpoints?interface=public&service_id=nova' });
    expect(endpoints.body.endpoints).toHaveLength(1);
    expect(endpoints.body.endpoints[0]).toMatchObject({
      service_id: 'nova',
      interface: 'public',
      region_id: 'RegionOne',
    });
    expect(endpoints.body.endpoints[0].url).toMatch(/\/compute\/v2\.1$/);
    expect((await call({ method: 'GET', url: '/regions' })).body.regions.map((r: { id: string }) => r.id)).toEqual([
      'RegionOne',
    ]);
    expect((await call({ method: 'DELETE', url: '/services/nova' })).status).toBe(403);
    expect(
      (await call({ method: 'PATCH', url: '/endpoints/nova-public', payload: { endpoint: { url: 'https://x' } } }))
        .status,
    ).toBe(403);
    expect((await call({ method: 'DELETE', url: '/regions/RegionOne' })).status).toBe(403);
  });

  it('is for the cloud admin only', async () => {
    expect((await call({ method: 'GET', url: '/services', token: member })).status).toBe(403);
    expect(
      (await call({ method: 'POST', url: '/services', token: member, payload: { service: { type: 'x' } } })).status,
    ).toBe(403);
    expect((await call({ method: 'GET', url: '/regions', token: member })).status).toBe(403);
  });

  it('creates, shows, updates and deletes a service, with the attributes it does not know kept', async () => {
    const created = await call({
      method: 'POST',
      url: '/services',
      payload: { service: { type: 'volume', name: 'cinder', description: 'volumes', owner: 'storage-team' } },
    });
    expect(created.status).toBe(201);
    const { id } = created.body.service;
    expect(created.body.service).toMatchObject({
      type: 'volume',
      name: 'cinder',
      enabled: true,
      owner: 'storage-team',
    });
    expect((await call({ method: 'GET', url: `/services/${id}` })).body.service.description).toBe('volumes');
    const patched = await call({
      method: 'PATCH',
      url: `/services/${id}`,
      payload: { service: { enabled: false, name: 'c2' } },
    });
    expect(patched.body.service).toMatchObject({ name: 'c2', enabled: false, owner: 'storage-team', type: 'volume' });
    expect(
      (await call({ method: 'GET', url: '/services?type=volume' })).body.services.map((s: { id: string }) => s.id),
    ).toEqual([id]);
    expect((await call({ method: 'POST', url: '/services', payload: { service: { name: 'no type' } } })).status).toBe(
      400,
    );
    expect(
      (await call({ method: 'POST', url: '/services', payload: { service: { type: 'x', enabled: 'yes' } } })).status,
    ).toBe(400);
    expect((await call({ method: 'DELETE', url: `/services/${id}` })).status).toBe(204);
    expect((await call({ method: 'GET', url: `/services/${id}` })).status).toBe(404);
    expect((await call({ method: 'DELETE', url: `/services/${id}` })).status).toBe(404);
  });

  it('adds a service’s endpoints to the tokens’ catalog while both are enabled, and deletes them with it', async () => {
    const { id: serviceId } = (
      await call({ method: 'POST', url: '/services', payload: { service: { type: 'volumev3', name: 'cinderv3' } } })
    ).body.service;
    const region = (
      await call({ method: 'POST', url: '/regions', payload: { region: { id: 'RegionTwo', description: 'two' } } })
    ).body.region;
    expect(region).toMatchObject({ id: 'RegionTwo', description: 'two', parent_region_id: null });
    const created = await call({
      method: 'POST',
      url: '/endpoints',
      payload: {
        endpoint: {
          service_id: serviceId,
          interface: 'public',
          url: 'https://volumes.example:8776/v3',
          region_id: 'RegionTwo',
        },
      },
    });
    expect(created.status).toBe(201);
    const endpoint = created.body.endpoint;
    expect(endpoint).toMatchObject({
      service_id: serviceId,
      interface: 'public',
      region_id: 'RegionTwo',
      region: 'RegionTwo',
      enabled: true,
    });
    const catalog = async () =>
      (await call({ method: 'GET', url: '/auth/catalog' })).body.catalog as {
        type: string;
        endpoints: { url: string }[];
      }[];
    expect((await catalog()).find((s) => s.type === 'volumev3')?.endpoints.map((e) => e.url)).toEqual([
      'https://volumes.example:8776/v3',
    ]);
    await call({ method: 'PATCH', url: `/endpoints/${endpoint.id}`, payload: { endpoint: { enabled: false } } });
    expect((await catalog()).some((s) => s.type === 'volumev3')).toBe(false);
    const moved = await call({
      method: 'PATCH',
      url: `/endpoints/${endpoint.id}`,
      payload: { endpoint: { enabled: true, interface: 'internal', url: 'https://internal:8776/v3' } },
    });
    expect(moved.body.endpoint).toMatchObject({
      interface: 'internal',
      url: 'https://internal:8776/v3',
      enabled: true,
    });
    expect(
      (await call({ method: 'GET', url: `/endpoints?service_id=${serviceId}&interface=internal` })).body.endpoints,
    ).toHaveLength(1);
    // Bad requests, as Keystone answers them.
    const bad = (endpoint: object) => call({ method: 'POST', url: '/endpoints', payload: { endpoint } });
    expect((await bad({ service_id: serviceId, interface: 'private', url: 'https://x' })).status).toBe(400);
    expect((await bad({ service_id: serviceId, interface: 'public', url: 'not a url' })).status).toBe(400);
    expect(
      (await bad({ service_id: serviceId, interface: 'public', url: 'https://x', region_id: 'Nowhere' })).status,
    ).toBe(400);
    expect((await bad({ service_id: 'no-such-service', interface: 'public', url: 'https://x' })).status).toBe(404);
    expect((await bad({ interface: 'public', url: 'https://x' })).status).toBe(400);
    // The older `region` field makes the region it names, as Keystone does; `region_id` must
    // name one; the cloud's own region may be named.
    const legacy = await bad({
      service_id: serviceId,
      interface: 'admin',
      url: 'https://admin:8776/v3',
      region: 'RegionThree',
    });
    expect(legacy.status).toBe(201);
    expect(legacy.body.endpoint).toMatchObject({ region_id: 'RegionThree', region: 'RegionThree' });
    expect((await call({ method: 'GET', url: '/regions/RegionThree' })).status).toBe(200);
    const home = await bad({
      service_id: serviceId,
      interface: 'admin',
      url: 'https://admin:8776/v3',
      region_id: 'RegionOne',
    });
    expect(home.status).toBe(201);
    // A region an endpoint names stays; the service takes its endpoints along.
    expect((await call({ method: 'DELETE', url: '/regions/RegionTwo' })).status).toBe(403);
    expect((await call({ method: 'DELETE', url: `/services/${serviceId}` })).status).toBe(204);
    expect((await call({ method: 'GET', url: `/endpoints/${endpoint.id}` })).status).toBe(404);
    expect((await call({ method: 'DELETE', url: '/regions/RegionTwo' })).status).toBe(204);
    expect((await call({ method: 'DELETE', url: '/regions/RegionThree' })).status).toBe(204);
  });

  it('keeps regions a tree: ids unique, parents known, no cycle, a region deleted with the ones under it', async () => {
    const put = await call({ method: 'PUT', url: '/regions/Europe', payload: { region: { description: 'eu' } } });
    expect(put.status).toBe(201);
    expect((await call({ method: 'PUT', url: '/regions/Europe', payload: { region: {} } })).status).toBe(409);
    expect((await call({ method: 'POST', url: '/regions', payload: { region: { id: 'RegionOne' } } })).status).toBe(
      409,
    );
    const child = await call({
      method: 'POST',
      url: '/regions',
      payload: { region: { id: 'Paris', parent_region_id: 'Europe' } },
    });
    expect(child.body.region.parent_region_id).toBe('Europe');
    const generated = await call({
      method: 'POST',
      url: '/regions',
      payload: { region: { parent_region_id: 'Paris' } },
    });
    expect(generated.body.region.id).toMatch(/^[0-9a-f]{32}$/);
    expect(
      (
        await call({
          method: 'POST',
          url: '/regions',
          payload: { region: { id: 'Lost', parent_region_id: 'Atlantis' } },
        })
      ).status,
    ).toBe(404);
    expect(
      (await call({ method: 'GET', url: '/regions?parent_region_id=Europe' })).body.regions.map(
        (r: { id: string }) => r.id,
      ),
    ).toEqual(['Paris']);
    // Europe under its own grandchild: refused.
    const cycle = await call({
      method: 'PATCH',
      url: '/regions/Europe',
      payload: { region: { parent_region_id: generated.body.region.id } },
    });
    expect(cycle.status).toBe(400);
    expect(
      (await call({ method: 'PATCH', url: '/regions/Paris', payload: { region: { description: 'capital' } } })).body
        .region,
    ).toMatchObject({ id: 'Paris', description: 'capital', parent_region_id: 'Europe' });
    expect((await call({ method: 'DELETE', url: '/regions/Europe' })).status).toBe(204);
    for (const gone of ['Europe', 'Paris', generated.body.region.id]) {
      expect((await call({ method: 'GET', url: `/regions/${gone}` })).status).toBe(404);
    }
  });
});
