import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Image, openSqliteDb } from '../../appliance/db/index.js';
import { CLOUD_MIGRATIONS } from '../../appliance/db/sqlite.js';
import { ADMIN_PASSWORD, projectIdOf, startTestApi, tenant, tokenFor } from './api-helpers.js';

/** Glance v2's image members and the visibility of shared images, over HTTP (`inject`). */
describe('Glance v2 image members', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let a: string; // the owner's member
  let b: string; // a member of project B
  let bReader: string; // a reader of project B
  let c: string; // a member of project C, never a member of the image
  let projectB: string;
  let projectC: string;

  const call = (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', url: string, payload?: unknown) =>
    t.api.app.inject({
      method,
      url: `/image/v2${url}`,
      headers: {
        'x-auth-token': token,
        'content-type': method === 'PATCH' ? 'application/openstack-images-v2.1-json-patch' : 'application/json',
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
  const statusOf = async (...args: Parameters<typeof call>) => (await call(...args)).statusCode;
  const listed = async (token: string, query = '') =>
    ((await call(token, 'GET', `/images${query}`)).json().images as { id: string }[]).map((i) => i.id);
  const projectId = (name: string) => projectIdOf(t.api, admin, name);
  const newImage = async (visibility?: Image['visibility']) => {
    const created = await call(a, 'POST', '/images', {
      name: 'offered',
      disk_format: 'raw',
      container_format: 'bare',
      ...(visibility ? { visibility } : {}),
    });
    expect(created.statusCode).toBe(201);
    return created.json().id as string;
  };

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    a = await tenant(t.api, admin, 'img-a', 'member');
    b = await tenant(t.api, admin, 'img-b', 'member');
    c = await tenant(t.api, admin, 'img-c', 'member');
    projectB = await projectId('img-b');
    projectC = await projectId('img-c');
    // A reader of project B: a second user with the reader role there.
    const h = { 'x-auth-token': admin };
    const user = await t.api.app.inject({
      method: 'POST',
      url: '/identity/v3/users',
      headers: h,
      payload: { user: { name: 'img-b-reader', password: 'pw-12345' } },
    });
    const reader = (await t.api.app.inject({ method: 'GET', url: '/identity/v3/roles?name=reader', headers: h })).json()
      .roles[0].id as string;
    await t.api.app.inject({
      method: 'PUT',
      url: `/identity/v3/projects/${projectB}/users/${user.json().user.id}/roles/${reader}`,
      headers: h,
    });
    bReader = await tokenFor(t.api, 'img-b-reader', 'pw-12345', 'img-b');
  });
  afterAll(async () => t.stop());

  it('hides a shared image from other projects until its owner adds them; a member lists it once it accepts', async () => {
    const id = await newImage();
    const upload = await t.api.app.inject({
      method: 'PUT',
      url: `/image/v2/images/${id}/file`,
      headers: { 'x-auth-token': a, 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(1024, 1),
    });
    expect(upload.statusCode).toBe(204);

    // Not a member yet: nothing of the image exists for B or its reader.
    for (const token of [b, bReader, c]) {
      expect(await statusOf(token, 'GET', `/images/${id}`)).toBe(404);
      expect(await statusOf(token, 'GET', `/images/${id}/file`)).toBe(404);
      expect(await statusOf(token, 'GET', `/images/${id}/members`)).toBe(404);
      expect(await statusOf(token, 'GET', `/images/${id}/members/${projectB}`)).toBe(404);
      expect(await listed(token, '?visibility=shared&member_status=all')).not.toContain(id);
    }
    expect(await statusOf(b, 'POST', `/images/${id}/members`, { member: projectB })).toBe(404);

    const added = await call(a, 'POST', `/images/${id}/members`, { member: projectB });
    expect(added.statusCode).toBe(200);
    const member = added.json();
    expect(Object.keys(member).sort()).toEqual([
      'created_at',
      'image_id',
      'member_id',
      'schema',
      'status',
      'updated_at',
    ]);
    expect(member).toMatchObject({
      image_id: id,
      member_id: projectB,
      status: 'pending',
      schema: '/v2/schemas/member',
    });
    expect(member.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await statusOf(a, 'POST', `/images/${id}/members`, { member: projectB })).toBe(409);

    // A pending member sees it by id (and its bytes), but lists it only when it asks for pending ones.
    for (const token of [b, bReader]) {
      expect(await statusOf(token, 'GET', `/images/${id}`)).toBe(200);
      expect(await listed(token)).not.toContain(id);
      expect(await listed(token, '?visibility=shared&member_status=pending')).toContain(id);
    }
    expect((await call(b, 'GET', `/images/${id}/file`)).rawPayload.length).toBe(1024);

    // Only the owner adds or removes members; only the member answers (not the owner, not a reader).
    expect(await statusOf(b, 'POST', `/images/${id}/members`, { member: projectC })).toBe(403);
    expect(await statusOf(b, 'DELETE', `/images/${id}/members/${projectB}`)).toBe(403);
    expect(await statusOf(a, 'PUT', `/images/${id}/members/${projectB}`, { status: 'accepted' })).toBe(403);
    expect(await statusOf(bReader, 'PUT', `/images/${id}/members/${projectB}`, { status: 'accepted' })).toBe(403);
    expect(await statusOf(b, 'PUT', `/images/${id}/members/${projectB}`, { status: 'bogus' })).toBe(400);
    expect(await statusOf(b, 'PUT', `/images/${id}/members/${projectB}`, {})).toBe(400);
    const accepted = await call(b, 'PUT', `/images/${id}/members/${projectB}`, { status: 'accepted' });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ member_id: projectB, status: 'accepted' });
    for (const token of [b, bReader]) expect(await listed(token)).toContain(id);
    expect(await listed(b, '?visibility=shared')).toContain(id);
    expect(await listed(b, '?member_status=pending')).not.toContain(id);

    // C, never a member, still sees nothing; once C is a member too, B sees only itself.
    expect(await statusOf(c, 'GET', `/images/${id}`)).toBe(404);
    expect(await listed(c, '?member_status=all')).not.toContain(id);
    expect((await call(a, 'POST', `/images/${id}/members`, { member: projectC })).statusCode).toBe(200);
    const members = async (token: string) =>
      ((await call(token, 'GET', `/images/${id}/members`)).json().members as { member_id: string }[]).map(
        (m) => m.member_id,
      );
    expect((await members(a)).sort()).toEqual([projectB, projectC].sort());
    expect(await members(b)).toEqual([projectB]);
    expect(await statusOf(b, 'GET', `/images/${id}/members/${projectC}`)).toBe(404);
    expect(await statusOf(b, 'PUT', `/images/${id}/members/${projectC}`, { status: 'rejected' })).toBe(404);
    expect((await call(bReader, 'GET', `/images/${id}/members/${projectB}`)).json().status).toBe('accepted');

    // A rejected membership leaves the image out of the default list but still showable.
    expect(await statusOf(c, 'PUT', `/images/${id}/members/${projectC}`, { status: 'rejected' })).toBe(200);
    expect(await listed(c)).not.toContain(id);
    expect(await listed(c, '?member_status=rejected')).toContain(id);
    expect(await statusOf(c, 'GET', `/images/${id}`)).toBe(200);

    // Removed, C sees nothing again.
    expect(await statusOf(a, 'DELETE', `/images/${id}/members/${projectC}`)).toBe(204);
    expect(await statusOf(a, 'DELETE', `/images/${id}/members/${projectC}`)).toBe(404);
    expect(await statusOf(c, 'GET', `/images/${id}`)).toBe(404);
  });

  it('hides a shared image from its members while it is private, keeping them (as Glance)', async () => {
    const id = await newImage();
    await call(a, 'POST', `/images/${id}/members`, { member: projectB });
    await call(b, 'PUT', `/images/${id}/members/${projectB}`, { status: 'accepted' });
    const visibility = (value: string) =>
      statusOf(a, 'PATCH', `/images/${id}`, [{ op: 'replace', path: '/visibility', value }]);

    expect(await visibility('private')).toBe(200);
    expect(await statusOf(b, 'GET', `/images/${id}`)).toBe(404);
    expect(await listed(b)).not.toContain(id);
    expect(await statusOf(a, 'GET', `/images/${id}/members`)).toBe(403);
    expect(await statusOf(a, 'GET', `/images/${id}/members/${projectB}`)).toBe(404);
    expect(await statusOf(a, 'POST', `/images/${id}/members`, { member: projectC })).toBe(403);

    expect(await visibility('shared')).toBe(200);
    expect(await statusOf(b, 'GET', `/images/${id}`)).toBe(200);
    expect(await listed(b)).toContain(id);
  });

  it("drops an image's members with it", async () => {
    const id = await newImage();
    await call(a, 'POST', `/images/${id}/members`, { member: projectB });
    expect(await statusOf(a, 'DELETE', `/images/${id}`)).toBe(204);
    expect(await t.db.imageMembers.list(id)).toEqual([]);
    expect(await statusOf(b, 'GET', `/images/${id}`)).toBe(404);
  });

  it('refuses members for an image that is not shared, and bad bodies and filters', async () => {
    for (const visibility of ['private', 'community'] as const) {
      const id = await newImage(visibility);
      expect(await statusOf(a, 'POST', `/images/${id}/members`, { member: projectB })).toBe(403);
    }
    const id = await newImage();
    expect(await statusOf(a, 'POST', `/images/${id}/members`, {})).toBe(400);
    expect(await statusOf(a, 'POST', `/images/${id}/members`, { member: '' })).toBe(400);
    expect(await statusOf(a, 'POST', `/images/${id}/members`, ['x'])).toBe(400);
    expect(await statusOf(a, 'GET', '/images?member_status=maybe')).toBe(400);
    expect(await statusOf(a, 'GET', '/images?visibility=everyone')).toBe(400);
    expect(await listed(a, '?visibility=all')).toContain(id);
  });

  it('serves the member and members schemas', async () => {
    expect((await call(bReader, 'GET', '/schemas/member')).json()).toMatchObject({
      name: 'member',
      properties: { status: { enum: ['pending', 'accepted', 'rejected'] } },
    });
    expect((await call(bReader, 'GET', '/schemas/members')).json()).toMatchObject({ name: 'members' });
  });
});

