import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, projectIdOf, startTestApi, tenant, tokenFor } from './api-helpers.js';

describe('Neutron v2.0 security groups', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let memberA: string;
  let memberB: string;
  let projectA: string;
  let projectB: string;
  const groups = async (token: string, query = '') => {
    const r = await t.api.app.inject({
      method: 'GET',
      url: `/network/v2.0/security-groups${query}`,
      headers: { 'x-auth-token': token },
    });
    expect(r.statusCode).toBe(200);
    return (r.json() as { security_groups: { id: string; name: string; project_id: string; tenant_id: string }[] })
      .security_groups;
  };
  const projectId = (name: string) => projectIdOf(t.api, admin, name);

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    memberA = await tenant(t.api, admin, 'sg-a', 'member');
    memberB = await tenant(t.api, admin, 'sg-b', 'member');
    projectA = await projectId('sg-a');
    projectB = await projectId('sg-b');
  });
  afterAll(async () => t.stop());

  it("lists a project's own default group", async () => {
    expect(await groups(memberA)).toEqual([
      expect.objectContaining({
        id: expect.any(String),
        name: 'default',
        project_id: projectA,
        tenant_id: projectA,
      }),
    ]);
    expect(await groups(memberB, `?project_id=${projectB}&name=default`)).toEqual([
      expect.objectContaining({ project_id: projectB }),
    ]);
  });

  // Issue #14: the group was made up for whichever project the filter named, so a non-admin asking
  // for another project's got an answer naming it. Neutron lists a non-admin its own groups only.
  it('lists a non-admin none of another project’s groups, whatever the filter names', async () => {
    for (const query of [`?tenant_id=${projectA}`, `?project_id=${projectA}`, `?project_id=${projectA}&name=default`]) {
      expect(await groups(memberB, query)).toEqual([]);
    }
    expect(await groups(memberB, '?name=other')).toEqual([]);
  });

  it('lists the cloud admin the group of the project it names', async () => {
    expect((await groups(admin, `?tenant_id=${projectA}`)).map((g) => g.project_id)).toEqual([projectA]);
    expect((await groups(admin, `?project_id=${projectB}`)).map((g) => g.project_id)).toEqual([projectB]);
  });
});

describe('Neutron v2.0 list filters', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let member: string;
  const networks = async (query: string) =>
    t.api.app.inject({ method: 'GET', url: `/network/v2.0/networks${query}`, headers: { 'x-auth-token': member } });

  beforeAll(async () => {
    t = await startTestApi();
    member = await tenant(t.api, await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin'), 'filters', 'member');
  });
  afterAll(async () => t.stop());

  // Horizon's launch wizard and Networks page (through neutronclient) send `shared=True`.
  it('reads a boolean filter as Neutron does: True, true, 1 and yes match the shared network; False does not', async () => {
    const names = async (query: string) =>
      ((await networks(query)).json() as { networks: { name: string }[] }).networks.map((n) => n.name);
    for (const yes of ['True', 'true', '1', 'yes', 'ON']) expect(await names(`?shared=${yes}`)).toEqual(['provider']);
    for (const no of ['False', 'false', '0', 'no']) expect(await names(`?shared=${no}`)).toEqual([]);
    expect(await names('?shared=True&name=provider')).toEqual(['provider']);
    expect(await names('?shared=True&name=other')).toEqual([]);
  });

  it('answers 400 with Neutron’s fault to a boolean filter that is no boolean', async () => {
    const r = await networks('?shared=maybe');
    expect(r.statusCode).toBe(400);
    expect(JSON.stringify(r.json())).toContain("'maybe' cannot be converted to boolean");
  });
});
