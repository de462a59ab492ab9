import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOVA_MAX_MICROVERSION } from '../../appliance/api/index.js';
import { ADMIN_PASSWORD, startTestApi, tenant, tokenFor } from './api-helpers.js';

describe('Nova v2.1', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let imageId: string;
  const inject = (
    token: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
    headers = {},
  ) =>
    t.api.app.inject({
      method,
      url: `/compute/v2.1${url}`,
      headers: { 'x-auth-token': token, ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  const createServer = async (token: string, name: string) => {
    const r = await inject(token, 'POST', '/servers', { server: { name, imageRef: imageId, flavorRef: '1' } });
    expect(r.statusCode).toBe(202);
    return r.json().server.id as string;
  };

  /** An active raw image of the admin's project, with these fields; its id. */
  const uploadImage = async (fields: Record<string, unknown>) => {
    const created = await t.api.app.inject({
      method: 'POST',
      url: '/image/v2/images',
      headers: { 'x-auth-token': admin },
      payload: { disk_format: 'raw', container_format: 'bare', ...fields },
    });
    const id = created.json().id as string;
    const up = await t.api.app.inject({
      method: 'PUT',
      url: `/image/v2/images/${id}/file`,
      headers: { 'x-auth-token': admin, 'content-type': 'application/octet-stream' },
      payload: Buffer.from('bytes'),
    });
    expect(up.statusCode).toBe(204);
    return id;
  };

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'p1', 'member');
    imageId = await uploadImage({ name: 'img', visibility: 'public' });
  });
  afterAll(async () => t.stop());

  it('serves the version documents without a token, v2.0 first', async () => {
    const r = await t.api.app.inject({ method: 'GET', url: '/compute/' });
    expect(r.statusCode).toBe(200);
    expect(r.json().versions.map((v: { id: string }) => v.id)).toEqual(['v2.0', 'v2.1']);
  });

  it('echoes microversions in both header styles and refuses unsupported ones with 406', async () => {
    const legacy = await inject(member, 'GET', '/flavors', undefined, { 'x-openstack-nova-api-version': '2.1' });
    expect(legacy.headers['x-openstack-nova-api-version']).toBe('2.1');
    expect(legacy.headers['openstack-api-version']).toBe('compute 2.1');
    const high = await inject(member, 'GET', '/flavors', undefined, { 'openstack-api-version': 'compute 2.99' });
    expect(high.statusCode).toBe(406);
    expect(high.json().computeFault.message).toContain(`maximum is ${NOVA_MAX_MICROVERSION}`);
  });

  it('builds a server to ACTIVE through the machine, with a fixed address', async () => {
    const id = await createServer(member, 'vm-a');
    await t.api.servers.idle();
    const r = await inject(member, 'GET', `/servers/${id}`);
    const s = r.json().server;
    expect(s.status).toBe('ACTIVE');
    expect(s['OS-EXT-STS:task_state']).toBeNull();
    expect(s.addresses.provider[0].addr).toMatch(/^10\.16\./);
    expect(s).not.toHaveProperty('OS-EXT-SRV-ATTR:host');
  });

  it('stops, starts and refuses a start while ACTIVE with 409', async () => {
    const id = await createServer(member, 'vm-b');
    await t.api.servers.idle();
    expect((await inject(member, 'POST', `/servers/${id}/action`, { 'os-stop': null })).statusCode).toBe(202);
    await t.api.servers.idle();
    const off = (await inject(member, 'GET', `/servers/${id}`)).json().server;
    expect(off.status).toBe('SHUTOFF');
    expect(off).not.toHaveProperty('progress');
    expect((await inject(member, 'POST', `/servers/${id}/action`, { 'os-start': null })).statusCode).toBe(202);
    await t.api.servers.idle();
    const again = await inject(member, 'POST', `/servers/${id}/action`, { 'os-start': null });
    expect(again.statusCode).toBe(409);
    expect(again.json().conflictingRequest.code).toBe(409);
  });

  it('pauses and unpauses a server (PAUSED, power state 3, instance actions), 409 where Nova refuses, 400 for an argument', async () => {
    const id = await createServer(member, 'vm-pause');
    await t.api.servers.idle();
    const action = (body: unknown) => inject(member, 'POST', `/servers/${id}/action`, body);
    expect((await action({ unpause: null })).statusCode).toBe(409);
    expect((await action({ pause: { now: true } })).statusCode).toBe(400);
    expect((await action({ pause: {} })).statusCode).toBe(202);
    await t.api.servers.idle();
    const paused = (await inject(member, 'GET', `/servers/${id}`)).json().server;
    expect(paused).toMatchObject({ status: 'PAUSED', 'OS-EXT-STS:vm_state': 'paused', 'OS-EXT-STS:power_state': 3 });
    const again = await action({ pause: null });
    expect(again.statusCode).toBe(409);
    expect(again.json().conflictingRequest.message).toBe(
      `Cannot 'pause' instance ${id} while it is in vm_state paused`,
    );
    expect((await action({ 'os-stop': null })).statusCode).toBe(409);
    const listed = (await inject(member, 'GET', '/servers?status=PAUSED'))
      .json()
      .servers.map((s: { id: string }) => s.id);
    expect(listed).toEqual([id]);
    expect((await action({ unpause: null })).statusCode).toBe(202);
    await t.api.servers.idle();
    expect((await inject(member, 'GET', `/servers/${id}`)).json().server.status).toBe('ACTIVE');
    const actions = (await inject(member, 'GET', `/servers/${id}/os-instance-actions`)).json().instanceActions;
    expect(actions.map((a: { action: string }) => a.action).slice(0, 2)).toEqual(['unpause', 'pause']);
    await inject(member, 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it("answers os-getConsoleOutput with the console's last lines (the fake driver's lines here), all of them for -1", async () => {
    const id = await createServer(member, 'vm-console');
    await t.api.servers.idle();
    const output = async (args: unknown) =>
      inject(member, 'POST', `/servers/${id}/action`, { 'os-getConsoleOutput': args });
    const all = (await output({})).json().output as string;
    expect(all).toContain(`no machine runs server ${id}`);
    expect((await output({ length: -1 })).json().output).toBe(all);
    const last = (await output({ length: '3' })).json().output as string;
    expect(last.split('\n')).toEqual(all.trimEnd().split('\n').slice(-3));
    expect((await output({ length: 'some' })).statusCode).toBe(400);
    await inject(member, 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('suspends and resumes a server (SUSPENDED), 409 where Nova refuses', async () => {
    const id = await createServer(member, 'vm-suspend');
    await t.api.servers.idle();
    const action = (body: unknown) => inject(member, 'POST', `/servers/${id}/action`, body);
    expect((await action({ resume: null })).statusCode).toBe(409);
    expect((await action({ suspend: null })).statusCode).toBe(202);
    await t.api.servers.idle();
    const suspended = (await inject(member, 'GET', `/servers/${id}`)).json().server;
    expect(suspended).toMatchObject({
      status: 'SUSPENDED',
      'OS-EXT-STS:vm_state': 'suspended',
      'OS-EXT-STS:task_state': null,
    });
    for (const refused of [{ suspend: null }, { pause: null }, { 'os-stop': null }])
      expect((await action(refused)).statusCode).toBe(409);
    expect((await action({ resume: {} })).statusCode).toBe(202);
    await t.api.servers.idle();
    expect((await inject(member, 'GET', `/servers/${id}`)).json().server.status).toBe('ACTIVE');
    await inject(member, 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it("backs a server up (createBackup): a backup image of its type, and only the newest `rotation` of the server's backups of that type stay", async () => {
    const id = await createServer(member, 'vm-backup');
    await t.api.servers.idle();
    const backup = async (name: string, rotation: unknown, type = 'daily') => {
      const r = await inject(member, 'POST', `/servers/${id}/action`, {
        createBackup: { name, backup_type: type, rotation },
      });
      await t.api.servers.idle();
      // The copy runs in the background: until the server is ACTIVE again, with the rotation after it.
      for (let i = 0; i < 100; i++) {
        if ((await inject(member, 'GET', `/servers/${id}`)).json().server['OS-EXT-STS:task_state'] === null) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      return r;
    };
    const backups = async () =>
      (
        await t.api.app.inject({
          method: 'GET',
          url: `/image/v2/images?instance_uuid=${id}&image_type=backup`,
          headers: { 'x-auth-token': member },
        })
      )
        .json()
        .images.map((i: { name: string; backup_type: string }) => `${i.backup_type}:${i.name}`)
        .sort();
    expect((await backup('b', -1)).statusCode).toBe(400);
    expect((await backup('b', 1, '')).statusCode).toBe(400);
    const first = await backup('b1', 2);
    expect(first.statusCode).toBe(202);
    expect(String(first.headers.location)).toMatch(/\/image\/v2\/images\/[0-9a-f-]{36}$/);
    await backup('w1', 2, 'weekly');
    await backup('b2', 2);
    expect(await backups()).toEqual(['daily:b1', 'daily:b2', 'weekly:w1']);
    await backup('b3', 2);
    expect(await backups()).toEqual(['daily:b2', 'daily:b3', 'weekly:w1']);
    // Rotation 0: the backup goes at once with every other of its type, and no image is named.
    const none = await backup('b4', 0);
    expect(none.statusCode).toBe(202);
    expect(none.headers.location).toBeUndefined();
    expect(await backups()).toEqual(['weekly:w1']);
    // Each an instance action of its own name (Nova's), finished.
    const actions = (await inject(member, 'GET', `/servers/${id}/os-instance-actions`)).json().instanceActions;
    expect(actions.map((a: { action: string }) => a.action)).toEqual([...Array(5).fill('createBackup'), 'create']);
    await inject(member, 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
  });

  it('snapshots a server into a private Glance image of its project (createImage), and rebuilds a server from it', async () => {
    const id = await createServer(member, 'vm-snap');
    await t.api.servers.idle();
    const bad = await inject(member, 'POST', `/servers/${id}/action`, { createImage: { name: '' } });
    expect(bad.statusCode).toBe(400);
    const r = await inject(member, 'POST', `/servers/${id}/action`, {
      createImage: { name: 'snap-1', metadata: { purpose: 'test' } },
    });
    expect(r.statusCode).toBe(202);
    const snapshotId = /\/image\/v2\/images\/([0-9a-f-]{36})$/.exec(String(r.headers.location))?.[1] ?? '';
    expect(snapshotId).not.toBe('');
    const showImage = async () =>
      (
        await t.api.app.inject({
          method: 'GET',
          url: `/image/v2/images/${snapshotId}`,
          headers: { 'x-auth-token': member },
        })
      ).json();
    let image = await showImage();
    // The copy runs in the background: `saving`, then `active`.
    for (let i = 0; i < 100 && image.status === 'saving'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      image = await showImage();
    }
    expect(image).toMatchObject({
      name: 'snap-1',
      status: 'active',
      visibility: 'private',
      image_type: 'snapshot',
      instance_uuid: id,
      base_image_ref: imageId,
      purpose: 'test',
    });
    const other = await tenant(t.api, admin, 'p-snap-other', 'member');
    const hidden = await t.api.app.inject({
      method: 'GET',
      url: `/image/v2/images/${snapshotId}`,
      headers: { 'x-auth-token': other },
    });
    expect(hidden.statusCode).toBe(404);

    const rebuilt = await inject(member, 'POST', `/servers/${id}/action`, {
      rebuild: { imageRef: snapshotId, name: 'vm-rebuilt' },
    });
    expect(rebuilt.statusCode).toBe(202);
    expect(rebuilt.json().server).toMatchObject({ id, name: 'vm-rebuilt', status: 'REBUILD' });
    await t.api.servers.idle();
    const after = (await inject(member, 'GET', `/servers/${id}`)).json().server;
    expect(after).toMatchObject({ status: 'ACTIVE', name: 'vm-rebuilt', image: { id: snapshotId } });
    const missing = await inject(member, 'POST', `/servers/${id}/action`, { rebuild: { imageRef: 'nope' } });
    expect(missing.statusCode).toBe(400);
    expect((await inject(member, 'GET', `/servers/${id}`)).json().server.image.id).toBe(snapshotId);
  });

  it('records instance actions (who, which request, how it ended; the events for an admin)', async () => {
    const id = await createServer(member, 'vm-actions');
    await t.api.servers.idle();
    const stop = await inject(member, 'POST', `/servers/${id}/action`, { 'os-stop': null });
    expect(stop.statusCode).toBe(202);
    await t.api.servers.idle();
    const list = (await inject(member, 'GET', `/servers/${id}/os-instance-actions`)).json().instanceActions;
    expect(list.map((a: { action: string }) => a.action)).toEqual(['stop', 'create']);
    expect(list[0]).toMatchObject({
      instance_uuid: id,
      request_id: stop.headers['x-openstack-request-id'],
      message: null,
    });
    const mine = (await inject(member, 'GET', `/servers/${id}/os-instance-actions/${list[0].request_id}`)).json();
    expect(mine.instanceAction.action).toBe('stop');
    expect(mine.instanceAction).not.toHaveProperty('events');
    const asAdmin = (await inject(admin, 'GET', `/servers/${id}/os-instance-actions/${list[0].request_id}`)).json();
    expect(asAdmin.instanceAction.events).toEqual([
      expect.objectContaining({ event: 'compute_stop_instance', result: 'Success', finish_time: expect.any(String) }),
    ]);
    expect((await inject(member, 'GET', `/servers/${id}/os-instance-actions/req-nope`)).statusCode).toBe(404);
    const other = await tenant(t.api, admin, 'p-actions-other', 'member');
    expect((await inject(other, 'GET', `/servers/${id}/os-instance-actions`)).statusCode).toBe(404);
  });

  // Horizon's instance page and tempest read every server's attachments; the cloud has no volumes yet.
  it('lists no volume attachments, attaches no volume (not found), and hides another project’s server', async () => {
    const id = await createServer(member, 'vm-volumes');
    const listed = await inject(member, 'GET', `/servers/${id}/os-volume_attachments`);
    expect([listed.statusCode, listed.json()]).toEqual([200, { volumeAttachments: [] }]);
    const attach = await inject(member, 'POST', `/servers/${id}/os-volume_attachments`, {
      volumeAttachment: { volumeId: 'f3d4a1b2-0000-4000-8000-000000000001' },
    });
    expect([attach.statusCode, attach.json().itemNotFound?.message]).toEqual([
      404,
      'Volume f3d4a1b2-0000-4000-8000-000000000001 could not be found.',
    ]);
    expect((await inject(member, 'POST', `/servers/${id}/os-volume_attachments`, {})).statusCode).toBe(400);
    expect((await inject(member, 'GET', `/servers/${id}/os-volume_attachments/v1`)).statusCode).toBe(404);
    const other = await tenant(t.api, admin, 'p-volumes', 'member');
    expect((await inject(other, 'GET', `/servers/${id}/os-volume_attachments`)).statusCode).toBe(404);
  });

  it("hides another project's servers with 404, and lets a reader only read", async () => {
    const id = await createServer(member, 'vm-private');
    const other = await tenant(t.api, admin, 'p2', 'member');
    const r = await inject(other, 'GET', `/servers/${id}`);
    expect(r.statusCode).toBe(404);
    expect(r.json().itemNotFound.code).toBe(404);
    expect((await inject(other, 'DELETE', `/servers/${id}`)).statusCode).toBe(404);
    expect((await inject(other, 'GET', '/servers')).json().servers).toEqual([]);
    const reader = await tenant(t.api, admin, 'p3', 'reader');
    expect((await inject(reader, 'GET', '/servers')).statusCode).toBe(200);
    // Not found before any role is checked: a reader of another project learns nothing either.
    for (const [method, url, payload] of [
      ['DELETE', `/servers/${id}`],
      ['POST', `/servers/${id}/action`, { 'os-stop': null }],
      ['PUT', `/servers/${id}`, { server: { name: 'mine?' } }],
      ['PUT', `/servers/${id}/metadata/k`, { meta: { k: 'v' } }],
    ] as const) {
      expect({ method, url, status: (await inject(reader, method, url, payload)).statusCode }).toEqual({
        method,
        url,
        status: 404,
      });
    }
    expect(
      (await inject(reader, 'POST', '/servers', { server: { name: 'x', imageRef: imageId, flavorRef: '1' } }))
        .statusCode,
    ).toBe(403);
  });

  it('pages with limit and marker, newest first', async () => {
    const token = await tenant(t.api, admin, 'pager', 'member');
    const ids = [];
    for (const n of ['s1', 's2', 's3']) ids.push(await createServer(token, n));
    const first = (await inject(token, 'GET', '/servers?limit=2')).json();
    expect(first.servers.map((s: { name: string }) => s.name)).toEqual(['s3', 's2']);
    expect(first.servers_links[0].href).toContain(`marker=${ids[1]}`);
    const rest = (await inject(token, 'GET', `/servers?limit=2&marker=${ids[1]}`)).json();
    expect(rest.servers.map((s: { name: string }) => s.name)).toEqual(['s1']);
    expect(rest).not.toHaveProperty('servers_links');
    expect((await inject(token, 'GET', '/servers?marker=nope')).statusCode).toBe(400);
    // Issue #14: another project's server as the marker paged from it (200), which told that it exists.
    const other = await tenant(t.api, admin, 'pager-other', 'member');
    expect((await inject(other, 'GET', `/servers?marker=${ids[1]}`)).statusCode).toBe(400);
    expect((await inject(admin, 'GET', `/servers?all_tenants=1&marker=${ids[1]}`)).statusCode).toBe(200);
    // `name` is a regular expression (Nova's), run in linear time: a catastrophic one answers at once.
    await createServer(token, `${'a'.repeat(30)}!`);
    const catastrophic = await inject(token, 'GET', `/servers?name=${encodeURIComponent('(a+)+$')}`);
    expect(catastrophic.json().servers).toEqual([]);
    const regex = await inject(token, 'GET', `/servers?name=${encodeURIComponent('^s[12]$')}`);
    expect(regex.json().servers.map((s: { name: string }) => s.name)).toEqual(['s2', 's1']);
  });

  it('rejects bad input with Nova fault bodies and writes nothing', async () => {
    const before = (await inject(member, 'GET', '/servers')).json().servers.length;
    const unknown = await inject(member, 'POST', '/servers', {
      server: { name: 'x', imageRef: imageId, flavorRef: '1', bogus: 1 },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().badRequest.message).toContain('bogus');
    const malformed = await t.api.app.inject({
      method: 'POST',
      url: '/compute/v2.1/servers',
      headers: { 'x-auth-token': member, 'content-type': 'application/json' },
      payload: '{"server": ',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toHaveProperty('badRequest');
    const badFlavor = await inject(member, 'POST', '/servers', {
      server: { name: 'x', imageRef: imageId, flavorRef: 'nope' },
    });
    expect(badFlavor.statusCode).toBe(400);
    const otherZone = await inject(member, 'POST', '/servers', {
      server: { name: 'x', imageRef: imageId, flavorRef: '1', availability_zone: 'elsewhere' },
    });
    expect(otherZone.json().badRequest.message).toBe('The requested availability zone is not available');
    // Forcing a host ("ZONE:HOST") is for admins only, as Nova's policy has it.
    const forced = await inject(member, 'POST', '/servers', {
      server: { name: 'x', imageRef: imageId, flavorRef: '1', availability_zone: 'nova:fake-host' },
    });
    expect(forced.statusCode).toBe(403);
    expect(forced.json().forbidden.message).toContain('forced_host');
    // Another project's image shared by default (Glance's default visibility): not this project's to boot.
    const theirs = await uploadImage({ name: 'theirs' });
    const notTheirs = await inject(member, 'POST', '/servers', {
      server: { name: 'x', imageRef: theirs, flavorRef: '1' },
    });
    expect(notTheirs.json().badRequest.message).toBe(`Image ${theirs} could not be found.`);
    // An image that asks more than the flavor has (Nova's FlavorMemoryTooSmall, FlavorDiskSmallerThanMinDisk).
    for (const [asks, message] of [
      [{ min_ram: 1 << 20 }, "Flavor's memory is too small for requested image."],
      [{ min_disk: 500 }, "Flavor's disk is smaller than the minimum size specified in image metadata."],
    ] as const) {
      const demanding = await uploadImage({ name: 'big', visibility: 'public', ...asks });
      const refused = await inject(member, 'POST', '/servers', {
        server: { name: 'x', imageRef: demanding, flavorRef: '1' },
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().badRequest.message).toContain(message);
    }
    const huge = await inject(member, 'POST', '/servers', { server: { name: 'x'.repeat(2 * 1024 * 1024) } });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toHaveProperty('overLimit');
    expect((await inject(member, 'GET', '/servers')).json().servers.length).toBe(before);
  });

  it('enforces the instance quota inside the create, leaving nothing half-written', async () => {
    const token = await tenant(t.api, admin, 'small', 'member');
    const project = (await t.db.projects.findByName('default', 'small'))?.id ?? '';
    const put = await inject(admin, 'PUT', `/os-quota-sets/${project}`, { quota_set: { instances: 1 } });
    expect(put.statusCode).toBe(200);
    await createServer(token, 'only');
    const over = await inject(token, 'POST', '/servers', {
      server: { name: 'two', imageRef: imageId, flavorRef: '1' },
    });
    expect(over.statusCode).toBe(403);
    expect((await t.db.networks.ports({ projectId: project })).length).toBe(1);
    const limits = (await inject(token, 'GET', '/limits')).json().limits.absolute;
    expect(limits).toMatchObject({ maxTotalInstances: 1, totalInstancesUsed: 1 });
  });

  it('generates keypairs in OpenSSH format and imports public keys with Nova fingerprints', async () => {
    const gen = (await inject(member, 'POST', '/os-keypairs', { keypair: { name: 'gen' } })).json().keypair;
    expect(gen.public_key).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E/);
    expect(gen.private_key).toContain('BEGIN RSA PRIVATE KEY');
    expect(gen.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const imported = await inject(member, 'POST', '/os-keypairs', {
      keypair: { name: 'imp', public_key: gen.public_key },
    });
    expect(imported.json().keypair.fingerprint).toBe(gen.fingerprint);
    expect(
      (await inject(member, 'POST', '/os-keypairs', { keypair: { name: 'imp', public_key: gen.public_key } }))
        .statusCode,
    ).toBe(409);
    expect(
      (await inject(member, 'POST', '/os-keypairs', { keypair: { name: 'bad', public_key: 'ssh-rsa AAAA' } }))
        .statusCode,
    ).toBe(400);
    expect((await inject(member, 'DELETE', '/os-keypairs/imp')).statusCode).toBe(202);
  });

  it("answers 404 for a keypair not the caller's, a reader's delete too (looked up before the role, as Nova does)", async () => {
    expect((await inject(member, 'POST', '/os-keypairs', { keypair: { name: 'kept' } })).statusCode).toBe(200);
    const reader = await tenant(t.api, admin, 'key-reader', 'reader');
    const other = await tenant(t.api, admin, 'key-other', 'member');
    for (const token of [reader, other]) {
      expect((await inject(token, 'GET', '/os-keypairs/kept')).statusCode).toBe(404);
      const deleted = await inject(token, 'DELETE', '/os-keypairs/kept');
      expect(deleted.statusCode).toBe(404);
      expect(deleted.json().itemNotFound.message).toBe('Keypair kept not found for user');
    }
    expect((await inject(member, 'GET', '/os-keypairs/kept')).statusCode).toBe(200);
    // A reader's own keypair (made by the cloud admin for it) is still its to look at only.
    const readerId = (
      await t.api.app.inject({
        method: 'GET',
        url: '/identity/v3/users?name=key-reader-user',
        headers: { 'x-auth-token': admin },
      })
    ).json().users[0].id as string;
    expect(
      (
        await inject(
          admin,
          'POST',
          '/os-keypairs',
          { keypair: { name: 'readers', user_id: readerId } },
          { 'openstack-api-version': 'compute 2.10' },
        )
      ).statusCode,
    ).toBe(201);
    expect((await inject(reader, 'GET', '/os-keypairs/readers')).statusCode).toBe(200);
    expect((await inject(reader, 'DELETE', '/os-keypairs/readers')).statusCode).toBe(403);
  });

  it('creates flavors as admin only, normalising is_public', async () => {
    const body = { flavor: { name: 'f1', ram: 64, vcpus: 1, disk: 0, 'os-flavor-access:is_public': 'True' } };
    expect((await inject(member, 'POST', '/flavors', body)).statusCode).toBe(403);
    const r = await inject(admin, 'POST', '/flavors', body);
    expect(r.statusCode).toBe(200);
    expect(r.json().flavor['os-flavor-access:is_public']).toBe(true);
    expect(r.json().flavor.swap).toBe('');
  });

  it('deletes a server: 204, then 404', async () => {
    const id = await createServer(member, 'gone');
    expect((await inject(member, 'DELETE', `/servers/${id}`)).statusCode).toBe(204);
    await t.api.servers.idle();
    expect((await inject(member, 'GET', `/servers/${id}`)).statusCode).toBe(404);
  });
});
