import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../appliance/api/index.js';
import { accessAllowed, pathMatches, serviceRequestOf } from '../../appliance/api/identity/access-rules.js';
import { expiryOf } from '../../appliance/api/identity/application-credentials.js';
import type { CloudDb } from '../../appliance/db/index.js';
import { ADMIN_PASSWORD, type IdentityCaller, identityCaller, startTestApi, tenant, tokenFor } from './api-helpers.js';

describe('access rule matching (keystonemiddleware _path_matches)', () => {
  it('matches `*` and `{tag}` to one segment, `**` to anything, the rest literally and whole', () => {
    expect(pathMatches('/v2.1/servers/abc/ips', '/v2.1/servers/*/ips')).toBe(true);
    expect(pathMatches('/v2.1/servers/abc/ips', '/v2.1/servers/{server_id}/ips')).toBe(true);
    expect(pathMatches('/v2.1/servers/a/b/ips', '/v2.1/servers/*/ips')).toBe(false);
    expect(pathMatches('/v2.1/servers//ips', '/v2.1/servers/*/ips')).toBe(false);
    expect(pathMatches('/v2.1/servers/a/b/ips', '/v2.1/servers/**')).toBe(true);
    expect(pathMatches('/v2.1/servers', '/v2.1/servers/**')).toBe(false);
    expect(pathMatches('/v2.1/servers/', '/v2.1/servers/**')).toBe(true);
    expect(pathMatches('/v2.1/servers/x/ips', '/v2.1/**/ips')).toBe(true);
    expect(pathMatches('/v2.1/servers/detail', '/v2.1/servers')).toBe(false);
    expect(pathMatches('/v2x1/servers', '/v2.1/servers')).toBe(false);
    expect(pathMatches('/v2.1/servers/x', '/v2.1/servers/x*')).toBe(false); // `x` then one more character at least
    expect(pathMatches('/v2.1/servers/xy', '/v2.1/servers/x*')).toBe(true);
    // A pattern that would backtrack without end as a regular expression is answered at once.
    const started = Date.now();
    expect(pathMatches(`/${'a'.repeat(3000)}`, `${'/**'.repeat(70)}b`)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("takes the service from the path's prefix and lets a token be validated whatever its rules", () => {
    expect(serviceRequestOf('/compute/v2.1/servers?limit=1')).toEqual({ service: 'compute', path: '/v2.1/servers' });
    expect(serviceRequestOf('/dashboard/')).toBeNull();
    const rules = [{ id: 'r', service: 'image', path: '/v2/images', method: 'GET' }];
    expect(accessAllowed(rules, 'GET', '/image/v2/images')).toBe(true);
    expect(accessAllowed(rules, 'HEAD', '/image/v2/images')).toBe(false);
    expect(accessAllowed(rules, 'GET', '/compute/v2/images')).toBe(false);
    expect(accessAllowed(rules, 'GET', '/identity/v3/auth/tokens')).toBe(true);
    expect(accessAllowed(rules, 'DELETE', '/identity/v3/auth/tokens')).toBe(false);
    expect(accessAllowed(rules, 'GET', '/metrics')).toBe(false);
    expect(accessAllowed([], 'DELETE', '/metrics')).toBe(true);
  });

  it("reads Keystone's expires_at as UTC with microseconds, or refuses it", () => {
    expect(expiryOf('2030-01-02T03:04:05.123456')).toBe('2030-01-02T03:04:05.123456Z');
    expect(expiryOf('2030-01-02T03:04:05Z')).toBe('2030-01-02T03:04:05.000000Z');
    expect(expiryOf('2030-01-02T03:04')).toBe('2030-01-02T03:04:00.000000Z');
    expect(expiryOf('2030-01-02T03:04:05.5+02:00')).toBe('2030-01-02T01:04:05.500000Z');
    for (const bad of ['tomorrow', '2030-02-30T00:00:00', '2030-01-02T25:00:00', '2030-01-02']) {
      expect(expiryOf(bad), bad).toBeNull();
    }
  });
});

describe("Keystone's application credentials", () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let api: Api;
  let db: CloudDb;
  let now = Date.now();
  let admin: IdentityCaller;
  let adminToken: string;

  /** A user with `role` on a new project: its id, project id, a token's caller and the token. */
  const member = async (name: string, role: 'member' | 'reader' | 'admin' = 'member') => {
    const token = await tenant(api, adminToken, name, role);
    const me = identityCaller(api, token);
    const { body } = await identityCaller(api, adminToken)({ method: 'GET', url: `/users?name=${name}-user` });
    const userId = body.users[0].id as string;
    const projects = await admin({ method: 'GET', url: `/projects?name=${name}` });
    return { token, me, userId, projectId: projects.body.projects[0].id as string };
  };
  const create = (me: IdentityCaller, userId: string, credential: object) =>
    me({
      method: 'POST',
      url: `/users/${userId}/application_credentials`,
      payload: { application_credential: credential },
    });
  /** A token request with the application_credential method (and whatever else the auth body holds). */
  const login = (credential: object, extra: object = {}, address = '192.0.2.10') =>
    api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      remoteAddress: address,
      payload: {
        auth: { identity: { methods: ['application_credential'], application_credential: credential }, ...extra },
      },
    });
  const tokenOf = (response: { headers: Record<string, unknown> }) => String(response.headers['x-subject-token']);
  const roleId = async (name: string) => (await admin({ method: 'GET', url: `/roles?name=${name}` })).body.roles[0].id;
  const get = (token: string, url: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', payload?: object) =>
    api.app.inject({ method, url, headers: { 'x-auth-token': token }, ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    t = await startTestApi({ now: () => now });
    api = t.api;
    db = t.db;
    adminToken = await tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin');
    admin = identityCaller(api, adminToken);
  });
  afterAll(async () => t.stop());

  it('makes one with the token’s roles and a generated secret shown once and kept only as a hash; lists, filters, shows and deletes', async () => {
    const { me, userId, projectId } = await member('ac-basic');
    const made = await create(me, userId, { name: 'monitoring', description: 'for the monitor' });
    expect(made.status).toBe(201);
    const c = made.body.application_credential;
    expect(c).toMatchObject({
      name: 'monitoring',
      description: 'for the monitor',
      project_id: projectId,
      unrestricted: false,
      expires_at: null,
    });
    expect(c.roles.map((r: { name: string }) => r.name).sort()).toEqual(['member', 'reader']);
    expect(c.secret).toMatch(/^[A-Za-z0-9_-]{86}$/); // 64 random bytes, URL-safe base64 without padding
    expect(c).not.toHaveProperty('access_rules');
    expect(c.links.self).toBe(`http://cloud.test/identity/v3/users/${userId}/application_credentials/${c.id}`);
    const stored = await db.applicationCredentials.get(c.id);
    expect(stored?.secretHash).toMatch(/^scrypt\$/);
    expect(JSON.stringify(stored)).not.toContain(c.secret);

    const shown = await me({ method: 'GET', url: `/users/${userId}/application_credentials/${c.id}` });
    expect(shown.status).toBe(200);
    expect(shown.body.application_credential).not.toHaveProperty('secret');
    expect(shown.body.application_credential.name).toBe('monitoring');

    expect(
      (await create(me, userId, { name: 'second', secret: 'my-own-secret' })).body.application_credential.secret,
    ).toBe('my-own-secret');
    const all = await me({ method: 'GET', url: `/users/${userId}/application_credentials` });
    expect(all.body.application_credentials.map((x: { name: string }) => x.name)).toEqual(['monitoring', 'second']);
    expect(all.body.application_credentials.some((x: object) => 'secret' in x)).toBe(false);
    const byName = await me({ method: 'GET', url: `/users/${userId}/application_credentials?name=second` });
    expect(byName.body.application_credentials.map((x: { name: string }) => x.name)).toEqual(['second']);

    const again = await create(me, userId, { name: 'monitoring' });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('Duplicate entry found with name monitoring');

    expect((await me({ method: 'DELETE', url: `/users/${userId}/application_credentials/${c.id}` })).status).toBe(204);
    expect((await me({ method: 'GET', url: `/users/${userId}/application_credentials/${c.id}` })).status).toBe(404);
    expect((await me({ method: 'DELETE', url: `/users/${userId}/application_credentials/${c.id}` })).status).toBe(404);
  });

  it('refuses bad bodies with 400 as Keystone’s schema does, and expiry times in the past', async () => {
    const { me, userId } = await member('ac-bad');
    const cases: [object, string][] = [
      [{}, "'name'"],
      [{ name: '' }, "'name'"],
      [{ name: 'x', colour: 'blue' }, "'colour' was unexpected"],
      [{ name: 'x', description: 5 }, "'description'"],
      [{ name: 'x', unrestricted: 'yes' }, "'unrestricted'"],
      [{ name: 'x', expires_at: 'soon' }, 'Timestamp not in expected format'],
      [{ name: 'x', expires_at: new Date(now - 60_000).toISOString() }, "'expires_at' must not be before now"],
      [{ name: 'x', roles: [{ id: 'a', name: 'b' }] }, "'roles'"],
      [{ name: 'x', roles: 'member' }, "'roles'"],
      [{ name: 'x', access_rules: [{ service: 'compute', path: 'servers', method: 'GET' }] }, "'path'"],
      [{ name: 'x', access_rules: [{ service: 'compute', path: '/servers', method: 'FETCH' }] }, "'method'"],
      [{ name: 'x', access_rules: [{ service: 'com pute', path: '/servers', method: 'GET' }] }, "'service'"],
      [{ name: 'x', access_rules: [{ path: '/servers', method: 'GET' }] }, 'a service, a path and a method'],
    ];
    for (const [body, message] of cases) {
      const r = await create(me, userId, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message, JSON.stringify(body)).toContain(message);
    }
    const missing = await me({
      method: 'POST',
      url: `/users/${userId}/application_credentials`,
      payload: { name: 'x' },
    });
    expect(missing.status).toBe(400);
    expect(
      (await me({ method: 'GET', url: `/users/${userId}/application_credentials` })).body.application_credentials,
    ).toEqual([]);
  });

  it('lets only the user make its own; the user or the cloud admin read and delete them; anyone else gets 403', async () => {
    const owner = await member('ac-owner');
    const other = await member('ac-other');
    const made = (await create(owner.me, owner.userId, { name: 'mine' })).body.application_credential;
    const cases: [IdentityCaller, 'GET' | 'DELETE', string, number][] = [
      [other.me, 'GET', `/users/${owner.userId}/application_credentials`, 403],
      [other.me, 'GET', `/users/${owner.userId}/application_credentials/${made.id}`, 403],
      // The path's user is the caller, but the credential is not theirs.
      [other.me, 'GET', `/users/${other.userId}/application_credentials/${made.id}`, 403],
      [other.me, 'DELETE', `/users/${other.userId}/application_credentials/${made.id}`, 403],
      [other.me, 'GET', `/users/${owner.userId}/access_rules`, 403],
      [admin, 'GET', `/users/${owner.userId}/application_credentials`, 200],
      [admin, 'GET', `/users/${owner.userId}/application_credentials/${made.id}`, 200],
      // Under another user than its own, none (even to its owner).
      [owner.me, 'GET', `/users/${other.userId}/application_credentials/${made.id}`, 404],
      [admin, 'GET', `/users/${other.userId}/application_credentials/${made.id}`, 404],
      [owner.me, 'GET', `/users/${owner.userId}/application_credentials/nope`, 404],
    ];
    for (const [caller, method, url, status] of cases) {
      expect((await caller({ method, url })).status, `${method} ${url}`).toBe(status);
    }
    expect((await create(other.me, owner.userId, { name: 'theirs' })).status).toBe(403);
    // Keystone's create policy is the owner's alone: not even the cloud admin makes one for a user.
    expect((await create(admin, owner.userId, { name: 'admins' })).status).toBe(403);
    expect(
      (await admin({ method: 'DELETE', url: `/users/${owner.userId}/application_credentials/${made.id}` })).status,
    ).toBe(204);
  });

  it('authenticates by id or by name and user: a token of its project with its roles, showing it; no scope, no rescoping', async () => {
    const { me, userId, projectId } = await member('ac-auth');
    const reader = await roleId('reader');
    const c = (await create(me, userId, { name: 'reader-only', roles: [{ name: 'reader' }] })).body
      .application_credential;
    expect(c.roles).toEqual([{ id: reader, name: 'reader', domain_id: null }]);

    const byId = await login({ id: c.id, secret: c.secret });
    expect(byId.statusCode).toBe(201);
    const token = byId.json().token;
    expect(token.methods).toEqual(['application_credential']);
    expect(token.project.id).toBe(projectId);
    expect(token.roles).toEqual([{ id: reader, name: 'reader' }]);
    expect(token.application_credential).toEqual({ id: c.id, name: 'reader-only', restricted: true });
    expect(token.user.id).toBe(userId);

    const byName = await login({
      name: 'reader-only',
      user: { name: 'ac-auth-user', domain: { name: 'Default' } },
      secret: c.secret,
    });
    expect(byName.statusCode).toBe(201);
    expect(byName.json().token.application_credential.id).toBe(c.id);
    expect((await login({ name: 'reader-only', user: { id: userId }, secret: c.secret })).statusCode).toBe(201);
    expect((await login({ name: 'reader-only', user: { name: 'ac-auth-user' }, secret: c.secret })).statusCode).toBe(
      400,
    );
    expect((await login({ name: 'nope', user: { id: userId }, secret: c.secret })).statusCode).toBe(401);
    expect((await login({ id: c.id })).statusCode).toBe(400);
    expect((await login({ id: 'no-such-credential', secret: c.secret })).statusCode).toBe(401);
    expect((await login({ id: c.id, secret: 'wrong' })).statusCode).toBe(401);

    const scoped = await login({ id: c.id, secret: c.secret }, { scope: { project: { id: projectId } } });
    expect(scoped.statusCode).toBe(401);
    expect(scoped.json().error.message).toContain('Application credentials cannot request a scope');

    // The token method keeps the credential's bounds, and refuses a scope.
    const credToken = tokenOf(byId);
    const rescope = (scope?: object) =>
      api.app.inject({
        method: 'POST',
        url: '/identity/v3/auth/tokens',
        payload: { auth: { identity: { methods: ['token'], token: { id: credToken } }, ...(scope ? { scope } : {}) } },
      });
    expect((await rescope({ project: { id: projectId } })).statusCode).toBe(403);
    const child = await rescope();
    expect(child.statusCode).toBe(201);
    expect(child.json().token.roles).toEqual([{ id: reader, name: 'reader' }]);
    expect(child.json().token.application_credential.id).toBe(c.id);
    expect(child.json().token.methods).toEqual(['application_credential', 'token']);
    // Its roles are the credential's: a reader may not write.
    const keypair = await get(tokenOf(child), '/compute/v2.1/os-keypairs', 'POST', { keypair: { name: 'k' } });
    expect(keypair.statusCode).toBe(403);
    // The token validates itself (the user's own).
    const validated = await api.app.inject({
      method: 'GET',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': credToken, 'x-subject-token': credToken },
    });
    expect(validated.json().token.application_credential.name).toBe('reader-only');
  });

  it('delegates only roles the token holds (and those they imply); by name 404 for an unknown role, else 400', async () => {
    const { me, userId } = await member('ac-roles', 'reader');
    const r = await create(me, userId, { name: 'up', roles: [{ name: 'member' }] });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe(
      'Invalid application credential: Cannot create an application credential with unassigned role',
    );
    expect((await create(me, userId, { name: 'up', roles: [{ id: await roleId('admin') }] })).status).toBe(400);
    expect((await create(me, userId, { name: 'up', roles: [{ name: 'no-such-role' }] })).status).toBe(404);

    const writer = await member('ac-roles-w');
    const made = (await create(writer.me, writer.userId, { name: 'writer', roles: [{ name: 'member' }] })).body;
    expect(made.application_credential.roles.map((x: { name: string }) => x.name).sort()).toEqual(['member', 'reader']);
  });

  it('drops a role revoked from the user from its tokens at once, and no longer authenticates once none is left', async () => {
    const { me, userId, projectId } = await member('ac-revoke');
    const c = (await create(me, userId, { name: 'both' })).body.application_credential;
    const token = tokenOf(await login({ id: c.id, secret: c.secret }));
    const member_ = await roleId('member');
    const reader = await roleId('reader');
    // The user also gets reader directly, so that revoking member leaves it reader.
    expect((await admin({ method: 'PUT', url: `/projects/${projectId}/users/${userId}/roles/${reader}` })).status).toBe(
      204,
    );
    expect(
      (await admin({ method: 'DELETE', url: `/projects/${projectId}/users/${userId}/roles/${member_}` })).status,
    ).toBe(204);
    const seen = await api.app.inject({
      method: 'GET',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': adminToken, 'x-subject-token': token },
    });
    expect(seen.json().token.roles.map((x: { name: string }) => x.name)).toEqual(['reader']);
    expect(
      (await login({ id: c.id, secret: c.secret })).json().token.roles.map((x: { name: string }) => x.name),
    ).toEqual(['reader']);
    expect(
      (await admin({ method: 'DELETE', url: `/projects/${projectId}/users/${userId}/roles/${reader}` })).status,
    ).toBe(204);
    expect((await get(token, '/compute/v2.1/flavors')).statusCode).toBe(401);
    expect((await login({ id: c.id, secret: c.secret })).statusCode).toBe(401);
  });

  it('stops at its expiry: its tokens end by then, and it no longer authenticates', async () => {
    const { me, userId } = await member('ac-expiry');
    const hour = new Date(now + 3_600_000 + 1234)
      .toISOString()
      .replace('Z', '')
      .replace(/(\.\d{3})$/, '$1456');
    const soon = new Date(now + 600_000).toISOString();
    const long = (await create(me, userId, { name: 'hour', expires_at: hour })).body.application_credential;
    expect(long.expires_at).toBe(hour);
    const short = (await create(me, userId, { name: 'short', expires_at: soon })).body.application_credential;
    const token = (await login({ id: short.id, secret: short.secret })).json().token;
    expect(Date.parse(token.expires_at)).toBeLessThanOrEqual(Date.parse(soon));
    now += 600_000;
    expect((await login({ id: short.id, secret: short.secret })).statusCode).toBe(401);
    expect((await login({ id: long.id, secret: long.secret })).statusCode).toBe(201);
    now += 3_600_000;
    expect((await login({ id: long.id, secret: long.secret })).statusCode).toBe(401);
    now = Date.now();
  });

  it("is deleted with its user's disabling (Keystone's), and a deleted one's tokens stop working", async () => {
    const { me, userId } = await member('ac-gone');
    const c = (await create(me, userId, { name: 'gone' })).body.application_credential;
    const token = tokenOf(await login({ id: c.id, secret: c.secret }));
    expect((await get(token, '/compute/v2.1/flavors')).statusCode).toBe(200);
    expect((await me({ method: 'DELETE', url: `/users/${userId}/application_credentials/${c.id}` })).status).toBe(204);
    expect((await get(token, '/compute/v2.1/flavors')).statusCode).toBe(401);

    const d = (
      await create(me, userId, { name: 'disabled', access_rules: [{ service: 'compute', path: '/**', method: 'GET' }] })
    ).body.application_credential;
    expect(
      (await admin({ method: 'PATCH', url: `/users/${userId}`, payload: { user: { enabled: false } } })).status,
    ).toBe(200);
    expect((await login({ id: d.id, secret: d.secret })).statusCode).toBe(401);
    expect(
      (await admin({ method: 'PATCH', url: `/users/${userId}`, payload: { user: { enabled: true } } })).status,
    ).toBe(200);
    expect((await login({ id: d.id, secret: d.secret })).statusCode).toBe(401);
    expect(await db.applicationCredentials.list({ userId })).toEqual([]);
    expect(await db.applicationCredentials.accessRules({ userId })).toEqual([]);
  });

  it("goes with its user, its project, and a deleted role's delegation with the role", async () => {
    const { me, userId, projectId } = await member('ac-cascade');
    const role = (await admin({ method: 'POST', url: '/roles', payload: { role: { name: 'ac-extra' } } })).body.role;
    expect(
      (await admin({ method: 'PUT', url: `/projects/${projectId}/users/${userId}/roles/${role.id}` })).status,
    ).toBe(204);
    const fresh = tokenFor(api, 'ac-cascade-user', 'pw-12345', 'ac-cascade');
    const c = (
      await create(identityCaller(api, await fresh), userId, {
        name: 'x',
        roles: [{ id: role.id }, { name: 'reader' }],
      })
    ).body.application_credential;
    expect(c.roles.map((x: { name: string }) => x.name)).toEqual(['ac-extra', 'reader']);
    expect((await admin({ method: 'DELETE', url: `/roles/${role.id}` })).status).toBe(204);
    expect((await db.applicationCredentials.get(c.id))?.roles.map((x) => x.name)).toEqual(['reader']);

    await create(me, userId, {
      name: 'ruled',
      access_rules: [{ service: 'image', path: '/v2/images', method: 'GET' }],
    });
    expect((await admin({ method: 'DELETE', url: `/projects/${projectId}` })).status).toBe(204);
    expect(await db.applicationCredentials.list({ userId })).toEqual([]);
    expect(await db.applicationCredentials.accessRules({ userId })).toHaveLength(1);
    expect((await admin({ method: 'DELETE', url: `/users/${userId}` })).status).toBe(204);
    expect(await db.applicationCredentials.accessRules({ userId })).toEqual([]);

    // A user deleted while a credential still uses its rule: both go.
    const other = await member('ac-cascade-2');
    const used = (
      await create(other.me, other.userId, {
        name: 'used',
        access_rules: [{ service: 'image', path: '/v2/images', method: 'GET' }],
      })
    ).body.application_credential;
    expect((await admin({ method: 'DELETE', url: `/users/${other.userId}` })).status).toBe(204);
    expect(await db.applicationCredentials.get(used.id)).toBeNull();
    expect(await db.applicationCredentials.getAccessRule(used.access_rules[0].id)).toBeNull();
  });

  it('a restricted one’s tokens cannot make or delete application credentials; an unrestricted one’s can', async () => {
    const { me, userId, projectId } = await member('ac-restrict');
    const restricted = (await create(me, userId, { name: 'restricted' })).body.application_credential;
    const free = (await create(me, userId, { name: 'free', unrestricted: true })).body.application_credential;
    expect(free.unrestricted).toBe(true);
    const r = identityCaller(api, tokenOf(await login({ id: restricted.id, secret: restricted.secret })));
    const denied = await create(r, userId, { name: 'child' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain("Using method 'application_credential' is not allowed");
    expect((await r({ method: 'DELETE', url: `/users/${userId}/application_credentials/${free.id}` })).status).toBe(
      403,
    );
    expect((await r({ method: 'GET', url: `/users/${userId}/application_credentials` })).status).toBe(200);
    // Nor EC2 key pairs, by either route.
    const ec2 = await r({
      method: 'POST',
      url: `/users/${userId}/credentials/OS-EC2`,
      payload: { tenant_id: projectId },
    });
    expect(ec2.status).toBe(403);
    const blob = JSON.stringify({ access: 'a-key', secret: 's' });
    const v3 = { credential: { type: 'ec2', user_id: userId, project_id: projectId, blob } };
    expect((await r({ method: 'POST', url: '/credentials', payload: v3 })).status).toBe(403);

    const freeLogin = await login({ id: free.id, secret: free.secret });
    expect(freeLogin.json().token.application_credential.restricted).toBe(false);
    const u = identityCaller(api, tokenOf(freeLogin));
    const child = await create(u, userId, { name: 'child' });
    expect(child.status).toBe(201);
    expect(
      (await u({ method: 'POST', url: `/users/${userId}/credentials/OS-EC2`, payload: { tenant_id: projectId } }))
        .status,
    ).toBe(201);
    expect(
      (await u({ method: 'DELETE', url: `/users/${userId}/application_credentials/${restricted.id}` })).status,
    ).toBe(204);
  });

  it('bounds its tokens by its access rules: only what a rule allows, a 401 for the rest', async () => {
    const { me, userId } = await member('ac-rules');
    const made = await create(me, userId, {
      name: 'ips',
      access_rules: [
        { service: 'compute', path: '/v2.1/servers', method: 'GET' },
        { service: 'compute', path: '/v2.1/flavors/*', method: 'GET' },
        { service: 'identity', path: '/v3/users/**', method: 'GET' },
      ],
    });
    expect(made.status).toBe(201);
    const c = made.body.application_credential;
    expect(c.access_rules.map(({ id: _, ...rule }: { id: string }) => rule)).toEqual([
      { service: 'compute', path: '/v2.1/servers', method: 'GET' },
      { service: 'compute', path: '/v2.1/flavors/*', method: 'GET' },
      { service: 'identity', path: '/v3/users/**', method: 'GET' },
    ]);
    const auth = await login({ id: c.id, secret: c.secret });
    expect(auth.json().token.application_credential.access_rules).toEqual(c.access_rules);
    const token = tokenOf(auth);
    expect((await get(token, '/compute/v2.1/servers')).statusCode).toBe(200);
    expect((await get(token, '/compute/v2.1/servers?limit=1')).statusCode).toBe(200);
    expect((await get(token, '/compute/v2.1/flavors/1')).statusCode).toBe(200);
    expect((await get(token, `/identity/v3/users/${userId}/application_credentials`)).statusCode).toBe(200);
    const refused = await get(token, '/compute/v2.1/flavors');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.message).toContain('no access rule');
    expect((await get(token, '/compute/v2.1/servers/detail')).statusCode).toBe(401);
    expect((await get(token, '/compute/v2.1/servers', 'POST', { server: {} })).statusCode).toBe(401);
    expect((await get(token, '/image/v2/images')).statusCode).toBe(401);
    expect((await get(token, '/identity/v3/projects')).statusCode).toBe(401);
    // Validating the token is always allowed (keystonemiddleware's exception).
    const validated = await api.app.inject({
      method: 'GET',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': token, 'x-subject-token': token },
    });
    expect(validated.statusCode).toBe(200);
    // The user's own tokens are not bounded by them.
    expect((await get((await member('ac-rules-2')).token, '/image/v2/images')).statusCode).toBe(200);
  });

  it("keeps each user's access rules: one per identical rule, listed, shown, deleted only once no credential uses it", async () => {
    const { me, userId } = await member('ac-ar');
    const rule = { service: 'compute', path: '/v2.1/servers/*/ips', method: 'GET' };
    const first = (await create(me, userId, { name: 'first', access_rules: [rule] })).body.application_credential;
    const ruleId = first.access_rules[0].id as string;
    const second = (await create(me, userId, { name: 'second', access_rules: [rule] })).body.application_credential;
    expect(second.access_rules[0].id).toBe(ruleId);
    const third = (await create(me, userId, { name: 'third', access_rules: [{ id: ruleId }] })).body
      .application_credential;
    expect(third.access_rules).toEqual([{ id: ruleId, ...rule }]);

    const listed = await me({ method: 'GET', url: `/users/${userId}/access_rules` });
    expect(listed.body.access_rules).toEqual([
      { id: ruleId, ...rule, links: { self: `http://cloud.test/identity/v3/access_rules/${ruleId}` } },
    ]);
    expect((await me({ method: 'GET', url: `/users/${userId}/access_rules?method=POST` })).body.access_rules).toEqual(
      [],
    );
    expect((await me({ method: 'GET', url: `/users/${userId}/access_rules/${ruleId}` })).body.access_rule.path).toBe(
      rule.path,
    );
    expect((await me({ method: 'GET', url: `/users/${userId}/access_rules/nope` })).status).toBe(404);

    const other = await member('ac-ar-other');
    expect((await other.me({ method: 'GET', url: `/users/${other.userId}/access_rules/${ruleId}` })).status).toBe(404);
    expect((await other.me({ method: 'DELETE', url: `/users/${userId}/access_rules/${ruleId}` })).status).toBe(403);
    // Another user cannot borrow a rule by its id.
    expect((await create(other.me, other.userId, { name: 'borrow', access_rules: [{ id: ruleId }] })).status).toBe(404);

    const inUse = await me({ method: 'DELETE', url: `/users/${userId}/access_rules/${ruleId}` });
    expect(inUse.status).toBe(403);
    expect(inUse.body.error.message).toBe('May not delete access rule in use');
    for (const c of [first, second, third]) {
      expect((await me({ method: 'DELETE', url: `/users/${userId}/application_credentials/${c.id}` })).status).toBe(
        204,
      );
    }
    // Keystone keeps a rule after its credentials are gone.
    expect((await me({ method: 'GET', url: `/users/${userId}/access_rules` })).body.access_rules).toHaveLength(1);
    expect((await me({ method: 'DELETE', url: `/users/${userId}/access_rules/${ruleId}` })).status).toBe(204);
    expect((await me({ method: 'GET', url: `/users/${userId}/access_rules` })).body.access_rules).toEqual([]);
    expect((await admin({ method: 'DELETE', url: `/users/${userId}/access_rules/${ruleId}` })).status).toBe(404);
  });

  it("counts wrong secrets toward the user's lockout, as wrong passwords", async () => {
    const { me, userId } = await member('ac-lock');
    const c = (await create(me, userId, { name: 'locked' })).body.application_credential;
    for (let i = 0; i < 6; i++) {
      expect((await login({ id: c.id, secret: `guess-${i}` }, {}, `198.51.100.${i}`)).statusCode).toBe(401);
    }
    const right = await login({ id: c.id, secret: c.secret }, {}, '198.51.100.99');
    expect(right.statusCode).toBe(401);
    expect(api.errors.get('API_ERR_ACCOUNT_LOCKED')).toBeGreaterThanOrEqual(1);
    const password = await api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      remoteAddress: '198.51.100.98',
      payload: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { id: userId, password: 'pw-12345' } },
          },
        },
      },
    });
    expect(password.statusCode).toBe(401);
    now += 1_800_000;
    expect((await login({ id: c.id, secret: c.secret }, {}, '198.51.100.97')).statusCode).toBe(201);
    now = Date.now();
  });
});
