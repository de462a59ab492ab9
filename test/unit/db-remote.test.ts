import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { statusOf } from '../../appliance/api/faults.js';
import {
  CLOUD_OPERATIONS,
  DbConflictError,
  DbExhaustedError,
  DbNotFoundError,
  DbQuotaExceededError,
  DbStaleError,
  type Project,
  remoteCloudDb,
  rethrowOperationError,
} from '../../appliance/db/index.js';
import cloudSchema from '../../appliance/db/schema.js';
import { DB_ERRORS, type DbClient, DbError } from '../../appliance/dbmaster/index.js';
import { ADMIN_PASSWORD, startTestApi, tokenFor } from './api-helpers.js';

const TYPED = [
  new DbNotFoundError('server', 'abc'),
  new DbConflictError('project admin already exists'),
  new DbStaleError('server abc is no longer building'),
  new DbQuotaExceededError('Quota exceeded for instances'),
  new DbExhaustedError('network n has no free address left'),
];

/** What the master's worker answers when an operation throws `error` (worker.ts `wire`). */
const overTheWire = (error: Error & { code: string }) =>
  new DbError(DB_ERRORS.OPERATION_FAILED, error.message, { operationCode: error.code });

const project: Project = {
  id: 'p1',
  name: 'one',
  domainId: 'default',
  description: '',
  enabled: true,
  parentId: null,
  tags: ['a'],
};

describe('the cloud database over the DB master', () => {
  it.each(TYPED.map((e) => [e.constructor.name, e] as const))(
    '%s comes back as the same class, code, message, retry flag and HTTP status',
    (_name, original) => {
      let back: unknown;
      try {
        rethrowOperationError(overTheWire(original));
      } catch (error) {
        back = error;
      }
      expect(back).toBeInstanceOf(original.constructor);
      expect(back).toMatchObject({ code: original.code, message: original.message, retryable: original.retryable });
      expect(statusOf(back)).toBe(statusOf(original));
    },
  );

  it('lets every other error through as it is (a master that stays away is not a 404)', () => {
    const unavailable = new DbError(DB_ERRORS.UNAVAILABLE, 'no database master answered');
    const foreign = new DbError(DB_ERRORS.OPERATION_FAILED, 'boom', { operationCode: 'SQLITE_ERROR' });
    for (const error of [unavailable, foreign]) expect(() => rethrowOperationError(error)).toThrow(error);
    expect(statusOf(unavailable)).toBe(503);
  });

  it('calls each method as its operation, arguments as a list, and rebuilds its typed error', async () => {
    const calls: { op: string; args: unknown }[] = [];
    const client = {
      call: async (op: string, args: unknown) => {
        calls.push({ op, args });
        if (op === 'projects.delete') throw overTheWire(new DbNotFoundError('project', 'p9'));
        return { ...project, name: 'renamed' };
      },
    } as unknown as DbClient;
    const db = remoteCloudDb(client);
    await expect(db.projects.update('p1', { name: 'renamed' })).resolves.toMatchObject({ name: 'renamed' });
    await expect(db.projects.delete('p9')).rejects.toBeInstanceOf(DbNotFoundError);
    expect(calls).toEqual([
      { op: 'projects.update', args: ['p1', { name: 'renamed' }] },
      { op: 'projects.delete', args: ['p9'] },
    ]);
  });

  it('the schema module offers every CloudDb operation, reads marked read-only, and runs them on SQLite', () => {
    const names = Object.entries(CLOUD_OPERATIONS).flatMap(([group, methods]) =>
      Object.entries(methods).map(([method, kind]) => [`${group}.${method}`, kind === 'read'] as const),
    );
    expect(Object.keys(cloudSchema.operations).sort()).toEqual(names.map(([name]) => name).sort());
    for (const [name, readOnly] of names) expect(cloudSchema.operations[name]?.readOnly, name).toBe(readOnly);

    const db = new Database(':memory:');
    for (const migration of cloudSchema.migrations) {
      if (typeof migration.up === 'string') db.exec(migration.up);
      else migration.up(db);
    }
    const op = (name: string, args: unknown[]) => cloudSchema.operations[name]?.run(db, args);
    expect(op('projects.create', [project])).toEqual(project);
    // What travels is JSON: the result must survive it unchanged.
    expect(JSON.parse(JSON.stringify(op('projects.get', ['p1'])))).toEqual(project);
    expect(() => op('projects.create', [project])).toThrow(DbConflictError);
    expect(op('domains.get', ['default'])).toMatchObject({ name: 'Default' });
    db.close();
  });

  it("answers a request that waited its bound for a master with a retryable 503: the service's fault body, a message that says so, Retry-After", async () => {
    const { api, db, stop } = await startTestApi();
    try {
      const token = await tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin');
      db.flavors.list = async () => {
        throw new DbError(DB_ERRORS.UNAVAILABLE, 'no database master answered within 20000 ms');
      };
      for (const url of ['/compute/v2.1/flavors', '/compute/v2.1/flavors/detail']) {
        const response = await api.app.inject({ method: 'GET', url, headers: { 'x-auth-token': token } });
        expect(response.statusCode).toBe(503);
        expect(response.headers['retry-after']).toBe('2');
        expect(response.json()).toEqual({
          serviceUnavailable: { code: 503, message: expect.stringMatching(/moving to another node.*try again/) },
        });
      }
    } finally {
      await stop();
    }
  });
});
