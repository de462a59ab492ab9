import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, bootstrapCloud, createApi } from '../../appliance/api/index.js';
import { openBlob, sealBlob } from '../../appliance/api/identity/credential-seal.js';
import { LocalBlobStore } from '../../appliance/blobs/index.js';
import { FakeDriver } from '../../appliance/compute/index.js';
import { type CloudDb, openSqliteDb } from '../../appliance/db/index.js';
import { ADMIN_PASSWORD, identityCaller, tokenFor } from './api-helpers.js';

// Keystone's credentials sealed at rest: the database holds no blob in clear, the API shows
// them in clear; blobs written in clear before are sealed when the API starts; another key, or
// a sealed blob moved to another row, opens nothing.
describe('credential blobs sealed in the database', () => {
  let dir: string;
  let db: CloudDb;
  const key = randomBytes(32);
  const apis: Api[] = [];
  const start = async (credentialKey: Buffer) => {
    const api = await createApi({
      db,
      blobs: new LocalBlobStore(join(dir, 'images')),
      driver: new FakeDriver(),
      credentialKey,
      publicUrl: 'http://cloud.test',
      logLevel: 'silent',
    });
    apis.push(api);
    return api;
  };
  let adminId: string;
  let adminProject: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-seal-'));
    db = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, ADMIN_PASSWORD);
    adminId = (await db.users.list({ name: 'admin' }))[0]?.id ?? '';
    adminProject = (await db.projects.list({ name: 'admin' }))[0]?.id ?? '';
  });
  afterAll(async () => {
    for (const api of apis) await api.app.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a blob sealed and shows it in clear', async () => {
    const api = await start(key);
    const call = identityCaller(api, await tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin'));
    const blob = JSON.stringify({ access: 'AKIA-sealed', secret: 'the-secret-key' });
    const made = await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: adminId, project_id: adminProject, type: 'ec2', blob } },
    });
    expect(made.status).toBe(201);
    expect(made.body.credential.blob).toBe(blob);
    const stored = await db.credentials.get(made.body.credential.id);
    expect(stored?.blob).toMatch(/^rackseed-sealed:v1:/);
    expect(stored?.blob).not.toContain('the-secret-key');
    expect((await call({ method: 'GET', url: `/credentials/${made.body.credential.id}` })).body.credential.blob).toBe(
      blob,
    );
    // An update seals the new blob too.
    const other = await call({
      method: 'POST',
      url: '/credentials',
      payload: { credential: { user_id: adminId, type: 'totp', blob: 'seed-1' } },
    });
    await call({
      method: 'PATCH',
      url: `/credentials/${other.body.credential.id}`,
      payload: { credential: { blob: 'seed-2' } },
    });
    expect((await db.credentials.get(other.body.credential.id))?.blob).not.toContain('seed-2');
    expect((await call({ method: 'GET', url: `/credentials/${other.body.credential.id}` })).body.credential.blob).toBe(
      'seed-2',
    );
  });

  it('seals at start what an older rackseed stored in clear', async () => {
    const id = randomUUID().replace(/-/g, '');
    await db.credentials.create({
      id,
      userId: adminId,
      projectId: null,
      type: 'cert',
      blob: 'clear-text-blob',
      extra: {},
    });
    const api = await start(key);
    expect((await db.credentials.get(id))?.blob).toMatch(/^rackseed-sealed:v1:/);
    const call = identityCaller(api, await tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin'));
    expect((await call({ method: 'GET', url: `/credentials/${id}` })).body.credential.blob).toBe('clear-text-blob');
  });

  it('opens nothing with another key, or moved to another row, with a stable code', () => {
    const sealed = sealBlob(key, 'id-1', 'secret');
    expect(openBlob(key, 'id-1', sealed)).toBe('secret');
    expect(() => openBlob(randomBytes(32), 'id-1', sealed)).toThrow(
      expect.objectContaining({ code: 'API_ERR_CREDENTIAL_SEALED' }),
    );
    expect(() => openBlob(key, 'id-2', sealed)).toThrow(expect.objectContaining({ code: 'API_ERR_CREDENTIAL_SEALED' }));
    expect(() => openBlob(key, 'id-1', 'in clear')).toThrow(
      expect.objectContaining({ code: 'API_ERR_CREDENTIAL_SEALED' }),
    );
  });
});
