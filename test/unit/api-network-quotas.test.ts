import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, projectIdOf, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Neutron's extension list, quotas (quotas, quota_details) and a server's port, as clients such as
// Horizon read them: what the list names is what the API serves, and nothing else.
describe('Neutron v2.0 extensions and quotas', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let project: string;
  const call = async (token: string, method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: object) => {
    const r = await t.api.app.inject({
      method,
      url: `/network/v2.0${url}`,
      headers: { 'x-auth-token': token },
      ...(payload ? { payload } : {}),
    });
    return { status: r.statusCode, body: r.body ? r.json() : undefined };
  };

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'nq-a', 'member');
    other = await tenant(t.api, admin, 'nq-b', 'member');
    project = await projectIdOf(t.api, admin, 'nq-a');
    const imageRef = await publicImage(t.api, admin);
    const created = await t.api.app.inject({
      method: 'POST',
      url: '/compute/v2.1/servers',
      headers: { 'x-auth-token': member },
      payload: { server: { name: 'web', imageRef, flavorRef: '1' } },
    });
    expect(created.statusCode).toBe(202);
    await t.api.servers.idle();
  });
  afterAll(async () => t.stop());

  it('lists the extensions it has, each as Neutron describes it, and none it lacks', async () => {
    const { status, body } = await call(member, 'GET', '/extensions');
    expect(status).toBe(200);
    expect(body.extensions.map((e: { alias: string }) => e.alias)).toEqual([
      'ext-gw-mode',
      'external-net',
      'extraroute',
      'fip-port-details',
      'ip-substring-filtering',
      'net-mtu',
      'port-security-groups-filtering',
      'project-id',
      'provider',
      'quotas',
      'quota_details',
      'router',
      'security-group',
      'security-groups-normalized-cidr',
      'security-groups-rules-belongs-to-default-sg',
      'standard-attr-description',
      'stateful-security-group',
    ]);
    expect((await call(member, 'GET', '/extensions/quotas')).body).toEqual({
      extension: {
        alias: 'quotas',
        name: 'Quota management support',
        description: 'Expose functions for quotas management per project',
        updated: '2012-07-29T10:00:00-00:00',
        links: [],
      },
    });
    // Horizon keeps agents and trunks out on these.
    for (const alias of ['agent', 'trunk']) {
      const missing = await call(member, 'GET', `/extensions/${alias}`);
      expect(missing.status).toBe(404);
      expect(missing.body.NeutronError.message).toBe(`Extension with alias ${alias} does not exist`);
    }
  });

  it("shows a project its own quotas, defaults and usage (its server's port counted), and another's to the admin only", async () => {
    const defaults = {
      ...{ network: 100, subnet: 100, port: 500, router: 10, floatingip: 50 },
      ...{ security_group: 10, security_group_rule: 100 },
    };
    expect((await call(member, 'GET', `/quotas/${project}`)).body).toEqual({ quota: defaults });
    expect((await call(member, 'GET', `/quotas/${project}/default`)).body).toEqual({ quota: defaults });
    expect((await call(member, 'GET', `/quotas/${project}/details`)).body).toEqual({
      quota: {
        network: { limit: 100, used: 0, reserved: 0 },
        subnet: { limit: 100, used: 0, reserved: 0 },
        port: { limit: 500, used: 1, reserved: 0 },
        router: { limit: 10, used: 0, reserved: 0 },
        floatingip: { limit: 50, used: 0, reserved: 0 },
        // The default group its server's port is in, with its four rules.
        security_group: { limit: 10, used: 1, reserved: 0 },
        security_group_rule: { limit: 100, used: 4, reserved: 0 },
      },
    });
    for (const path of ['', '/default', '/details'])
      expect((await call(other, 'GET', `/quotas/${project}${path}`)).status).toBe(403);
    expect((await call(admin, 'GET', `/quotas/${project}/details`)).body.quota.port.used).toBe(1);
  });

  it('lets the cloud admin set and reset them, Neutron’s checks first; a member may not', async () => {
    expect((await call(member, 'PUT', `/quotas/${project}`, { quota: { network: 5 } })).status).toBe(403);
    expect((await call(member, 'DELETE', `/quotas/${project}`)).status).toBe(403);
    const set = await call(admin, 'PUT', `/quotas/${project}`, { quota: { network: 5, port: '20' } });
    const groups = { router: 10, floatingip: 50, security_group: 10, security_group_rule: 100 };
    expect(set).toEqual({ status: 200, body: { quota: { network: 5, subnet: 100, port: 20, ...groups } } });
    expect((await call(member, 'GET', `/quotas/${project}`)).body.quota).toEqual({
      network: 5,
      subnet: 100,
      port: 20,
      ...groups,
    });
    // Under what the project uses (its one port): refused, unless forced.
    const under = await call(admin, 'PUT', `/quotas/${project}`, { quota: { port: 0 } });
    expect(under.status).toBe(400);
    expect(under.body.NeutronError.message).toBe(
      'Quota limit 0 for port must be greater than or equal to already used 1',
    );
    expect((await call(admin, 'PUT', `/quotas/${project}`, { quota: { port: 0, force: true } })).body.quota.port).toBe(
      0,
    );
    for (const [quota, message] of [
      [{ rbac_policy: 1 }, "Unrecognized attribute(s) 'rbac_policy'"],
      [{ network: -2 }, "Invalid input for network. Reason: '-2' is not in range -1 through 2147483647."],
      [{ subnet: 'many' }, "Invalid input for subnet. Reason: 'many' is not an integer."],
    ] as const) {
      const bad = await call(admin, 'PUT', `/quotas/${project}`, { quota });
      expect(bad.status).toBe(400);
      expect(bad.body.NeutronError.message).toBe(message);
    }
    expect((await call(admin, 'PUT', `/quotas/${project}`, { network: 1 })).status).toBe(400);
    expect((await call(admin, 'DELETE', `/quotas/${project}`)).status).toBe(204);
    expect((await call(member, 'GET', `/quotas/${project}`)).body.quota).toEqual({
      network: 100,
      subnet: 100,
      port: 500,
      ...groups,
    });
  });

  it("puts a server's port in its project's default group, which lists it by that id", async () => {
    const { body } = await call(member, 'GET', '/ports');
    expect(body.ports).toHaveLength(1);
    expect(body.ports[0].security_groups).toEqual([expect.any(String)]);
    // Horizon's instance detail page finds the groups by the ports' ids.
    const groups = await call(member, 'GET', `/security-groups?id=${body.ports[0].security_groups[0]}`);
    expect(groups.body.security_groups.map((g: { name: string }) => g.name)).toEqual(['default']);
  });
});
