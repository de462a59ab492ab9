import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestApi, tenant, tokenFor } from './api-helpers.js';

describe('Glance v2', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let token: string;
  const h = () => ({ 'x-auth-token': token });
  beforeAll(async () => {
    t = await startTestApi();
    token = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
  });
  afterAll(async () => t.stop());

  it('creates, uploads chunked, downloads whole and by range', async () => {
    const created = await t.api.app.inject({
      method: 'POST',
      url: '/image/v2/images',
      headers: h(),
      payload: { name: 'i1', disk_format: 'raw', container_format: 'bare', 'owner_specified.openstack.md5': 'x' },
    });
    expect(created.statusCode).toBe(201);
    const image = created.json();
    expect(image).toMatchObject({ status: 'queued', visibility: 'shared', 'owner_specified.openstack.md5': 'x' });
    const empty = await t.api.app.inject({ method: 'GET', url: `/image/v2/images/${image.id}/file`, headers: h() });
    expect(empty.statusCode).toBe(204);
    const data = Buffer.alloc(300_000, 7);
    const upload = await t.api.app.inject({
      method: 'PUT',
      url: `/image/v2/images/${image.id}/file`,
      headers: { ...h(), 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
      payload: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]),
    });
    expect(upload.statusCode).toBe(204);
    const shown = (await t.api.app.inject({ method: 'GET', url: `/image/v2/images/${image.id}`, headers: h() })).json();
    expect(shown).toMatchObject({ status: 'active', size: 300_000, os_hash_algo: 'sha512' });
    const whole = await t.api.app.inject({ method: 'GET', url: `/image/v2/images/${image.id}/file`, headers: h() });
    expect(whole.rawPayload.equals(data)).toBe(true);
    const part = await t.api.app.inject({
      method: 'GET',
      url: `/image/v2/images/${image.id}/file`,
      headers: { ...h(), range: 'bytes=10-19' },
    });
    expect(part.statusCode).toBe(206);
    expect(part.rawPayload.length).toBe(10);
    const twice = await t.api.app.inject({
      method: 'PUT',
      url: `/image/v2/images/${image.id}/file`,
      headers: { ...h(), 'content-type': 'application/octet-stream' },
      payload: data,
    });
    expect(twice.statusCode).toBe(409);
  });

  it('updates with both JSON-patch dialects and guards read-only and protected', async () => {
    const image = (
      await t.api.app.inject({ method: 'POST', url: '/image/v2/images', headers: h(), payload: { name: 'i2' } })
    ).json();
    const patch = (type: string, payload: unknown) =>
      t.api.app.inject({
        method: 'PATCH',
        url: `/image/v2/images/${image.id}`,
        headers: { ...h(), 'content-type': type },
        payload: JSON.stringify(payload),
      });
    const v21 = await patch('application/openstack-images-v2.1-json-patch', [
      { op: 'replace', path: '/name', value: 'renamed' },
      { op: 'add', path: '/protected', value: true },
    ]);
    expect(v21.statusCode).toBe(200);
    expect(v21.json()).toMatchObject({ name: 'renamed', protected: true });
    const v20 = await patch('application/openstack-images-v2.0-json-patch', [{ add: '/color', value: 'blue' }]);
    expect(v20.json().color).toBe('blue');
    expect(
      (
        await patch('application/openstack-images-v2.1-json-patch', [
          { op: 'replace', path: '/status', value: 'active' },
        ])
      ).statusCode,
    ).toBe(403);
    expect((await patch('application/json', [])).statusCode).toBe(415);
    expect(
      (await t.api.app.inject({ method: 'DELETE', url: `/image/v2/images/${image.id}`, headers: h() })).statusCode,
    ).toBe(403);
  });

  it("keeps private and shared images to their project, lists community ones only when asked (Glance's rules)", async () => {
    const create = async (name: string, visibility?: string) =>
      (
        await t.api.app.inject({
          method: 'POST',
          url: '/image/v2/images',
          headers: h(),
          payload: { name, ...(visibility ? { visibility } : {}) },
        })
      ).json() as { id: string; visibility: string };
    const mine = await create('mine', 'private');
    const shared = await create('shared-by-default');
    expect(shared.visibility).toBe('shared');
    const community = await create('for-all', 'community');
    const other = await tenant(t.api, token, 'img-other', 'member');
    const show = (id: string) =>
      t.api.app.inject({ method: 'GET', url: `/image/v2/images/${id}`, headers: { 'x-auth-token': other } });
    expect((await show(mine.id)).statusCode).toBe(404);
    expect((await show(shared.id)).statusCode).toBe(404); // no member of it
    expect((await show(community.id)).statusCode).toBe(200);
    const listed = async (query = '') =>
      (await t.api.app.inject({ method: 'GET', url: `/image/v2/images${query}`, headers: { 'x-auth-token': other } }))
        .json()
        .images.map((i: { id: string }) => i.id) as string[];
    const all = await listed();
    for (const hidden of [mine.id, shared.id, community.id]) expect(all).not.toContain(hidden);
    expect(await listed('?visibility=community')).toContain(community.id);
    expect(await listed('?visibility=shared')).not.toContain(shared.id);
    // Its owner still lists all three.
    const own = (await t.api.app.inject({ method: 'GET', url: '/image/v2/images', headers: h() })).json();
    expect(own.images.map((i: { id: string }) => i.id)).toEqual(
      expect.arrayContaining([mine.id, shared.id, community.id]),
    );
    // Issue #14: paging from an image it may not see told `other` that the image exists (200,
    // where an unknown id is a 400); Glance looks the marker up as a shown image.
    const page = (marker: string) =>
      t.api.app.inject({
        method: 'GET',
        url: `/image/v2/images?marker=${marker}`,
        headers: { 'x-auth-token': other },
      });
    for (const hidden of [mine.id, shared.id]) {
      const refused = await page(hidden);
      expect(refused.statusCode).toBe(400);
      expect(refused.body).toContain(`marker ${hidden} not found`);
    }
    expect((await page(community.id)).statusCode).toBe(200);
    expect(
      (await t.api.app.inject({ method: 'GET', url: `/image/v2/images?marker=${mine.id}`, headers: h() })).statusCode,
    ).toBe(200);
  });

  it("filters the list by formats, size and tags, orders it by any of Glance's keys, and pages in that order", async () => {
    const make = async (name: string, bytes: number, disk: string, tags: string[]) => {
      const image = (
        await t.api.app.inject({
          method: 'POST',
          url: '/image/v2/images',
          headers: h(),
          payload: { name, disk_format: disk, container_format: 'bare', tags },
        })
      ).json();
      await t.api.app.inject({
        method: 'PUT',
        url: `/image/v2/images/${image.id}/file`,
        headers: { ...h(), 'content-type': 'application/octet-stream' },
        payload: Buffer.alloc(bytes, 1),
      });
      return image.id as string;
    };
    const ids = {
      b: await make('sort-b', 3000, 'qcow2', ['sorted', 'big']),
      a: await make('sort-a', 1000, 'raw', ['sorted']),
      c: await make('sort-c', 2000, 'raw', ['sorted', 'big']),
    };
    const names = async (query: string) => {
      const r = await t.api.app.inject({ method: 'GET', url: `/image/v2/images?tag=sorted&${query}`, headers: h() });
      return {
        status: r.statusCode,
        names: r.statusCode === 200 ? r.json().images.map((i: { name: string }) => i.name) : [],
        body: r.json(),
      };
    };
    expect((await names('')).names).toEqual(['sort-c', 'sort-a', 'sort-b']); // newest first
    expect((await names('sort=name:asc')).names).toEqual(['sort-a', 'sort-b', 'sort-c']);
    expect((await names('sort_key=size&sort_dir=desc')).names).toEqual(['sort-b', 'sort-c', 'sort-a']);
    expect((await names('sort=disk_format:asc,name:desc')).names).toEqual(['sort-b', 'sort-c', 'sort-a']);
    expect((await names('disk_format=raw')).names).toEqual(['sort-c', 'sort-a']);
    expect((await names('tag=big&size_min=2500')).names).toEqual(['sort-b']);
    expect((await names('size=1000')).names).toEqual(['sort-a']);
    expect((await names('size_max=2000&container_format=bare')).names).toEqual(['sort-c', 'sort-a']);
    // Paging keeps the order asked for: the marker is the last image of the page before.
    const first = await names('sort=name:asc&limit=2');
    expect(first.names).toEqual(['sort-a', 'sort-b']);
    expect((await names(`sort=name:asc&limit=2&marker=${ids.b}`)).names).toEqual(['sort-c']);
    expect((await names('sort=nope:asc')).status).toBe(400);
    expect((await names('sort=name:up')).status).toBe(400);
    expect((await names('sort=name:asc&sort_key=size')).status).toBe(400);
    expect((await names('size_min=big')).status).toBe(400);
    const slash = await t.api.app.inject({ method: 'GET', url: '/image/v2/images/', headers: h() });
    expect(slash.statusCode).toBe(404);
  });
});
