import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../appliance/api/identity/tokens.js';
import { ADMIN_PASSWORD, startTestApi, tenant, tokenFor } from './api-helpers.js';

describe('Keystone v3', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
  });
  afterAll(async () => t.stop());

  it('answers the unversioned root with 300 and the v3 document', async () => {
    const r = await t.api.app.inject({ method: 'GET', url: '/identity' });
    expect(r.statusCode).toBe(300);
    expect(r.json().versions.values[0].id).toBe('v3.14');
  });

  it('issues a project-scoped token with roles and a catalog of only what is implemented', async () => {
    const r = await t.api.app.inject({
      method: 'GET',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': admin, 'x-subject-token': admin },
    });
    expect(r.statusCode).toBe(200);
    const token = r.json().token;
    expect(token.project.name).toBe('admin');
    expect(token.roles.map((x: { name: string }) => x.name).sort()).toEqual(['admin', 'member', 'reader']);
    expect(token.catalog.map((s: { type: string }) => s.type).sort()).toEqual([
      'compute',
      'identity',
      'image',
      'network',
    ]);
    expect(token.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('rejects a bad password with 401 in Keystone format', async () => {
    const r = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'admin', domain: { id: 'default' }, password: 'wrong' } },
          },
        },
      },
    });
    expect(r.statusCode).toBe(401);
    expect(r.json()).toMatchObject({ error: { code: 401, title: 'Unauthorized' } });
  });

  it('stores passwords as scrypt hashes, never in clear', async () => {
    const user = await t.db.users.findByName('default', 'admin');
    expect(user?.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(user?.passwordHash).not.toContain(ADMIN_PASSWORD);
  });

  it('revokes a token: it then fails everywhere with 401', async () => {
    const token = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    const ok = await t.api.app.inject({
      method: 'GET',
      url: '/compute/v2.1/flavors',
      headers: { 'x-auth-token': token },
    });
    expect(ok.statusCode).toBe(200);
    const del = await t.api.app.inject({
      method: 'DELETE',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': admin, 'x-subject-token': token },
    });
    expect(del.statusCode).toBe(204);
    const after = await t.api.app.inject({
      method: 'GET',
      url: '/compute/v2.1/flavors',
      headers: { 'x-auth-token': token },
    });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe(401);
  });

  it('rejects tampered and garbage tokens', async () => {
    const [payload, sig] = admin.split('.');
    const forged = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), userId: 'x' })).toString('base64url')}.${sig}`;
    for (const token of [forged, 'garbage', `${admin}x`]) {
      const r = await t.api.app.inject({
        method: 'GET',
        url: '/compute/v2.1/servers',
        headers: { 'x-auth-token': token },
      });
      expect(r.statusCode).toBe(401);
    }
  });

  it('expires tokens', async () => {
    let now = Date.now();
    const tokens = await TokenService.open(t.db, { ttl: 60 }, () => now);
    const user = await t.db.users.findByName('default', 'admin');
    const { token } = await tokens.issue(user?.id ?? '', null, ['password']);
    expect(await tokens.verify(token)).not.toBeNull();
    now += 61_000;
    expect(await tokens.verify(token)).toBeNull();
  });

  it('bounds a token by what this cloud issues, even one signed with a real key: its lifetime, not issued in the future', async () => {
    const now = Date.now();
    const tokens = await TokenService.open(t.db, { ttl: 3600, keep: 3 }, () => now);
    const user = await t.db.users.findByName('default', 'admin');
    const { token, claims } = await tokens.issue(user?.id ?? '', null, ['password']);
    const { k } = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { k: string };
    const key = (await t.db.tokens.signingKeys()).find((candidate) => candidate.kid === k);
    const signed = (over: Record<string, unknown>) => {
      const payload = Buffer.from(JSON.stringify({ k: key?.kid, ...claims, ...over })).toString('base64url');
      const mac = createHmac('sha256', Buffer.from(key?.secret ?? '', 'base64'))
        .update(payload)
        .digest('base64url');
      return `${payload}.${mac}`;
    };
    expect(await tokens.verify(signed({}))).not.toBeNull(); // the forging itself is right
    const second = Math.floor(now / 1000);
    const tenYears = 10 * 365 * 86_400;
    expect(await tokens.verify(signed({ expiresAt: claims.issuedAt + tenYears }))).toBeNull();
    expect(await tokens.verify(signed({ issuedAt: second + 3600, expiresAt: second + 7200 }))).toBeNull(); // the future
    expect(await tokens.verify(signed({ issuedAt: second - 3600 * 24, expiresAt: second + 60 }))).toBeNull();
    expect(await tokens.verify(signed({ issuedAt: 'now' }))).toBeNull();
  });

  it('enforces admin on identity administration', async () => {
    const member = await tenant(t.api, admin, 'idp1', 'member');
    const r = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/projects',
      headers: { 'x-auth-token': member },
      payload: { project: { name: 'nope' } },
    });
    expect(r.statusCode).toBe(403);
    const dup = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/projects',
      headers: { 'x-auth-token': admin },
      payload: { project: { name: 'idp1' } },
    });
    expect(dup.statusCode).toBe(409);
  });
});
