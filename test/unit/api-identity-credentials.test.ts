import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type IdentityCaller, identityCaller, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Keystone's /v3/credentials and the EC2 credentials of /v3/users/{id}/credentials/OS-EC2, one
// store, as tempest's identity tests (test_credentials, test_ec2_credentials) and
// `openstack credential` / `openstack ec2 credentials` use them.
describe('Keystone v3 credentials and OS-EC2', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let alice: string;
  let bob: string;
  let reader: string;
  const ids: Record<string, string> = {};
  let call: IdentityCaller;
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const ec2Blob = (access: string) => JSON.stringify({ access, secret: `${access}-secret` });

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    call = identityCaller(t.api, admin);
    alice = await tenant(t.api, admin, 'cred-alice', 'member');
    bob = await tenant(t.api, admin, 'cred-bob', 'member');
    reader = await tenant(t.api, admin, 'cred-reader', 'reader');
    for (const name of ['cred-alice', 'cred-bob', 'cred-reader']) {
      ids[name] = (await call({ method: 'GET', url: `/users?name=${name}-user` })).body.users[0].id;
      ids[`${name}-project`] = (await call({ method: 'GET', url: `/projects?name=${name}` })).body.projects[0].id;
    }
  });
  afterAll(async () => t.stop());

  it('makes an ec2 credential whose id is the SHA-256 of its access key, and shows it as Keystone', async () => {
    const blob = ec2Blob('AKIA-one');
    const created = await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: ids['cred-alice'], project_id: ids['cred-alice-project'], type: 'ec2', blob } },
    });
    expect(created.status).toBe(201);
    expect(created.body.credential).toEqual({
      id: sha256('AKIA-one'),
      user_id: ids['cred-alice'],
      project_id: ids['cred-alice-project'],
      type: 'ec2',
      blob,
      links: { self: `http://cloud.test/identity/v3/credentials/${sha256('AKIA-one')}` },
    });
    const shown = await call({ method: 'GET', url: `/credentials/${sha256('AKIA-one')}` });
    expect(shown.body.credential).toEqual(created.body.credential);
    // The same access key again is the same id: a conflict.
    const again = await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: ids['cred-alice'], project_id: ids['cred-alice-project'], type: 'ec2', blob } },
    });
    expect(again.status).toBe(409);
  });

  it('makes other types with a new id, no project needed, and keeps unknown attributes', async () => {
    const created = await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: ids['cred-bob'], type: 'cert', blob: 'PEM…', id: 'ignored', colour: 'blue' } },
    });
    expect(created.status).toBe(201);
    expect(created.body.credential).toMatchObject({ project_id: null, type: 'cert', blob: 'PEM…', colour: 'blue' });
    expect(created.body.credential.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses bad bodies with 400', async () => {
    const bad = [
      { user_id: ids['cred-alice'], type: 'ec2', blob: ec2Blob('AKIA-x') }, // ec2 needs a project
      { user_id: ids['cred-alice'], project_id: ids['cred-alice-project'], type: 'ec2', blob: 'not json' },
      { user_id: ids['cred-alice'], project_id: ids['cred-alice-project'], type: 'ec2', blob: '{"secret":"s"}' },
      { user_id: ids['cred-alice'], project_id: ids['cred-alice-project'], type: 'ec2', blob: '{}' },
      { user_id: ids['cred-alice'], type: 'cert' }, // no blob
      { type: 'cert', blob: 'x' }, // no user
      { user_id: ids['cred-alice'], type: 'cert', blob: 7 },
      { user_id: 'no-such-user', type: 'cert', blob: 'x' },
      { user_id: ids['cred-alice'], project_id: 'no-such-project', type: 'cert', blob: 'x' },
    ];
    for (const credential of bad) {
      const r = await call({ method: 'POST', url: '/credentials', payload: { credential } });
      expect(r.status, JSON.stringify(credential)).toBe(400);
      expect(r.body.error.code).toBe(400);
    }
    expect((await call({ method: 'POST', url: '/credentials', payload: {} })).status).toBe(400);
  });

  it('lets a user see, change and delete only their own; others get 403, missing or not', async () => {
    const mine = await call({
      method: 'POST',
      url: '/credentials',
      token: alice,
      payload: { credential: { user_id: ids['cred-alice'], type: 'totp', blob: 'seed' } },
    });
    expect(mine.status).toBe(201);
    const id = mine.body.credential.id as string;
    expect(
      (
        await call({
          method: 'POST',
          url: '/credentials',
          token: alice,
          payload: { credential: { user_id: ids['cred-bob'], type: 'totp', blob: 'seed' } },
        })
      ).status,
    ).toBe(403);
    expect((await call({ method: 'GET', url: `/credentials/${id}`, token: alice })).status).toBe(200);
    expect((await call({ method: 'GET', url: `/credentials/${id}`, token: bob })).status).toBe(403);
    expect((await call({ method: 'GET', url: '/credentials/nothing', token: bob })).status).toBe(403);
    expect((await call({ method: 'GET', url: '/credentials/nothing' })).status).toBe(404);
    const patch = (token: string, credential: object) =>
      call({ method: 'PATCH', url: `/credentials/${id}`, token, payload: { credential } });
    expect((await patch(bob, { blob: 'stolen' })).status).toBe(403);
    // The owner may not hand it to someone else.
    expect((await patch(alice, { user_id: ids['cred-bob'] })).status).toBe(403);
    const changed = await patch(alice, { blob: 'new seed' });
    expect(changed.status).toBe(200);
    expect(changed.body.credential).toMatchObject({ id, blob: 'new seed', user_id: ids['cred-alice'] });
    expect((await call({ method: 'DELETE', url: `/credentials/${id}`, token: bob })).status).toBe(403);
    expect((await call({ method: 'DELETE', url: `/credentials/${id}`, token: alice })).status).toBe(204);
    expect((await call({ method: 'GET', url: `/credentials/${id}` })).status).toBe(404);
    expect((await call({ method: 'DELETE', url: `/credentials/${id}` })).status).toBe(404);
  });

  it('lists all to the cloud admin, a user only their own, with the user_id and type filters', async () => {
    await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: ids['cred-alice'], type: 'cert', blob: 'a' } },
    });
    const all = (await call({ method: 'GET', url: '/credentials' })).body;
    expect(all.links.self).toBe('http://cloud.test/identity/v3/credentials');
    const owners = new Set(all.credentials.map((c: { user_id: string }) => c.user_id));
    expect(owners).toEqual(new Set([ids['cred-alice'], ids['cred-bob']]));
    const alices = (await call({ method: 'GET', url: `/credentials?user_id=${ids['cred-alice']}&type=cert` })).body;
    expect(alices.credentials.map((c: { type: string; user_id: string }) => [c.type, c.user_id])).toEqual([
      ['cert', ids['cred-alice']],
    ]);
    const asBob = (await call({ method: 'GET', url: '/credentials', token: bob })).body.credentials;
    expect(asBob.length).toBeGreaterThan(0);
    expect(asBob.every((c: { user_id: string }) => c.user_id === ids['cred-bob'])).toBe(true);
    expect(
      (await call({ method: 'GET', url: `/credentials?user_id=${ids['cred-alice']}`, token: bob })).body.credentials,
    ).toEqual([]);
  });

  it('updates as Keystone: the id stays, ec2 keys stay valid and keep their scope', async () => {
    const id = sha256('AKIA-upd');
    await call({
      method: 'POST',
      url: '/credentials',
      payload: {
        credential: {
          user_id: ids['cred-alice'],
          project_id: ids['cred-alice-project'],
          type: 'ec2',
          blob: JSON.stringify({ access: 'AKIA-upd', secret: 's', trust_id: null }),
        },
      },
    });
    const patch = (credential: object) => call({ method: 'PATCH', url: `/credentials/${id}`, payload: { credential } });
    const moved = await patch({ blob: ec2Blob('AKIA-upd2'), project_id: ids['cred-bob-project'], note: 'x' });
    expect(moved.status).toBe(200);
    expect(moved.body.credential).toMatchObject({
      id,
      project_id: ids['cred-bob-project'],
      blob: ec2Blob('AKIA-upd2'),
      note: 'x',
    });
    expect((await patch({ blob: JSON.stringify({ access: 'a', trust_id: 'some-trust' }) })).status).toBe(400);
    expect((await patch({ blob: 'not json' })).status).toBe(400);
    expect((await patch({ project_id: null })).status).toBe(400); // an ec2 credential needs a project
    expect((await patch({})).status).toBe(400);
    expect((await patch({ id: 'other' })).status).toBe(400);
    expect((await patch({ project_id: 'no-such-project' })).status).toBe(400);
    const shown = await call({ method: 'GET', url: `/credentials/${id}` });
    expect(shown.body.credential).toMatchObject({ project_id: ids['cred-bob-project'], note: 'x' });
    // A credential becomes ec2 only with a project and a valid blob.
    const cert = await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: ids['cred-alice'], type: 'cert', blob: 'pem' } },
    });
    const certUrl = `/credentials/${cert.body.credential.id}`;
    expect((await call({ method: 'PATCH', url: certUrl, payload: { credential: { type: 'ec2' } } })).status).toBe(400);
  });

  it('goes with its user and with its project', async () => {
    const name = 'cred-doomed';
    await tenant(t.api, admin, name, 'member');
    const user = (await call({ method: 'GET', url: `/users?name=${name}-user` })).body.users[0].id;
    const project = (await call({ method: 'GET', url: `/projects?name=${name}` })).body.projects[0].id;
    const byUser = await t.db.credentials.create({
      id: 'by-user',
      userId: user,
      projectId: null,
      type: 'cert',
      blob: 'x',
      extra: {},
    });
    const byProject = await t.db.credentials.create({
      id: 'by-project',
      userId: ids['cred-alice'] ?? '',
      projectId: project,
      type: 'cert',
      blob: 'x',
      extra: {},
    });
    expect((await call({ method: 'DELETE', url: `/projects/${project}` })).status).toBe(204);
    expect(await t.db.credentials.get(byProject.id)).toBeNull();
    expect(await t.db.credentials.get(byUser.id)).not.toBeNull();
    expect((await call({ method: 'DELETE', url: `/users/${user}` })).status).toBe(204);
    expect(await t.db.credentials.get(byUser.id)).toBeNull();
  });

  describe('OS-EC2', () => {
    const ec2 = (user: string) => `/users/${user}/credentials/OS-EC2`;

    it('makes a key pair for the caller on a project, kept as an ec2 credential', async () => {
      const made = await call({
        method: 'POST',
        url: ec2(ids['cred-alice'] ?? ''),
        token: alice,
        payload: { tenant_id: ids['cred-alice-project'] },
      });
      expect(made.status).toBe(201);
      const c = made.body.credential;
      expect(c).toMatchObject({ user_id: ids['cred-alice'], tenant_id: ids['cred-alice-project'], trust_id: null });
      expect(c.access).toMatch(/^[0-9a-f]{32}$/);
      expect(c.secret).toMatch(/^[0-9a-f]{32}$/);
      expect(c.secret).not.toBe(c.access);
      expect(c.links.self).toBe(
        `http://cloud.test/identity/v3/users/${ids['cred-alice']}/credentials/OS-EC2/${c.access}`,
      );
      const stored = await call({ method: 'GET', url: `/credentials/${sha256(c.access)}`, token: alice });
      expect(stored.body.credential).toMatchObject({ type: 'ec2', project_id: ids['cred-alice-project'] });
      expect(JSON.parse(stored.body.credential.blob)).toMatchObject({ access: c.access, secret: c.secret });

      const listed = await call({ method: 'GET', url: ec2(ids['cred-alice'] ?? ''), token: alice });
      expect(listed.status).toBe(200);
      expect(listed.body.credentials).toContainEqual(c);
      // Those made through /v3/credentials are EC2 credentials too; other types are not.
      expect(listed.body.credentials.map((x: { access: string }) => x.access)).toContain('AKIA-one');
      expect(listed.body.credentials.every((x: { access: string | null }) => x.access !== null)).toBe(true);

      const shown = await call({ method: 'GET', url: `${ec2(ids['cred-alice'] ?? '')}/${c.access}`, token: alice });
      expect(shown.status).toBe(200);
      expect(shown.body.credential).toEqual(c);

      expect(
        (await call({ method: 'DELETE', url: `${ec2(ids['cred-alice'] ?? '')}/${c.access}`, token: alice })).status,
      ).toBe(204);
      expect(
        (await call({ method: 'GET', url: `${ec2(ids['cred-alice'] ?? '')}/${c.access}`, token: alice })).status,
      ).toBe(404);
      expect(
        (await call({ method: 'DELETE', url: `${ec2(ids['cred-alice'] ?? '')}/${c.access}`, token: alice })).status,
      ).toBe(404);
    });

    it("keeps a user's key pairs from others; the cloud admin reaches all; readers only read", async () => {
      const alices = ec2(ids['cred-alice'] ?? '');
      const made = await call({
        method: 'POST',
        url: alices,
        token: alice,
        payload: { tenant_id: ids['cred-alice-project'] },
      });
      const access = made.body.credential.access as string;
      expect((await call({ method: 'GET', url: alices, token: bob })).status).toBe(403);
      expect(
        (await call({ method: 'POST', url: alices, token: bob, payload: { tenant_id: ids['cred-bob-project'] } }))
          .status,
      ).toBe(403);
      expect((await call({ method: 'GET', url: `${alices}/${access}`, token: bob })).status).toBe(403);
      expect((await call({ method: 'DELETE', url: `${alices}/${access}`, token: bob })).status).toBe(403);
      // Found only under its own user, even by the cloud admin.
      expect((await call({ method: 'GET', url: `${ec2(ids['cred-bob'] ?? '')}/${access}` })).status).toBe(404);
      expect(
        (await call({ method: 'GET', url: alices })).body.credentials.map((c: { access: string }) => c.access),
      ).toContain(access);
      expect((await call({ method: 'GET', url: `${alices}/${access}` })).status).toBe(200);

      const readers = ec2(ids['cred-reader'] ?? '');
      expect(
        (
          await call({
            method: 'POST',
            url: readers,
            token: reader,
            payload: { tenant_id: ids['cred-reader-project'] },
          })
        ).status,
      ).toBe(403);
      const forReader = await call({
        method: 'POST',
        url: readers,
        payload: { tenant_id: ids['cred-reader-project'] },
      });
      expect(forReader.status).toBe(201);
      const readerKey = `${readers}/${forReader.body.credential.access}`;
      expect((await call({ method: 'GET', url: readers, token: reader })).body.credentials).toHaveLength(1);
      expect((await call({ method: 'GET', url: readerKey, token: reader })).status).toBe(200);
      expect((await call({ method: 'DELETE', url: readerKey, token: reader })).status).toBe(403);
      expect((await call({ method: 'DELETE', url: `${alices}/${access}` })).status).toBe(204);
    });

    it('needs an existing user and project', async () => {
      const alices = ec2(ids['cred-alice'] ?? '');
      expect((await call({ method: 'POST', url: alices, token: alice, payload: {} })).status).toBe(400);
      expect((await call({ method: 'POST', url: alices, token: alice, payload: { tenant_id: 7 } })).status).toBe(400);
      expect((await call({ method: 'POST', url: alices, token: alice, payload: { tenant_id: 'nope' } })).status).toBe(
        404,
      );
      expect(
        (await call({ method: 'POST', url: ec2('nobody'), payload: { tenant_id: ids['cred-alice-project'] } })).status,
      ).toBe(404);
      expect((await call({ method: 'GET', url: ec2('nobody') })).status).toBe(404);
      expect((await call({ method: 'GET', url: `${alices}/no-such-access` })).status).toBe(404);
    });
  });
});
