import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, projectIdOf, startTestApi, tenant, tokenFor } from './api-helpers.js';

const GLANCE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** Glance v2's metadata definitions catalog (metadefs), over HTTP (`inject`). */
describe('Glance v2 metadefs', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let a: string; // a member of project A
  let b: string; // a member of project B
  let aAdmin: string; // the admin role on project A: not the cloud admin
  let projectA: string;

  const call = (
    token: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) =>
    t.api.app.inject({
      method,
      url: `/image/v2${url}`,
      headers: { 'x-auth-token': token, 'content-type': 'application/json', ...headers },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
  const statusOf = async (...args: Parameters<typeof call>) => (await call(...args)).statusCode;
  const ns = (name: string) => `/metadefs/namespaces/${encodeURIComponent(name)}`;
  const listed = async (token: string, query = '') =>
    ((await call(token, 'GET', `/metadefs/namespaces${query}`)).json().namespaces as { namespace: string }[]).map(
      (n) => n.namespace,
    );
  const create = async (body: Record<string, unknown>) => {
    const response = await call(admin, 'POST', '/metadefs/namespaces', body);
    expect(response.statusCode, response.body).toBe(201);
    return response.json();
  };

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    a = await tenant(t.api, admin, 'md-a', 'member');
    b = await tenant(t.api, admin, 'md-b', 'member');
    projectA = await projectIdOf(t.api, admin, 'md-a');
    // A second user of project A, with the admin role there.
    const h = { 'x-auth-token': admin };
    const user = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/users',
      headers: h,
      payload: { user: { name: 'md-a-admin', password: 'pw-12345' } },
    });
    const roles = await t.api.app.inject({ method: 'GET', url: '/identity/v3/roles?name=admin', headers: h });
    await t.api.app.inject({
      method: 'PUT',
      url: `/identity/v3/projects/${projectA}/users/${user.json().user.id}/roles/${roles.json().roles[0].id}`,
      headers: h,
    });
    aAdmin = await tokenFor(t.api, 'md-a-admin', 'pw-12345', 'md-a');
  });
  afterAll(async () => {
    await t.stop();
  });

  it('serves the ten schemas under their Glance names', async () => {
    const names: Record<string, string> = {
      namespace: 'namespace',
      namespaces: 'namespaces',
      object: 'object',
      objects: 'objects',
      property: 'property',
      properties: 'properties',
      tag: 'tag',
      tags: 'tags',
      resource_type: 'resource_type_association',
      resource_types: 'resource_type_associations',
    };
    for (const [path, name] of Object.entries(names)) {
      const response = await call(b, 'GET', `/schemas/metadefs/${path}`);
      expect(response.statusCode).toBe(200);
      expect(response.json().name).toBe(name);
    }
    const namespace = (await call(b, 'GET', '/schemas/metadefs/namespace')).json();
    expect(namespace.required).toEqual(['namespace']);
    expect(namespace.additionalProperties).toBe(false);
    expect(namespace.properties.visibility.enum).toEqual(['public', 'private']);
    const namespaces = (await call(b, 'GET', '/schemas/metadefs/namespaces')).json();
    expect(namespaces.properties.namespaces.items.name).toBe('namespace');
    expect(namespaces.definitions.property.type).toBe('object');
    const properties = (await call(b, 'GET', '/schemas/metadefs/properties')).json();
    expect(properties.properties.properties.additionalProperties.required).toEqual(['title', 'type']);
    expect((await call(b, 'GET', '/schemas/metadefs/property')).json().required).toEqual(['title', 'type', 'name']);
  });

  it("seeds Glance's OS::OperatingSystem at bootstrap: private to the admin project, as Glance loads it", async () => {
    const types = (await call(b, 'GET', '/metadefs/resource_types')).json().resource_types;
    expect(types.map((r: { name: string }) => r.name)).toEqual(['OS::Glance::Image', 'OS::Cinder::Volume']);
    expect(types[0].created_at).toMatch(GLANCE_TIME);
    const seeded = (await call(admin, 'GET', ns('OS::OperatingSystem'))).json();
    expect(seeded).toMatchObject({ visibility: 'private', protected: true, display_name: expect.any(String) });
    expect(Object.keys(seeded.properties)).toEqual(['os_distro', 'os_version', 'os_admin_user']);
    expect(seeded.resource_type_associations[1]).toMatchObject({
      name: 'OS::Cinder::Volume',
      properties_target: 'image',
    });
    expect(await statusOf(b, 'GET', ns('OS::OperatingSystem'))).toBe(404);
    expect(await listed(b)).not.toContain('OS::OperatingSystem');
    expect(await statusOf(admin, 'DELETE', ns('OS::OperatingSystem'))).toBe(403);
  });

  it('creates a namespace with its contents, shows it whole, and refuses a taken name', async () => {
    const created = await call(admin, 'POST', '/metadefs/namespaces', {
      namespace: 'Rack::Whole',
      display_name: 'Whole',
      description: 'All of it',
      visibility: 'public',
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }, { name: 'OS::Nova::Flavor' }],
      properties: { cpu_cores: { title: 'Cores', type: 'integer', minimum: 1, bogus: 'dropped' } },
      objects: [{ name: 'Limits', required: ['a'], properties: { a: { title: 'A', type: 'string' } } }],
      tags: [{ name: 'one' }, { name: 'two' }],
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers.location).toBe('http://cloud.test/image/v2/metadefs/namespaces/Rack%3A%3AWhole');
    const body = created.json();
    expect(body).toMatchObject({
      namespace: 'Rack::Whole',
      visibility: 'public',
      protected: false,
      owner: await projectIdOf(t.api, admin, 'admin'),
      self: '/v2/metadefs/namespaces/Rack::Whole',
      schema: '/v2/schemas/metadefs/namespace',
    });
    expect(body.created_at).toMatch(GLANCE_TIME);
    expect(body.properties.cpu_cores).toEqual({ title: 'Cores', type: 'integer', minimum: 1 });

    const shown = (await call(b, 'GET', ns('Rack::Whole'))).json();
    expect(shown.resource_type_associations.map((r: { name: string }) => r.name)).toEqual([
      'OS::Glance::Image',
      'OS::Nova::Flavor',
    ]);
    expect(shown.resource_type_associations[0].prefix).toBe('hw_');
    expect(shown.tags).toEqual([{ name: 'one' }, { name: 'two' }]);
    expect(shown.objects[0]).toMatchObject({
      name: 'Limits',
      self: '/v2/metadefs/namespaces/Rack::Whole/objects/Limits',
    });
    // For a resource type, the properties take its association's prefix (Glance's _prefix_property_name).
    const forImages = (await call(b, 'GET', `${ns('Rack::Whole')}?resource_type=OS::Glance::Image`)).json();
    expect(Object.keys(forImages.properties)).toEqual(['hw_cpu_cores']);
    expect(forImages.objects[0].required).toEqual(['hw_a']);
    expect(Object.keys(forImages.objects[0].properties)).toEqual(['hw_a']);

    expect(await statusOf(admin, 'POST', '/metadefs/namespaces', { namespace: 'Rack::Whole' })).toBe(409);
    // A duplicate inside the body leaves nothing behind.
    const twice = await call(admin, 'POST', '/metadefs/namespaces', {
      namespace: 'Rack::Twice',
      tags: [{ name: 'x' }, { name: 'X' }],
    });
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error.message).toMatch(/metadata tag with name=X already exists in namespace=Rack::Twice/);
    expect(await statusOf(admin, 'GET', ns('Rack::Twice'))).toBe(404);
  });

  it('refuses malformed namespace bodies with 400 and read-only fields with 403', async () => {
    const post = (body: unknown) => call(admin, 'POST', '/metadefs/namespaces', body);
    const noName = await post({ display_name: 'x' });
    expect(noName.statusCode).toBe(400);
    expect(noName.json().error.message).toMatch(/namespace/);
    expect((await post({ namespace: 'x', visibility: 'shared' })).statusCode).toBe(400);
    expect((await post({ namespace: 'x', protected: 'yes' })).statusCode).toBe(400);
    expect((await post({ namespace: 'x', colour: 'red' })).statusCode).toBe(400);
    expect((await post({ namespace: 'n'.repeat(81) })).statusCode).toBe(400);
    expect((await post({ namespace: 'x', properties: { p: { type: 'string' } } })).statusCode).toBe(400);
    expect((await post({ namespace: 'x', tags: [{}] })).statusCode).toBe(400);
    expect((await post(['x'])).statusCode).toBe(400);
    const noBody = await call(admin, 'POST', '/metadefs/namespaces');
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().error.message).toBe('Body expected in request.');
    const readOnly = await post({ namespace: 'x', created_at: '2020-01-01T00:00:00Z' });
    expect(readOnly.statusCode).toBe(403);
    expect(readOnly.json().error.message).toBe("Attribute 'created_at' is read-only.");
    expect(await statusOf(admin, 'GET', ns('x'))).toBe(404);
  });

  it('shows a private namespace only to its owner project and the cloud admin', async () => {
    await create({ namespace: 'Rack::PrivateA', owner: projectA, tags: [{ name: 't' }] });
    await create({ namespace: 'Rack::PublicB', visibility: 'public' });
    expect(await statusOf(a, 'GET', ns('Rack::PrivateA'))).toBe(200);
    expect(await listed(a)).toContain('Rack::PrivateA');
    expect(await statusOf(b, 'GET', ns('Rack::PrivateA'))).toBe(404);
    expect(await listed(b)).not.toContain('Rack::PrivateA');
    expect(await listed(b)).toContain('Rack::PublicB');
    for (const path of ['/tags', '/tags/t', '/objects', '/properties', '/resource_types']) {
      expect(await statusOf(b, 'GET', `${ns('Rack::PrivateA')}${path}`)).toBe(404);
    }
    expect(await statusOf(a, 'GET', `${ns('Rack::PrivateA')}/tags/t`)).toBe(200);
    expect(await listed(admin)).toEqual(expect.arrayContaining(['Rack::PrivateA', 'Rack::PublicB']));
    // Paging from a namespace the caller cannot see is paging from none.
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?marker=Rack::PrivateA')).toBe(404);
  });

  it('lets only the cloud admin write: others get 403 where they see, 404 where they do not', async () => {
    await create({ namespace: 'Rack::Writes', visibility: 'public', objects: [{ name: 'o' }], tags: [{ name: 't' }] });
    await create({ namespace: 'Rack::OwnedByA', owner: projectA });
    for (const token of [a, aAdmin]) {
      expect(await statusOf(token, 'POST', '/metadefs/namespaces', { namespace: 'Rack::Mine' })).toBe(403);
      expect(await statusOf(token, 'PUT', ns('Rack::OwnedByA'), { namespace: 'Rack::OwnedByA' })).toBe(403);
      expect(await statusOf(token, 'DELETE', ns('Rack::OwnedByA'))).toBe(403);
      expect(await statusOf(token, 'POST', `${ns('Rack::Writes')}/objects`, { name: 'p' })).toBe(403);
      expect(await statusOf(token, 'PUT', `${ns('Rack::Writes')}/objects/o`, { name: 'o2' })).toBe(403);
      expect(await statusOf(token, 'DELETE', `${ns('Rack::Writes')}/objects/o`)).toBe(403);
      const property = { name: 'p', title: 'P', type: 'string' };
      expect(await statusOf(token, 'POST', `${ns('Rack::Writes')}/properties`, property)).toBe(403);
      expect(await statusOf(token, 'POST', `${ns('Rack::Writes')}/tags/new`)).toBe(403);
      expect(await statusOf(token, 'POST', `${ns('Rack::Writes')}/tags`, { tags: [] })).toBe(403);
      expect(await statusOf(token, 'DELETE', `${ns('Rack::Writes')}/tags`)).toBe(403);
      const rt = { name: 'OS::Nova::Server' };
      expect(await statusOf(token, 'POST', `${ns('Rack::Writes')}/resource_types`, rt)).toBe(403);
    }
    expect(await statusOf(b, 'DELETE', ns('Rack::OwnedByA'))).toBe(404);
    expect(await statusOf(b, 'POST', `${ns('Rack::OwnedByA')}/objects`, { name: 'p' })).toBe(404);
    expect(await statusOf(a, 'GET', `${ns('Rack::Writes')}/objects/o`)).toBe(200);
    expect((await call(a, 'GET', `${ns('Rack::Writes')}/tags`)).json().tags).toEqual([{ name: 't' }]);
  });

  it('updates a namespace as a whole (PUT), renaming it with what it holds, and deletes it unless protected', async () => {
    await create({ namespace: 'Rack::Old', display_name: 'Old', visibility: 'public', protected: true });
    await call(admin, 'POST', `${ns('Rack::Old')}/tags/kept`);
    const updated = await call(admin, 'PUT', ns('Rack::Old'), { namespace: 'Rack::New', description: 'moved' });
    expect(updated.statusCode, updated.body).toBe(200);
    const body = updated.json();
    // What the body leaves out takes Glance's defaults: private, not protected, no display name.
    expect(body).toMatchObject({
      namespace: 'Rack::New',
      description: 'moved',
      visibility: 'private',
      protected: false,
    });
    expect(body.display_name).toBeUndefined();
    expect(await statusOf(admin, 'GET', ns('Rack::Old'))).toBe(404);
    expect(await statusOf(admin, 'GET', `${ns('Rack::New')}/tags/kept`)).toBe(200);
    expect(await statusOf(admin, 'PUT', ns('Rack::New'), { namespace: 'Rack::Whole' })).toBe(409);
    expect(await statusOf(admin, 'PUT', ns('Rack::Nowhere'), { namespace: 'Rack::Nowhere' })).toBe(404);
    expect(await statusOf(admin, 'PUT', ns('Rack::New'), { namespace: 'Rack::New', self: 'x' })).toBe(403);

    await call(admin, 'PUT', ns('Rack::New'), { namespace: 'Rack::New', protected: true });
    const refused = await call(admin, 'DELETE', ns('Rack::New'));
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message).toBe(
      'Metadata definition namespace Rack::New is protected and cannot be deleted.',
    );
    expect(await statusOf(admin, 'DELETE', `${ns('Rack::New')}/tags`)).toBe(403);
    expect(await statusOf(admin, 'DELETE', `${ns('Rack::New')}/tags/kept`)).toBe(403);
    await call(admin, 'PUT', ns('Rack::New'), { namespace: 'Rack::New', protected: false });
    expect(await statusOf(admin, 'DELETE', ns('Rack::New'))).toBe(204);
    expect(await statusOf(admin, 'GET', ns('Rack::New'))).toBe(404);
    expect(await statusOf(admin, 'DELETE', ns('Rack::New'))).toBe(404);
  });

  it('filters the list by visibility and resource types, orders it, and pages it with links', async () => {
    for (const name of ['Page::1', 'Page::2', 'Page::3']) {
      await create({ namespace: name, visibility: 'public', resource_type_associations: [{ name: 'Paging::Type' }] });
    }
    const paged = '?resource_types=Paging::Type,Nothing::Here&sort_key=namespace&sort_dir=asc';
    expect(await listed(b, paged)).toEqual(['Page::1', 'Page::2', 'Page::3']);
    expect(await listed(b, '?resource_types=Paging::Type&sort_key=namespace&sort_dir=desc')).toEqual([
      'Page::3',
      'Page::2',
      'Page::1',
    ]);
    const first = (await call(b, 'GET', `/metadefs/namespaces${paged}&limit=2`)).json();
    expect(first.namespaces.map((n: { namespace: string }) => n.namespace)).toEqual(['Page::1', 'Page::2']);
    expect(first.namespaces[0].resource_type_associations).toEqual([expect.objectContaining({ name: 'Paging::Type' })]);
    expect(first.schema).toBe('/v2/schemas/metadefs/namespaces');
    expect(first.first).toMatch(/^\/v2\/metadefs\/namespaces\?resource_types=/);
    expect(first.next).toMatch(/marker=Page%3A%3A2/);
    const rest = (await call(b, 'GET', first.next.replace('/v2', ''))).json();
    expect(rest.namespaces.map((n: { namespace: string }) => n.namespace)).toEqual(['Page::3']);
    expect(rest.next).toBeUndefined();
    // Newest first by default.
    expect((await listed(b, '?resource_types=Paging::Type'))[0]).toBe('Page::3');
    expect(await listed(admin, '?visibility=private')).not.toContain('Page::1');
    expect(await listed(admin, '?visibility=private')).toContain('Rack::PrivateA');
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?visibility=shared')).toBe(400);
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?sort_dir=up')).toBe(400);
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?sort_key=colour')).toBe(400);
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?limit=many')).toBe(400);
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?limit=-1')).toBe(400);
    expect(await statusOf(b, 'GET', '/metadefs/namespaces?marker=Page::Nope')).toBe(404);
  });

  it('keeps objects: create, list, show, rename, delete, with names unique in their namespace', async () => {
    await create({ namespace: 'Rack::Objects', visibility: 'public' });
    const url = `${ns('Rack::Objects')}/objects`;
    const made = await call(admin, 'POST', url, {
      name: 'Disk',
      description: 'A disk',
      required: ['size'],
      properties: { size: { title: 'Size', type: 'integer', minimum: 1 } },
    });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json()).toMatchObject({
      name: 'Disk',
      required: ['size'],
      properties: { size: { title: 'Size', type: 'integer', minimum: 1 } },
      schema: '/v2/schemas/metadefs/object',
    });
    expect(made.json().updated_at).toMatch(GLANCE_TIME);
    expect(await statusOf(admin, 'POST', url, { name: 'Disk' })).toBe(409);
    // A new object's properties are each checked against the property schema.
    expect(await statusOf(admin, 'POST', url, { name: 'Bad', properties: { p: { title: 'P' } } })).toBe(400);
    expect(await statusOf(admin, 'POST', url, { name: 'Bad', self: '/x' })).toBe(403);
    expect((await call(b, 'GET', url)).json().objects.map((o: { name: string }) => o.name)).toEqual(['Disk']);
    const missing = await call(b, 'GET', `${url}/Nope`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toBe(
      'The metadata definition object with name=Nope was not found in namespace=Rack::Objects.',
    );
    const renamed = await call(admin, 'PUT', `${url}/Disk`, { name: 'Volume' });
    expect(renamed.statusCode).toBe(200);
    // A PUT replaces the object: what it leaves out is gone.
    expect(renamed.json().description).toBeUndefined();
    expect(await statusOf(b, 'GET', `${url}/Volume`)).toBe(200);
    expect(await statusOf(admin, 'PUT', `${url}/Disk`, { name: 'Disk' })).toBe(404);
    expect(await statusOf(admin, 'DELETE', `${url}/Volume`)).toBe(204);
    expect(await statusOf(admin, 'DELETE', `${url}/Volume`)).toBe(404);
    await call(admin, 'POST', url, { name: 'x' });
    expect(await statusOf(admin, 'DELETE', url)).toBe(204);
    expect((await call(admin, 'GET', url)).json().objects).toEqual([]);
  });

  it('keeps properties: a map by name, shown with a resource type prefix', async () => {
    await create({
      namespace: 'Rack::Props',
      visibility: 'public',
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }, { name: 'OS::Nova::Flavor' }],
    });
    const url = `${ns('Rack::Props')}/properties`;
    const property = { name: 'watchdog', title: 'Watchdog', type: 'string', enum: ['disabled', 'reset'] };
    const made = await call(admin, 'POST', url, property);
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json()).toEqual(property);
    expect(await statusOf(admin, 'POST', url, property)).toBe(409);
    expect(await statusOf(admin, 'POST', url, { title: 'No name', type: 'string' })).toBe(400);
    expect(await statusOf(admin, 'POST', url, { ...property, name: 'p2', type: 'colour' })).toBe(400);
    expect(await statusOf(admin, 'POST', url, { ...property, name: 'p2', created_at: 'now' })).toBe(403);
    expect((await call(b, 'GET', url)).json()).toEqual({ properties: { watchdog: property } });
    expect((await call(b, 'GET', `${url}/watchdog`)).json()).toEqual(property);
    expect((await call(b, 'GET', `${url}/hw_watchdog?resource_type=OS::Glance::Image`)).json().name).toBe('watchdog');
    expect(await statusOf(b, 'GET', `${url}/watchdog?resource_type=OS::Glance::Image`)).toBe(404);
    expect(await statusOf(b, 'GET', `${url}/watchdog?resource_type=OS::Nova::Flavor`)).toBe(404);
    expect(await statusOf(b, 'GET', `${url}/watchdog?resource_type=OS::Nova::Server`)).toBe(404);
    const renamed = await call(admin, 'PUT', `${url}/watchdog`, { ...property, name: 'hw_watchdog', title: 'W' });
    expect(renamed.json()).toMatchObject({ name: 'hw_watchdog', title: 'W' });
    expect(await statusOf(b, 'GET', `${url}/watchdog`)).toBe(404);
    expect(await statusOf(admin, 'DELETE', `${url}/hw_watchdog`)).toBe(204);
    expect((await call(b, 'GET', url)).json()).toEqual({ properties: {} });
  });

  it('keeps tags: replaced or appended as a list, one by one, renamed, paged', async () => {
    await create({ namespace: 'Rack::Tags', visibility: 'public', tags: [{ name: 'old' }] });
    const url = `${ns('Rack::Tags')}/tags`;
    const names = async (query = '') =>
      ((await call(b, 'GET', `${url}${query}`)).json().tags as { name: string }[]).map((x) => x.name);
    const replaced = await call(admin, 'POST', url, { tags: [{ name: 'a' }, { name: 'b' }] });
    expect(replaced.statusCode).toBe(201);
    expect(replaced.json()).toEqual({ tags: [{ name: 'a' }, { name: 'b' }] });
    expect((await names()).sort()).toEqual(['a', 'b']);
    const appended = await call(admin, 'POST', url, { tags: [{ name: 'c' }] }, { 'x-openstack-append': 'True' });
    expect(appended.statusCode).toBe(201);
    expect((await names()).sort()).toEqual(['a', 'b', 'c']);
    // Tag names are unique whatever their case; a refused list changes nothing.
    expect(await statusOf(admin, 'POST', url, { tags: [{ name: 'A' }] }, { 'x-openstack-append': 'yes' })).toBe(409);
    expect(await statusOf(admin, 'POST', url, { tags: [{ name: 'z' }, { name: 'z' }] })).toBe(409);
    expect(await statusOf(admin, 'POST', url, { tags: [{ name: 'z', extra: 1 }] })).toBe(400);
    expect((await names()).sort()).toEqual(['a', 'b', 'c']);

    const one = await call(admin, 'POST', `${url}/d`);
    expect(one.statusCode).toBe(201);
    expect(one.json()).toEqual({
      name: 'd',
      created_at: expect.stringMatching(GLANCE_TIME),
      updated_at: expect.any(String),
    });
    expect(await statusOf(admin, 'POST', `${url}/D`)).toBe(409);
    expect(await statusOf(admin, 'POST', `${url}/${'x'.repeat(81)}`)).toBe(400);
    expect((await call(b, 'GET', `${url}/d`)).json().name).toBe('d');
    expect((await call(admin, 'PUT', `${url}/d`, { name: 'e' })).json().name).toBe('e');
    expect(await statusOf(admin, 'PUT', `${url}/e`, { name: 'a' })).toBe(409);
    expect(await statusOf(admin, 'PUT', `${url}/e`, {})).toBe(400);
    expect(await statusOf(b, 'GET', `${url}/d`)).toBe(404);

    expect(await names('?sort_key=name&sort_dir=asc')).toEqual(['a', 'b', 'c', 'e']);
    expect(await names('?sort_key=name&sort_dir=asc&limit=2&marker=b')).toEqual(['c', 'e']);
    expect(await statusOf(b, 'GET', `${url}?marker=nope`)).toBe(404);
    expect(await statusOf(admin, 'DELETE', `${url}/e`)).toBe(204);
    expect(await statusOf(admin, 'DELETE', `${url}/e`)).toBe(404);
    expect(await statusOf(admin, 'DELETE', url)).toBe(204);
    expect(await names()).toEqual([]);
  });

  it('associates namespaces with resource types, making new types, and dissociates them', async () => {
    await create({ namespace: 'Rack::Types', visibility: 'public' });
    const url = `${ns('Rack::Types')}/resource_types`;
    const made = await call(admin, 'POST', url, {
      name: 'OS::Nova::Aggregate',
      prefix: 'agg:',
      properties_target: 'x',
    });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json()).toMatchObject({ name: 'OS::Nova::Aggregate', prefix: 'agg:', properties_target: 'x' });
    expect(await statusOf(admin, 'POST', url, { name: 'OS::Nova::Aggregate' })).toBe(409);
    expect(await statusOf(admin, 'POST', url, { prefix: 'no-name' })).toBe(400);
    expect(await statusOf(admin, 'POST', url, { name: 'OS::Y', updated_at: 'now' })).toBe(403);
    const types = (await call(b, 'GET', '/metadefs/resource_types')).json().resource_types;
    expect(types.map((r: { name: string }) => r.name)).toContain('OS::Nova::Aggregate');
    expect((await call(b, 'GET', url)).json().resource_type_associations).toEqual([
      expect.objectContaining({ name: 'OS::Nova::Aggregate', prefix: 'agg:' }),
    ]);
    expect(await listed(b, '?resource_types=OS::Nova::Aggregate')).toEqual(['Rack::Types']);
    expect(await statusOf(admin, 'DELETE', `${url}/OS::Nova::Nothing`)).toBe(404);
    await call(admin, 'PUT', ns('Rack::Types'), { namespace: 'Rack::Types', visibility: 'public', protected: true });
    expect(await statusOf(admin, 'DELETE', `${url}/OS::Nova::Aggregate`)).toBe(403);
    await call(admin, 'PUT', ns('Rack::Types'), { namespace: 'Rack::Types', visibility: 'public' });
    expect(await statusOf(admin, 'DELETE', `${url}/OS::Nova::Aggregate`)).toBe(204);
    expect((await call(b, 'GET', url)).json().resource_type_associations).toEqual([]);
    // The type stays, as Glance's does.
    const after = (await call(b, 'GET', '/metadefs/resource_types')).json().resource_types;
    expect(after.map((r: { name: string }) => r.name)).toContain('OS::Nova::Aggregate');
  });

  it('has a token of no project (the system admin) name the owner of a new namespace', async () => {
    const login = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD } },
          },
          scope: { system: { all: true } },
        },
      },
    });
    expect(login.statusCode, login.body).toBe(201);
    const system = String(login.headers['x-subject-token']);
    const unowned = await call(system, 'POST', '/metadefs/namespaces', { namespace: 'Rack::System' });
    expect(unowned.statusCode).toBe(400);
    expect(unowned.json().error.message).toMatch(/give its owner/);
    const owned = await call(system, 'POST', '/metadefs/namespaces', { namespace: 'Rack::System', owner: projectA });
    expect(owned.statusCode).toBe(201);
    expect(await statusOf(a, 'GET', ns('Rack::System'))).toBe(200);
  });

  it('needs a token', async () => {
    const response = await t.api.app.inject({ method: 'GET', url: '/image/v2/metadefs/namespaces' });
    expect(response.statusCode).toBe(401);
  });
});
