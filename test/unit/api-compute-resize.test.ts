import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiOnHosts, type startTestApi } from './api-helpers.js';

// Nova's resize and cold migration over the embedded cloud with two fake hosts: VERIFY_RESIZE,
// then confirmed or reverted; the migration records; the refusals Nova makes.
describe('Nova resize and cold migration', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let imageId: string;
  const HOSTS = ['fake-a', 'fake-b'];
  const call = async (
    token: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
    version = '2.1',
  ) => {
    const r = await t.api.app.inject({
      method,
      url: `/compute/v2.1${url}`,
      headers: { 'x-auth-token': token, 'openstack-api-version': `compute ${version}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: r.statusCode, body: r.body ? r.json() : null };
  };
  const action = (token: string, id: string, body: unknown, version = '2.1') =>
    call(token, 'POST', `/servers/${id}/action`, body, version);
  const show = async (id: string) => (await call(admin, 'GET', `/servers/${id}`, undefined, '2.1')).body.server;
  const settle = () => t.api.servers.idle();
  const newServer = async (name: string) => {
    const r = await call(member, 'POST', '/servers', { server: { name, imageRef: imageId, flavorRef: '1' } });
    expect(r.status).toBe(202);
    await settle();
    return r.body.server.id as string;
  };
  const migrationsOf = async (id: string) =>
    (await call(admin, 'GET', `/os-migrations?instance_uuid=${id}`, undefined, '2.23')).body.migrations;

  beforeAll(async () => {
    ({ t, admin, member, imageId } = await startApiOnHosts(HOSTS, 'resize-p1'));
  });
  afterAll(async () => t.stop());

  it('resizes to VERIFY_RESIZE with the new flavor, and confirms to ACTIVE (202, then 204), recorded as a resize migration', async () => {
    const id = await newServer('grow');
    expect((await action(member, id, { confirmResize: null })).status).toBe(409); // nothing to confirm
    expect((await action(member, id, { resize: { flavorRef: '2' } })).status).toBe(202);
    await settle();
    expect(await show(id)).toMatchObject({
      status: 'VERIFY_RESIZE',
      'OS-EXT-STS:vm_state': 'resized',
      'OS-EXT-STS:task_state': null,
      'OS-EXT-STS:power_state': 1,
      flavor: { id: '2' },
    });
    for (const refused of [{ resize: { flavorRef: '3' } }, { 'os-stop': null }, { createImage: { name: 'x' } }])
      expect((await action(member, id, refused)).status).toBe(409);
    const [resize] = await migrationsOf(id);
    expect(resize).toMatchObject({
      ...{ migration_type: 'resize', status: 'finished', old_instance_type_id: 1, new_instance_type_id: 2 },
    });
    expect(resize.source_compute).toBe(
      resize.dest_compute === 'fake-a' ? resize.source_compute : resize.source_compute,
    );
    expect((await action(member, id, { confirmResize: null })).status).toBe(204);
    await settle();
    expect(await show(id)).toMatchObject({ status: 'ACTIVE', flavor: { id: '2' } });
    expect((await migrationsOf(id))[0].status).toBe('confirmed');
    const actions = (await call(member, 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action).slice(0, 2)).toEqual(['confirmResize', 'resize']);
    // Its flavor's size now counts against the project's quota.
    const usage = (await call(member, 'GET', '/limits')).body.limits.absolute;
    expect(usage.totalRAMUsed).toBe(2048);
    await call(member, 'DELETE', `/servers/${id}`);
    await settle();
  });

  it('reverts a resize to the old flavor and host, and keeps a stopped server stopped through a resize', async () => {
    const id = await newServer('undo');
    const before = await show(id);
    expect((await action(member, id, { resize: { flavorRef: '3' } })).status).toBe(202);
    await settle();
    expect((await show(id)).flavor.id).toBe('3');
    expect((await action(member, id, { revertResize: {} })).status).toBe(202);
    await settle();
    const after = await show(id);
    expect(after).toMatchObject({ status: 'ACTIVE', flavor: { id: '1' } });
    expect(after['OS-EXT-SRV-ATTR:host']).toBe(before['OS-EXT-SRV-ATTR:host']);
    expect((await migrationsOf(id))[0].status).toBe('reverted');

    expect((await action(member, id, { 'os-stop': null })).status).toBe(202);
    await settle();
    expect((await action(member, id, { resize: { flavorRef: '2' } })).status).toBe(202);
    await settle();
    expect(await show(id)).toMatchObject({ status: 'VERIFY_RESIZE', 'OS-EXT-STS:power_state': 4 });
    expect((await action(member, id, { confirmResize: null })).status).toBe(204);
    await settle();
    expect(await show(id)).toMatchObject({ status: 'SHUTOFF', flavor: { id: '2' } });
    // Deleted while VERIFY_RESIZE: gone, as Nova's.
    expect((await action(member, id, { resize: { flavorRef: '3' } })).status).toBe(202);
    await settle();
    expect((await call(member, 'DELETE', `/servers/${id}`)).status).toBe(204);
    await settle();
    expect((await call(member, 'GET', `/servers/${id}`)).status).toBe(404);
  });

  it('refuses what Nova refuses: no flavor or an unknown one, the same flavor, a smaller disk, over quota, an unknown argument', async () => {
    const id = await newServer('refused');
    const refusals: [unknown, number][] = [
      [{ resize: {} }, 400],
      [{ resize: { flavorRef: '' } }, 400],
      [{ resize: { flavorRef: 'no-such-flavor' } }, 400],
      [{ resize: { flavorRef: '1' } }, 400], // its own
      [{ resize: { flavorRef: '2', color: 'red' } }, 400],
      [{ resize: { flavorRef: '2', 'OS-DCF:diskConfig': 'SOMETIMES' } }, 400],
    ];
    for (const [body, status] of refusals)
      expect([body, (await action(member, id, body)).status]).toEqual([body, status]);
    // Down from 20 GB to 1 GB: an RBD disk does not shrink.
    expect((await action(member, id, { resize: { flavorRef: '2' } })).status).toBe(202);
    await settle();
    expect((await action(member, id, { confirmResize: null })).status).toBe(204);
    await settle();
    const down = await action(member, id, { resize: { flavorRef: '1' } });
    expect(down.status).toBe(400);
    expect(down.body.badRequest.message).toContain('Unable to resize disk down');
    // The project's cores quota cannot take 2 more vCPUs.
    const projectId = (await show(id)).tenant_id as string;
    expect((await call(admin, 'PUT', `/os-quota-sets/${projectId}`, { quota_set: { cores: 1 } })).status).toBe(200);
    const over = await action(member, id, { resize: { flavorRef: '3' } });
    expect(over.status).toBe(403);
    expect(over.body.forbidden.message).toContain('Quota exceeded for cores');
    expect((await call(admin, 'PUT', `/os-quota-sets/${projectId}`, { quota_set: { cores: 20 } })).status).toBe(200);
    // Nothing was recorded for the refusals: the one resize, confirmed.
    expect((await migrationsOf(id)).map((m: { status: string }) => m.status)).toEqual(['confirmed']);
    expect((await show(id)).status).toBe('ACTIVE');
    await call(member, 'DELETE', `/servers/${id}`);
    await settle();
  });

  it('cold-migrates (the admin’s) to the other host and back by a revert; 2.56 names the host; no host left is a fault, the server as it was', async () => {
    const id = await newServer('mover');
    const source = (await show(id))['OS-EXT-SRV-ATTR:host'] as string;
    const other = HOSTS.find((h) => h !== source) as string;
    expect((await action(member, id, { migrate: null })).status).toBe(403);
    expect((await action(admin, id, { migrate: 'here' })).status).toBe(400);
    expect((await action(admin, id, { migrate: { host: 'nowhere' } }, '2.56')).status).toBe(400);
    expect((await action(admin, id, { migrate: { host: source } }, '2.56')).status).toBe(400);
    const memoryUsed = async () =>
      Object.fromEntries(
        (await call(admin, 'GET', '/os-hypervisors/detail')).body.hypervisors.map(
          (h: { hypervisor_hostname: string; memory_mb_used: number }) => [h.hypervisor_hostname, h.memory_mb_used],
        ),
      ) as Record<string, number>;
    const before = await memoryUsed();
    expect((await action(admin, id, { migrate: null })).status).toBe(202);
    await settle();
    expect(await show(id)).toMatchObject({
      status: 'VERIFY_RESIZE',
      'OS-EXT-SRV-ATTR:host': other,
      flavor: { id: '1' },
    });
    // Until it is confirmed or reverted, its old host keeps its room (a revert's), as Nova's.
    expect(await memoryUsed()).toEqual({ [source]: before[source], [other]: (before[other] ?? 0) + 512 });
    expect((await migrationsOf(id))[0]).toMatchObject({
      ...{ migration_type: 'migration', source_compute: source, dest_compute: other, status: 'finished' },
    });
    expect((await action(member, id, { revertResize: null })).status).toBe(202);
    await settle();
    expect(await show(id)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': source });
    expect(await memoryUsed()).toEqual(before);
    const actions = (await call(member, 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action).slice(0, 2)).toEqual(['revertResize', 'migrate']);

    expect((await action(admin, id, { migrate: { host: other } }, '2.56')).status).toBe(202);
    await settle();
    expect((await show(id))['OS-EXT-SRV-ATTR:host']).toBe(other);
    expect((await action(member, id, { confirmResize: null })).status).toBe(204);
    await settle();

    // The only other host disabled: no valid host; back to ACTIVE where it was, the fault shown.
    const disabled = await call(admin, 'PUT', '/os-services/disable', { host: source, binary: 'nova-compute' });
    expect(disabled.status).toBe(200);
    expect((await action(admin, id, { migrate: null })).status).toBe(202);
    await settle();
    const failed = await show(id);
    expect(failed).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': other });
    const [migrate] = (await call(admin, 'GET', `/servers/${id}/os-instance-actions`)).body.instanceActions;
    const shown = await call(
      admin,
      'GET',
      `/servers/${id}/os-instance-actions/${migrate.request_id}`,
      undefined,
      '2.51',
    );
    expect(shown.body.instanceAction).toMatchObject({ action: 'migrate', events: [{ result: 'Error' }] });
    expect((await migrationsOf(id))[0]).toMatchObject({ migration_type: 'migration', status: 'error' });
    await call(admin, 'PUT', '/os-services/enable', { host: source, binary: 'nova-compute' });
    await call(member, 'DELETE', `/servers/${id}`);
    await settle();
  });

  it('moves a server that named no zone into another zone (the zone of its host is not its own); one that named a zone stays in it', async () => {
    const roamer = await newServer('roamer');
    const source = (await show(roamer))['OS-EXT-SRV-ATTR:host'] as string;
    const other = HOSTS.find((h) => h !== source) as string;
    const aggregate = await call(admin, 'POST', '/os-aggregates', {
      aggregate: { name: 'elsewhere', availability_zone: 'zone-b' },
    });
    const aggregateId = aggregate.body.aggregate.id as number;
    const hostAction = (verb: 'add_host' | 'remove_host') =>
      call(admin, 'POST', `/os-aggregates/${aggregateId}/action`, { [verb]: { host: other } });
    expect((await hostAction('add_host')).status).toBe(200);
    expect((await action(admin, roamer, { migrate: null })).status).toBe(202);
    await settle();
    expect(await show(roamer)).toMatchObject({
      status: 'VERIFY_RESIZE',
      'OS-EXT-SRV-ATTR:host': other,
      'OS-EXT-AZ:availability_zone': 'zone-b',
    });
    expect((await action(member, roamer, { confirmResize: null })).status).toBe(204);

    // Asked for Nova's default zone: its only host there is the source, so no valid host.
    const r = await call(member, 'POST', '/servers', {
      server: { name: 'pinned', imageRef: imageId, flavorRef: '1', availability_zone: 'nova' },
    });
    expect(r.status).toBe(202);
    await settle();
    const pinned = r.body.server.id as string;
    expect((await show(pinned))['OS-EXT-SRV-ATTR:host']).toBe(source);
    expect((await action(admin, pinned, { migrate: null })).status).toBe(202);
    await settle();
    expect(await show(pinned)).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': source });
    expect((await migrationsOf(pinned))[0]).toMatchObject({ status: 'error' });

    for (const id of [roamer, pinned]) await call(member, 'DELETE', `/servers/${id}`);
    await settle();
    expect((await hostAction('remove_host')).status).toBe(200);
    expect((await call(admin, 'DELETE', `/os-aggregates/${aggregateId}`)).status).toBe(200);
  });
});
