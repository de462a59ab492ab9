import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ADMIN_PASSWORD,
  computeCaller,
  projectIdOf,
  publicImage,
  startTestApi,
  tenant,
  tokenFor,
} from './api-helpers.js';

// Nova's proxy of Neutron's security groups (os-security-groups, os-security-group-rules, a
// server's groups and its add/removeSecurityGroup actions) over the embedded cloud, with the
// codes tempest's compute security group tests check, and the groups a server's view shows.
describe('Nova os-security-groups', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let memberProject: string;
  let imageRef: string;
  let compute: ReturnType<typeof computeCaller>;
  /** A compute call, at 2.35 (the proxies' last) unless told. */
  const call = async (
    token: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
    version = '2.35',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Nova's bodies, read field by field
  ): Promise<{ status: number; body: any }> => compute(token, version, method, url, payload);
  const createGroup = async (token: string, name: string, description = 'd') => {
    const r = await call(token, 'POST', '/os-security-groups', { security_group: { name, description } });
    expect(r.status).toBe(200);
    return r.body.security_group as { id: string; name: string; tenant_id: string };
  };
  const rule = (token: string, args: object) =>
    call(token, 'POST', '/os-security-group-rules', { security_group_rule: args });
  const createServer = async (token: string, name: string, securityGroups?: object[]) => {
    return call(token, 'POST', '/servers', {
      server: { name, imageRef, flavorRef: '1', ...(securityGroups ? { security_groups: securityGroups } : {}) },
    });
  };
  const action = (token: string, id: string, body: object, version = '2.35') =>
    call(token, 'POST', `/servers/${id}/action`, body, version);
  const shown = async (token: string, id: string) => (await call(token, 'GET', `/servers/${id}`)).body.server;

  beforeAll(async () => {
    t = await startTestApi();
    compute = computeCaller(t.api);
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'sg-p1', 'member');
    other = await tenant(t.api, admin, 'sg-p2', 'member');
    memberProject = await projectIdOf(t.api, admin, 'sg-p1');
    imageRef = await publicImage(t.api, admin);
  });
  afterAll(async () => t.stop());

  it('lists the project default group with its ingress rules only, from its own members, as Nova shows them', async () => {
    const r = await call(member, 'GET', '/os-security-groups');
    expect(r.status).toBe(200);
    const [def] = r.body.security_groups;
    expect(r.body.security_groups).toHaveLength(1);
    expect(def).toMatchObject({ name: 'default', description: 'Default security group', tenant_id: memberProject });
    // Neutron's four default rules: the two egress ones are not Nova's to show.
    expect(def.rules).toHaveLength(2);
    for (const r of def.rules) {
      expect(r).toEqual({
        id: expect.any(String),
        parent_group_id: def.id,
        ip_protocol: null,
        from_port: null,
        to_port: null,
        group: { name: 'default', tenant_id: memberProject },
        ip_range: {},
      });
    }
  });

  it('creates, shows, lists, updates and deletes a group; 404 and 400 for unknown and malformed ids', async () => {
    const g = await createGroup(member, ' a group ', 'first');
    expect(g).toEqual({
      id: expect.any(String),
      name: ' a group ',
      description: 'first',
      tenant_id: memberProject,
      rules: [],
    });
    expect((await call(member, 'GET', `/os-security-groups/${g.id}`)).body.security_group).toEqual(g);
    expect((await call(member, 'GET', '/os-security-groups')).body.security_groups).toContainEqual(g);
    const updated = await call(member, 'PUT', `/os-security-groups/${g.id}`, {
      security_group: { name: 'renamed', description: 'second' },
    });
    expect(updated.body.security_group).toMatchObject({ id: g.id, name: 'renamed', description: 'second' });
    // Another project's member neither sees nor deletes it.
    expect((await call(other, 'GET', `/os-security-groups/${g.id}`)).status).toBe(404);
    expect((await call(other, 'DELETE', `/os-security-groups/${g.id}`)).status).toBe(404);
    expect((await call(member, 'DELETE', `/os-security-groups/${g.id}`)).status).toBe(202);
    expect((await call(member, 'GET', `/os-security-groups/${g.id}`)).status).toBe(404);
    const unknown = '2f1f7e4c-8b53-4b1e-9a0e-4d1b2c3d4e5f';
    expect((await call(member, 'GET', `/os-security-groups/${unknown}`)).status).toBe(404);
    expect((await call(member, 'DELETE', `/os-security-groups/${unknown}`)).status).toBe(404);
    expect(
      (await call(member, 'PUT', `/os-security-groups/${unknown}`, { security_group: { name: 'x', description: '' } }))
        .status,
    ).toBe(404);
    expect((await call(member, 'GET', '/os-security-groups/not-a-uuid')).status).toBe(400);
    expect((await call(member, 'DELETE', '/os-security-groups/')).status).toBe(404);
  });

  it('refuses bad bodies (400), the name default (403), the default group deleted by its project (400), and past the quota (403)', async () => {
    for (const body of [
      {},
      { security_group: { name: 'x' } },
      { security_group: { name: 'x'.repeat(256), description: '' } },
      { security_group: { name: 'x', description: null } },
    ]) {
      expect((await call(member, 'POST', '/os-security-groups', body)).status).toBe(400);
    }
    expect(
      (await call(member, 'POST', '/os-security-groups', { security_group: { name: 'Default', description: '' } }))
        .status,
    ).toBe(403);
    const groups = (await call(member, 'GET', '/os-security-groups')).body.security_groups;
    const def = groups.find((g: { name: string }) => g.name === 'default');
    expect((await call(member, 'DELETE', `/os-security-groups/${def.id}`)).status).toBe(400);
    expect(
      (await call(member, 'PUT', `/os-security-groups/${def.id}`, { security_group: { name: 'x', description: '' } }))
        .status,
    ).toBe(400);

    const quota = await tenant(t.api, admin, 'sg-quota', 'member');
    const project = await projectIdOf(t.api, admin, 'sg-quota');
    await call(admin, 'PUT', `/os-quota-sets/${project}`, { quota_set: { security_groups: 2 } });
    // The default group counts: one more fits.
    await createGroup(quota, 'one');
    const over = await call(quota, 'POST', '/os-security-groups', { security_group: { name: 'two', description: '' } });
    expect(over.status).toBe(403);
  });

  it('lists every project’s groups to the cloud admin with all_tenants, and only its own to anyone else', async () => {
    const mine = await createGroup(member, 'mine');
    const theirs = await createGroup(other, 'theirs');
    const ids = async (token: string, query: string) =>
      (await call(token, 'GET', `/os-security-groups${query}`)).body.security_groups.map((g: { id: string }) => g.id);
    expect(await ids(admin, '?all_tenants=true')).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    expect(await ids(admin, '')).not.toContain(mine.id);
    expect(await ids(member, '?all_tenants=true')).toContain(mine.id);
    expect(await ids(member, '?all_tenants=true')).not.toContain(theirs.id);
    // Sorted by project and name; limit and offset as Nova's common.limited, checked.
    const names = (await call(member, 'GET', '/os-security-groups')).body.security_groups.map(
      (g: { name: string }) => g.name,
    );
    expect(names).toEqual([...names].sort());
    expect((await call(member, 'GET', '/os-security-groups?limit=1')).body.security_groups).toHaveLength(1);
    expect((await call(member, 'GET', '/os-security-groups?limit=-1')).status).toBe(400);
  });

  it('creates rules as Nova does: a network rule, its default network, a group rule, ICMP of any type', async () => {
    const g = await createGroup(member, 'rules');
    const peer = await createGroup(member, 'peer');
    const tcp = await rule(member, { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 22, to_port: 22 });
    expect(tcp.status).toBe(200);
    expect(tcp.body.security_group_rule).toEqual({
      id: expect.any(String),
      parent_group_id: g.id,
      ip_protocol: 'tcp',
      from_port: 22,
      to_port: 22,
      ip_range: { cidr: '0.0.0.0/0' },
      group: {},
    });
    const cidr = await rule(member, {
      parent_group_id: g.id,
      ip_protocol: 'tcp',
      from_port: 80,
      to_port: 81,
      cidr: '10.2.3.124/24',
    });
    expect(cidr.body.security_group_rule).toMatchObject({ ip_range: { cidr: '10.2.3.124/24' }, group: {} });
    const fromPeer = await rule(member, {
      parent_group_id: g.id,
      ip_protocol: 'tcp',
      from_port: 22,
      to_port: 22,
      group_id: peer.id,
    });
    expect(fromPeer.body.security_group_rule).toMatchObject({
      ip_range: {},
      group: { name: 'peer', tenant_id: memberProject },
    });
    // From a group with no ports: all of TCP.
    const allTcp = await rule(member, { parent_group_id: g.id, ip_protocol: 'udp', group_id: peer.id });
    expect(allTcp.body.security_group_rule).toMatchObject({ ip_protocol: 'udp', from_port: 1, to_port: 65535 });
    const icmp = await rule(member, { parent_group_id: g.id, ip_protocol: 'icmp', from_port: -1, to_port: -1 });
    expect(icmp.body.security_group_rule).toMatchObject({ ip_protocol: 'icmp', from_port: -1, to_port: -1 });
    const rules = (await call(member, 'GET', `/os-security-groups/${g.id}`)).body.security_group.rules;
    expect(rules.map((r: { id: string }) => r.id).sort()).toEqual(
      [tcp, cidr, fromPeer, allTcp, icmp].map((r) => r.body.security_group_rule.id).sort(),
    );
    // The peer's deletion takes the rules that name it.
    expect((await call(member, 'DELETE', `/os-security-groups/${peer.id}`)).status).toBe(202);
    const left = (await call(member, 'GET', `/os-security-groups/${g.id}`)).body.security_group.rules;
    expect(left.map((r: { id: string }) => r.id).sort()).toEqual(
      [tcp, cidr, icmp].map((r) => r.body.security_group_rule.id).sort(),
    );
    // A rule is deleted (202), then not found; a malformed id is a 400.
    const id = icmp.body.security_group_rule.id as string;
    expect((await call(other, 'DELETE', `/os-security-group-rules/${id}`)).status).toBe(404);
    expect((await call(member, 'DELETE', `/os-security-group-rules/${id}`)).status).toBe(202);
    expect((await call(member, 'DELETE', `/os-security-group-rules/${id}`)).status).toBe(404);
    expect((await call(member, 'DELETE', '/os-security-group-rules/nope')).status).toBe(400);
  });

  it('refuses bad rules with Nova’s codes', async () => {
    const g = await createGroup(member, 'bad-rules');
    const ok = { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 22, to_port: 22 };
    expect((await rule(member, ok)).status).toBe(200);
    const cases: [object, number, string?][] = [
      [ok, 400, `This rule already exists in group ${g.id}`],
      [{ ...ok, parent_group_id: 'non_int_id-1' }, 400],
      [{ ...ok, parent_group_id: '2f1f7e4c-8b53-4b1e-9a0e-4d1b2c3d4e5f' }, 404],
      [{ ...ok, group_id: '2f1f7e4c-8b53-4b1e-9a0e-4d1b2c3d4e5f' }, 404],
      [{ ...ok, ip_protocol: '999-x' }, 400, 'Invalid IP protocol 999-x.'],
      [{ ...ok, from_port: 65536 }, 400],
      [{ ...ok, to_port: 70000 }, 400],
      [
        { ...ok, from_port: 23, to_port: 21 },
        400,
        'Invalid port range 23:21. Former value cannot be greater than the later',
      ],
      [{ ...ok, from_port: 'x' }, 400, 'To and From ports must be integers'],
      [{ ...ok, ip_protocol: 'icmp', from_port: 256, to_port: 0 }, 400],
      [{ ...ok, ip_protocol: 'icmp', from_port: -1, to_port: 3 }, 400, 'ICMP type (port-range-min) is missing'],
      [{ ...ok, cidr: '10.0.0.300/8' }, 400, 'is not a valid IP network'],
      [{ ...ok, cidr: '10.0.0.1' }, 400],
      [{ ...ok, cidr: '10.0.0.0/0' }, 400, 'Bad prefix for network in cidr 10.0.0.0/0'],
      [{ parent_group_id: g.id, cidr: '10.0.0.0/8' }, 400, 'Not enough parameters to build a valid rule.'],
      [{ parent_group_id: g.id, ip_protocol: 'tcp' }, 400, 'Not enough parameters to build a valid rule.'],
    ];
    for (const [args, status, message] of cases) {
      const r = await rule(member, args);
      expect(r.status, JSON.stringify(args)).toBe(status);
      if (message) expect(JSON.stringify(r.body), JSON.stringify(args)).toContain(message);
    }
    // Another project's group is not found, as a parent or a peer.
    const theirs = await createGroup(other, 'theirs-2');
    expect((await rule(member, { ...ok, parent_group_id: theirs.id })).status).toBe(404);
    expect((await rule(member, { ...ok, from_port: 80, to_port: 80, group_id: theirs.id })).status).toBe(404);
  });

  it('counts rules against the project quota (403)', async () => {
    const token = await tenant(t.api, admin, 'sg-rule-quota', 'member');
    const project = await projectIdOf(t.api, admin, 'sg-rule-quota');
    // The default group's four rules and a new group's two egress ones count.
    await call(admin, 'PUT', `/os-quota-sets/${project}`, { quota_set: { security_group_rules: 7 } });
    const g = await createGroup(token, 'q');
    expect((await rule(token, { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 1, to_port: 1 })).status).toBe(
      200,
    );
    expect((await rule(token, { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 2, to_port: 2 })).status).toBe(
      403,
    );
  });

  it('is gone from 2.36 (404) but for a server’s groups and its actions', async () => {
    const g = await createGroup(member, 'versions');
    for (const [method, url] of [
      ['GET', '/os-security-groups'],
      ['POST', '/os-security-groups'],
      ['GET', `/os-security-groups/${g.id}`],
      ['PUT', `/os-security-groups/${g.id}`],
      ['DELETE', `/os-security-groups/${g.id}`],
      ['POST', '/os-security-group-rules'],
      ['DELETE', '/os-security-group-rules/2f1f7e4c-8b53-4b1e-9a0e-4d1b2c3d4e5f'],
    ] as const) {
      expect(
        (await call(member, method, url, method === 'GET' || method === 'DELETE' ? undefined : {}, '2.36')).status,
        url,
      ).toBe(404);
    }
    expect((await call(member, 'GET', `/os-security-groups/${g.id}`, undefined, '2.35')).status).toBe(200);
  });

  it('puts a server in the groups its create names (400 for an unknown one), and shows them', async () => {
    expect((await createServer(member, 'sg-none', [{ name: 'does_not_exist' }])).status).toBe(400);
    const web = await createGroup(member, 'web');
    const created = await createServer(member, 'sg-two', [{ name: 'web' }, { name: 'default' }]);
    expect(created.status).toBe(202);
    expect(created.body.server.security_groups).toEqual([{ name: 'web' }, { name: 'default' }]);
    const plain = await createServer(member, 'sg-plain');
    expect(plain.body.server.security_groups).toEqual([{ name: 'default' }]);
    await t.api.servers.idle();
    const id = created.body.server.id as string;
    expect((await shown(member, id)).security_groups).toEqual([{ name: 'web' }, { name: 'default' }]);
    expect((await shown(member, plain.body.server.id)).security_groups).toEqual([{ name: 'default' }]);
    const detail = (await call(member, 'GET', '/servers/detail')).body.servers;
    expect(detail.find((s: { id: string }) => s.id === id).security_groups).toEqual([
      { name: 'web' },
      { name: 'default' },
    ]);
    // The server's groups in full, at every microversion.
    for (const version of ['2.1', '2.79']) {
      const groups = await call(member, 'GET', `/servers/${id}/os-security-groups`, undefined, version);
      expect(groups.status).toBe(200);
      expect(groups.body.security_groups.map((g: { id: string }) => g.id)).toContain(web.id);
      expect(groups.body.security_groups).toHaveLength(2);
    }
    expect((await call(other, 'GET', `/servers/${id}/os-security-groups`)).status).toBe(404);
    // A group a port is in is not deleted (400) while the server lives.
    expect((await call(member, 'DELETE', `/os-security-groups/${web.id}`)).status).toBe(400);
    await call(member, 'DELETE', `/servers/${id}`);
    await t.api.servers.idle();
    expect((await call(member, 'DELETE', `/os-security-groups/${web.id}`)).status).toBe(202);
  });

  it('adds and removes a server’s groups, refreshing the firewalls; with none left it shows none', async () => {
    const refresh = vi.spyOn(t.api.servers, 'refreshFirewalls');
    const server = (await createServer(member, 'sg-actions')).body.server.id as string;
    await t.api.servers.idle();
    const extra = await createGroup(member, 'extra');
    refresh.mockClear();
    expect((await action(member, server, { addSecurityGroup: { name: 'extra' } })).status).toBe(202);
    expect(refresh).toHaveBeenCalledWith(memberProject);
    expect((await shown(member, server)).security_groups).toEqual([{ name: 'default' }, { name: 'extra' }]);
    // Already in it: Neutron's 400 for the duplicate, through Nova.
    expect((await action(member, server, { addSecurityGroup: { name: extra.id } })).status).toBe(400);
    // Unknown, blank, missing or malformed names; another project's member does not find the server.
    expect((await action(member, server, { addSecurityGroup: { name: 'nope' } })).status).toBe(404);
    expect((await action(member, server, { addSecurityGroup: { name: ' ' } })).status).toBe(400);
    expect((await action(member, server, { addSecurityGroup: {} })).status).toBe(400);
    expect((await action(member, server, { addSecurityGroup: null })).status).toBe(400);
    expect((await action(other, server, { addSecurityGroup: { name: 'extra' } })).status).toBe(404);
    // Two groups of one name: 409, as Nova's NoUniqueMatch.
    await createGroup(member, 'twin');
    await createGroup(member, 'twin');
    expect((await action(member, server, { addSecurityGroup: { name: 'twin' } })).status).toBe(409);

    refresh.mockClear();
    // The actions stay at every microversion.
    expect((await action(member, server, { removeSecurityGroup: { name: 'extra' } }, '2.79')).status).toBe(202);
    expect(refresh).toHaveBeenCalledWith(memberProject);
    expect((await action(member, server, { removeSecurityGroup: { name: 'extra' } })).status).toBe(404);
    expect((await action(member, server, { removeSecurityGroup: { name: 'default' } })).status).toBe(202);
    const bare = await shown(member, server);
    expect(bare).not.toHaveProperty('security_groups');
    expect((await call(member, 'GET', `/servers/${server}/os-security-groups`)).body.security_groups).toEqual([]);
    refresh.mockRestore();
  });

  it('refreshes the firewalls when a rule is added or deleted', async () => {
    const refresh = vi.spyOn(t.api.servers, 'refreshFirewalls');
    const g = await createGroup(member, 'fw');
    await t.api.servers.idle();
    refresh.mockClear();
    const r = await rule(member, { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 443, to_port: 443 });
    expect(refresh).toHaveBeenCalledTimes(1);
    await call(member, 'DELETE', `/os-security-group-rules/${r.body.security_group_rule.id}`);
    expect(refresh).toHaveBeenCalledTimes(2);
    refresh.mockRestore();
  });

  it('reads the groups of a whole server list at once, not per server', async () => {
    const token = await tenant(t.api, admin, 'sg-list', 'member');
    for (const name of ['l-1', 'l-2', 'l-3']) expect((await createServer(token, name)).status).toBe(202);
    await t.api.servers.idle();
    const ofPorts = vi.spyOn(t.db.securityGroups, 'ofPorts');
    const get = vi.spyOn(t.db.securityGroups, 'get');
    const servers = (await call(token, 'GET', '/servers/detail')).body.servers;
    expect(servers).toHaveLength(3);
    for (const s of servers) expect(s.security_groups).toEqual([{ name: 'default' }]);
    expect(ofPorts).toHaveBeenCalledTimes(1);
    expect(get).toHaveBeenCalledTimes(1);
    ofPorts.mockRestore();
    get.mockRestore();
  });
});
