import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiOnHosts, type startTestApi } from './api-helpers.js';

// Nova's shelve (offloaded at once) and unshelve over the embedded cloud with two fake hosts:
// the `<name>-shelved` image, no host while offloaded, the image gone after the unshelve.
describe('Nova shelve and unshelve', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let imageId: string;
  const HOSTS = ['fake-a', 'fake-b'];
  const call = async (
    token: string,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
    version = '2.1',
  ) => {
    const r = await t.api.app.inject({
      method,
      url,
      headers: { 'x-auth-token': token, 'openstack-api-version': `compute ${version}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: r.statusCode, body: r.body ? r.json() : null };
  };
  const action = (id: string, body: unknown, version = '2.1', token = member) =>
    call(token, 'POST', `/compute/v2.1/servers/${id}/action`, body, version);
  const show = async (id: string) => (await call(admin, 'GET', `/compute/v2.1/servers/${id}`)).body.server;
  const shelvedImages = async (name: string) =>
    (await call(member, 'GET', `/image/v2/images?name=${name}-shelved`)).body.images as {
      id: string;
      status: string;
    }[];
  const settle = () => t.api.servers.idle();
  const newServer = async (name: string) => {
    const r = await call(member, 'POST', '/compute/v2.1/servers', {
      server: { name, imageRef: imageId, flavorRef: '1' },
    });
    expect(r.status).toBe(202);
    await settle();
    return r.body.server.id as string;
  };
  const hypervisorServers = async () =>
    Object.fromEntries(
      (await call(admin, 'GET', '/compute/v2.1/os-hypervisors/detail')).body.hypervisors.map(
        (h: { hypervisor_hostname: string; running_vms: number }) => [h.hypervisor_hostname, h.running_vms],
      ),
    ) as Record<string, number>;

  beforeAll(async () => {
    ({ t, admin, member, imageId } = await startApiOnHosts(HOSTS, 'shelve-p1'));
  });
  afterAll(async () => t.stop());

  it('shelves to SHELVED_OFFLOADED (its image made, no host, no room held) and unshelves to ACTIVE (the image gone)', async () => {
    const id = await newServer('keep');
    expect((await action(id, { unshelve: null })).status).toBe(409); // not shelved
    const before = await hypervisorServers();
    expect((await action(id, { shelve: null })).status).toBe(202);
    await settle();
    const shelved = await show(id);
    expect(shelved).toMatchObject({
      status: 'SHELVED_OFFLOADED',
      'OS-EXT-STS:vm_state': 'shelved_offloaded',
      'OS-EXT-STS:task_state': null,
      'OS-EXT-SRV-ATTR:host': null,
      hostId: '',
    });
    const [image] = await shelvedImages('keep');
    expect(image).toMatchObject({ status: 'active', image_type: 'snapshot', instance_uuid: id });
    expect(Object.values(await hypervisorServers()).reduce((a, b) => a + b, 0)).toBe(
      Object.values(before).reduce((a, b) => a + b, 0) - 1,
    );
    // Shelved: no second shelve, no start, no resize; shelveOffload has nothing to offload.
    for (const refused of [
      { shelve: null },
      { 'os-start': null },
      { resize: { flavorRef: '2' } },
      { shelveOffload: null },
    ])
      expect([refused, (await action(id, refused, '2.1', admin)).status]).toEqual([refused, 409]);
    expect((await action(id, { unshelve: { availability_zone: 'nova' } })).status).toBe(400); // before 2.77

    expect((await action(id, { unshelve: null })).status).toBe(202);
    await settle();
    const back = await show(id);
    expect(back).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null });
    expect(HOSTS).toContain(back['OS-EXT-SRV-ATTR:host']);
    expect(await shelvedImages('keep')).toEqual([]);
    const actions = (await call(member, 'GET', `/compute/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions;
    expect(actions.map((a: { action: string }) => a.action).slice(0, 2)).toEqual(['unshelve', 'shelve']);
    await call(member, 'DELETE', `/compute/v2.1/servers/${id}`);
    await settle();
  });

  it('shelves a paused, a suspended and a stopped server; a shelved one deleted takes its image with it', async () => {
    const id = await newServer('many');
    for (const [to, status] of [
      ['pause', 'PAUSED'],
      ['suspend', 'SUSPENDED'],
      ['os-stop', 'SHUTOFF'],
    ] as const) {
      if (to === 'suspend') expect((await action(id, { unpause: null })).status).toBe(202);
      if (to === 'os-stop') expect((await action(id, { resume: null })).status).toBe(202);
      await settle();
      expect((await action(id, { [to]: null })).status).toBe(202);
      await settle();
      expect((await show(id)).status).toBe(status);
      expect((await action(id, { shelve: {} })).status).toBe(202);
      await settle();
      expect((await show(id)).status).toBe('SHELVED_OFFLOADED');
      if (to !== 'os-stop') {
        expect((await action(id, { unshelve: null })).status).toBe(202);
        await settle();
        expect((await show(id)).status).toBe('ACTIVE');
        if (to === 'pause') expect((await action(id, { pause: null })).status).toBe(202);
        if (to === 'suspend') expect((await action(id, { suspend: null })).status).toBe(202);
        await settle();
      }
    }
    expect(await shelvedImages('many')).toHaveLength(1);
    expect((await call(member, 'DELETE', `/compute/v2.1/servers/${id}`)).status).toBe(204);
    await settle();
    expect(await shelvedImages('many')).toEqual([]);
  });

  it('unshelves into the zone 2.77 names (a live one, else 400)', async () => {
    const aggregate = await call(admin, 'POST', '/compute/v2.1/os-aggregates', {
      aggregate: { name: 'b-only', availability_zone: 'zone-b' },
    });
    const aggregateId = aggregate.body.aggregate.id as number;
    const hostAction = (verb: 'add_host' | 'remove_host') =>
      call(admin, 'POST', `/compute/v2.1/os-aggregates/${aggregateId}/action`, { [verb]: { host: 'fake-b' } });
    expect((await hostAction('add_host')).status).toBe(200);
    const id = await newServer('zoned');
    expect((await action(id, { shelve: null })).status).toBe(202);
    await settle();
    expect((await action(id, { unshelve: { availability_zone: 'nowhere' } }, '2.77')).status).toBe(400);
    expect((await action(id, { unshelve: { availability_zone: 'zone-b', host: 'x' } }, '2.77')).status).toBe(400);
    expect((await action(id, { unshelve: { availability_zone: 'zone-b' } }, '2.77')).status).toBe(202);
    await settle();
    expect(await show(id)).toMatchObject({
      status: 'ACTIVE',
      'OS-EXT-SRV-ATTR:host': 'fake-b',
      'OS-EXT-AZ:availability_zone': 'zone-b',
    });
    await call(member, 'DELETE', `/compute/v2.1/servers/${id}`);
    await settle();
    expect((await hostAction('remove_host')).status).toBe(200);
  });
});
