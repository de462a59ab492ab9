import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Nova's server locks over the embedded cloud: a locked server refuses what would change it
// (409) to its project's members, not to an admin; an admin's lock is lifted by an admin only.
describe('Nova server locks (lock, unlock)', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let server: string;
  const call = async (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) => {
    const r = await t.api.app.inject({
      method,
      url: `/compute/v2.1${url}`,
      headers: { 'x-auth-token': token },
      ...(payload ? { payload } : {}),
    });
    return { status: r.statusCode, body: r.body ? (r.json() as Record<string, unknown>) : {} };
  };
  const action = (token: string, body: object) => call(token, 'POST', `/servers/${server}/action`, body);
  const status = async () =>
    ((await call(member, 'GET', `/servers/${server}`)).body.server as { status: string }).status;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'locks-p1', 'member');
    other = await tenant(t.api, admin, 'locks-p2', 'member');
    const imageRef = await publicImage(t.api, admin);
    server = (
      (await call(member, 'POST', '/servers', { server: { name: 'locked', imageRef, flavorRef: '1' } })).body
        .server as {
        id: string;
      }
    ).id;
    await t.api.servers.idle();
  });
  afterAll(async () => t.stop());

  it('a project’s own lock refuses its members stop, reboot, delete and metadata (409), not a rename; unlock lifts it', async () => {
    expect((await action(member, { lock: null })).status).toBe(202);
    const refused = await action(member, { 'os-stop': null });
    expect(refused).toEqual({
      status: 409,
      body: { conflictingRequest: { code: 409, message: `Instance ${server} is locked` } },
    });
    expect((await action(member, { reboot: { type: 'SOFT' } })).status).toBe(409);
    expect((await call(member, 'DELETE', `/servers/${server}`)).status).toBe(409);
    expect((await call(member, 'POST', `/servers/${server}/metadata`, { metadata: { a: 'b' } })).status).toBe(409);
    expect((await call(member, 'PUT', `/servers/${server}`, { server: { name: 'renamed' } })).status).toBe(200);
    expect(await status()).toBe('ACTIVE');
    // Another project neither sees it nor unlocks it.
    expect((await action(other, { unlock: null })).status).toBe(404);
    expect((await action(member, { unlock: null })).status).toBe(202);
    expect((await action(member, { 'os-stop': null })).status).toBe(202);
    await t.api.servers.idle();
    expect(await status()).toBe('SHUTOFF');
  });

  it('an admin’s lock: the admin still acts, the project’s member cannot unlock it (403), the admin can', async () => {
    expect((await action(admin, { lock: null })).status).toBe(202);
    expect((await action(member, { 'os-start': null })).status).toBe(409);
    expect((await action(member, { unlock: null })).status).toBe(403);
    expect((await action(admin, { 'os-start': null })).status).toBe(202);
    await t.api.servers.idle();
    expect(await status()).toBe('ACTIVE');
    expect((await action(admin, { unlock: null })).status).toBe(202);
    expect((await call(member, 'DELETE', `/servers/${server}`)).status).toBe(204);
    await t.api.servers.idle();
  });
});
