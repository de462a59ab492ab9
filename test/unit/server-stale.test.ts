import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

// An owner's event read on a row that another transition changed before its write (an effect's
// result, a call on another API node) is judged again on the row as it is now.
describe('a server event on a stale read', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let member: string;
  let imageId: string;

  beforeAll(async () => {
    t = await startTestApi();
    const admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'stale-p1', 'member');
    imageId = await publicImage(t.api, admin);
  });
  afterAll(async () => t.stop());

  it('applies a delete read while the server was ACTIVE to the SHUTOFF server it is now, and refuses what the new state does not take', async () => {
    const r = await t.api.app.inject({
      method: 'POST',
      url: '/compute/v2.1/servers',
      headers: { 'x-auth-token': member },
      payload: { server: { name: 'stale', imageRef: imageId, flavorRef: '1' } },
    });
    const id = r.json().server.id as string;
    await t.api.servers.idle();
    const readWhileActive = await t.db.servers.get(id);
    if (!readWhileActive) throw new Error('no server');
    expect(readWhileActive.state).toBe('active');
    const by = { requestId: 'req-stale', userId: null, projectId: readWhileActive.projectId };
    await t.api.servers.send(readWhileActive, { type: 'stop' }, by);
    await t.api.servers.idle();
    expect((await t.db.servers.get(id))?.state).toBe('shutoff');
    // A pause (ACTIVE's, not SHUTOFF's) on the old read: refused as the server is now.
    await expect(t.api.servers.send(readWhileActive, { type: 'pause' }, by)).rejects.toMatchObject({
      code: 'COMPUTE_ERR_INVALID_STATE',
    });
    const deleting = await t.api.servers.send(readWhileActive, { type: 'delete' }, by);
    expect(deleting.state).toBe('deleting');
    await t.api.servers.idle();
    expect((await t.db.servers.get(id))?.state ?? 'deleted').toBe('deleted');
  });
});
