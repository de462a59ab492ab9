import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';
import { DbClient, DbError, type DbMaster, startDbMaster } from '../../appliance/dbmaster/index.js';
import type { NodeTls } from '../../agent/index.js';
import { type EtcdCluster, JOURNAL_SCHEMA, SLOW_OPEN_SCHEMA, startEtcd, testNodeTls } from '../bed/index.js';

// The embedded default: the same master, worker and client on a local SQLite file (one
// machine, no Ceph); and `rackseed db backup/restore` through it.
let etcdCluster: EtcdCluster;
let etcd: Etcd3;
let dir: string;
let tls: NodeTls;

beforeAll(async () => {
  etcdCluster = await startEtcd({ members: 1 });
  etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
  dir = await mkdtemp(join(tmpdir(), 'rackseed-db-embedded-'));
  tls = await testNodeTls(join(dir, 'pki'), 'solo');
});

afterAll(async () => {
  etcd?.close();
  await tls?.close();
  await etcdCluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const electionName = 'db-master-embedded';

function start(): Promise<DbMaster> {
  return startDbMaster({
    etcd,
    tls,
    location: { kind: 'local', path: join(dir, 'cloud.sqlite') },
    schemaModule: JOURNAL_SCHEMA,
    node: 'solo',
    electionName,
  });
}

function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io: CliIo & { out: string; err: string } = {
    out: '',
    err: '',
    env: {},
    stdout: (text) => {
      io.out += text;
    },
    stderr: (text) => {
      io.err += text;
    },
  };
  const common = ['db', '--etcd', etcdCluster.endpoints.join(','), '--tls', tls.dir, '--election', electionName];
  return runCli([...common, ...argv], io).then((code) => ({ code, out: io.out, err: io.err }));
}

describe('database master, embedded on a local file', () => {
  it('serves operations in transactions, applies a retried write once, and keeps data across restarts', async () => {
    let master = await start();
    await master.ready();
    const client = await DbClient.connect({ etcd, tls, electionName, deadlineMs: 10_000 });
    try {
      const first = await client.call('append', { client: 'x', seq: 1 }, { requestId: 'req-1' });
      const retried = await client.call('append', { client: 'x', seq: 1 }, { requestId: 'req-1' });
      expect(retried).toEqual(first);
      await client.call('append', { client: 'x', seq: 2 });
      expect(await client.call('entries')).toEqual([
        { client: 'x', seq: 1 },
        { client: 'x', seq: 2 },
      ]);
      await expect(client.call('refuse')).rejects.toMatchObject({
        code: 'DB_ERR_OPERATION_FAILED',
        operationCode: 'TEST_ERR_REFUSED',
      });
      await expect(client.call('no-such-op')).rejects.toBeInstanceOf(DbError);
      await expect(client.call('no-such-op')).rejects.toMatchObject({ code: 'DB_ERR_UNKNOWN_OPERATION' });

      // Restart on the same file: the data is there, the migrations are not run again (they
      // would fail: CREATE TABLE journal without IF NOT EXISTS).
      await master.stop();
      master = await start();
      await master.ready();
      expect(await client.call('entries')).toHaveLength(2);
    } finally {
      await client.close();
      await master.stop();
    }
  });

  it('backs up to a file and restores from it with rackseed db backup/restore', async () => {
    const master = await start();
    await master.ready();
    const client = await DbClient.connect({ etcd, tls, electionName });
    try {
      const before = await client.call<unknown[]>('entries');
      const file = join(dir, 'backup.sqlite');
      const backup = await cli(['backup', file]);
      expect(backup).toMatchObject({ code: 0, err: '' });
      expect(backup.out).toMatch(/^backed up \d+ bytes to /);
      expect((await readFile(file)).subarray(0, 15).toString()).toBe('SQLite format 3');

      await client.call('append', { client: 'after-backup', seq: 1 });
      expect(await client.call('entries')).toHaveLength(before.length + 1);
      expect(await cli(['--json', 'restore', file])).toMatchObject({ code: 0 });
      expect(await client.call('entries')).toEqual(before);
      // The restored database still takes writes, and its dedupe table came back with it.
      await client.call('append', { client: 'after-restore', seq: 1 });
      expect(await client.call('entries')).toHaveLength(before.length + 1);

      const notSqlite = await cli(['restore', join(dir, 'missing.sqlite')]);
      expect(notSqlite.code).toBe(2);
      expect(notSqlite.err).toMatch(/^error CLI_ERR_USAGE: cannot read/);
    } finally {
      await client.close();
      await master.stop();
    }
  });

  it('serves a call that reaches a master still opening the database once it is open, rather than refusing it', async () => {
    let answered: Promise<{ status: number; body: unknown }> | undefined;
    const master = await startDbMaster({
      etcd,
      tls,
      location: { kind: 'local', path: join(dir, 'slow.sqlite') },
      schemaModule: SLOW_OPEN_SCHEMA,
      node: 'solo',
      electionName: 'db-master-slow-open',
      // Sent the moment it is elected: its migration then takes 1.5 s more.
      log: (event, fields) => {
        if (event !== 'db.master.elected') return;
        answered = request(`${String(fields.url)}/v1/call`, {
          method: 'POST',
          body: JSON.stringify({ op: 'note', args: 'early', requestId: 'early-1' }),
          dispatcher: tls.dispatcher(),
        }).then(async (response) => ({ status: response.statusCode, body: await response.body.json() }));
      },
    });
    try {
      await master.ready();
      expect(await answered).toEqual({ status: 200, body: { result: { id: 1 } } });
    } finally {
      await master.stop();
    }
  });

  it('reports DB_ERR_UNAVAILABLE when no master answers within the deadline', async () => {
    const client = await DbClient.connect({ etcd, tls, electionName: 'db-master-nobody', deadlineMs: 500 });
    try {
      await expect(client.call('entries')).rejects.toMatchObject({ code: 'DB_ERR_UNAVAILABLE', retryable: true });
    } finally {
      await client.close();
    }
  });
});
