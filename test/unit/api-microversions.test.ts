import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOVA_MAX_MICROVERSION } from '../../appliance/api/index.js';
import { ADMIN_PASSWORD, computeCaller, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// What each compute microversion from 2.2 to 2.46 changes (later ones: api-microversions-2.test.ts), over the embedded cloud: each
// assertion is made at the version that brings the change and at the one before.
describe('Nova microversions 2.2 to 2.46', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let imageRef: string;
  let server: string;
  const call: ReturnType<typeof computeCaller> = (...args) => computeCaller(t.api)(...args);
  const userIdOf = async (name: string) =>
    (
      await t.api.app.inject({
        method: 'GET',
        url: `/identity/v3/users?name=${name}`,
        headers: { 'x-auth-token': admin },
      })
    ).json().users[0].id as string;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'mv-p1', 'member');
    other = await tenant(t.api, admin, 'mv-p2', 'member');
    imageRef = await publicImage(t.api, admin);
    const created = await call(member, '2.1', 'POST', '/servers', {
      server: { name: 'Web_Server 1', imageRef, flavorRef: '1', user_data: 'aGVsbG8=' },
    });
    server = created.body.server.id;
    await t.api.servers.idle();
  });
  afterAll(async () => t.stop());

  it('negotiates up to the newest: `latest` is it, the next is refused (406)', async () => {
    const latest = await call(member, 'latest', 'GET', '/flavors');
    expect(latest.status).toBe(200);
    const r = await t.api.app.inject({
      method: 'GET',
      url: '/compute/v2.1/flavors',
      headers: { 'x-auth-token': member, 'openstack-api-version': 'compute latest' },
    });
    expect(r.headers['openstack-api-version']).toBe(`compute ${NOVA_MAX_MICROVERSION}`);
    expect(r.headers['x-openstack-request-id']).toMatch(/^req-/); // 2.46
    const [major, minor] = NOVA_MAX_MICROVERSION.split('.').map(Number);
    expect((await call(member, `${major}.${(minor ?? 0) + 1}`, 'GET', '/flavors')).status).toBe(406);
    expect((await call(member, '2.x', 'GET', '/flavors')).status).toBe(400);
    const root = await t.api.app.inject({ method: 'GET', url: '/compute/v2.1' });
    expect(root.json().version).toMatchObject({ version: NOVA_MAX_MICROVERSION, min_version: '2.1' });
  });

  it('2.2: keypairs have a type; create answers 201 and delete 204; x509 certificates are generated and imported', async () => {
    const old = await call(member, '2.1', 'POST', '/os-keypairs', { keypair: { name: 'k21' } });
    expect(old.status).toBe(200);
    expect(old.body.keypair.type).toBeUndefined();
    expect((await call(member, '2.1', 'POST', '/os-keypairs', { keypair: { name: 'k', type: 'ssh' } })).status).toBe(
      400,
    );
    const ssh = await call(member, '2.2', 'POST', '/os-keypairs', { keypair: { name: 'k22' } });
    expect(ssh.status).toBe(201);
    expect(ssh.body.keypair).toMatchObject({ name: 'k22', type: 'ssh' });
    expect(ssh.body.keypair.public_key).toMatch(/^ssh-rsa /);

    const x509 = await call(member, '2.2', 'POST', '/os-keypairs', { keypair: { name: 'cert', type: 'x509' } });
    expect(x509.status).toBe(201);
    const cert = new X509Certificate(x509.body.keypair.public_key);
    const userId = await userIdOf('mv-p1-user');
    expect(cert.subject).toBe(`CN=${userId}`);
    expect(
      cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(x509.body.keypair.private_key))),
    ).toBe(true);
    const sha1 = createHash('sha1')
      .update(cert.raw)
      .digest('hex')
      .replace(/(..)(?!$)/g, '$1:');
    expect(x509.body.keypair.fingerprint).toBe(sha1);
    // The certificate imported under another name has the same fingerprint; garbage is refused.
    const imported = await call(member, '2.2', 'POST', '/os-keypairs', {
      keypair: { name: 'cert2', type: 'x509', public_key: x509.body.keypair.public_key },
    });
    expect(imported.body.keypair).toMatchObject({ type: 'x509', fingerprint: sha1 });
    expect(imported.body.keypair.private_key).toBeUndefined();
    const garbage = { keypair: { name: 'bad', type: 'x509', public_key: '-----BEGIN CERTIFICATE-----\nAAAA' } };
    expect((await call(member, '2.2', 'POST', '/os-keypairs', garbage)).status).toBe(400);
    expect((await call(member, '2.2', 'POST', '/os-keypairs', { keypair: { name: 'b', type: 'pgp' } })).status).toBe(
      400,
    );

    const listed = await call(member, '2.2', 'GET', '/os-keypairs');
    expect(
      listed.body.keypairs
        .map((k: { keypair: { name: string; type: string } }) => [k.keypair.name, k.keypair.type])
        .sort(),
    ).toEqual([
      ['cert', 'x509'],
      ['cert2', 'x509'],
      ['k21', 'ssh'],
      ['k22', 'ssh'],
    ]);
    expect((await call(member, '2.1', 'GET', '/os-keypairs')).body.keypairs[0].keypair.type).toBeUndefined();
    expect((await call(member, '2.2', 'GET', '/os-keypairs/cert')).body.keypair.type).toBe('x509');
    expect((await call(member, '2.2', 'DELETE', '/os-keypairs/cert2')).status).toBe(204);
    expect((await call(member, '2.1', 'DELETE', '/os-keypairs/k21')).status).toBe(202);
  });

  it('2.10: the cloud admin manages another user’s keypairs with user_id; before 2.10 user_id is refused or ignored', async () => {
    const userId = await userIdOf('mv-p2-user');
    const body = { keypair: { name: 'for-other', user_id: userId } };
    expect((await call(admin, '2.9', 'POST', '/os-keypairs', body)).status).toBe(400);
    const made = await call(admin, '2.10', 'POST', '/os-keypairs', body);
    expect(made.status).toBe(201);
    expect(made.body.keypair.user_id).toBe(userId);
    const names = async (version: string) =>
      (await call(admin, version, 'GET', `/os-keypairs?user_id=${userId}`)).body.keypairs.map(
        (k: { keypair: { name: string } }) => k.keypair.name,
      );
    expect(await names('2.10')).toEqual(['for-other']);
    expect(await names('2.9')).not.toContain('for-other'); // the admin's own
    expect((await call(other, '2.10', 'GET', '/os-keypairs/for-other')).body.keypair.user_id).toBe(userId);
    // A member naming another user is refused; the admin deletes it for its owner.
    const memberId = await userIdOf('mv-p1-user');
    expect((await call(other, '2.10', 'GET', `/os-keypairs?user_id=${memberId}`)).status).toBe(403);
    expect((await call(admin, '2.10', 'DELETE', `/os-keypairs/for-other?user_id=${userId}`)).status).toBe(204);
    expect((await call(other, '2.10', 'GET', '/os-keypairs')).body.keypairs).toEqual([]);
  });

  it('2.3: the admin sees how a server was made; a member and 2.1 do not', async () => {
    const shown = (await call(admin, '2.3', 'GET', `/servers/${server}`)).body.server;
    expect(shown).toMatchObject({
      'OS-EXT-SRV-ATTR:launch_index': 0,
      'OS-EXT-SRV-ATTR:hostname': 'web-server-1',
      'OS-EXT-SRV-ATTR:kernel_id': '',
      'OS-EXT-SRV-ATTR:ramdisk_id': '',
      'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda',
      'OS-EXT-SRV-ATTR:user_data': 'aGVsbG8=',
    });
    expect(shown['OS-EXT-SRV-ATTR:reservation_id']).toMatch(/^r-[0-9a-f]{8}$/);
    expect((await call(admin, '2.1', 'GET', `/servers/${server}`)).body.server).not.toHaveProperty(
      'OS-EXT-SRV-ATTR:user_data',
    );
    expect((await call(member, '2.3', 'GET', `/servers/${server}`)).body.server).not.toHaveProperty(
      'OS-EXT-SRV-ATTR:reservation_id',
    );
  });

  it('a multi-create with return_reservation_id answers the reservation, which lists its servers in launch order', async () => {
    const r = await call(member, '2.1', 'POST', '/servers', {
      server: { name: 'many', imageRef, flavorRef: '1', min_count: 2, max_count: 2, return_reservation_id: true },
    });
    expect(r.status).toBe(202);
    expect(Object.keys(r.body)).toEqual(['reservation_id']);
    await t.api.servers.idle();
    const servers = (
      await call(admin, '2.3', 'GET', `/servers/detail?all_tenants=1&reservation_id=${r.body.reservation_id}`)
    ).body.servers;
    expect(servers.map((s: Record<string, unknown>) => [s.name, s['OS-EXT-SRV-ATTR:launch_index']]).sort()).toEqual([
      ['many-1', 0],
      ['many-2', 1],
    ]);
    for (const s of servers) expect((await call(member, '2.1', 'DELETE', `/servers/${s.id}`)).status).toBe(204);
    await t.api.servers.idle();
  });

  it('2.5: a member filters by ip6 (before, only the admin could: ignored); ip matches from an address’s start', async () => {
    const ids = async (version: string, query: string) =>
      (await call(member, version, 'GET', `/servers?${query}`)).body.servers.map((s: { id: string }) => s.id);
    const addr = (await call(member, '2.1', 'GET', `/servers/${server}`)).body.server.addresses.provider[0].addr;
    expect(await ids('2.1', `ip=${addr.split('.').slice(0, 2).join('.')}`)).toEqual([server]);
    expect(await ids('2.1', 'ip=16')).toEqual([]); // "10.16…" holds 16, not at its start
    expect(await ids('2.4', 'ip6=fd')).toEqual([server]); // ignored
    expect(await ids('2.5', 'ip6=fd')).toEqual([]); // no IPv6 address
  });

  it('2.6 and 2.8: remote consoles are checked as Nova checks them, then unavailable (400)', async () => {
    const ask = (version: string, protocol: string, type: string, token = member) =>
      call(token, version, 'POST', `/servers/${server}/remote-consoles`, { remote_console: { protocol, type } });
    expect((await ask('2.5', 'vnc', 'novnc')).status).toBe(404);
    const vnc = await ask('2.6', 'vnc', 'novnc');
    expect(vnc).toEqual({
      status: 400,
      body: { badRequest: { code: 400, message: 'Unavailable console type novnc.' } },
    });
    expect((await ask('2.6', 'vnc', 'spice-html5')).body.badRequest.message).toContain('field/attribute type');
    expect((await ask('2.6', 'mks', 'webmks')).body.badRequest.message).toContain('field/attribute protocol');
    expect((await ask('2.8', 'mks', 'webmks')).body.badRequest.message).toBe('Unavailable console type webmks.');
    expect((await ask('2.8', 'vnc', 'novnc', other)).status).toBe(404);
    const action = await call(member, '2.1', 'POST', `/servers/${server}/action`, {
      'os-getSerialConsole': { type: 'serial' },
    });
    expect(action.body.badRequest.message).toBe('Unavailable console type serial.');
  });

  it('2.7: access to a public flavor is recorded before 2.7 and refused (409) from it', async () => {
    const add = (version: string, tenantId: string) =>
      call(admin, version, 'POST', '/flavors/1/action', { addTenantAccess: { tenant: tenantId } });
    expect((await add('2.6', 'some-project')).status).toBe(200);
    expect((await add('2.7', 'another-project')).status).toBe(409);
  });

  it('2.9: a server shows whether it is locked, in show, list and update; rebuild answers the basic view with adminPass', async () => {
    const locked = async (version: string) =>
      (await call(member, version, 'GET', `/servers/${server}`)).body.server.locked;
    expect(await locked('2.8')).toBeUndefined();
    expect(await locked('2.9')).toBe(false);
    expect((await call(member, '2.9', 'POST', `/servers/${server}/action`, { lock: null })).status).toBe(202);
    expect(await locked('2.9')).toBe(true);
    expect((await call(member, '2.9', 'GET', '/servers/detail')).body.servers[0].locked).toBe(true);
    const renamed = await call(member, '2.9', 'PUT', `/servers/${server}`, { server: { name: 'renamed' } });
    expect(renamed.body.server.locked).toBe(true);
    expect((await call(member, '2.9', 'POST', `/servers/${server}/action`, { unlock: null })).status).toBe(202);

    const rebuilt = await call(admin, '2.9', 'POST', `/servers/${server}/action`, {
      rebuild: { imageRef, adminPass: 'new-secret', accessIPv4: '192.0.2.7' },
    });
    expect(rebuilt.status).toBe(202);
    expect(rebuilt.body.server).toMatchObject({ adminPass: 'new-secret', accessIPv4: '192.0.2.7', locked: false });
    expect(rebuilt.body.server).not.toHaveProperty('OS-EXT-SRV-ATTR:host');
    expect(rebuilt.body.server).not.toHaveProperty('key_name');
    await t.api.servers.idle();
  });

  it('2.11: a service disabled or forced down takes its host out of scheduling, and shows so', async () => {
    const host = 'rackseed-fake-0';
    const put = (version: string, action: string, payload: object) =>
      call(admin, version, 'PUT', `/os-services/${action}`, payload);
    const compute = async (version: string) =>
      (await call(admin, version, 'GET', `/os-services?binary=nova-compute&host=${host}`)).body.services[0];
    expect((await put('2.10', 'force-down', { host, binary: 'nova-compute', forced_down: true })).status).toBe(404);
    expect(await compute('2.10')).not.toHaveProperty('forced_down');
    const down = await put('2.11', 'force-down', { host, binary: 'nova-compute', forced_down: true });
    expect(down.body).toEqual({ service: { host, binary: 'nova-compute', forced_down: true } });
    expect(await compute('2.11')).toMatchObject({ state: 'down', status: 'enabled', forced_down: true });
    expect((await call(admin, '2.11', 'GET', '/os-hypervisors')).body.hypervisors[0]).toMatchObject({
      hypervisor_hostname: host,
      state: 'down',
    });
    expect((await call(member, '2.11', 'GET', '/os-services')).status).toBe(403);
    expect((await put('2.11', 'disable', { host: 'no-such-host', binary: 'nova-compute' })).status).toBe(404);
    // 2.16: the admin sees the host of a server DOWN; a member does not see it at all.
    const hostStatus = async (token: string, version: string) =>
      (await call(token, version, 'GET', `/servers/${server}`)).body.server.host_status;
    expect(await hostStatus(admin, '2.16')).toBe('DOWN');
    expect(await hostStatus(admin, '2.15')).toBeUndefined();
    expect(await hostStatus(member, '2.16')).toBeUndefined();
    const placed = async () => {
      const made = await call(member, '2.1', 'POST', '/servers', {
        server: { name: 'where', imageRef, flavorRef: '1' },
      });
      await t.api.servers.idle();
      const shown = (await call(member, '2.1', 'GET', `/servers/${made.body.server.id}`)).body.server;
      expect((await call(member, '2.1', 'DELETE', `/servers/${shown.id}`)).status).toBe(204);
      await t.api.servers.idle();
      return shown.status as string;
    };
    expect(await placed()).toBe('ERROR'); // the only host is down: no valid host
    await put('2.11', 'force-down', { host, binary: 'nova-compute', forced_down: false });
    const disabled = await put('2.1', 'disable-log-reason', {
      host,
      binary: 'nova-compute',
      disabled_reason: 'disk swap',
    });
    expect(disabled.body.service).toEqual({
      host,
      binary: 'nova-compute',
      status: 'disabled',
      disabled_reason: 'disk swap',
    });
    expect(await compute('2.11')).toMatchObject({ state: 'up', status: 'disabled', disabled_reason: 'disk swap' });
    expect(await hostStatus(admin, '2.16')).toBe('MAINTENANCE');
    const hypervisor = (await call(admin, '2.11', 'GET', '/os-hypervisors/1')).body.hypervisor;
    expect(hypervisor).toMatchObject({ state: 'up', status: 'disabled', service: { disabled_reason: 'disk swap' } });
    expect(await placed()).toBe('ERROR');
    expect((await put('2.1', 'enable', { host, binary: 'nova-compute' })).body.service.status).toBe('enabled');
    expect(await compute('2.11')).toMatchObject({ status: 'enabled', disabled_reason: null, forced_down: false });
    expect(await hostStatus(admin, '2.16')).toBe('UP');
    expect(await placed()).toBe('ACTIVE');
  });

  it('2.13 and 2.15: server groups show their project and user, and take the soft policies', async () => {
    const create = (version: string, policy: string) =>
      call(member, version, 'POST', '/os-server-groups', { server_group: { name: `g-${policy}`, policies: [policy] } });
    expect((await create('2.14', 'soft-anti-affinity')).status).toBe(400);
    const soft = await create('2.15', 'soft-anti-affinity');
    expect(soft.status).toBe(200);
    expect(soft.body.server_group.policies).toEqual(['soft-anti-affinity']);
    expect(soft.body.server_group.project_id).toBe(
      (await call(member, '2.1', 'GET', `/servers/${server}`)).body.server.tenant_id,
    );
    expect(soft.body.server_group.user_id).toBe(await userIdOf('mv-p1-user'));
    expect(
      (await call(member, '2.12', 'GET', `/os-server-groups/${soft.body.server_group.id}`)).body.server_group,
    ).not.toHaveProperty('project_id');
    // A soft policy never refuses: two members on the one host.
    for (const name of ['s1', 's2']) {
      const made = await t.api.app.inject({
        method: 'POST',
        url: '/compute/v2.1/servers',
        headers: { 'x-auth-token': member },
        payload: {
          server: { name, imageRef, flavorRef: '1' },
          'os:scheduler_hints': { group: soft.body.server_group.id },
        },
      });
      expect(made.statusCode).toBe(202);
    }
    await t.api.servers.idle();
    const members = (await call(member, '2.15', 'GET', `/os-server-groups/${soft.body.server_group.id}`)).body
      .server_group.members as string[];
    expect(members).toHaveLength(2);
    for (const id of members) {
      expect((await call(member, '2.1', 'GET', `/servers/${id}`)).body.server.status).toBe('ACTIVE');
      await call(member, '2.1', 'DELETE', `/servers/${id}`);
    }
    await t.api.servers.idle();
  });

  it('2.17: trigger_crash_dump sends an active server an NMI, recorded as an instance action; refused before 2.17 and when not active', async () => {
    const dump = (version: string) =>
      call(member, version, 'POST', `/servers/${server}/action`, { trigger_crash_dump: null });
    expect((await dump('2.16')).status).toBe(400);
    expect((await dump('2.17')).status).toBe(202);
    await t.api.servers.idle();
    const actions = (await call(member, '2.17', 'GET', `/servers/${server}/os-instance-actions`)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action)).toContain('trigger_crash_dump');
    expect((await call(member, '2.1', 'POST', `/servers/${server}/action`, { 'os-stop': null })).status).toBe(202);
    await t.api.servers.idle();
    expect((await dump('2.17')).status).toBe(409);
    expect((await call(member, '2.1', 'POST', `/servers/${server}/action`, { 'os-start': null })).status).toBe(202);
    await t.api.servers.idle();
  });

  it('2.18: every URL is served with the caller’s project id too; another project’s is a 400', async () => {
    const project = (await call(member, '2.1', 'GET', `/servers/${server}`)).body.server.tenant_id as string;
    const withProject = await call(member, '2.1', 'GET', `/${project}/servers/${server}`);
    expect(withProject.status).toBe(200);
    expect(withProject.body.server.id).toBe(server);
    expect((await call(member, '2.18', 'GET', `/${project}/flavors/1`)).body.flavor.id).toBe('1');
    const wrong = await call(other, '2.1', 'GET', `/${project}/servers`);
    expect(wrong.status).toBe(400);
    expect(wrong.body.badRequest.message).toContain("doesn't match Context's project_id");
  });

  it('2.19: a server has a description, given at create, update and rebuild, null when none', async () => {
    const made = await call(member, '2.19', 'POST', '/servers', {
      server: { name: 'described', imageRef, flavorRef: '1', description: 'the web tier' },
    });
    expect(made.status).toBe(202);
    const id = made.body.server.id as string;
    await t.api.servers.idle();
    expect((await call(member, '2.19', 'GET', `/servers/${id}`)).body.server.description).toBe('the web tier');
    expect((await call(member, '2.18', 'GET', `/servers/${id}`)).body.server).not.toHaveProperty('description');
    expect((await call(member, '2.19', 'GET', `/servers/${server}`)).body.server.description).toBeNull();
    const updated = await call(member, '2.19', 'PUT', `/servers/${id}`, { server: { description: null } });
    expect(updated.body.server.description).toBeNull();
    const rebuilt = await call(member, '2.19', 'POST', `/servers/${id}/action`, {
      rebuild: { imageRef, description: 'again' },
    });
    expect(rebuilt.body.server.description).toBe('again');
    await t.api.servers.idle();
    expect((await call(member, '2.18', 'PUT', `/servers/${id}`, { server: { description: 'x' } })).status).toBe(400);
    expect(
      (
        await call(member, '2.19', 'POST', '/servers', {
          server: { name: 'd', imageRef, flavorRef: '1', description: 'x'.repeat(256) },
        })
      ).status,
    ).toBe(400);
    expect((await call(member, '2.1', 'DELETE', `/servers/${id}`)).status).toBe(204);
    await t.api.servers.idle();
  });

  it('nova-network’s APIs are gone (410), as in Nova since Rocky', async () => {
    expect((await call(admin, '2.4', 'GET', '/os-fixed-ips/10.16.0.5')).status).toBe(410);
    expect((await call(member, '2.12', 'GET', `/servers/${server}/os-virtual-interfaces`)).status).toBe(410);
    expect((await call(admin, '2.1', 'GET', '/os-security-group-default-rules')).status).toBe(410);
    expect((await call(admin, '2.1', 'DELETE', '/os-security-group-default-rules/1')).status).toBe(410);
  });

  it('2.21: a deleted server’s instance actions are read (before, its actions are 404 with it)', async () => {
    const made = await call(member, '2.1', 'POST', '/servers', { server: { name: 'gone', imageRef, flavorRef: '1' } });
    const id = made.body.server.id as string;
    await t.api.servers.idle();
    expect((await call(member, '2.1', 'DELETE', `/servers/${id}`)).status).toBe(204);
    await t.api.servers.idle();
    expect((await call(member, '2.20', 'GET', `/servers/${id}/os-instance-actions`)).status).toBe(404);
    const actions = (await call(member, '2.21', 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action).sort()).toEqual(['create', 'delete']);
    expect((await call(other, '2.21', 'GET', `/servers/${id}/os-instance-actions`)).status).toBe(404);
  });

  it('2.26: server tags are set, added, checked, removed, shown and filtered by; at most 50 of 60 characters', async () => {
    const tags = (version = '2.26') => call(member, version, 'GET', `/servers/${server}/tags`);
    expect((await tags('2.25')).status).toBe(404);
    expect((await tags()).body).toEqual({ tags: [] });
    const added = await t.api.app.inject({
      method: 'PUT',
      url: `/compute/v2.1/servers/${server}/tags/web`,
      headers: { 'x-auth-token': member, 'openstack-api-version': 'compute 2.26' },
    });
    expect(added.statusCode).toBe(201);
    expect(added.headers.location).toBe(`http://cloud.test/compute/v2.1/servers/${server}/tags/web`);
    expect((await call(member, '2.26', 'PUT', `/servers/${server}/tags/web`)).status).toBe(204); // already there
    expect((await call(member, '2.26', 'GET', `/servers/${server}/tags/web`)).status).toBe(204);
    expect((await call(member, '2.26', 'GET', `/servers/${server}/tags/db`)).status).toBe(404);
    const replaced = await call(member, '2.26', 'PUT', `/servers/${server}/tags`, { tags: ['a', 'b', 'a'] });
    expect(replaced.body).toEqual({ tags: ['a', 'b'] });
    expect((await call(member, '2.26', 'GET', `/servers/${server}`)).body.server.tags).toEqual(['a', 'b']);
    expect((await call(member, '2.25', 'GET', `/servers/${server}`)).body.server).not.toHaveProperty('tags');
    // Filters: all of, any of, not all of, none of.
    const other1 = (
      await call(member, '2.1', 'POST', '/servers', { server: { name: 'tagged', imageRef, flavorRef: '1' } })
    ).body.server.id as string;
    await t.api.servers.idle();
    await call(member, '2.26', 'PUT', `/servers/${other1}/tags`, { tags: ['a'] });
    const ids = async (query: string) =>
      (await call(member, '2.26', 'GET', `/servers?${query}`)).body.servers.map((x: { id: string }) => x.id).sort();
    expect(await ids('tags=a,b')).toEqual([server]);
    expect(await ids('tags-any=b,z')).toEqual([server]);
    expect(await ids('tags=a')).toEqual([server, other1].sort());
    expect(await ids('not-tags=a,b')).toEqual([other1]);
    expect(await ids('not-tags-any=b')).toEqual([other1]);
    // Limits, bad tags, other projects, readers of nothing.
    const fifty = Array.from({ length: 50 }, (_, i) => `t${i}`);
    expect((await call(member, '2.26', 'PUT', `/servers/${server}/tags`, { tags: fifty })).status).toBe(200);
    const over = await call(member, '2.26', 'PUT', `/servers/${server}/tags/one-more`);
    expect(over).toEqual({
      status: 400,
      body: { badRequest: { code: 400, message: 'The number of tags exceeded the per-server limit 50' } },
    });
    expect((await call(member, '2.26', 'PUT', `/servers/${server}/tags`, { tags: ['x'.repeat(61)] })).status).toBe(400);
    expect((await call(member, '2.26', 'PUT', `/servers/${server}/tags/a,b`)).status).toBe(400);
    expect((await call(other, '2.26', 'GET', `/servers/${server}/tags`)).status).toBe(404);
    expect((await call(member, '2.26', 'DELETE', `/servers/${server}/tags/t0`)).status).toBe(204);
    expect((await call(member, '2.26', 'DELETE', `/servers/${server}/tags/t0`)).status).toBe(404);
    expect((await call(member, '2.26', 'DELETE', `/servers/${server}/tags`)).status).toBe(204);
    expect((await tags()).body).toEqual({ tags: [] });
    // Only while active or stopped: a server in ERROR takes no tag (409).
    await t.api.servers.report(other1, { type: 'hostLost', message: 'its host was fenced' });
    expect((await call(member, '2.26', 'GET', `/servers/${other1}`)).body.server.status).toBe('ERROR');
    expect((await call(member, '2.26', 'PUT', `/servers/${other1}/tags/x`)).status).toBe(409);
    await call(member, '2.1', 'DELETE', `/servers/${other1}`);
    await t.api.servers.idle();
  });

  it('2.28: a hypervisor’s cpu_info is an object, a JSON string before', async () => {
    const cpuInfo = async (version: string) =>
      (await call(admin, version, 'GET', '/os-hypervisors/detail')).body.hypervisors[0].cpu_info;
    const before = await cpuInfo('2.27');
    expect(typeof before).toBe('string');
    expect(await cpuInfo('2.28')).toEqual(JSON.parse(before as string));
    expect((await cpuInfo('2.28')).topology).toMatchObject({ cores: 1, threads: 1 });
  });

  it('2.32: a create tags its networks and its root disk (2.31 and 2.33 refuse tags); volumes are refused, not ignored', async () => {
    const networkId = (
      await t.api.app.inject({ method: 'GET', url: '/network/v2.0/networks', headers: { 'x-auth-token': member } })
    ).json().networks[0].id as string;
    const create = (version: string, extra: object) =>
      call(member, version, 'POST', '/servers', { server: { name: 'dev', flavorRef: '1', ...extra } });
    const tagged = {
      networks: [{ uuid: networkId, tag: 'frontend' }],
      block_device_mapping_v2: [
        { boot_index: 0, source_type: 'image', destination_type: 'local', uuid: imageRef, tag: 'boot' },
      ],
    };
    expect((await create('2.31', { ...tagged, imageRef })).status).toBe(400);
    expect((await create('2.33', { ...tagged, imageRef })).status).toBe(400);
    const made = await create('2.32', tagged); // the image from the mapping alone
    expect(made.status).toBe(202);
    const id = made.body.server.id as string;
    await t.api.servers.idle();
    expect((await t.db.servers.get(id))?.rootDeviceTag).toBe('boot');
    expect((await t.db.networks.ports({ deviceId: id })).map((p) => p.tag)).toEqual(['frontend']);
    expect((await call(member, '2.1', 'GET', `/servers/${id}`)).body.server.image.id).toBe(imageRef);
    // What would need a volume is refused with Nova's fault, not ignored.
    const volume = [{ boot_index: 0, source_type: 'volume', destination_type: 'volume', uuid: imageRef }];
    const refused = await create('2.32', { imageRef, block_device_mapping_v2: volume });
    expect(refused.status).toBe(400);
    expect(refused.body.badRequest.message).toMatch(/^Block Device Mapping is Invalid: /);
    expect((await create('2.1', { imageRef, block_device_mapping: [{ volume_id: 'v' }] })).status).toBe(400);
    expect((await create('2.1', { imageRef, block_device_mapping_v2: [] })).status).toBe(202);
    expect((await call(member, '2.1', 'DELETE', `/servers/${id}`)).status).toBe(204);
    await t.api.servers.idle();
  });

  it('2.33 and 2.35: hypervisors and keypairs are paged (limit, marker, a next link); before, limit is ignored', async () => {
    const hypervisors = (await call(admin, '2.33', 'GET', '/os-hypervisors?limit=1')).body;
    expect(hypervisors.hypervisors).toHaveLength(1);
    expect(hypervisors).not.toHaveProperty('hypervisors_links'); // one host: nothing left
    expect((await call(admin, '2.33', 'GET', '/os-hypervisors?marker=99')).status).toBe(400);
    for (const name of ['pa', 'pb', 'pc']) await call(other, '2.35', 'POST', '/os-keypairs', { keypair: { name } });
    const first = (await call(other, '2.35', 'GET', '/os-keypairs?limit=2')).body;
    expect(first.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name)).toEqual(['pa', 'pb']);
    expect(first.keypairs_links[0].href).toBe('http://cloud.test/compute/v2.1/os-keypairs?limit=2&marker=pb');
    const second = (await call(other, '2.35', 'GET', '/os-keypairs?limit=2&marker=pb')).body;
    expect(second.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name)).toEqual(['pc']);
    expect(second).not.toHaveProperty('keypairs_links');
    expect((await call(other, '2.34', 'GET', '/os-keypairs?limit=2')).body.keypairs).toHaveLength(3);
    for (const name of ['pa', 'pb', 'pc']) await call(other, '2.35', 'DELETE', `/os-keypairs/${name}`);
  });

  it('2.36: the network quotas leave the limits and the quota sets, and an update naming one is refused', async () => {
    const absolute = async (version: string) =>
      (await call(member, version, 'GET', '/limits')).body.limits.absolute as Record<string, number>;
    expect(await absolute('2.35')).toHaveProperty('maxSecurityGroups');
    const newest = await absolute('2.36');
    for (const gone of ['maxSecurityGroups', 'maxSecurityGroupRules', 'maxTotalFloatingIps', 'totalFloatingIpsUsed'])
      expect(newest).not.toHaveProperty(gone);
    expect(newest).toHaveProperty('maxTotalInstances');
    const project = (await call(member, '2.1', 'GET', `/servers/${server}`)).body.server.tenant_id as string;
    const quotas = async (version: string) =>
      Object.keys((await call(admin, version, 'GET', `/os-quota-sets/${project}`)).body.quota_set);
    expect(await quotas('2.35')).toContain('floating_ips');
    expect(await quotas('2.36')).not.toContain('floating_ips');
    expect(await quotas('2.36')).toContain('instances');
    const update = (version: string) =>
      call(admin, version, 'PUT', `/os-quota-sets/${project}`, { quota_set: { security_groups: 5 } });
    expect((await update('2.35')).status).toBe(200);
    expect((await update('2.36')).status).toBe(400);
  });

  it('2.37: a create names its networks (a list, auto or none); before, none named means auto', async () => {
    const create = (version: string, networks?: unknown) =>
      call(member, version, 'POST', '/servers', {
        server: { name: 'net', imageRef, flavorRef: '1', ...(networks === undefined ? {} : { networks }) },
      });
    const missing = await create('2.37');
    expect(missing.status).toBe(400);
    expect(missing.body.badRequest.message).toContain("'networks' is a required property");
    expect((await create('2.36', 'auto')).status).toBe(400); // a string before 2.37
    const made = { auto: await create('2.37', 'auto'), none: await create('2.37', 'none'), old: await create('2.36') };
    await t.api.servers.idle();
    const addresses = async (id: string) =>
      Object.keys((await call(member, '2.1', 'GET', `/servers/${id}`)).body.server.addresses as object);
    expect(await addresses(made.auto.body.server.id)).toEqual(['provider']);
    expect(await addresses(made.old.body.server.id)).toEqual(['provider']);
    expect(await addresses(made.none.body.server.id)).toEqual([]);
    for (const r of Object.values(made)) await call(member, '2.1', 'DELETE', `/servers/${r.body.server.id}`);
    await t.api.servers.idle();
  });

  it('2.38: a status Nova does not name is a 400; before, it matched no server', async () => {
    expect((await call(member, '2.37', 'GET', '/servers?status=NOPE')).body.servers).toEqual([]);
    expect((await call(member, '2.38', 'GET', '/servers?status=NOPE')).status).toBe(400);
    expect((await call(member, '2.38', 'GET', '/servers?status=SUSPENDED')).body.servers).toEqual([]); // named by Nova
  });

  it('2.39: the image metadata proxy and the maxImageMeta limit go', async () => {
    const limits = async (version: string) => (await call(member, version, 'GET', '/limits')).body.limits.absolute;
    expect(await limits('2.38')).toHaveProperty('maxImageMeta');
    expect(await limits('2.39')).not.toHaveProperty('maxImageMeta');
    expect((await call(member, '2.38', 'GET', `/images/${imageRef}/metadata`)).status).toBe(200);
    expect((await call(member, '2.39', 'GET', `/images/${imageRef}/metadata`)).status).toBe(404);
  });

  it('2.40: simple tenant usage is paged, with a next link; before, every server in one answer', async () => {
    const project = (await call(member, '2.1', 'GET', `/servers/${server}`)).body.server.tenant_id as string;
    const ids = (body: { tenant_usage: { server_usages: { instance_id: string }[] } }) =>
      body.tenant_usage.server_usages.map((u) => u.instance_id);
    const url = (query: string) => `/os-simple-tenant-usage/${project}?start=2000-01-01T00:00:00${query}`;
    const old = (await call(member, '2.39', 'GET', url('&limit=1'))).body;
    const all = ids(old);
    expect(all.length).toBeGreaterThan(2); // the limit is not read before 2.40
    expect(old.tenant_usage_links).toBeUndefined();
    const first = (await call(member, '2.40', 'GET', url(`&limit=${all.length - 1}`))).body;
    expect(ids(first)).toEqual(all.slice(0, -1));
    const next = new URL(first.tenant_usage_links[0].href);
    expect(next.searchParams.get('marker')).toBe(all.at(-2));
    const rest = (await call(member, '2.40', 'GET', `/os-simple-tenant-usage/${project}${next.search}`)).body;
    expect(ids(rest)).toEqual(all.slice(-1));
    expect(rest.tenant_usage_links).toBeUndefined();
  });

  it('2.44: the floating and fixed IP actions go (404); 2.45: createImage names the image in its body', async () => {
    const action = (version: string, body: object) => call(member, version, 'POST', `/servers/${server}/action`, body);
    const floating = await action('2.43', { addFloatingIp: { address: '192.0.2.1' } });
    expect(floating.status).toBe(404);
    expect(floating.body.itemNotFound.message).toContain('floating IP not found');
    expect((await action('2.44', { addFloatingIp: { address: '192.0.2.1' } })).body.itemNotFound.message).toBe(
      'The resource could not be found.',
    );
    expect((await action('2.43', { addFixedIp: { networkId: 'x' } })).status).toBe(400);
    const r = await t.api.app.inject({
      method: 'POST',
      url: `/compute/v2.1/servers/${server}/action`,
      headers: { 'x-auth-token': member, 'openstack-api-version': 'compute 2.45' },
      payload: { createImage: { name: 'snap-245' } },
    });
    expect(r.statusCode).toBe(202);
    expect(r.headers.location).toBeUndefined();
    expect(r.json().image_id).toMatch(/^[0-9a-f-]{36}$/);
    await t.api.servers.idle();
  });
});
