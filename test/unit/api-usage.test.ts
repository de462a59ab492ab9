import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, projectIdOf, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Nova's os-simple-tenant-usage over the embedded cloud: a project's servers, a deleted one
// included, each counted for the hours it was alive in the period asked for.
describe('Nova os-simple-tenant-usage', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let project: string;
  let running: string;
  let deleted: string;
  const HOUR = 3_600_000;
  const get = async (token: string, url: string) => {
    const r = await t.api.app.inject({ method: 'GET', url: `/compute/v2.1${url}`, headers: { 'x-auth-token': token } });
    return { status: r.statusCode, body: r.json() };
  };
  /** Nova's query format for a time. */
  const at = (ms: number) => new Date(ms).toISOString().replace('Z', '');

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'usage-p1', 'member');
    other = await tenant(t.api, admin, 'usage-p2', 'member');
    project = await projectIdOf(t.api, admin, 'usage-p1');
    const imageRef = await publicImage(t.api, admin);
    const create = async (name: string) =>
      (
        await t.api.app.inject({
          method: 'POST',
          url: '/compute/v2.1/servers',
          headers: { 'x-auth-token': member },
          payload: { server: { name, imageRef, flavorRef: '1' } },
        })
      ).json().server.id as string;
    running = await create('stays');
    deleted = await create('goes');
    await t.api.servers.idle();
    await t.api.app.inject({
      method: 'DELETE',
      url: `/compute/v2.1/servers/${deleted}`,
      headers: { 'x-auth-token': member },
    });
    await t.api.servers.idle();
  });
  afterAll(async () => t.stop());

  it('counts each server’s hours in the period, the deleted one up to its deletion', async () => {
    const start = Date.now() - HOUR;
    const end = Date.now() - 1;
    const { status, body } = await get(member, `/os-simple-tenant-usage/${project}?start=${at(start)}&end=${at(end)}`);
    expect(status).toBe(200);
    const usage = body.tenant_usage;
    const lives = await t.db.servers.lifetimes({
      projectId: project,
      start: new Date(start).toISOString(),
      end: new Date(end).toISOString(),
    });
    const life = (id: string) => lives.find((l) => l.id === id);
    const flavor = await t.db.flavors.get('1');
    const hoursOf = (id: string) => {
      const l = life(id);
      return ((l?.terminatedAt ? Date.parse(l.terminatedAt) : end) - Date.parse(l?.launchedAt ?? '')) / HOUR;
    };
    const byId = new Map(usage.server_usages.map((s: { instance_id: string }) => [s.instance_id, s]));
    expect(byId.get(running)).toMatchObject({
      name: 'stays',
      state: 'active',
      ended_at: null,
      flavor: flavor?.name,
      vcpus: flavor?.vcpus,
      memory_mb: flavor?.ram,
      local_gb: (flavor?.disk ?? 0) + (flavor?.ephemeral ?? 0),
      tenant_id: project,
    });
    expect(byId.get(deleted)).toMatchObject({ name: 'goes', state: 'terminated' });
    expect((byId.get(deleted) as { ended_at: string }).ended_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    expect((byId.get(running) as { hours: number }).hours).toBeCloseTo(hoursOf(running), 9);
    expect((byId.get(deleted) as { hours: number }).hours).toBeCloseTo(hoursOf(deleted), 9);
    expect(hoursOf(running)).toBeGreaterThan(0);
    expect(hoursOf(deleted)).toBeLessThan(0.01);
    const hours = hoursOf(running) + hoursOf(deleted);
    expect(usage.total_hours).toBeCloseTo(hours, 9);
    expect(usage.total_vcpus_usage).toBeCloseTo(hours * (flavor?.vcpus ?? 0), 9);
    expect(usage.total_memory_mb_usage).toBeCloseTo(hours * (flavor?.ram ?? 0), 6);
    expect(usage.start).toBe(at(start) + '000');
  });

  // Horizon's overview asks for today's usage, up to 23:59:59: the hours still to come were
  // counted for a running server (a server of seconds showed 22 vCPU-hours). Nova counts to now.
  it('counts a running server up to now when the period ends in the future', async () => {
    const before = Date.now();
    const { body } = await get(
      member,
      `/os-simple-tenant-usage/${project}?start=${at(before - HOUR)}&end=${at(before + 10 * HOUR)}`,
    );
    const after = Date.now();
    const [lived] = await t.db.servers
      .lifetimes({
        projectId: project,
        start: new Date(before - HOUR).toISOString(),
        end: new Date(after).toISOString(),
      })
      .then((all) => all.filter((l) => l.id === running));
    const upTo = (ms: number) => (ms - Date.parse(lived?.launchedAt ?? '')) / HOUR;
    const usage = body.tenant_usage;
    const hours = usage.server_usages.find((u: { instance_id: string }) => u.instance_id === running).hours;
    expect(hours).toBeGreaterThanOrEqual(upTo(before));
    expect(hours).toBeLessThanOrEqual(upTo(after));
    expect(hours).toBeLessThan(0.01);
    const stop = Date.parse(`${usage.stop}Z`);
    expect(stop).toBeGreaterThanOrEqual(before - 1);
    expect(stop).toBeLessThanOrEqual(after);
  });

  it('counts nothing in a period before the servers were launched', async () => {
    const dayAgo = Date.now() - 24 * HOUR;
    const { body } = await get(
      member,
      `/os-simple-tenant-usage/${project}?start=${at(dayAgo)}&end=${at(dayAgo + HOUR)}`,
    );
    expect(body).toEqual({ tenant_usage: {} });
  });

  it('lists every project’s usage to the cloud admin only, with the servers when detailed', async () => {
    const window = `start=${at(Date.now() - HOUR)}&end=${at(Date.now() + HOUR)}`;
    const list = await get(admin, `/os-simple-tenant-usage?${window}`);
    const mine = list.body.tenant_usages.find((u: { tenant_id: string }) => u.tenant_id === project);
    expect(mine.total_hours).toBeGreaterThan(0);
    expect(mine).not.toHaveProperty('server_usages');
    const detailed = await get(admin, `/os-simple-tenant-usage?${window}&detailed=1`);
    const servers = detailed.body.tenant_usages.find(
      (u: { tenant_id: string }) => u.tenant_id === project,
    ).server_usages;
    expect(servers.map((s: { instance_id: string }) => s.instance_id).sort()).toEqual([running, deleted].sort());
    expect((await get(member, `/os-simple-tenant-usage?${window}`)).status).toBe(403);
    expect((await get(other, `/os-simple-tenant-usage/${project}?${window}`)).status).toBe(403);
    expect((await get(admin, `/os-simple-tenant-usage/${project}?${window}`)).status).toBe(200);
    expect((await get(admin, `/os-simple-tenant-usage/?${window}`)).status).toBe(404); // the empty project
  });

  it('refuses a time it cannot read, or a start after the end, with 400', async () => {
    expect((await get(member, `/os-simple-tenant-usage/${project}?start=yesterday`)).status).toBe(400);
    const late = await get(
      member,
      `/os-simple-tenant-usage/${project}?start=${at(Date.now() + HOUR)}&end=${at(Date.now())}`,
    );
    expect(late.status).toBe(400);
    expect(late.body.badRequest.message).toContain('The start time cannot occur after the end time');
    // Nova's other formats.
    expect((await get(member, `/os-simple-tenant-usage/${project}?start=2026-01-01 00:00:00.000001`)).status).toBe(200);
    expect((await get(member, `/os-simple-tenant-usage/${project}?start=2026-01-01T00:00:00`)).status).toBe(200);
  });
});
