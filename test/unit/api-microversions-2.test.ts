import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, computeCaller, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// What each compute microversion from 2.47 on changes, over the embedded cloud (one fake host):
// each assertion at the version that brings the change and at the one before.
describe('Nova microversions 2.47 and later', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let imageRef: string;
  const call: ReturnType<typeof computeCaller> = (...args) => computeCaller(t.api)(...args);
  const create = async (version: string, extra: object = {}, flavorRef = '1') => {
    const r = await call(member, version, 'POST', '/servers', {
      server: { name: 'mv2', imageRef, flavorRef, networks: 'auto', ...extra },
    });
    await t.api.servers.idle();
    return r;
  };
  const show = async (version: string, id: string, token = member) =>
    (await call(token, version, 'GET', `/servers/${id}`)).body.server;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'mv2-p1', 'member');
    imageRef = await publicImage(t.api, admin);
  });
  afterAll(async () => t.stop());

  it('2.47: a server shows the flavor it was made with, kept after the flavor is deleted', async () => {
    const flavor = await call(admin, '2.55', 'POST', '/flavors', {
      flavor: { name: 'gone-soon', ram: 256, vcpus: 2, disk: 1, swap: 64, 'OS-FLV-EXT-DATA:ephemeral': 1 },
    });
    const id = flavor.body.flavor.id as string;
    await call(admin, '2.1', 'POST', `/flavors/${id}/os-extra_specs`, { extra_specs: { 'hw:cpu_policy': 'shared' } });
    const server = (await create('2.46', {}, id)).body.server.id as string;
    await call(admin, '2.1', 'DELETE', `/flavors/${id}`);
    expect((await show('2.46', server)).flavor).toEqual({
      id,
      links: [{ rel: 'bookmark', href: `http://cloud.test/compute/flavors/${id}` }],
    });
    expect((await show('2.47', server)).flavor).toEqual({
      vcpus: 2,
      ram: 256,
      disk: 1,
      ephemeral: 1,
      swap: 64,
      original_name: 'gone-soon',
      extra_specs: { 'hw:cpu_policy': 'shared' },
    });
    await call(member, '2.1', 'DELETE', `/servers/${server}`);
    await t.api.servers.idle();
  });

  it('2.50: quota class default is every project’s defaults; it shows server group quotas, not network ones', async () => {
    const classAt = async (version: string) =>
      (await call(admin, version, 'GET', '/os-quota-class-sets/default')).body.quota_class_set;
    expect(await classAt('2.49')).toMatchObject({ id: 'default', floating_ips: -1, instances: 10 });
    expect(await classAt('2.49')).not.toHaveProperty('server_groups');
    expect(await classAt('2.50')).toMatchObject({ server_groups: 10, server_group_members: 10 });
    expect(await classAt('2.50')).not.toHaveProperty('floating_ips');
    expect((await call(member, '2.50', 'GET', '/os-quota-class-sets/default')).status).toBe(403);
    const set = await call(admin, '2.50', 'PUT', '/os-quota-class-sets/default', { quota_class_set: { instances: 7 } });
    expect(set.body.quota_class_set).toMatchObject({ instances: 7 });
    expect(set.body.quota_class_set).not.toHaveProperty('id');
    const fresh = await tenant(t.api, admin, 'mv2-fresh', 'member');
    const project = (
      await t.api.app.inject({
        method: 'GET',
        url: '/identity/v3/projects?name=mv2-fresh',
        headers: { 'x-auth-token': admin },
      })
    ).json().projects[0].id as string;
    expect((await call(fresh, '2.1', 'GET', `/os-quota-sets/${project}`)).body.quota_set.instances).toBe(7);
    expect((await call(fresh, '2.1', 'GET', `/os-quota-sets/${project}/defaults`)).body.quota_set.instances).toBe(7);
    expect(
      (await call(admin, '2.50', 'PUT', '/os-quota-class-sets/default', { quota_class_set: { floating_ips: 1 } }))
        .status,
    ).toBe(400);
    await call(admin, '2.50', 'PUT', '/os-quota-class-sets/default', { quota_class_set: { instances: 10 } });
  });

  it('2.51: a member sees an action’s events, not their traceback; 2.52: a create takes tags', async () => {
    expect((await create('2.51', { tags: ['a'] })).status).toBe(400);
    const made = await create('2.52', { tags: ['web', 'eu', 'web'] });
    const id = made.body.server.id as string;
    expect((await show('2.52', id)).tags).toEqual(['web', 'eu']);
    const [action] = (await call(member, '2.51', 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
    const one = (version: string, token = member) =>
      call(token, version, 'GET', `/servers/${id}/os-instance-actions/${action.request_id}`);
    expect((await one('2.50')).body.instanceAction.events).toBeUndefined();
    const events = (await one('2.51')).body.instanceAction.events;
    expect(events[0]).toMatchObject({ event: 'compute__do_build_and_run_instance', result: 'Success' });
    expect(events[0]).not.toHaveProperty('traceback');
    expect((await one('2.51', admin)).body.instanceAction.events[0]).toHaveProperty('traceback', null);
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.53: services and hypervisors are named by stable UUIDs; one PUT changes a compute service', async () => {
    const services = async (version: string) => (await call(admin, version, 'GET', '/os-services')).body.services;
    const old = await services('2.52');
    expect(typeof old[0].id).toBe('number');
    const compute = (await services('2.53')).find((s: { binary: string }) => s.binary === 'nova-compute');
    expect(compute.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect((await services('2.53')).find((s: { binary: string }) => s.binary === 'nova-compute').id).toBe(compute.id);
    const put = (id: string, body: object) => call(admin, '2.53', 'PUT', `/os-services/${id}`, body);
    const disabled = await put(compute.id, { status: 'disabled', disabled_reason: 'maintenance' });
    expect(disabled.body.service).toMatchObject({ id: compute.id, status: 'disabled', disabled_reason: 'maintenance' });
    expect((await put(compute.id, { status: 'enabled', disabled_reason: 'x' })).status).toBe(400);
    expect((await put(compute.id, {})).status).toBe(400);
    expect((await put(compute.id, { status: 'enabled' })).body.service).toMatchObject({
      status: 'enabled',
      disabled_reason: null,
    });
    const scheduler = (await services('2.53')).find((s: { binary: string }) => s.binary === 'nova-scheduler');
    expect((await put(scheduler.id, { status: 'disabled' })).status).toBe(400);
    expect((await put(crypto.randomUUID(), { status: 'disabled' })).status).toBe(404);
    expect(
      (await call(admin, '2.53', 'PUT', '/os-services/disable', { host: 'x', binary: 'nova-compute' })).status,
    ).toBe(400);
    expect((await call(admin, '2.53', 'DELETE', `/os-services/${compute.id}`)).status).toBe(409);

    const server = (await create('2.53')).body.server.id as string;
    const hypervisors = (await call(admin, '2.53', 'GET', '/os-hypervisors?with_servers=true')).body.hypervisors;
    expect(hypervisors[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(hypervisors[0].servers.map((s: { uuid: string }) => s.uuid)).toContain(server);
    const name = hypervisors[0].hypervisor_hostname as string;
    const byPattern = await call(
      admin,
      '2.53',
      'GET',
      `/os-hypervisors/detail?hypervisor_hostname_pattern=${name.slice(0, 5)}`,
    );
    expect(byPattern.body.hypervisors[0].service.id).toBe(compute.id);
    expect((await call(admin, '2.53', 'GET', '/os-hypervisors?hypervisor_hostname_pattern=zz-none')).status).toBe(404);
    expect((await call(admin, '2.53', 'GET', `/os-hypervisors/${hypervisors[0].id}`)).body.hypervisor.id).toBe(
      hypervisors[0].id,
    );
    expect((await call(admin, '2.53', 'GET', '/os-hypervisors/1')).status).toBe(400);
    expect((await call(admin, '2.52', 'GET', '/os-hypervisors/1')).body.hypervisor.id).toBe(1);
    expect((await call(admin, '2.53', 'GET', `/os-hypervisors/${name}/search`)).status).toBe(404);
    await call(member, '2.1', 'DELETE', `/servers/${server}`);
    await t.api.servers.idle();
  });

  it('2.54: a rebuild takes a key pair; 2.57: user data, and no personality; the file quotas and limits go', async () => {
    await call(member, '2.2', 'POST', '/os-keypairs', { keypair: { name: 'rekey' } });
    const id = (await create('2.56', { personality: [{ path: '/etc/x', contents: 'eA==' }] })).body.server.id as string;
    expect((await create('2.57', { personality: [{ path: '/etc/x', contents: 'eA==' }] })).status).toBe(400);
    const rebuild = (version: string, extra: object) =>
      call(member, version, 'POST', `/servers/${id}/action`, { rebuild: { imageRef, ...extra } });
    expect((await rebuild('2.53', { key_name: 'rekey' })).status).toBe(400);
    expect((await rebuild('2.54', { key_name: 'nope' })).status).toBe(400);
    expect((await rebuild('2.54', { key_name: 'rekey' })).status).toBe(202);
    await t.api.servers.idle();
    expect((await show('2.54', id)).key_name).toBe('rekey');
    expect((await rebuild('2.56', { user_data: 'aGk=' })).status).toBe(400);
    expect((await rebuild('2.57', { user_data: 'aGk=', key_name: null })).status).toBe(202);
    await t.api.servers.idle();
    const shown = await show('2.57', id, admin);
    expect(shown.key_name).toBeNull();
    expect(shown['OS-EXT-SRV-ATTR:user_data']).toBe('aGk=');
    const limits = async (version: string) => (await call(member, version, 'GET', '/limits')).body.limits.absolute;
    expect(await limits('2.56')).toHaveProperty('maxPersonality');
    expect(await limits('2.57')).not.toHaveProperty('maxPersonalitySize');
    const quotaClass = async (version: string) =>
      (await call(admin, version, 'GET', '/os-quota-class-sets/default')).body.quota_class_set;
    expect(await quotaClass('2.56')).toHaveProperty('injected_files');
    expect(await quotaClass('2.57')).not.toHaveProperty('injected_files');
    const project = shown.tenant_id as string;
    expect((await call(admin, '2.57', 'GET', `/os-quota-sets/${project}`)).body.quota_set).not.toHaveProperty(
      'injected_files',
    );
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.55: a flavor has a description, the one thing a PUT changes', async () => {
    const made = await call(admin, '2.55', 'POST', '/flavors', {
      flavor: { name: 'described', ram: 128, vcpus: 1, disk: 0, description: 'small' },
    });
    const id = made.body.flavor.id as string;
    expect(made.body.flavor.description).toBe('small');
    expect(
      (
        await call(admin, '2.54', 'POST', '/flavors', {
          flavor: { name: 'd2', ram: 1, vcpus: 1, disk: 0, description: 'x' },
        })
      ).status,
    ).toBe(400);
    expect((await call(admin, '2.54', 'GET', `/flavors/${id}`)).body.flavor).not.toHaveProperty('description');
    expect((await call(admin, '2.54', 'PUT', `/flavors/${id}`, { flavor: { description: 'x' } })).status).toBe(404);
    const changed = await call(admin, '2.55', 'PUT', `/flavors/${id}`, { flavor: { description: 'tiny' } });
    expect(changed.body.flavor.description).toBe('tiny');
    expect((await call(admin, '2.55', 'PUT', `/flavors/${id}`, { flavor: { name: 'x' } })).status).toBe(400);
    expect((await call(member, '2.55', 'PUT', `/flavors/${id}`, { flavor: { description: 'x' } })).status).toBe(403);
    const listed = (await call(member, '2.55', 'GET', '/flavors')).body.flavors;
    expect(listed.find((f: { id: string }) => f.id === id).description).toBe('tiny');
    await call(admin, '2.1', 'DELETE', `/flavors/${id}`);
  });

  it('2.58: instance actions show updated_at, are paged and filtered by changes-since', async () => {
    const id = (await create('2.58')).body.server.id as string;
    await call(member, '2.1', 'POST', `/servers/${id}/action`, { 'os-stop': null });
    await t.api.servers.idle();
    const list = async (version: string, query = '') =>
      (await call(member, version, 'GET', `/servers/${id}/os-instance-actions${query}`)).body;
    expect((await list('2.57')).instanceActions[0]).not.toHaveProperty('updated_at');
    const all = (await list('2.58')).instanceActions;
    expect(all.map((a: { action: string }) => a.action)).toEqual(['stop', 'create']);
    expect(all[0].updated_at).toMatch(/^\d{4}-/);
    const first = await list('2.58', '?limit=1');
    expect(first.instanceActions).toHaveLength(1);
    const next = new URL(first.links[0].href);
    expect((await list('2.58', next.search)).instanceActions.map((a: { action: string }) => a.action)).toEqual([
      'create',
    ]);
    expect((await list('2.58', '?changes-since=2999-01-01T00:00:00Z')).instanceActions).toEqual([]);
    expect((await list('2.57', '?limit=1')).instanceActions).toHaveLength(2); // not paged before 2.58
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.62: an action event’s host, hashed for anyone, by name for the cloud admin; 2.78: no NUMA topology', async () => {
    const id = (await create('2.62')).body.server.id as string;
    const [action] = (await call(member, '2.62', 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
    const event = async (version: string, token = member) =>
      (await call(token, version, 'GET', `/servers/${id}/os-instance-actions/${action.request_id}`)).body.instanceAction
        .events[0];
    expect(await event('2.61')).not.toHaveProperty('hostId');
    const mine = await event('2.62');
    expect(mine.hostId).toBe((await show('2.62', id)).hostId);
    expect(mine).not.toHaveProperty('host');
    expect((await event('2.62', admin)).host).toBe('rackseed-fake-0');
    expect((await call(member, '2.78', 'GET', `/servers/${id}/topology`)).body).toEqual({
      nodes: [],
      pagesize_kb: null,
    });
    expect((await call(member, '2.77', 'GET', `/servers/${id}/topology`)).status).toBe(404);
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.63: trusted certificates are shown as none and refused when given (no image signature is verified)', async () => {
    expect((await create('2.62', { trusted_image_certificates: ['a'] })).status).toBe(400); // unknown before 2.63
    const refused = await create('2.63', { trusted_image_certificates: ['cert-1'] });
    expect(refused.status).toBe(400);
    expect(refused.body.badRequest.message).toContain('not supported');
    const id = (await create('2.63', { trusted_image_certificates: null })).body.server.id as string;
    expect((await show('2.63', id)).trusted_image_certificates).toBeNull();
    expect(await show('2.62', id)).not.toHaveProperty('trusted_image_certificates');
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.64: a group has one policy and its rules; the scheduler keeps max_server_per_host; 2.71: a server shows its groups', async () => {
    const group = (version: string, g: object) =>
      call(member, version, 'POST', '/os-server-groups', { server_group: g });
    expect((await group('2.64', { name: 'g', policies: ['anti-affinity'] })).status).toBe(400);
    expect((await group('2.64', { name: 'g', policy: 'affinity', rules: { max_server_per_host: 2 } })).status).toBe(
      400,
    );
    const made = await group('2.64', { name: 'two', policy: 'anti-affinity', rules: { max_server_per_host: 2 } });
    expect(made.body.server_group).toMatchObject({ policy: 'anti-affinity', rules: { max_server_per_host: 2 } });
    expect(made.body.server_group).not.toHaveProperty('policies');
    const id = made.body.server_group.id as string;
    const old = (await call(member, '2.63', 'GET', `/os-server-groups/${id}`)).body.server_group;
    expect(old).toMatchObject({ policies: ['anti-affinity'], metadata: {} });
    // One host: two servers of the group fit on it, the third does not.
    const servers = [];
    for (let i = 0; i < 3; i++) {
      const made = await call(member, '2.64', 'POST', '/servers', {
        server: { name: `member-${i}`, imageRef, flavorRef: '1', networks: 'none' },
        'os:scheduler_hints': { group: id },
      });
      servers.push(made.body.server.id as string);
      await t.api.servers.idle();
    }
    const states = await Promise.all(servers.map(async (s) => (await show('2.64', s)).status));
    expect(states).toEqual(['ACTIVE', 'ACTIVE', 'ERROR']);
    expect((await show('2.71', servers[0] ?? '')).server_groups).toEqual([id]);
    expect(await show('2.70', servers[0] ?? '')).not.toHaveProperty('server_groups');
    const listed = (await call(member, '2.71', 'GET', '/servers/detail')).body.servers;
    expect(listed[0]).not.toHaveProperty('server_groups'); // a server's own view only
    for (const s of servers) await call(member, '2.1', 'DELETE', `/servers/${s}`);
    await t.api.servers.idle();
    await call(member, '2.1', 'DELETE', `/os-server-groups/${id}`);
  });

  it('2.66: changes-before; 2.73: a lock’s reason, and the locked filter', async () => {
    const id = (await create('2.66')).body.server.id as string;
    const listed = async (version: string, query: string) =>
      (await call(member, version, 'GET', `/servers${query}`)).body.servers?.map((s: { id: string }) => s.id);
    expect(await listed('2.66', '?changes-before=2000-01-01T00:00:00Z')).toEqual([]);
    expect(await listed('2.66', '?changes-before=2999-01-01T00:00:00Z')).toContain(id);
    expect(await listed('2.65', '?changes-before=2000-01-01T00:00:00Z')).toContain(id); // not read before 2.66
    expect(
      (
        await call(
          member,
          '2.66',
          'GET',
          '/servers?changes-since=2999-01-01T00:00:00Z&changes-before=2000-01-01T00:00:00Z',
        )
      ).status,
    ).toBe(400);
    const lock = (version: string, body: unknown) =>
      call(member, version, 'POST', `/servers/${id}/action`, { lock: body });
    expect((await lock('2.73', { locked_reason: 'x'.repeat(256) })).status).toBe(400);
    expect((await lock('2.73', { locked_reason: 'backup running' })).status).toBe(202);
    expect((await show('2.73', id)).locked_reason).toBe('backup running');
    expect(await show('2.72', id)).not.toHaveProperty('locked_reason');
    expect(await listed('2.73', '?locked=true')).toEqual([id]);
    expect(await listed('2.73', '?locked=false')).not.toContain(id);
    await call(member, '2.1', 'POST', `/servers/${id}/action`, { unlock: null });
    expect((await show('2.73', id)).locked_reason).toBeNull();
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.74: the cloud admin asks for a host, which the scheduler still filters', async () => {
    expect((await create('2.74', { host: 'rackseed-fake-0' })).status).toBe(403); // a member
    const asAdmin = (version: string, extra: object) =>
      call(admin, version, 'POST', '/servers', {
        server: { name: 'placed', imageRef, flavorRef: '1', networks: 'none', ...extra },
      });
    expect((await asAdmin('2.73', { host: 'rackseed-fake-0' })).status).toBe(400);
    expect((await asAdmin('2.74', { host: 'nowhere' })).status).toBe(400);
    expect((await asAdmin('2.74', { host: 'rackseed-fake-0', availability_zone: 'nova:rackseed-fake-0' })).status).toBe(
      400,
    );
    const made = await asAdmin('2.74', { host: 'rackseed-fake-0', hypervisor_hostname: 'rackseed-fake-0' });
    expect(made.status).toBe(202);
    await t.api.servers.idle();
    const id = made.body.server.id as string;
    expect((await show('2.74', id, admin))['OS-EXT-SRV-ATTR:host']).toBe('rackseed-fake-0');
    // A disabled host is filtered out when asked for (a forced one is not).
    const [service] = (await call(admin, '2.53', 'GET', '/os-services?binary=nova-compute')).body.services;
    await call(admin, '2.53', 'PUT', `/os-services/${service.id}`, { status: 'disabled' });
    const refused = await asAdmin('2.74', { host: 'rackseed-fake-0' });
    await t.api.servers.idle();
    expect((await show('2.74', refused.body.server.id, admin)).status).toBe('ERROR');
    await call(admin, '2.53', 'PUT', `/os-services/${service.id}`, { status: 'enabled' });
    for (const s of [id, refused.body.server.id]) await call(admin, '2.1', 'DELETE', `/servers/${s}`);
    await t.api.servers.idle();
  });

  it('2.75: unknown list parameters are refused; an update and a rebuild answer the whole server; swap is 0', async () => {
    expect((await call(member, '2.74', 'GET', '/servers?bogus=1')).status).toBe(200);
    expect((await call(member, '2.75', 'GET', '/servers?bogus=1')).status).toBe(400);
    const id = (await create('2.75', { user_data: 'aGk=' })).body.server.id as string;
    const updated = (await call(member, '2.75', 'PUT', `/servers/${id}`, { server: { name: 'renamed' } })).body.server;
    expect(updated).toMatchObject({ name: 'renamed', 'OS-EXT-STS:vm_state': 'active', server_groups: [] });
    const before = (await call(member, '2.74', 'PUT', `/servers/${id}`, { server: { name: 'again' } })).body.server;
    expect(before).not.toHaveProperty('OS-EXT-STS:vm_state');
    const rebuilt = (await call(admin, '2.75', 'POST', `/servers/${id}/action`, { rebuild: { imageRef } })).body.server;
    expect(rebuilt).toMatchObject({ user_data: 'aGk=', 'OS-EXT-SRV-ATTR:host': 'rackseed-fake-0' });
    expect(rebuilt).not.toHaveProperty('OS-EXT-SRV-ATTR:user_data');
    expect(typeof rebuilt.adminPass).toBe('string');
    await t.api.servers.idle();
    expect((await call(member, '2.74', 'GET', '/flavors/1')).body.flavor.swap).toBe('');
    expect((await call(member, '2.75', 'GET', '/flavors/1')).body.flavor.swap).toBe(0);
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('2.70: a port shows its device tag; attaching one to a built server is refused', async () => {
    const id = (
      await create('2.70', {
        networks: [
          { uuid: (await call(member, '2.1', 'GET', '/os-tenant-networks')).body.networks[0].id, tag: 'nic1' },
        ],
      })
    ).body.server.id as string;
    const ports = async (version: string) =>
      (await call(member, version, 'GET', `/servers/${id}/os-interface`)).body.interfaceAttachments;
    expect((await ports('2.70'))[0]).toMatchObject({ tag: 'nic1', port_state: 'ACTIVE' });
    expect((await ports('2.69'))[0]).not.toHaveProperty('tag');
    const port = (await ports('2.70'))[0].port_id as string;
    expect(
      (await call(member, '2.70', 'GET', `/servers/${id}/os-interface/${port}`)).body.interfaceAttachment.port_id,
    ).toBe(port);
    expect(
      (await call(member, '2.70', 'POST', `/servers/${id}/os-interface`, { interfaceAttachment: {} })).status,
    ).toBe(409);
    await call(member, '2.1', 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });
});
