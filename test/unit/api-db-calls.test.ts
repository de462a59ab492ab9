import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Api, bootstrapCloud, createApi } from '../../appliance/api/index.js';
import { LocalBlobStore } from '../../appliance/blobs/index.js';
import { FakeDriver } from '../../appliance/compute/index.js';
import { type CloudDb, remoteCloudDb } from '../../appliance/db/index.js';
import cloudSchema from '../../appliance/db/schema.js';
import { DB_ERRORS, type DbClient, DbError } from '../../appliance/dbmaster/index.js';
import { ADMIN_PASSWORD, tenant, tokenFor } from './api-helpers.js';

/**
 * A DbClient that runs each call as the DB master's worker does (the cloud schema's operation,
 * in a transaction, its arguments and result through JSON, its error as the wire carries it),
 * on an in-memory SQLite database, and records the calls: what each API request costs in round
 * trips to the master (issue #15).
 */
function masterLike(): { client: DbClient; calls: string[]; close: () => void } {
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  for (const migration of cloudSchema.migrations) {
    if (typeof migration.up === 'string') db.exec(migration.up);
    else migration.up(db);
  }
  const calls: string[] = [];
  const client = {
    call: async (op: string, args: unknown) => {
      calls.push(op);
      const operation = cloudSchema.operations[op];
      if (!operation) throw new DbError(DB_ERRORS.UNKNOWN_OPERATION, op);
      const run = db.transaction(() => operation.run(db, JSON.parse(JSON.stringify(args)) as unknown));
      try {
        const result = operation.readOnly ? run.deferred() : run.immediate();
        return JSON.parse(JSON.stringify(result ?? null)) as unknown;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw new DbError(DB_ERRORS.OPERATION_FAILED, (error as Error).message, {
          ...(typeof code === 'string' ? { operationCode: code } : {}),
        });
      }
    },
  } as unknown as DbClient;
  return { client, calls, close: () => db.close() };
}

describe('the API over the DB master: database calls per request', () => {
  let api: Api;
  let db: CloudDb;
  let master: ReturnType<typeof masterLike>;
  let dir: string;
  let admin: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-api-calls-'));
    master = masterLike();
    db = remoteCloudDb(master.client);
    await bootstrapCloud(db, ADMIN_PASSWORD);
    api = await createApi({
      db,
      blobs: new LocalBlobStore(join(dir, 'images')),
      driver: new FakeDriver(),
      credentialKey: randomBytes(32),
      publicUrl: 'http://cloud.test',
      logLevel: 'silent',
    });
    admin = await tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin');
  });
  afterAll(async () => {
    await api.app.close();
    master.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    master.calls.length = 0;
  });

  const get = (url: string, token = admin) =>
    api.app.inject({ method: 'GET', url, headers: { 'x-auth-token': token } });

  it('checks a token in one call (revocation, user, project and roles together), then reads in one more', async () => {
    for (const [url, op] of [
      ['/compute/v2.1/flavors/detail', 'flavors.list'],
      ['/compute/v2.1/servers/detail', 'servers.list'],
    ] as const) {
      master.calls.length = 0;
      expect((await get(url)).statusCode).toBe(200);
      expect(master.calls).toEqual(['tokens.subject', op]);
    }
  });

  it('creates an image with one write and no read before it, and still answers 409 for an id taken', async () => {
    const id = '6b1f0c4e-3f0a-4c55-9d0c-3a4f5b6c7d8e';
    const create = () =>
      api.app.inject({
        method: 'POST',
        url: '/image/v2/images',
        headers: { 'x-auth-token': admin },
        payload: { id, name: 'one-write' },
      });
    expect((await create()).statusCode).toBe(201);
    expect(master.calls).toEqual(['tokens.subject', 'images.create']);
    const again = await create();
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain(`Image with identifier ${id} already exists!`);
  });

  it('refuses at the very next request a token revoked, its user disabled, its project disabled, its role removed', async () => {
    const flavors = '/compute/v2.1/flavors';
    const revoked = await tenant(api, admin, 'calls-revoked', 'member');
    expect((await get(flavors, revoked)).statusCode).toBe(200);
    const del = await api.app.inject({
      method: 'DELETE',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': admin, 'x-subject-token': revoked },
    });
    expect(del.statusCode).toBe(204);
    expect((await get(flavors, revoked)).statusCode).toBe(401);

    const changes: [string, (project: string, user: string) => Promise<unknown>][] = [
      ['user disabled', (_project, user) => db.users.update(user, { enabled: false })],
      ['project disabled', (project) => db.projects.update(project, { enabled: false })],
      [
        'role removed',
        async (project, user) => {
          for (const assignment of await db.assignments.list({ actorId: user, targetId: project })) {
            await db.assignments.revoke(assignment);
          }
        },
      ],
    ];
    for (const [what, change] of changes) {
      const name = `calls-${what.replace(' ', '-')}`;
      const token = await tenant(api, admin, name, 'member');
      expect((await get(flavors, token)).statusCode, what).toBe(200);
      const project = await db.projects.findByName('default', name);
      const user = await db.users.findByName('default', `${name}-user`);
      await change(project?.id ?? '', user?.id ?? '');
      expect((await get(flavors, token)).statusCode, what).toBe(401);
    }
  });

  it('tokens.subject: the user, the project and the roles on it by name, or null', async () => {
    const user = await db.users.findByName('default', 'admin');
    const project = await db.projects.findByName('default', 'admin');
    const on = (id: string) => ({ targetType: 'project' as const, targetId: id });
    const subject = await db.tokens.subject('not-revoked', user?.id ?? '', on(project?.id ?? ''));
    expect(subject?.user.name).toBe('admin');
    expect(subject?.project?.name).toBe('admin');
    expect(subject?.roles.map((r) => r.name)).toEqual(['admin', 'member', 'reader']);
    expect(await db.tokens.subject('not-revoked', user?.id ?? '', null)).toMatchObject({ project: null, roles: [] });
    expect(await db.tokens.subject('not-revoked', 'no-such-user', null)).toBeNull();
    expect(await db.tokens.subject('not-revoked', user?.id ?? '', on('no-such-project'))).toBeNull();
    await db.tokens.revoke('gone', new Date(Date.now() + 60_000).toISOString());
    expect(await db.tokens.subject('gone', user?.id ?? '', on(project?.id ?? ''))).toBeNull();
  });
});