describe('image members in the database', () => {
  it('survive a reopen, and a database of the previous schema gains them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rackseed-members-'));
    try {
      // A file left by the schema before image members.
      const path = join(dir, 'cloud.db');
      const old = new Database(path);
      for (const step of CLOUD_MIGRATIONS.filter((m) => m.version <= 3)) {
        if (typeof step.up === 'string') old.exec(step.up);
        old.pragma(`user_version = ${step.version}`);
      }
      old.close();
      const now = new Date().toISOString();
      const image: Image = {
        id: '0b5bcbf6-5c8a-4c8b-9d6c-1e8c6b0b1a01',
        name: 'kept',
        status: 'active',
        visibility: 'shared',
        protected: false,
        osHidden: false,
        owner: 'p-a',
        checksum: null,
        osHashAlgo: null,
        osHashValue: null,
        size: null,
        virtualSize: null,
        minRam: 0,
        minDisk: 0,
        diskFormat: null,
        containerFormat: null,
        tags: [],
        properties: {},
        createdAt: now,
        updatedAt: now,
      };
      let db = openSqliteDb(path);
      await db.images.create(image);
      const member = { imageId: image.id, memberId: 'p-b', status: 'pending' as const, createdAt: now, updatedAt: now };
      await db.imageMembers.add(member, 1);
      await expect(db.imageMembers.add({ ...member, memberId: 'p-c' }, 1)).rejects.toMatchObject({
        code: 'DB_ERR_QUOTA_EXCEEDED',
      });
      await db.imageMembers.setStatus(image.id, 'p-b', 'accepted', now);
      await db.close();

      db = openSqliteDb(path);
      expect(await db.imageMembers.list(image.id)).toEqual([{ ...member, status: 'accepted' }]);
      const listed = await db.images.list({ projectId: 'p-b', admin: false, memberStatus: 'accepted' }, { limit: 10 });
      expect(listed.map((i) => i.id)).toEqual([image.id]);
      await db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
