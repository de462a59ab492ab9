import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../appliance/api/index.js';
import { ADMIN_PASSWORD, type IdentityCaller, identityCaller, startTestApi, tenant, tokenFor } from './api-helpers.js';

describe("Keystone's trusts (OS-TRUST)", () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let api: Api;
  let now = Date.now();
  let admin: IdentityCaller;
  let adminToken: string;
  let delegated: string;
  let kept: string;

  /** A user with the member role on a new project: its id, project id, token and a caller with it. */
  const party = async (name: string) => {
    const token = await tenant(api, adminToken, name, 'member');
    const users = await admin({ method: 'GET', url: `/users?name=${name}-user` });
    const projects = await admin({ method: 'GET', url: `/projects?name=${name}` });
    return {
      name,
      token,
      me: identityCaller(api, token),
      userId: users.body.users[0].id as string,
      projectId: projects.body.projects[0].id as string,
    };
  };
  /** A trustor holding both test roles on its project (besides member). */
  const trustor = async (name: string) => {
    const p = await party(name);
    for (const role of [delegated, kept]) {
      const r = await admin({ method: 'PUT', url: `/projects/${p.projectId}/users/${p.userId}/roles/${role}` });
      expect(r.status).toBe(204);
    }
    return p;
  };
  type Party = Awaited<ReturnType<typeof party>>;
  const createTrust = (by: Party, trustee: Party, extra: object = {}) =>
    by.me({
      method: 'POST',
      url: '/OS-TRUST/trusts',
      payload: {
        trust: {
          trustor_user_id: by.userId,
          trustee_user_id: trustee.userId,
          project_id: by.projectId,
          impersonation: true,
          roles: [{ id: delegated }],
          ...extra,
        },
      },
    });
  /** A token request by `who`'s password (or by a token) with a trust scope. */
  const trustLogin = (who: Party | { token: string }, trustId: string) =>
    api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity:
            'name' in who
              ? {
                  methods: ['password'],
                  password: { user: { name: `${who.name}-user`, domain: { name: 'Default' }, password: 'pw-12345' } },
                }
              : { methods: ['token'], token: { id: who.token } },
          scope: { 'OS-TRUST:trust': { id: trustId } },
        },
      },
    });
  const tokenOf = (response: { headers: Record<string, unknown> }) => String(response.headers['x-subject-token']);
  /** Validates `token` as the admin: its status and body. */
  const validate = async (token: string) => {
    const r = await api.app.inject({
      method: 'GET',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': adminToken, 'x-subject-token': token },
    });
    return { status: r.statusCode, body: r.body ? r.json() : {} };
  };
  /** A request of another service with `token`: its status. */
  const use = async (token: string) =>
    (await api.app.inject({ method: 'GET', url: '/compute/v2.1/flavors', headers: { 'x-auth-token': token } }))
      .statusCode;

  beforeAll(async () => {
    t = await startTestApi({ now: () => now });
    api = t.api;
    adminToken = await tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin');
    admin = identityCaller(api, adminToken);
    delegated = (await admin({ method: 'POST', url: '/roles', payload: { role: { name: 'delegated' } } })).body.role.id;
    kept = (await admin({ method: 'POST', url: '/roles', payload: { role: { name: 'kept' } } })).body.role.id;
  });
  afterAll(async () => t.stop());

  it('makes, shows, lists and deletes a trust, each call by whom Keystone lets', async () => {
    const tor = await trustor('tr-crud');
    const tee = await party('tr-crud-tee');
    const stranger = await party('tr-crud-x');
    const made = await createTrust(tor, tee, { roles: [{ name: 'delegated' }] });
    expect(made.status).toBe(201);
    const trust = made.body.trust;
    const self = `http://cloud.test/identity/v3/OS-TRUST/trusts/${trust.id}`;
    expect(trust).toMatchObject({
      trustor_user_id: tor.userId,
      trustee_user_id: tee.userId,
      project_id: tor.projectId,
      impersonation: true,
      expires_at: null,
      remaining_uses: null,
      redelegated_trust_id: null,
      redelegation_count: 0,
      links: { self },
      roles_links: { self: `${self}/roles`, next: null, previous: null },
    });
    expect(trust.id).toMatch(/^[0-9a-f]{32}$/);
    expect(trust.roles).toEqual([
      expect.objectContaining({
        id: delegated,
        name: 'delegated',
        links: { self: `http://cloud.test/identity/v3/roles/${delegated}` },
      }),
    ]);

    for (const caller of [tor.me, tee.me, admin]) {
      const shown = await caller({ method: 'GET', url: `/OS-TRUST/trusts/${trust.id}` });
      expect(shown.status).toBe(200);
      expect(shown.body.trust.roles.map((r: { name: string }) => r.name)).toEqual(['delegated']);
    }
    const byTrustor = await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/?trustor_user_id=${tor.userId}` });
    expect(byTrustor.status).toBe(200);
    expect(byTrustor.body.trusts.map((x: { id: string }) => x.id)).toEqual([trust.id]);
    expect(byTrustor.body.trusts[0]).not.toHaveProperty('roles');
    const byTrustee = await tee.me({ method: 'GET', url: `/OS-TRUST/trusts?trustee_user_id=${tee.userId}` });
    expect(byTrustee.body.trusts.map((x: { id: string }) => x.id)).toEqual([trust.id]);
    const all = await admin({ method: 'GET', url: '/OS-TRUST/trusts' });
    expect(all.body.trusts.map((x: { id: string }) => x.id)).toContain(trust.id);

    // Someone with no part in it sees nothing of it.
    const refusals: [IdentityCaller, 'GET' | 'DELETE', string][] = [
      [stranger.me, 'GET', `/OS-TRUST/trusts/${trust.id}`],
      [stranger.me, 'GET', `/OS-TRUST/trusts/${trust.id}/roles`],
      [stranger.me, 'GET', `/OS-TRUST/trusts/${trust.id}/roles/${delegated}`],
      [stranger.me, 'GET', `/OS-TRUST/trusts?trustor_user_id=${tor.userId}`],
      [stranger.me, 'GET', `/OS-TRUST/trusts?trustee_user_id=${tee.userId}`],
      [tor.me, 'GET', '/OS-TRUST/trusts'],
      [stranger.me, 'DELETE', `/OS-TRUST/trusts/${trust.id}`],
      [tee.me, 'DELETE', `/OS-TRUST/trusts/${trust.id}`],
    ];
    for (const [caller, method, url] of refusals) {
      expect((await caller({ method, url })).status, `${method} ${url}`).toBe(403);
    }
    expect((await stranger.me({ method: 'GET', url: '/OS-TRUST/trusts/no-such-trust' })).status).toBe(404);

    expect((await tor.me({ method: 'DELETE', url: `/OS-TRUST/trusts/${trust.id}` })).status).toBe(204);
    const gone = await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/${trust.id}` });
    expect(gone.status).toBe(404);
    expect(gone.body.error.message).toBe(`Could not find trust: ${trust.id}.`);
    expect((await tor.me({ method: 'DELETE', url: `/OS-TRUST/trusts/${trust.id}` })).status).toBe(404);
  });

  it("refuses what Keystone refuses: another's trust, roles the trustor lacks, bad fields", async () => {
    const tor = await trustor('tr-bad');
    const tee = await party('tr-bad-tee');
    const cases: [object, number, string][] = [
      [{ trustor_user_id: tee.userId }, 403, 'identity:create_trust'],
      [{ roles: [] }, 403, 'At least one role should be specified'],
      [{ trustee_user_id: 'no-such-user' }, 404, 'Could not find user: no-such-user.'],
      [{ roles: [{ name: 'no-such-role' }] }, 404, 'Could not find role: no-such-role.'],
      [{ roles: [{ name: 'admin' }] }, 404, 'Could not find role'],
      [{ roles: [{ id: delegated, name: 'delegated' }] }, 400, "'roles'"],
      [{ project_id: 'no-such-project' }, 404, 'Could not find project: no-such-project.'],
      [{ impersonation: 'yes' }, 400, "'impersonation'"],
      [{ impersonation: undefined }, 400, "'impersonation' is a required property"],
      [{ expires_at: 'bad.123Z' }, 400, 'Timestamp not in expected format'],
      [{ expires_at: new Date(now - 60_000).toISOString() }, 400, "The 'expires_at' must not be before now"],
      [{ remaining_uses: 0 }, 400, "'remaining_uses'"],
      [{ allow_redelegation: true, remaining_uses: 2 }, 400, 'remaining_uses must not be set'],
      [{ allow_redelegation: true, redelegation_count: 4 }, 403, 'Requested redelegation depth of 4'],
    ];
    for (const [extra, status, message] of cases) {
      const r = await createTrust(tor, tee, extra);
      expect(r.status, JSON.stringify(extra)).toBe(status);
      expect(r.body.error.message, JSON.stringify(extra)).toContain(message);
    }
    expect((await admin({ method: 'GET', url: `/OS-TRUST/trusts?trustor_user_id=${tor.userId}` })).body.trusts).toEqual(
      [],
    );
  });

  it('keeps the expiry asked for and shows it to the second, as Keystone; the same trust twice is a conflict', async () => {
    const tor = await trustor('tr-exp');
    const tee = await party('tr-exp-tee');
    const at = new Date(now + 3_600_000).toISOString().replace(/\.\d{3}Z$/, '.678Z');
    const made = await createTrust(tor, tee, { expires_at: at });
    expect(made.status).toBe(201);
    expect(made.body.trust.expires_at).toBe(`${at.slice(0, 19)}.000000Z`);
    const again = await createTrust(tor, tee, { expires_at: at });
    expect(again.status).toBe(409);
    // Without an expiry, never the same (SQL's NULLs, as Keystone's constraint).
    expect((await createTrust(tor, tee)).status).toBe(201);
    expect((await createTrust(tor, tee)).status).toBe(201);
  });

  it('answers for its roles: the delegated one shown and checked (GET and HEAD), not the one kept', async () => {
    const tor = await trustor('tr-roles');
    const tee = await party('tr-roles-tee');
    const id = (await createTrust(tor, tee)).body.trust.id;
    const roles = await tee.me({ method: 'GET', url: `/OS-TRUST/trusts/${id}/roles` });
    expect(roles.status).toBe(200);
    expect(roles.body.roles.map((r: { id: string }) => r.id)).toEqual([delegated]);
    expect(roles.body.links.self).toBe(`http://cloud.test/identity/v3/OS-TRUST/trusts/${id}/roles`);
    const one = await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/${id}/roles/${delegated}` });
    expect(one.status).toBe(200);
    expect(one.body.role).toMatchObject({ id: delegated, name: 'delegated' });
    expect((await tor.me({ method: 'HEAD', url: `/OS-TRUST/trusts/${id}/roles/${delegated}` })).status).toBe(200);
    expect((await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/${id}/roles/${kept}` })).status).toBe(404);
    expect((await tor.me({ method: 'HEAD', url: `/OS-TRUST/trusts/${id}/roles/${kept}` })).status).toBe(404);
  });

  it("gives its trustee a token of the trust's project with the delegated roles, as the trustor when impersonating", async () => {
    const tor = await trustor('tr-token');
    const tee = await party('tr-token-tee');
    const impersonating = (await createTrust(tor, tee)).body.trust.id;
    const r = await trustLogin(tee, impersonating);
    expect(r.statusCode).toBe(201);
    const token = r.json().token;
    expect(token.user.id).toBe(tor.userId);
    expect(token.user.name).toBe('tr-token-user');
    expect(token.project.id).toBe(tor.projectId);
    expect(token.roles).toEqual([{ id: delegated, name: 'delegated' }]);
    expect(token['OS-TRUST:trust']).toEqual({
      id: impersonating,
      impersonation: true,
      trustee_user: { id: tee.userId },
      trustor_user: { id: tor.userId },
    });
    expect(token).not.toHaveProperty('is_domain');
    expect(token.catalog.length).toBeGreaterThan(0);
    // It validates the same, and the trustee may look at it.
    const trustToken = tokenOf(r);
    expect((await validate(trustToken)).body.token['OS-TRUST:trust'].id).toBe(impersonating);
    const byTrustee = await api.app.inject({
      method: 'GET',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': tee.token, 'x-subject-token': trustToken },
    });
    expect(byTrustee.statusCode).toBe(200);
    // Its roles are the delegated one only: no member role to write with.
    const keypair = await api.app.inject({
      method: 'POST',
      url: '/compute/v2.1/os-keypairs',
      headers: { 'x-auth-token': trustToken },
      payload: { keypair: { name: 'k' } },
    });
    expect(keypair.statusCode).toBe(403);

    const plain = (await createTrust(tor, tee, { impersonation: false, roles: [{ id: delegated }, { id: kept }] })).body
      .trust.id;
    // With the token method, from the trustee's own token.
    const byToken = await trustLogin({ token: tee.token }, plain);
    expect(byToken.statusCode).toBe(201);
    const second = byToken.json().token;
    expect(second.user.id).toBe(tee.userId);
    expect(second.project.id).toBe(tor.projectId);
    expect(second.roles.map((x: { name: string }) => x.name)).toEqual(['delegated', 'kept']);
    expect(second['OS-TRUST:trust']).toMatchObject({ impersonation: false, trustor_user: { id: tor.userId } });
    expect(second.methods).toEqual(['password', 'token']);
  });

  it('refuses a token of the trust to anyone but its trustee, and of a trust that is not there', async () => {
    const tor = await trustor('tr-who');
    const tee = await party('tr-who-tee');
    const stranger = await party('tr-who-x');
    const id = (await createTrust(tor, tee)).body.trust.id;
    const r = await trustLogin(stranger, id);
    expect(r.statusCode).toBe(403);
    expect(r.json().error.message).toBe('User is not a trustee.');
    // The trustor is not its trustee either.
    expect((await trustLogin(tor, id)).statusCode).toBe(403);
    const missing = await trustLogin(tee, 'no-such-trust');
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.message).toBe('Could not find trust: no-such-trust.');
    const both = await api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity: { methods: ['token'], token: { id: tee.token } },
          scope: { 'OS-TRUST:trust': { id }, project: { id: tor.projectId } },
        },
      },
    });
    expect(both.statusCode).toBe(400);
  });

  it('counts its remaining uses down per token and then issues none, its tokens so far still good', async () => {
    const tor = await trustor('tr-uses');
    const tee = await party('tr-uses-tee');
    const id = (await createTrust(tor, tee, { remaining_uses: 2 })).body.trust.id;
    const first = await trustLogin(tee, id);
    expect(first.statusCode).toBe(201);
    expect((await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/${id}` })).body.trust.remaining_uses).toBe(1);
    expect((await trustLogin(tee, id)).statusCode).toBe(201);
    const third = await trustLogin(tee, id);
    expect(third.statusCode).toBe(401);
    expect(third.json().error.message).toBe(`Could not find trust: ${id}.`);
    // Used up, it is found no more (Keystone's), but the list still shows it and its trustor deletes it.
    expect((await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/${id}` })).status).toBe(404);
    const listed = await tor.me({ method: 'GET', url: `/OS-TRUST/trusts?trustor_user_id=${tor.userId}` });
    expect(listed.body.trusts).toEqual([expect.objectContaining({ id, remaining_uses: 0 })]);
    expect(await use(tokenOf(first))).toBe(200);
    expect((await tor.me({ method: 'DELETE', url: `/OS-TRUST/trusts/${id}` })).status).toBe(204);
    expect(await use(tokenOf(first))).toBe(401);
  });

  it('ends with its expiry: its tokens fail at once, and it issues none', async () => {
    const tor = await trustor('tr-end');
    const tee = await party('tr-end-tee');
    const id = (await createTrust(tor, tee, { expires_at: new Date(now + 600_000).toISOString() })).body.trust.id;
    const token = tokenOf(await trustLogin(tee, id));
    expect(await use(token)).toBe(200);
    now += 601_000;
    try {
      expect(await use(token)).toBe(401);
      expect((await validate(token)).status).toBe(404);
      expect((await trustLogin(tee, id)).statusCode).toBe(401);
      expect((await tor.me({ method: 'GET', url: `/OS-TRUST/trusts/${id}` })).status).toBe(404);
    } finally {
      now = Date.now();
    }
  });

  it('fails its tokens at once when the trustor loses a delegated role, or is disabled, or the trust is deleted', async () => {
    const tor = await trustor('tr-revoke');
    const tee = await party('tr-revoke-tee');
    const id = (await createTrust(tor, tee, { roles: [{ id: delegated }, { id: kept }] })).body.trust.id;
    const token = tokenOf(await trustLogin(tee, id));
    expect(await use(token)).toBe(200);
    const grant = `/projects/${tor.projectId}/users/${tor.userId}/roles/${kept}`;
    expect((await admin({ method: 'DELETE', url: grant })).status).toBe(204);
    // Keystone's: every delegated role, or the token is no good.
    expect(await use(token)).toBe(401);
    expect((await validate(token)).status).toBe(404);
    const refused = await trustLogin(tee, id);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message).toBe('Trustee has no delegated roles.');
    expect((await admin({ method: 'PUT', url: grant })).status).toBe(204);
    expect(await use(token)).toBe(200);

    const user = `/users/${tor.userId}`;
    expect((await admin({ method: 'PATCH', url: user, payload: { user: { enabled: false } } })).status).toBe(200);
    expect(await use(token)).toBe(401);
    expect((await trustLogin(tee, id)).json().error.message).toBe('Trustor is disabled.');
    expect((await admin({ method: 'PATCH', url: user, payload: { user: { enabled: true } } })).status).toBe(200);
    expect(await use(token)).toBe(200);

    expect((await admin({ method: 'DELETE', url: `/OS-TRUST/trusts/${id}` })).status).toBe(204);
    expect(await use(token)).toBe(401);
    expect((await validate(token)).status).toBe(404);
  });

  it('goes with its trustee, its trustor and its project', async () => {
    for (const gone of ['trustee', 'trustor', 'project'] as const) {
      const tor = await trustor(`tr-gone-${gone}`);
      const tee = await party(`tr-gone-${gone}-tee`);
      const id = (await createTrust(tor, tee)).body.trust.id;
      const url =
        gone === 'trustee'
          ? `/users/${tee.userId}`
          : gone === 'trustor'
            ? `/users/${tor.userId}`
            : `/projects/${tor.projectId}`;
      if (gone === 'project') {
        expect((await admin({ method: 'PATCH', url, payload: { project: { enabled: false } } })).status).toBe(200);
      }
      expect((await admin({ method: 'DELETE', url })).status, gone).toBe(204);
      expect((await admin({ method: 'GET', url: `/OS-TRUST/trusts/${id}` })).status, gone).toBe(404);
    }
  });

  it('lets a trust token make no other token, no application credential, and no trust unless it may be redelegated', async () => {
    const tor = await trustor('tr-deleg');
    const tee = await party('tr-deleg-tee');
    const third = await party('tr-deleg-3rd');
    const id = (await createTrust(tor, tee)).body.trust.id;
    const trustToken = tokenOf(await trustLogin(tee, id));
    const rescope = await api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: { auth: { identity: { methods: ['token'], token: { id: trustToken } } } },
    });
    expect(rescope.statusCode).toBe(403);
    expect(rescope.json().error.message).toContain('Using trust-scoped token to create another token');
    const as = identityCaller(api, trustToken);
    // Impersonating, its user is the trustor: still no credential of the trustor's.
    const credential = await as({
      method: 'POST',
      url: `/users/${tor.userId}/application_credentials`,
      payload: { application_credential: { name: 'backdoor' } },
    });
    expect(credential.status).toBe(403);
    expect(credential.body.error.message).toBe(
      'Cannot manage application credentials with a token issued via delegation.',
    );
    const redelegate = await as({
      method: 'POST',
      url: '/OS-TRUST/trusts',
      payload: {
        trust: {
          trustor_user_id: tor.userId,
          trustee_user_id: third.userId,
          project_id: tor.projectId,
          impersonation: true,
          roles: [{ id: delegated }],
        },
      },
    });
    expect(redelegate.status).toBe(403);
    expect(redelegate.body.error.message).toBe('Remaining redelegation depth of 0 out of allowed range of [0..3]');
  });

  it('redelegates a trust that allows it, down a shorter chain and never wider; deleting it deletes those below', async () => {
    const tor = await trustor('tr-chain');
    const tee = await party('tr-chain-tee');
    const third = await party('tr-chain-3rd');
    const expires = new Date(now + 3_600_000).toISOString();
    const top = (await createTrust(tor, tee, { allow_redelegation: true, expires_at: expires })).body.trust;
    expect(top.redelegation_count).toBe(3);
    const as = identityCaller(api, tokenOf(await trustLogin(tee, top.id)));
    const redelegate = (extra: object) =>
      as({
        method: 'POST',
        url: '/OS-TRUST/trusts',
        payload: {
          trust: {
            trustor_user_id: tor.userId,
            trustee_user_id: third.userId,
            project_id: tor.projectId,
            impersonation: true,
            roles: [{ id: delegated }],
            allow_redelegation: true,
            ...extra,
          },
        },
      });
    const refusals: [object, string][] = [
      [{ roles: [{ id: kept }] }, 'Some of requested roles are not in redelegated trust'],
      [{ expires_at: new Date(now + 7_200_000).toISOString() }, 'Requested expiration time is more than'],
      [{ redelegation_count: 1 }, 'Modifying "redelegation_count" upon redelegation is forbidden'],
      [{ allow_redelegation: false, remaining_uses: 1 }, 'Field "remaining_uses" is set to 1'],
    ];
    for (const [extra, message] of refusals) {
      const r = await redelegate(extra);
      expect(r.status, JSON.stringify(extra)).toBe(403);
      expect(r.body.error.message, JSON.stringify(extra)).toContain(message);
    }
    const child = await redelegate({});
    expect(child.status).toBe(201);
    expect(child.body.trust).toMatchObject({
      redelegated_trust_id: top.id,
      redelegation_count: 2,
      expires_at: top.expires_at,
      trustee_user_id: third.userId,
    });
    const thirdToken = await trustLogin(third, child.body.trust.id);
    expect(thirdToken.statusCode).toBe(201);
    expect(thirdToken.json().token.user.id).toBe(tor.userId);
    expect(thirdToken.json().token.roles).toEqual([{ id: delegated, name: 'delegated' }]);
    // A link of the chain disabled ends the tokens below it.
    const teeUser = `/users/${tee.userId}`;
    expect((await admin({ method: 'PATCH', url: teeUser, payload: { user: { enabled: false } } })).status).toBe(200);
    expect(await use(tokenOf(thirdToken))).toBe(401);
    expect((await admin({ method: 'PATCH', url: teeUser, payload: { user: { enabled: true } } })).status).toBe(200);
    expect(await use(tokenOf(thirdToken))).toBe(200);
    expect((await tor.me({ method: 'DELETE', url: `/OS-TRUST/trusts/${top.id}` })).status).toBe(204);
    expect((await admin({ method: 'GET', url: `/OS-TRUST/trusts/${child.body.trust.id}` })).status).toBe(404);
    expect(await use(tokenOf(thirdToken))).toBe(401);
  });

  it("touches no trust with an application credential's token", async () => {
    const tor = await trustor('tr-ac');
    const tee = await party('tr-ac-tee');
    const id = (await createTrust(tor, tee)).body.trust.id;
    const c = (
      await tor.me({
        method: 'POST',
        url: `/users/${tor.userId}/application_credentials`,
        payload: { application_credential: { name: 'ac', unrestricted: true } },
      })
    ).body.application_credential;
    const login = await api.app.inject({
      method: 'POST',
      url: '/identity/v3/auth/tokens',
      payload: {
        auth: {
          identity: { methods: ['application_credential'], application_credential: { id: c.id, secret: c.secret } },
        },
      },
    });
    const as = identityCaller(api, tokenOf(login));
    const shown = await as({ method: 'GET', url: `/OS-TRUST/trusts/${id}` });
    expect(shown.status).toBe(403);
    expect(shown.body.error.message).toContain(
      "Using method 'application_credential' is not allowed for managing trusts",
    );
    expect((await createTrust({ ...tor, me: as }, tee)).status).toBe(403);
  });
});
