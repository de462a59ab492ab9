import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ruleKey, requestedRule } from '../../appliance/api/network/security-groups.js';
import { parseIpPrefix } from '../../appliance/api/network/ip-prefix.js';
import { ADMIN_PASSWORD, projectIdOf, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Neutron's security groups API (neutron/extensions/securitygroup.py, neutron/db/securitygroups_db.py)
// over the cloud database: views, defaults, Neutron's checks and messages, two projects apart,
// quotas, and a port's groups, each change of what a port lets through refreshing the firewalls.

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Neutron v2.0 security groups API', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let memberA: string;
  let memberB: string;
  let readerA: string;
  let projectA: string;
  let projectB: string;
  let serverA: string;
  const call = async (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) => {
    const r = await t.api.app.inject({
      method,
      url: `/network/v2.0${url}`,
      headers: { 'x-auth-token': token },
      ...(payload ? { payload } : {}),
    });
    return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Json };
  };
  const createGroup = async (token: string, group: object) => {
    const r = await call(token, 'POST', '/security-groups', { security_group: group });
    expect(r.status).toBe(201);
    return r.body.security_group as Json;
  };
  const createRule = (token: string, rule: object) =>
    call(token, 'POST', '/security-group-rules', { security_group_rule: rule });
  const error = (r: { status: number; body: Json }) => ({ status: r.status, message: r.body?.NeutronError?.message });

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    memberA = await tenant(t.api, admin, 'nsg-a', 'member');
    memberB = await tenant(t.api, admin, 'nsg-b', 'member');
    projectA = await projectIdOf(t.api, admin, 'nsg-a');
    projectB = await projectIdOf(t.api, admin, 'nsg-b');
    // A reader of project A, by a second user with the reader role there.
    const h = { 'x-auth-token': admin };
    const user = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/users',
      headers: h,
      payload: { user: { name: 'nsg-a-reader', password: 'pw-12345' } },
    });
    const roles = await t.api.app.inject({ method: 'GET', url: '/identity/v3/roles?name=reader', headers: h });
    await t.api.app.inject({
      method: 'PUT',
      url: `/identity/v3/projects/${projectA}/users/${user.json().user.id}/roles/${roles.json().roles[0].id}`,
      headers: h,
    });
    readerA = await tokenFor(t.api, 'nsg-a-reader', 'pw-12345', 'nsg-a');
    const imageRef = await publicImage(t.api, admin);
    const created = await t.api.app.inject({
      method: 'POST',
      url: '/compute/v2.1/servers',
      headers: { 'x-auth-token': memberA },
      payload: { server: { name: 'web', imageRef, flavorRef: '1' } },
    });
    expect(created.statusCode).toBe(202);
    serverA = created.json().server.id;
    await t.api.servers.idle();
  });
  afterAll(async () => t.stop());

  it("makes a project's default group on its first listing, with Neutron's four rules and every field", async () => {
    const { status, body } = await call(memberB, 'GET', '/security-groups');
    expect(status).toBe(200);
    expect(body.security_groups).toHaveLength(1);
    const group = body.security_groups[0];
    expect(group).toEqual({
      id: expect.any(String),
      name: 'default',
      description: 'Default security group',
      project_id: projectB,
      tenant_id: projectB,
      security_group_rules: expect.any(Array),
      stateful: true,
      shared: false,
      tags: [],
      revision_number: 1,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      updated_at: expect.stringMatching(/Z$/),
    });
    const rules = group.security_group_rules as Json[];
    expect(rules.map((r) => [r.direction, r.ethertype, r.remote_group_id])).toEqual(
      expect.arrayContaining([
        ['ingress', 'IPv4', group.id],
        ['ingress', 'IPv6', group.id],
        ['egress', 'IPv4', null],
        ['egress', 'IPv6', null],
      ]),
    );
    expect(rules).toHaveLength(4);
    expect(rules[0]).toEqual({
      id: expect.any(String),
      project_id: projectB,
      tenant_id: projectB,
      security_group_id: group.id,
      ethertype: expect.any(String),
      direction: expect.any(String),
      protocol: null,
      port_range_min: null,
      port_range_max: null,
      remote_ip_prefix: null,
      remote_address_group_id: null,
      normalized_cidr: null,
      remote_group_id: rules[0].direction === 'ingress' ? group.id : null,
      belongs_to_default_sg: true,
      description: '',
      revision_number: 0,
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
    });
    // The same one afterwards, and its rules through the rules API too.
    expect((await call(memberB, 'GET', '/security-groups')).body.security_groups.map((g: Json) => g.id)).toEqual([
      group.id,
    ]);
    const listed = await call(memberB, 'GET', `/security-group-rules?security_group_id=${group.id}`);
    expect(listed.body.security_group_rules.map((r: Json) => r.id).sort()).toEqual(rules.map((r) => r.id).sort());
    // `fields` as Horizon asks for names.
    expect((await call(memberB, 'GET', `/security-groups?id=${group.id}&fields=id&fields=name`)).body).toEqual({
      security_groups: [{ id: group.id, name: 'default' }],
    });
  });

  it("puts a server's port in its project's default group, and filters ports by group", async () => {
    const groups = (await call(memberA, 'GET', '/security-groups?name=default')).body.security_groups;
    const ports = (await call(memberA, 'GET', `/ports?device_id=${serverA}`)).body.ports;
    expect(ports).toHaveLength(1);
    expect(ports[0].security_groups).toEqual([groups[0].id]);
    expect((await call(memberA, 'GET', `/ports?security_groups=${groups[0].id}`)).body.ports).toHaveLength(1);
    expect((await call(memberA, 'GET', `/ports?security_groups=${randomUUID()}`)).body.ports).toEqual([]);
  });

  it('creates, shows, updates and deletes a group as Neutron does', async () => {
    const refresh = vi.spyOn(t.api.servers, 'refreshFirewalls');
    const group = await createGroup(memberA, { name: 'web', description: 'web servers' });
    expect(group).toMatchObject({
      name: 'web',
      description: 'web servers',
      project_id: projectA,
      stateful: true,
      shared: false,
      revision_number: 1,
    });
    expect(group.security_group_rules.map((r: Json) => [r.direction, r.ethertype, r.belongs_to_default_sg])).toEqual([
      ['egress', 'IPv4', false],
      ['egress', 'IPv6', false],
    ]);
    expect((await call(memberA, 'GET', `/security-groups/${group.id}`)).body.security_group).toEqual(group);

    const updated = await call(memberA, 'PUT', `/security-groups/${group.id}`, {
      security_group: { name: 'www', description: '' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.security_group).toMatchObject({ name: 'www', description: '', revision_number: 2 });
    // Not in use: it may become stateless, which changes what its ports would let through.
    const stateless = await call(memberA, 'PUT', `/security-groups/${group.id}`, {
      security_group: { stateful: 'False' },
    });
    expect(stateless.body.security_group.stateful).toBe(false);
    expect(refresh).toHaveBeenCalledWith(projectA);

    refresh.mockClear();
    expect((await call(memberA, 'DELETE', `/security-groups/${group.id}`)).status).toBe(204);
    expect(refresh).toHaveBeenCalledWith(projectA);
    expect(error(await call(memberA, 'GET', `/security-groups/${group.id}`))).toEqual({
      status: 404,
      message: `Security group ${group.id} does not exist`,
    });
    refresh.mockRestore();
  });

  it('refuses a group named default, renaming the default group, and bad attributes', async () => {
    for (const name of ['default', 'Default'])
      expect(error(await call(memberA, 'POST', '/security-groups', { security_group: { name } }))).toEqual({
        status: 409,
        message: 'Default security group already exists.',
      });
    const dflt = (await call(memberA, 'GET', '/security-groups?name=default')).body.security_groups[0];
    expect(error(await call(memberA, 'PUT', `/security-groups/${dflt.id}`, { security_group: { name: 'x' } }))).toEqual(
      { status: 409, message: 'Updating default security group not allowed.' },
    );
    // Its description may change.
    expect(
      (await call(memberA, 'PUT', `/security-groups/${dflt.id}`, { security_group: { description: 'mine' } })).body
        .security_group.description,
    ).toBe('mine');
    const other = await createGroup(memberA, { name: 'other' });
    expect(
      error(await call(memberA, 'PUT', `/security-groups/${other.id}`, { security_group: { name: 'default' } })),
    ).toEqual({ status: 409, message: 'Default security group already exists.' });
    for (const [method, url, payload, message] of [
      [
        'POST',
        '/security-groups',
        { security_group: { name: 'x', colour: 'red' } },
        "Unrecognized attribute(s) 'colour'",
      ],
      ['POST', '/security-groups', { security_group: { id: 'x' } }, "Attribute 'id' not allowed in POST"],
      [
        'POST',
        '/security-groups',
        { security_group: { name: 7 } },
        "Invalid input for name. Reason: '7' is not a valid string.",
      ],
      [
        'POST',
        '/security-groups',
        { security_group: { stateful: 'maybe' } },
        "Invalid input for operation: 'maybe' cannot be converted to boolean.",
      ],
      ['POST', '/security-groups', { group: {} }, "Unable to find 'security_group' in request body"],
      [
        'POST',
        '/security-groups',
        { security_group: { project_id: projectB } },
        "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
      ],
      [
        'PUT',
        `/security-groups/${other.id}`,
        { security_group: { project_id: projectB } },
        'Cannot update read-only attribute project_id',
      ],
      [
        'PUT',
        `/security-groups/${other.id}`,
        { security_group: { description: 'd'.repeat(256) } },
        `Invalid input for description. Reason: '${'d'.repeat(256)}' exceeds maximum length of 255.`,
      ],
    ] as const) {
      expect(error(await call(memberA, method, url, payload))).toEqual({ status: 400, message });
    }
  });

  it('lets only an admin delete a default group, and makes a new one on the next need', async () => {
    const project = await tenant(t.api, admin, 'nsg-c', 'member');
    const projectC = await projectIdOf(t.api, admin, 'nsg-c');
    const dflt = (await call(project, 'GET', '/security-groups')).body.security_groups[0];
    expect(error(await call(project, 'DELETE', `/security-groups/${dflt.id}`))).toEqual({
      status: 409,
      message: 'Insufficient rights for removing default security group.',
    });
    expect((await call(admin, 'DELETE', `/security-groups/${dflt.id}`)).status).toBe(204);
    const again = (await call(project, 'GET', '/security-groups')).body.security_groups;
    expect(again).toEqual([expect.objectContaining({ name: 'default', project_id: projectC })]);
    expect(again[0].id).not.toBe(dflt.id);
  });

  it('creates rules as Neutron converts them, and shows them', async () => {
    const refresh = vi.spyOn(t.api.servers, 'refreshFirewalls');
    const group = await createGroup(memberA, { name: 'rules' });
    const ssh = await createRule(memberA, {
      security_group_id: group.id,
      direction: 'ingress',
      protocol: 'TCP',
      port_range_min: 22,
      port_range_max: '22',
      remote_ip_prefix: '10.0.0.7/24',
      description: 'ssh',
    });
    expect(ssh.status).toBe(201);
    expect(ssh.body.security_group_rule).toEqual({
      id: expect.any(String),
      project_id: projectA,
      tenant_id: projectA,
      security_group_id: group.id,
      ethertype: 'IPv4',
      direction: 'ingress',
      protocol: 'tcp',
      port_range_min: 22,
      port_range_max: 22,
      remote_ip_prefix: '10.0.0.7/24',
      remote_address_group_id: null,
      normalized_cidr: '10.0.0.0/24',
      remote_group_id: null,
      belongs_to_default_sg: false,
      description: 'ssh',
      revision_number: 0,
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
    });
    expect(refresh).toHaveBeenCalledWith(projectA);
    const id = ssh.body.security_group_rule.id;
    expect((await call(memberA, 'GET', `/security-group-rules/${id}`)).body.security_group_rule).toEqual(
      ssh.body.security_group_rule,
    );
    // A group's rules change its revision.
    expect((await call(memberA, 'GET', `/security-groups/${group.id}`)).body.security_group.revision_number).toBe(2);

    // IPv6's ICMP by its name there, a bare address as a /128, the whole port range as none.
    const ping6 = await createRule(memberA, {
      security_group_id: group.id,
      direction: 'ingress',
      ethertype: 'ipv6',
      protocol: 'icmp',
      port_range_min: 128,
      remote_ip_prefix: '2001:DB8:0:0::1',
    });
    expect(ping6.body.security_group_rule).toMatchObject({
      ethertype: 'IPv6',
      protocol: 'ipv6-icmp',
      port_range_min: 128,
      port_range_max: null,
      remote_ip_prefix: '2001:db8::1/128',
      normalized_cidr: '2001:db8::1/128',
    });
    const all = await createRule(memberA, {
      security_group_id: group.id,
      direction: 'egress',
      protocol: 17,
      port_range_min: 1,
      port_range_max: 65535,
      remote_group_id: group.id,
    });
    expect(all.body.security_group_rule).toMatchObject({
      protocol: '17',
      port_range_min: null,
      port_range_max: null,
      remote_group_id: group.id,
    });

    refresh.mockClear();
    expect((await call(memberA, 'DELETE', `/security-group-rules/${id}`)).status).toBe(204);
    expect(refresh).toHaveBeenCalledWith(projectA);
    expect(error(await call(memberA, 'GET', `/security-group-rules/${id}`))).toEqual({
      status: 404,
      message: `Security group rule ${id} does not exist`,
    });
    expect(error(await call(memberA, 'DELETE', `/security-group-rules/${id}`)).status).toBe(404);
    refresh.mockRestore();
  });

  it("refuses bad rules with Neutron's messages", async () => {
    const group = await createGroup(memberA, { name: 'strict' });
    const base = { security_group_id: group.id, direction: 'ingress' };
    const cases: [object, number, string][] = [
      [{ security_group_id: group.id }, 400, "Failed to parse request. Required attribute 'direction' not specified"],
      [
        { ...base, direction: 'inward' },
        400,
        "Invalid input for direction. Reason: inward is not in ['ingress', 'egress'].",
      ],
      [
        { ...base, ethertype: 'IPv5' },
        400,
        "Security group rule for ethertype 'IPv5' not supported. Allowed values are ['IPv4', 'IPv6'].",
      ],
      [{ ...base, protocol: 'smtp' }, 400, 'Security group rule protocol smtp not supported.'],
      [{ ...base, protocol: 256 }, 400, 'Security group rule protocol 256 not supported.'],
      [{ ...base, port_range_min: 22, port_range_max: 22 }, 400, 'Must also specify protocol if port range is given.'],
      [
        { ...base, protocol: 'gre', port_range_min: 1, port_range_max: 2 },
        400,
        'Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.',
      ],
      [
        { ...base, protocol: 'tcp', port_range_min: 90, port_range_max: 80 },
        400,
        'For TCP/UDP protocols, port_range_min must be <= port_range_max',
      ],
      [
        { ...base, protocol: 'tcp', port_range_min: 80 },
        400,
        'For TCP/UDP protocols, port_range_min must be <= port_range_max',
      ],
      [{ ...base, protocol: 'tcp', port_range_min: 0, port_range_max: 80 }, 400, 'Invalid value for port 0'],
      [{ ...base, protocol: 'tcp', port_range_min: 70000, port_range_max: 70000 }, 400, 'Invalid value for port 70000'],
      [
        { ...base, protocol: 'icmp', port_range_min: 300 },
        400,
        'Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255.',
      ],
      [
        { ...base, protocol: 'icmp', port_range_max: 3 },
        400,
        'ICMP code (port-range-max) 3 is provided but ICMP type (port-range-min) is missing.',
      ],
      [{ ...base, remote_ip_prefix: '::/0' }, 400, 'Conflicting value ethertype IPv4 for CIDR ::/0'],
      [{ ...base, remote_ip_prefix: '10.0.0.0/33' }, 400, 'Invalid CIDR 10.0.0.0/33 given as IP prefix.'],
      [{ ...base, remote_ip_prefix: 'ten' }, 400, 'Invalid CIDR ten given as IP prefix.'],
      [{ ...base, protocol: 'ipv6-icmp' }, 400, 'Invalid ethertype IPv4 for protocol ipv6-icmp.'],
      [
        { ...base, remote_ip_prefix: '10.0.0.0/8', remote_group_id: group.id },
        400,
        'Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.',
      ],
      [{ ...base, remote_group_id: 'nope' }, 404, 'Security group nope does not exist'],
      [{ ...base, security_group_id: 'nope' }, 404, 'Security group nope does not exist'],
      [{ ...base, colour: 'red' }, 400, "Unrecognized attribute(s) 'colour'"],
    ];
    for (const [rule, status, message] of cases) {
      const r = error(await createRule(memberA, rule));
      expect({ rule, ...r, message: r.message?.slice(0, message.length) }).toEqual({ rule, status, message });
    }
    // The same rule twice, however it is written: Neutron's 409 naming the first.
    const first = await createRule(memberA, { ...base, protocol: 'tcp', port_range_min: 80, port_range_max: 80 });
    for (const same of [
      { ...base, protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
      { ...base, protocol: '6', port_range_min: '80', port_range_max: 80, remote_ip_prefix: '0.0.0.0/0' },
    ])
      expect(error(await createRule(memberA, same))).toEqual({
        status: 409,
        message: `Security group rule already exists. Rule id is ${first.body.security_group_rule.id}.`,
      });
    // No rule came of any of them.
    const rules = (await call(memberA, 'GET', `/security-group-rules?security_group_id=${group.id}`)).body;
    expect(rules.security_group_rules).toHaveLength(3);
  });

  it('deletes with a group the rules of other groups that name it', async () => {
    const remote = await createGroup(memberA, { name: 'remote' });
    const holder = await createGroup(memberA, { name: 'holder' });
    const naming = await createRule(memberA, {
      security_group_id: holder.id,
      direction: 'ingress',
      remote_group_id: remote.id,
    });
    expect(naming.status).toBe(201);
    const before = (await call(memberA, 'GET', `/security-groups/${holder.id}`)).body.security_group;
    expect(before.security_group_rules).toHaveLength(3);
    // An update that changes nothing leaves its revision.
    const same = await call(memberA, 'PUT', `/security-groups/${holder.id}`, { security_group: { name: 'holder' } });
    expect(same.body.security_group.revision_number).toBe(before.revision_number);

    expect((await call(memberA, 'DELETE', `/security-groups/${remote.id}`)).status).toBe(204);
    const after = (await call(memberA, 'GET', `/security-groups/${holder.id}`)).body.security_group;
    expect(after.security_group_rules.map((r: Json) => r.id)).not.toContain(naming.body.security_group_rule.id);
    expect(after.security_group_rules).toHaveLength(2);
    expect(after.revision_number).toBeGreaterThan(before.revision_number);
    expect((await call(memberA, 'GET', `/security-group-rules/${naming.body.security_group_rule.id}`)).status).toBe(
      404,
    );
  });

  it('creates rules in bulk, all or none', async () => {
    const group = await createGroup(memberA, { name: 'bulk' });
    const rule = (port: number) => ({
      security_group_id: group.id,
      direction: 'ingress',
      protocol: 'tcp',
      port_range_min: port,
      port_range_max: port,
    });
    const made = await call(memberA, 'POST', '/security-group-rules', {
      security_group_rules: [{ security_group_rule: rule(80) }, rule(443)],
    });
    expect(made.status).toBe(201);
    expect(made.body.security_group_rules.map((r: Json) => r.port_range_min)).toEqual([80, 443]);
    expect(
      error(await call(memberA, 'POST', '/security-group-rules', { security_group_rules: [rule(8080), rule(8080)] })),
    ).toEqual({ status: 409, message: 'Duplicate Security Group Rule in POST.' });
    const count = async () =>
      (await call(memberA, 'GET', `/security-group-rules?security_group_id=${group.id}`)).body.security_group_rules
        .length;
    expect(await count()).toBe(4);
  });

  it("keeps each project's groups and rules its own; the admin sees and filters all", async () => {
    const groupA = await createGroup(memberA, { name: 'private' });
    const ruleA = (await createRule(memberA, { security_group_id: groupA.id, direction: 'ingress', protocol: 'udp' }))
      .body.security_group_rule;
    const groupB = await createGroup(memberB, { name: 'b-group' });
    for (const [method, url, payload] of [
      ['GET', `/security-groups/${groupA.id}`, undefined],
      ['PUT', `/security-groups/${groupA.id}`, { security_group: { description: 'mine now' } }],
      ['DELETE', `/security-groups/${groupA.id}`, undefined],
    ] as const)
      expect(error(await call(memberB, method, url, payload))).toEqual({
        status: 404,
        message: `Security group ${groupA.id} does not exist`,
      });
    for (const method of ['GET', 'DELETE'] as const)
      expect((await call(memberB, method, `/security-group-rules/${ruleA.id}`)).status).toBe(404);
    // Neither a rule in A's group nor one naming it.
    expect((await createRule(memberB, { security_group_id: groupA.id, direction: 'ingress' })).status).toBe(404);
    expect(
      (await createRule(memberB, { security_group_id: groupB.id, direction: 'ingress', remote_group_id: groupA.id }))
        .status,
    ).toBe(404);
    // Lists: its own only, whatever the filter names.
    const names = async (token: string, url: string) =>
      (await call(token, 'GET', url)).body.security_groups.map((g: Json) => g.project_id);
    expect(new Set(await names(memberB, '/security-groups'))).toEqual(new Set([projectB]));
    expect(await names(memberB, `/security-groups?project_id=${projectA}`)).toEqual([]);
    expect(await names(memberB, `/security-groups?tenant_id=${projectA}`)).toEqual([]);
    const rulesB = (await call(memberB, 'GET', '/security-group-rules')).body.security_group_rules;
    expect(rulesB.length).toBeGreaterThan(0);
    expect(rulesB.every((r: Json) => r.project_id === projectB)).toBe(true);
    // The admin: any project's, by filter.
    expect(new Set(await names(admin, `/security-groups?project_id=${projectA}`))).toEqual(new Set([projectA]));
    expect((await names(admin, '/security-groups')).length).toBeGreaterThan(3);
    expect((await call(admin, 'GET', `/security-group-rules/${ruleA.id}`)).status).toBe(200);
    // …and its default group made when it names a project that has none yet.
    await tenant(t.api, admin, 'nsg-d', 'member');
    const projectD = await projectIdOf(t.api, admin, 'nsg-d');
    expect(
      (await call(admin, 'GET', `/security-groups?tenant_id=${projectD}`)).body.security_groups.map(
        (g: Json) => g.name,
      ),
    ).toEqual(['default']);
    // The admin makes a group in another project.
    const made = await call(admin, 'POST', '/security-groups', {
      security_group: { name: 'ops', project_id: projectB },
    });
    expect(made.body.security_group.project_id).toBe(projectB);
  });

  it('lets a reader read, and change nothing', async () => {
    expect((await call(readerA, 'GET', '/security-groups')).status).toBe(200);
    const dflt = (await call(readerA, 'GET', '/security-groups?name=default')).body.security_groups[0];
    for (const [method, url, payload] of [
      ['POST', '/security-groups', { security_group: { name: 'x' } }],
      ['PUT', `/security-groups/${dflt.id}`, { security_group: { description: 'x' } }],
      ['DELETE', `/security-groups/${dflt.id}`, undefined],
      ['POST', '/security-group-rules', { security_group_rule: { security_group_id: dflt.id, direction: 'ingress' } }],
    ] as const)
      expect((await call(readerA, method, url, payload)).status).toBe(403);
  });

  it("counts groups and rules against Neutron's quotas, and refuses past them", async () => {
    const project = await tenant(t.api, admin, 'nsg-q', 'member');
    const projectQ = await projectIdOf(t.api, admin, 'nsg-q');
    expect((await call(project, 'GET', `/quotas/${projectQ}`)).body.quota).toMatchObject({
      security_group: 10,
      security_group_rule: 100,
    });
    await call(project, 'GET', '/security-groups');
    expect((await call(project, 'GET', `/quotas/${projectQ}/details`)).body.quota).toMatchObject({
      security_group: { limit: 10, used: 1, reserved: 0 },
      security_group_rule: { limit: 100, used: 4, reserved: 0 },
    });
    // Under what it uses: refused unless forced.
    expect((await call(admin, 'PUT', `/quotas/${projectQ}`, { quota: { security_group: 0 } })).status).toBe(400);
    const set = await call(admin, 'PUT', `/quotas/${projectQ}`, {
      quota: { security_group: 2, security_group_rule: 7 },
    });
    expect(set.body.quota).toMatchObject({ security_group: 2, security_group_rule: 7 });
    const group = await createGroup(project, { name: 'one' });
    expect(error(await call(project, 'POST', '/security-groups', { security_group: { name: 'two' } }))).toEqual({
      status: 409,
      message: "Quota exceeded for resources: ['security_group'].",
    });
    // 4 default rules and 2 of `one`: one more fits, then none.
    const rule = (protocol: string) => ({ security_group_id: group.id, direction: 'ingress', protocol });
    expect((await createRule(project, rule('tcp'))).status).toBe(201);
    expect(error(await createRule(project, rule('udp')))).toEqual({
      status: 409,
      message: "Quota exceeded for resources: ['security_group_rule'].",
    });
    expect(
      error(
        await call(project, 'POST', '/security-group-rules', { security_group_rules: [rule('sctp'), rule('gre')] }),
      ),
    ).toEqual({ status: 409, message: "Quota exceeded for resources: ['security_group_rule']." });
  });

  it("changes a port's groups (its project's only, all stateful or not), and refuses to delete a group in use", async () => {
    const refresh = vi.spyOn(t.api.servers, 'refreshFirewalls');
    const port = (await call(memberA, 'GET', `/ports?device_id=${serverA}`)).body.ports[0];
    const web = await createGroup(memberA, { name: 'in-use' });
    const loose = await createGroup(memberA, { name: 'loose', stateful: false });
    const foreign = await createGroup(memberB, { name: 'foreign' });
    const dflt = port.security_groups[0];

    const put = (token: string, body: object) => call(token, 'PUT', `/ports/${port.id}`, { port: body });
    const changed = await put(memberA, { security_groups: [dflt, web.id], name: port.name });
    expect(changed.status).toBe(200);
    expect(changed.body.port.security_groups).toEqual([dflt, web.id]);
    expect(refresh).toHaveBeenCalledWith(projectA);
    expect((await call(memberA, 'GET', `/ports/${port.id}`)).body.port.security_groups).toEqual([dflt, web.id]);

    expect(error(await put(memberA, { security_groups: [foreign.id] }))).toEqual({
      status: 404,
      message: `Security group ${foreign.id} does not exist`,
    });
    expect(error(await put(memberA, { security_groups: [web.id, loose.id] }))).toEqual({
      status: 409,
      message:
        'Error Cannot apply both stateful and stateless security groups on the same port at the same time while attempting the operation.',
    });
    expect(error(await put(memberA, { security_groups: ['not-a-uuid'] }))).toEqual({
      status: 400,
      message: "Invalid input for security_groups. Reason: 'not-a-uuid' is not a valid UUID.",
    });
    // Neutron's `update_port:mac_address` is the admin's.
    expect(error(await put(memberA, { mac_address: 'fa:16:3e:00:00:01' })).status).toBe(403);
    expect(error(await put(memberA, { id: 'x' }))).toEqual({
      status: 400,
      message: 'Cannot update read-only attribute id',
    });
    expect((await put(memberB, { security_groups: [] })).status).toBe(404);
    expect((await put(readerA, { security_groups: [] })).status).toBe(403);

    // A group a port is in stays, and keeps its statefulness.
    expect(error(await call(memberA, 'DELETE', `/security-groups/${web.id}`))).toEqual({
      status: 409,
      message: `Security Group ${web.id} in use.`,
    });
    expect(
      error(await call(memberA, 'PUT', `/security-groups/${web.id}`, { security_group: { stateful: false } })),
    ).toEqual({ status: 409, message: `Security Group ${web.id} in use.` });
    // Out of every group, then it may go; the admin may put a port in another project's group.
    refresh.mockClear();
    expect((await put(memberA, { security_groups: null })).body.port.security_groups).toEqual([]);
    expect(refresh).toHaveBeenCalledWith(projectA);
    expect((await call(memberA, 'DELETE', `/security-groups/${web.id}`)).status).toBe(204);
    expect((await put(admin, { security_groups: [foreign.id] })).body.port.security_groups).toEqual([foreign.id]);
    expect((await put(admin, { security_groups: [dflt] })).body.port.security_groups).toEqual([dflt]);
    refresh.mockRestore();
  });
});

describe('security group rule checks (pure)', () => {
  it('reads prefixes as netaddr does', () => {
    expect(parseIpPrefix('10.0.0.7/24')).toEqual({ version: 4, text: '10.0.0.7/24', cidr: '10.0.0.0/24' });
    expect(parseIpPrefix('0.0.0.0/0')).toEqual({ version: 4, text: '0.0.0.0/0', cidr: '0.0.0.0/0' });
    expect(parseIpPrefix('192.168.1.1')).toEqual({ version: 4, text: '192.168.1.1/32', cidr: '192.168.1.1/32' });
    expect(parseIpPrefix('2001:DB8::ff:1/64')).toEqual({
      version: 6,
      text: '2001:db8::ff:1/64',
      cidr: '2001:db8::/64',
    });
    expect(parseIpPrefix('::/0')).toEqual({ version: 6, text: '::/0', cidr: '::/0' });
    for (const bad of ['10.0.0.256/8', '10.0.0.0/33', '::/129', 'fe80::1%eth0', '10.0.0/8', '', '10.0.0.0/'])
      expect(parseIpPrefix(bad)).toBeNull();
  });

  it('makes a rule written two ways the same rule', () => {
    const rule = (attributes: object) => requestedRule({ security_group_id: 'g', direction: 'ingress', ...attributes });
    const key = (attributes: object) => ruleKey(rule(attributes));
    expect(key({ protocol: 'tcp' })).toBe(key({ protocol: '6' }));
    expect(key({ protocol: 'tcp', port_range_min: 1, port_range_max: 65535 })).toBe(key({ protocol: 6 }));
    expect(key({ remote_ip_prefix: '0.0.0.0/0' })).toBe(key({}));
    expect(key({ ethertype: 'IPv6', protocol: 'icmpv6' })).toBe(key({ ethertype: 'IPv6', protocol: '58' }));
    expect(key({ remote_ip_prefix: '10.0.0.1/8' })).not.toBe(key({ remote_ip_prefix: '10.0.0.0/8' }));
    expect(rule({ protocol: 'any' }).protocol).toBeNull();
  });
});
