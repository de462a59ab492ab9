import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, projectIdOf, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Nova's os-server-groups over the embedded cloud (one compute host): a project's groups, their
// members, the scheduler's anti-affinity (a second member has no host left), the quotas, and
// another project's groups out of sight.
describe('Nova os-server-groups', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let imageRef: string;
  const call = async (token: string, method: 'GET' | 'POST' | 'DELETE' | 'PUT', url: string, payload?: object) => {
    const r = await t.api.app.inject({
      method,
      url: `/compute/v2.1${url}`,
      headers: { 'x-auth-token': token },
      ...(payload ? { payload } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Nova's bodies, read field by field
    return { status: r.statusCode, body: r.body ? (r.json() as Record<string, any>) : {} };
  };
  const group = (token: string, name: string, policies: unknown) =>
    call(token, 'POST', '/os-server-groups', { server_group: { name, policies } });
  const server = async (token: string, name: string, hints?: object) =>
    call(token, 'POST', '/servers', {
      server: { name, imageRef, flavorRef: '1' },
      ...(hints ? { 'os:scheduler_hints': hints } : {}),
    });

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'groups-p1', 'member');
    other = await tenant(t.api, admin, 'groups-p2', 'member');
    imageRef = await publicImage(t.api, admin);
  });
  afterAll(async () => t.stop());

  it('creates, shows, lists and deletes a group, as Nova 2.1 shapes it', async () => {
    const created = await group(member, 'web', ['affinity']);
    expect(created.status).toBe(200);
    const g = created.body.server_group;
    expect(g).toEqual({ id: expect.any(String), name: 'web', policies: ['affinity'], members: [], metadata: {} });
    expect((await call(member, 'GET', `/os-server-groups/${g.id}`)).body.server_group).toEqual(g);
    expect((await call(member, 'GET', '/os-server-groups')).body.server_groups).toContainEqual(g);
    // Another project's member neither sees nor deletes it; the admin sees it with all_projects.
    expect((await call(other, 'GET', `/os-server-groups/${g.id}`)).status).toBe(404);
    expect((await call(other, 'DELETE', `/os-server-groups/${g.id}`)).status).toBe(404);
    expect((await call(other, 'GET', '/os-server-groups')).body.server_groups).toEqual([]);
    expect((await call(admin, 'GET', '/os-server-groups')).body.server_groups).not.toContainEqual(g);
    expect((await call(admin, 'GET', '/os-server-groups?all_projects=True')).body.server_groups).toContainEqual(g);
    expect((await call(member, 'DELETE', `/os-server-groups/${g.id}`)).status).toBe(204);
    expect((await call(member, 'GET', `/os-server-groups/${g.id}`)).status).toBe(404);
  });

  it('refuses a bad body with 400: no policy, two, an unknown one, an extra field, a blank name', async () => {
    for (const policies of [undefined, [], ['affinity', 'anti-affinity'], ['soft-affinity'], 'affinity']) {
      expect((await group(member, 'bad', policies)).status).toBe(400);
    }
    const extra = await call(member, 'POST', '/os-server-groups', {
      server_group: { name: 'x', policies: ['affinity'], rules: {} },
    });
    expect(extra.status).toBe(400);
    expect((await group(member, ' ', ['affinity'])).status).toBe(400);
  });

  it('puts a hinted server in its group, applies anti-affinity (one host: no room for a second), and drops deleted members', async () => {
    const g = (await group(member, 'spread', ['anti-affinity'])).body.server_group;
    const first = (await server(member, 'a-1', { group: g.id })).body.server.id as string;
    const second = (await server(member, 'a-2', { group: g.id })).body.server.id as string;
    await t.api.servers.idle();
    const shown = async (id: string) => (await call(member, 'GET', `/servers/${id}`)).body.server;
    expect((await shown(first)).status).toBe('ACTIVE');
    const refused = await shown(second);
    expect(refused.status).toBe('ERROR');
    expect(refused.fault.message).toContain(`holds a server of server group ${g.id} (anti-affinity)`);
    expect((await call(member, 'GET', `/os-server-groups/${g.id}`)).body.server_group.members).toEqual([first, second]);
    await call(member, 'DELETE', `/servers/${second}`);
    await t.api.servers.idle();
    expect((await call(member, 'GET', `/os-server-groups/${g.id}`)).body.server_group.members).toEqual([first]);
    // A hint naming another project's group, or no UUID, is a bad request; nothing is created.
    const theirs = (await group(other, 'theirs', ['affinity'])).body.server_group;
    expect((await server(member, 'a-3', { group: theirs.id })).status).toBe(400);
    expect((await server(member, 'a-4', { group: 'not-a-uuid' })).status).toBe(400);
    expect((await call(other, 'GET', `/os-server-groups/${theirs.id}`)).body.server_group.members).toEqual([]);
    await call(member, 'DELETE', `/servers/${first}`);
    await t.api.servers.idle();
  });

  it('counts the server_groups and server_group_members quotas (403), and shows them in limits', async () => {
    const project = await projectIdOf(t.api, admin, 'groups-p2');
    const set = await call(admin, 'PUT', `/os-quota-sets/${project}`, {
      quota_set: { server_groups: 2, server_group_members: 1 },
    });
    expect(set.status).toBe(200);
    const g = (await group(other, 'second', ['affinity'])).body.server_group; // 'theirs' is the first
    const over = await group(other, 'third', ['affinity']);
    expect(over.status).toBe(403);
    expect(over.body.forbidden.message).toBe('Quota exceeded, too many server groups.');
    const limits = (await call(other, 'GET', '/limits')).body.limits.absolute;
    expect(limits).toMatchObject({ maxServerGroups: 2, maxServerGroupMembers: 1, totalServerGroupsUsed: 2 });
    expect((await server(other, 'm-1', { group: g.id })).status).toBe(202);
    const full = await server(other, 'm-2', { group: g.id });
    expect(full.status).toBe(403);
    expect(full.body.forbidden.message).toBe('Quota exceeded, too many servers in group');
    const detail = (await call(other, 'GET', `/os-quota-sets/${project}/detail`)).body.quota_set;
    expect(detail.server_groups).toEqual({ limit: 2, in_use: 2, reserved: 0 });
    await t.api.servers.idle();
  });
});
