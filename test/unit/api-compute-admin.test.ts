import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, computeCaller, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// The compute API's admin side over the embedded cloud (one fake host, `rackseed-fake-0`):
// aggregates and the zones they make, os-hosts, the usage audit log, os-resetState, external
// events; and the proxies of images and networks, with the versions that end them.
describe('compute admin APIs: aggregates and zones, hosts, reset state, events, proxies', () => {
  const HOST = 'rackseed-fake-0';
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let imageRef: string;
  const call = (
    token: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
    version = '2.1',
  ) => computeCaller(t.api)(token, version, method, url, payload);
  const newServer = async (name: string, extra: object = {}) => {
    const r = await call(member, 'POST', '/servers', { server: { name, imageRef, flavorRef: '1', ...extra } });
    await t.api.servers.idle();
    return { status: r.status, id: r.body?.server?.id as string, body: r.body };
  };
  const show = async (id: string) => (await call(admin, 'GET', `/servers/${id}`)).body.server;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'adm-p1', 'member');
    imageRef = await publicImage(t.api, admin);
  });
  afterAll(async () => t.stop());

  it('aggregates: the cloud admin makes them; a zone aggregate puts its hosts in that zone, which servers ask for and keep', async () => {
    expect((await call(member, 'GET', '/os-aggregates')).status).toBe(403);
    const created = await call(admin, 'POST', '/os-aggregates', {
      aggregate: { name: 'rack-a', availability_zone: 'az1' },
    });
    expect(created.status).toBe(200);
    expect(created.body.aggregate).toMatchObject({ name: 'rack-a', availability_zone: 'az1', deleted: false });
    expect(created.body.aggregate.hosts).toBeUndefined(); // as Nova's create answers
    expect(created.body.aggregate.uuid).toBeUndefined(); // from 2.41
    const id = created.body.aggregate.id as number;
    expect((await call(admin, 'GET', `/os-aggregates/${id}`, undefined, '2.41')).body.aggregate.uuid).toMatch(
      /^[0-9a-f-]{36}$/,
    );
    expect((await call(admin, 'POST', '/os-aggregates', { aggregate: { name: 'rack-a' } })).status).toBe(409);
    expect(
      (await call(admin, 'POST', '/os-aggregates', { aggregate: { name: 'x', availability_zone: 'a:b' } })).status,
    ).toBe(400);
    const action = (body: object, to = id) => call(admin, 'POST', `/os-aggregates/${to}/action`, body);
    expect((await action({ add_host: { host: 'no-such-host' } })).status).toBe(404);

    // A zone no live host is in cannot be asked for; once the host is in it, it can.
    expect((await newServer('early', { availability_zone: 'az1' })).status).toBe(400);
    const added = await action({ add_host: { host: HOST } });
    expect(added.status).toBe(200);
    expect(added.body.aggregate.hosts).toEqual([HOST]);
    expect((await action({ add_host: { host: HOST } })).status).toBe(409);
    const zones = (await call(member, 'GET', '/os-availability-zone')).body.availabilityZoneInfo;
    expect(zones).toEqual([{ zoneName: 'az1', zoneState: { available: true }, hosts: null }]);
    const services = (await call(admin, 'GET', '/os-services?binary=nova-compute')).body.services;
    expect(services[0].zone).toBe('az1');

    const inZone = await newServer('in-az1', { availability_zone: 'az1' });
    expect(inZone.status).toBe(202);
    expect(await show(inZone.id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-AZ:availability_zone': 'az1' });
    const anywhere = await newServer('anywhere');
    expect((await show(anywhere.id))['OS-EXT-AZ:availability_zone']).toBe('az1'); // its host's zone
    expect((await newServer('in-nova', { availability_zone: 'nova' })).status).toBe(400); // no host is left in nova

    // The host has servers: nothing may move it to another zone.
    const other = (
      await call(admin, 'POST', '/os-aggregates', { aggregate: { name: 'rack-b', availability_zone: 'az2' } })
    ).body.aggregate.id as number;
    const twoZones = await action({ add_host: { host: HOST } }, other);
    expect(twoZones.status).toBe(409);
    expect(twoZones.body.conflictingRequest.message).toContain('already in availability zone(s) az1');
    const rename = await call(admin, 'PUT', `/os-aggregates/${id}`, { aggregate: { availability_zone: 'az3' } });
    expect(rename.status).toBe(400);
    expect(rename.body.badRequest.message).toContain("would change from 'az1' to 'az3'");
    expect((await action({ remove_host: { host: HOST } })).status).toBe(409);
    expect((await call(admin, 'DELETE', `/os-aggregates/${id}`)).status).toBe(400); // not empty
    // Metadata other than the zone changes freely; null removes a key.
    const meta = await action({ set_metadata: { metadata: { ssd: 'true', 'zone-note': null } } });
    expect(meta.body.aggregate.metadata).toEqual({ availability_zone: 'az1', ssd: 'true' });

    for (const s of [inZone, anywhere]) await call(member, 'DELETE', `/servers/${s.id}`);
    await t.api.servers.idle();
    expect((await action({ remove_host: { host: HOST } })).body.aggregate.hosts).toEqual([]);
    expect((await action({ remove_host: { host: HOST } })).status).toBe(404);
    const deleted = await call(admin, 'DELETE', `/os-aggregates/${id}`);
    expect(deleted).toEqual({ status: 200, body: undefined });
    await call(admin, 'DELETE', `/os-aggregates/${other}`);
    expect((await call(admin, 'GET', `/os-aggregates/${id}`)).status).toBe(404);
    expect((await call(member, 'GET', '/os-availability-zone')).body.availabilityZoneInfo[0].zoneName).toBe('nova');
  });

  it('os-hosts: services by zone, a host’s resources by project, 501 for what Nova’s libvirt driver does not do; gone at 2.43', async () => {
    const server = await newServer('on-host');
    const list = (await call(admin, 'GET', '/os-hosts')).body.hosts;
    expect(list).toContainEqual({ host_name: HOST, service: 'compute', zone: 'nova' });
    expect(list).toContainEqual({ host_name: HOST, service: 'scheduler', zone: 'internal' });
    expect((await call(admin, 'GET', '/os-hosts?zone=elsewhere')).body.hosts).toEqual([]);
    const resources = (await call(admin, 'GET', `/os-hosts/${HOST}`)).body.host.map(
      (r: { resource: object }) => r.resource,
    );
    expect(resources[0]).toMatchObject({ project: '(total)', cpu: 1024 });
    expect(resources[1]).toMatchObject({ project: '(used_now)', cpu: 1, memory_mb: 512 });
    expect(resources.at(-1)).toMatchObject({ project: (await show(server.id)).tenant_id, cpu: 1 });
    expect((await call(admin, 'GET', '/os-hosts/nowhere')).status).toBe(404);
    expect((await call(member, 'GET', '/os-hosts')).status).toBe(403);
    expect((await call(admin, 'PUT', `/os-hosts/${HOST}`, { status: 'enable', maintenance_mode: 'bad' })).status).toBe(
      400,
    );
    expect((await call(admin, 'PUT', `/os-hosts/${HOST}`, { status: 'disable' })).status).toBe(501);
    expect((await call(admin, 'GET', `/os-hosts/${HOST}/reboot`)).status).toBe(501);
    expect((await call(admin, 'GET', '/os-hosts', undefined, '2.43')).status).toBe(404);
    await call(member, 'DELETE', `/servers/${server.id}`);
    await t.api.servers.idle();
  });

  it('the usage audit log: the last whole month before the time asked, every host not run', async () => {
    const log = (await call(admin, 'GET', '/os-instance_usage_audit_log/2026-03-15%2010%3A00%3A00')).body
      .instance_usage_audit_log;
    expect(log).toMatchObject({
      period_beginning: '2026-02-01 00:00:00',
      period_ending: '2026-03-01 00:00:00',
      num_hosts: 1,
      num_hosts_not_run: 1,
      hosts_not_run: [HOST],
      overall_status: '0 of 1 hosts done. 0 errors.',
    });
    expect((await call(admin, 'GET', '/os-instance_usage_audit_log/2026-02-30%2010%3A00%3A00')).status).toBe(400);
    expect((await call(member, 'GET', '/os-instance_usage_audit_log')).status).toBe(403);
  });

  it('os-resetState: the cloud admin says ERROR or ACTIVE; then an ERROR server can be rebuilt and deleted', async () => {
    const server = await newServer('stuck');
    const reset = (token: string, state: string) =>
      call(token, 'POST', `/servers/${server.id}/action`, { 'os-resetState': { state } });
    expect((await reset(member, 'error')).status).toBe(403);
    expect((await reset(admin, 'paused')).status).toBe(400);
    expect((await reset(admin, 'error')).status).toBe(202);
    expect((await show(server.id)).status).toBe('ERROR');
    expect(
      (await call(admin, 'GET', '/servers?status=ERROR&all_tenants=1')).body.servers.map((s: { id: string }) => s.id),
    ).toEqual([server.id]);
    expect((await reset(admin, 'active')).status).toBe(202);
    expect((await show(server.id)).status).toBe('ACTIVE');
    expect((await call(member, 'POST', `/servers/${server.id}/action`, { restore: null })).status).toBe(409);
    await call(member, 'DELETE', `/servers/${server.id}`);
    await t.api.servers.idle();
  });

  it('external events: each answered on its own; 207 when one is not accepted', async () => {
    const server = await newServer('evented');
    const events = (list: object[]) => call(admin, 'POST', '/os-server-external-events', { events: list });
    const ok = await events([{ name: 'network-changed', server_uuid: server.id }]);
    expect(ok.status).toBe(200);
    expect(ok.body.events[0]).toMatchObject({ code: 200, status: 'completed' });
    const mixed = await events([
      { name: 'network-vif-plugged', server_uuid: server.id, tag: 'port-1' },
      { name: 'network-vif-plugged', server_uuid: server.id },
      { name: 'network-changed', server_uuid: crypto.randomUUID() },
    ]);
    expect(mixed.status).toBe(207);
    expect(mixed.body.events.map((e: { code: number }) => e.code)).toEqual([200, 400, 404]);
    expect((await events([{ name: 'volume-extended', server_uuid: server.id, tag: 'v' }])).status).toBe(400); // 2.51
    expect((await call(member, 'POST', '/os-server-external-events', { events: [] })).status).toBe(403);
    await call(member, 'DELETE', `/servers/${server.id}`);
    await t.api.servers.idle();
  });

  it('the image proxy: Glance’s images in Nova’s shape, their metadata, until 2.35', async () => {
    const list = (await call(member, 'GET', '/images/detail')).body.images;
    expect(list).toContainEqual(expect.objectContaining({ id: imageRef, status: 'ACTIVE', progress: 100, minDisk: 0 }));
    expect((await call(member, 'GET', '/images?status=SAVING')).body.images).toEqual([]);
    const paged = await call(member, 'GET', '/images?limit=1');
    expect(paged.body.images).toHaveLength(1);
    // The owner (the admin made it) changes its metadata; a member may not.
    expect((await call(member, 'POST', `/images/${imageRef}/metadata`, { metadata: { os_distro: 'x' } })).status).toBe(
      403,
    );
    const merged = await call(admin, 'POST', `/images/${imageRef}/metadata`, { metadata: { os_distro: 'debian' } });
    expect(merged.body.metadata).toMatchObject({ os_distro: 'debian' });
    expect((await call(member, 'GET', `/images/${imageRef}/metadata/os_distro`)).body).toEqual({
      meta: { os_distro: 'debian' },
    });
    const glance = await t.api.app.inject({
      method: 'GET',
      url: `/image/v2/images/${imageRef}`,
      headers: { 'x-auth-token': member },
    });
    expect(glance.json().os_distro).toBe('debian');
    expect((await call(admin, 'DELETE', `/images/${imageRef}/metadata/os_distro`)).status).toBe(204);
    expect((await call(member, 'GET', `/images/${imageRef}/metadata/os_distro`)).status).toBe(404);
    expect((await call(member, 'GET', '/images', undefined, '2.36')).status).toBe(404);
  });

  it('the network proxies and the extensions list', async () => {
    const tenantNetworks = (await call(member, 'GET', '/os-tenant-networks')).body.networks;
    expect(tenantNetworks).toEqual([expect.objectContaining({ label: 'provider', cidr: 'None' })]);
    const one = (await call(admin, 'GET', `/os-networks/${tenantNetworks[0].id}`)).body.network;
    expect(one).toMatchObject({ id: tenantNetworks[0].id, label: 'provider', cidr: null, project_id: null });
    expect((await call(member, 'POST', '/os-networks', { network: {} })).status).toBe(410);
    expect((await call(member, 'GET', '/os-networks', undefined, '2.36')).status).toBe(404);
    const extensions = (await call(member, 'GET', '/extensions')).body.extensions;
    expect(extensions.map((e: { name: string }) => e.name)).toContain('Hosts');
    expect((await call(member, 'GET', '/extensions/os-consoles')).body.extension.alias).toBe('os-consoles');
    expect((await call(member, 'GET', '/extensions/os-nothing')).status).toBe(404);
  });

  it('os-migrations: the evacuations recorded, filtered and, from 2.59, paged; a server has no live migration', async () => {
    const server = await newServer('moved');
    const record = (uuid: string, source: string, status: 'done' | 'error', createdAt: string) =>
      t.db.migrations.record({
        ...{ uuid, serverId: server.id, migrationType: 'evacuation', sourceHost: source, destHost: HOST, status },
        ...{
          flavorId: '1',
          newFlavorId: '1',
          oldFlavor: null,
          newFlavor: null,
          projectId: 'p',
          userId: null,
          createdAt,
        },
      });
    const first = await record('00000000-0000-4000-8000-000000000001', 'h-old', 'done', '2026-01-01T00:00:00.000Z');
    await t.db.migrations.finish(first.uuid, 'done', '2026-01-01T00:00:02.000Z');
    await record('00000000-0000-4000-8000-000000000002', 'h-lost', 'error', '2026-02-01T00:00:00.000Z');
    const list = async (query = '', version = '2.59') =>
      call(admin, 'GET', `/os-migrations${query}`, undefined, version);
    const all = (await list()).body.migrations;
    expect(all.map((m: { source_compute: string }) => m.source_compute)).toEqual(['h-lost', 'h-old']); // newest first
    expect(all[1]).toMatchObject({
      ...{ instance_uuid: server.id, dest_host: HOST, status: 'done', migration_type: 'evacuation' },
      ...{ uuid: first.uuid, old_instance_type_id: 1, updated_at: '2026-01-01T00:00:02.000000' },
    });
    expect((await list('', '2.58')).body.migrations[0]).not.toHaveProperty('uuid');
    expect((await list('', '2.22')).body.migrations[0]).not.toHaveProperty('migration_type');
    expect((await list('?host=h-old')).body.migrations).toHaveLength(1);
    expect((await list('?status=error')).body.migrations[0].source_compute).toBe('h-lost');
    const page = (await list('?limit=1')).body;
    expect(page.migrations).toHaveLength(1);
    expect(new URL(page.migrations_links[0].href).searchParams.get('marker')).toBe(page.migrations[0].uuid);
    expect((await list('?changes-since=2026-01-15T00:00:00Z')).body.migrations).toHaveLength(1);
    expect((await list('?nope=1')).status).toBe(400); // from 2.59 the query is checked
    expect((await list('?nope=1', '2.58')).status).toBe(200);
    expect((await call(member, 'GET', '/os-migrations')).status).toBe(403);
    expect((await call(admin, 'GET', `/servers/${server.id}/migrations`, undefined, '2.23')).body).toEqual({
      migrations: [],
    });
    expect((await call(admin, 'GET', `/servers/${server.id}/migrations`, undefined, '2.22')).status).toBe(404);
    await call(member, 'DELETE', `/servers/${server.id}`);
    await t.api.servers.idle();
  });

  it('os-server-password: what the guest posted (none from a fake guest), cleared by its project', async () => {
    const server = await newServer('with-password');
    expect((await call(member, 'GET', `/servers/${server.id}/os-server-password`)).body).toEqual({ password: '' });
    expect((await call(member, 'DELETE', `/servers/${server.id}/os-server-password`)).status).toBe(204);
    const other = await tenant(t.api, admin, 'adm-p2', 'member');
    expect((await call(other, 'GET', `/servers/${server.id}/os-server-password`)).status).toBe(404);
    await call(member, 'DELETE', `/servers/${server.id}`);
    await t.api.servers.idle();
  });

  it("diagnostics: the cloud admin's, in libvirt's shape before 2.48 and Nova's standard one from it", async () => {
    const { id } = await newServer('diagnosed');
    expect((await call(member, 'GET', `/servers/${id}/diagnostics`)).status).toBe(403);
    const mac = (await show(id)).addresses.provider[0]['OS-EXT-IPS-MAC:mac_addr'] as string;
    const port = (await t.db.servers.get(id))?.addresses[0]?.portId ?? '';
    const legacy = (await call(admin, 'GET', `/servers/${id}/diagnostics`)).body;
    expect(legacy).toMatchObject({ cpu0_time: 0, memory: 512 * 1024, vda_read: 0, vda_errors: 0 });
    expect(legacy[`tap${port.slice(0, 11)}_rx`]).toBe(0);
    const standard = await call(admin, 'GET', `/servers/${id}/diagnostics`, undefined, '2.48');
    expect(standard.body).toMatchObject({
      state: 'running',
      driver: 'libvirt',
      num_cpus: 1,
      num_disks: 1,
      num_nics: 1,
      memory_details: { maximum: 512, used: 0 },
      nic_details: [{ mac_address: mac, rx_octets: 0, rx_rate: null }],
    });
    expect(standard.body.cpu_details).toEqual([{ id: 0, time: 0, utilisation: null }]);
    await call(member, 'POST', `/servers/${id}/action`, { 'os-stop': null });
    await t.api.servers.idle();
    const stopped = (await call(admin, 'GET', `/servers/${id}/diagnostics`, undefined, '2.48')).body;
    expect(stopped).toMatchObject({ state: 'shutdown', uptime: null, cpu_details: [], disk_details: [] });
    expect((await call(admin, 'GET', '/servers/00000000-0000-4000-8000-000000000000/diagnostics')).status).toBe(404);
  });
});
