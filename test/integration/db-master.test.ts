import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeTls } from '../../agent/index.js';
import {
  DbClient,
  type DbLocation,
  firstStripe,
  STRIPER_HOLDER,
  STRIPER_LOCK,
} from '../../appliance/dbmaster/index.js';
import { blocklistAddress, RadosCluster } from '../../appliance/rados/index.js';
import {
  type CephCluster,
  type EtcdCluster,
  type MasterProcess,
  Scope,
  spawnMaster,
  startCeph,
  startEtcd,
  testNodeTls,
  waitFor,
} from '../bed/index.js';

let ceph: CephCluster;
let etcdCluster: EtcdCluster;
let etcd: Etcd3;
let rados: RadosCluster;
let scope: Scope;
/** One node certificate for the candidates and the clients: the DB master's RPC is mutual TLS. */
let tls: NodeTls;

beforeAll(async () => {
  [ceph, etcdCluster] = await Promise.all([startCeph(), startEtcd({ members: 1 })]);
  etcd = new Etcd3({ hosts: [...etcdCluster.endpoints] });
  rados = await RadosCluster.connect({ conf: ceph.conf });
  scope = Scope.open('db-master');
  tls = await testNodeTls(join(scope.dir, 'pki'), 'node');
});

afterAll(async () => {
  await scope?.close();
  await tls?.close();
  etcd?.close();
  await rados?.close();
  await Promise.all([ceph?.stop(), etcdCluster?.stop()]);
});

/** A fresh database and election per test, so tests do not see each other's masters. */
function setup(name: string) {
  const location: DbLocation = { kind: 'ceph', conf: ceph.conf, pool: ceph.pool, namespace: 'db-test', name };
  const electionName = `db-master-${name}`;
  const start = (node: string) =>
    spawnMaster(scope, { etcd: etcdCluster.endpoints, location, node, tls, electionName });
  return { location, electionName, start };
}

async function masterOf(candidates: readonly MasterProcess[]): Promise<MasterProcess> {
  return waitFor(
    'a master with its database open',
    async () => {
      for (const candidate of candidates) {
        if (!candidate.daemon.alive()) continue;
        const status = await candidate.status().catch(() => undefined);
        if (status?.role === 'master') return candidate;
      }
      return undefined;
    },
    60_000,
    100,
  );
}

async function lockers(name: string) {
  const pool = await rados.openPool(ceph.pool, { namespace: 'db-test' });
  try {
    return (await pool.listLockers(firstStripe(name), STRIPER_LOCK)).lockers;
  } finally {
    await pool.close();
  }
}

describe('database master on Ceph', () => {
  it('loses no acknowledged write and doubles none when the master is killed -9 during writes from three clients', async () => {
    const { electionName, start } = setup('journal-kill');
    const candidates = [start('a'), start('b')];
    const first = await masterOf(candidates);
    const clients = await Promise.all(
      [1, 2, 3].map(() => DbClient.connect({ etcd, tls, electionName, deadlineMs: 30_000 })),
    );
    const acked = new Map<string, number[]>();
    let stop = false;
    const writers = clients.map(async (client, index) => {
      const name = `client-${index}`;
      const mine: number[] = [];
      acked.set(name, mine);
      for (let seq = 1; !stop; seq++) {
        await client.call('append', { client: name, seq });
        mine.push(seq);
      }
    });
    const total = () => [...acked.values()].reduce((sum, list) => sum + list.length, 0);
    await waitFor('writes before the kill', () => total() >= 60, 30_000, 20);
    await first.daemon.stop(); // kill -9
    candidates.push(start('c'));
    const atKill = total();
    const second = await masterOf(candidates);
    expect(second).not.toBe(first);
    await waitFor('writes after the failover', () => total() >= atKill + 60, 60_000, 20);
    stop = true;
    await Promise.all(writers);

    const rows = await clients[0]?.call<{ client: string; seq: number }[]>('entries');
    const seen = new Map<string, number>();
    for (const row of rows ?? []) seen.set(`${row.client}/${row.seq}`, (seen.get(`${row.client}/${row.seq}`) ?? 0) + 1);
    const doubled = [...seen].filter(([, count]) => count > 1);
    const lost = [...acked].flatMap(([name, seqs]) => seqs.filter((seq) => !seen.has(`${name}/${seq}`)));
    expect(doubled).toEqual([]);
    expect(lost).toEqual([]);
    expect(total()).toBeGreaterThanOrEqual(atKill + 60);
    // The new master fenced the killed one rather than waiting out libcephsqlite's 30 s lease,
    // and released the lock as a clean unlock does: its open blocklisted nobody again (the
    // osdmap is still at the fence's epoch) and the lock names the new holder.
    // The killed master had announced its lock address in its election: a new master that was
    // a candidate before the kill (not c, which may have started after the old key was gone)
    // blocklisted it while it read the lock's holders.
    const fenced = second.events().find((e) => e.event === 'db.master.fenced');
    expect(fenced).toMatchObject({ epoch: expect.any(Number) });
    if (second !== candidates[2]) expect(fenced).toMatchObject({ announced: true });
    const { output } = await rados.monCommand({ prefix: 'osd dump', format: 'json' });
    expect((JSON.parse(output.toString()) as { epoch: number }).epoch).toBe(fenced?.epoch);
    const pool = await rados.openPool(ceph.pool, { namespace: 'db-test' });
    try {
      expect((await pool.getXattr(firstStripe('journal-kill'), STRIPER_HOLDER)).toString()).toBe(
        (await second.status()).lockAddress,
      );
      // The WAL, which a takeover reads back frame by frame, stayed within its 64 pages (and
      // the commit that crossed them) through these 120 and more writes of two pages or so each.
      const walBytes = Number((await pool.getXattr(firstStripe('journal-kill-wal'), 'striper.size')).toString());
      expect(walBytes).toBeGreaterThan(0);
      expect(walBytes).toBeLessThanOrEqual(32 + 72 * (65_536 + 24));
    } finally {
      await pool.close();
    }
    await Promise.all(clients.map((c) => c.close()));
  });

  it('a standby never has the database open while the master holds it', async () => {
    const { start } = setup('journal-single');
    const candidates = [start('a'), start('b')];
    const master = await masterOf(candidates);
    const standby = candidates.find((c) => c !== master);
    const { lockAddress } = await master.status();
    expect(lockAddress).toBeTruthy();
    for (let i = 0; i < 10; i++) {
      const held = await lockers('journal-single');
      expect(held.map((l) => blocklistAddress(l.address))).toEqual([blocklistAddress(lockAddress ?? '')]);
      expect((await standby?.status())?.role).toBe('standby');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A graceful stop hands over without fencing: the lock is released, the standby opens.
    await master.daemon.stop(10_000);
    const next = await masterOf(candidates);
    expect(next).toBe(standby);
    expect(next.events().some((e) => e.event === 'db.master.fenced')).toBe(false);
    const held = await lockers('journal-single');
    expect(held.map((l) => blocklistAddress(l.address))).toEqual([
      blocklistAddress((await next.status()).lockAddress ?? ''),
    ]);
  });

  it('an old master stopped with SIGSTOP cannot write when it wakes up', async () => {
    const { electionName, start } = setup('journal-zombie');
    const candidates = [start('a'), start('b')];
    const old = await masterOf(candidates);
    const client = await DbClient.connect({ etcd, tls, electionName });
    // A client whose attempts would wait a minute on a master that answers nothing: its call
    // caught by the pause succeeds within its 30 s only by leaving the old master as soon as
    // the new one is announced.
    const patient = await DbClient.connect({ etcd, tls, electionName, attemptMs: 60_000, deadlineMs: 30_000 });
    await client.call('append', { client: 'before', seq: 1 });
    await patient.call('entries'); // its connection to the master is open: no connect timeout will end the call
    const oldUrl = await old.url();
    process.kill(old.daemon.pid, 'SIGSTOP');
    const caught = patient.call('append', { client: 'caught', seq: 1 }).then(
      () => 'acknowledged',
      (error: unknown) => String(error),
    );
    try {
      // A request that reaches the paused master directly, bypassing the client's failover.
      const direct = fetch(`${oldUrl}/v1/call`, {
        method: 'POST',
        body: JSON.stringify({ op: 'append', args: { client: 'zombie', seq: 1 }, requestId: 'zombie-1' }),
        signal: AbortSignal.timeout(60_000),
      }).then(
        (response) => response.status,
        () => 'failed',
      );
      const next = await masterOf(candidates.filter((c) => c !== old));
      await client.call('append', { client: 'after', seq: 1 });
      // While the old master still sleeps.
      expect(await caught).toBe('acknowledged');
      process.kill(old.daemon.pid, 'SIGCONT');
      const status = await direct;
      // It notices that it lost the lease or the database, and ends rather than serving again.
      await old.daemon.exited;
      const rows = await client.call<{ client: string }[]>('entries');
      // The zombie's write is neither acknowledged nor in the database.
      expect({ acknowledged: status === 200, rows: rows.map((r) => r.client).sort() }).toEqual({
        acknowledged: false,
        rows: ['after', 'before', 'caught'],
      });
      expect(old.events().some((e) => e.event === 'db.master.lost')).toBe(true);
      expect(next.events().some((e) => e.event === 'db.master.fenced')).toBe(true);
    } finally {
      if (old.daemon.alive()) process.kill(old.daemon.pid, 'SIGCONT');
      await Promise.all([client.close(), patient.close()]);
    }
  });

  it('an old master stopped with SIGSTOP serves no stale read when it wakes up, even from its page cache', async () => {
    const { electionName, start } = setup('journal-stale-read');
    const candidates = [start('a'), start('b')];
    const old = await masterOf(candidates);
    const client = await DbClient.connect({ etcd, tls, electionName });
    await client.call('append', { client: 'before', seq: 1 });
    const oldUrl = await old.url();
    // Straight to the old master (mutual TLS, as any node), bypassing the client's failover.
    const readOld = () =>
      request(`${oldUrl}/v1/call`, {
        method: 'POST',
        body: JSON.stringify({ op: 'entries', args: null }),
        headers: { 'content-type': 'application/json' },
        dispatcher: tls.dispatcher(),
        signal: AbortSignal.timeout(60_000),
      }).then(
        async (response) => ({ status: response.statusCode, body: await response.body.text() }),
        (error: Error) => ({ status: 0, body: error.message }),
      );
    // The old master has read the journal: its pages are in SQLite's cache, no RADOS read needed.
    expect((await readOld()).status).toBe(200);
    process.kill(old.daemon.pid, 'SIGSTOP');
    try {
      const stale = readOld(); // waits in the socket until the old master wakes
      await masterOf(candidates.filter((c) => c !== old));
      await client.call('append', { client: 'after', seq: 1 });
      process.kill(old.daemon.pid, 'SIGCONT');
      const answer = await stale;
      // Refused (503: it cannot vouch for its lease) or gone (it ended): never the old rows.
      expect(answer.status, answer.body).not.toBe(200);
      await old.daemon.exited;
      expect(old.events().some((e) => e.event === 'db.master.lost')).toBe(true);
      const rows = await client.call<{ client: string }[]>('entries');
      expect(rows.map((r) => r.client)).toEqual(['before', 'after']);
    } finally {
      if (old.daemon.alive()) process.kill(old.daemon.pid, 'SIGCONT');
      await client.close();
    }
  });

  it('backs up and restores a database on Ceph through the master', async () => {
    const { electionName, start } = setup('journal-backup');
    const candidates = [start('a')];
    await masterOf(candidates);
    const client = await DbClient.connect({ etcd, tls, electionName });
    try {
      await client.call('append', { client: 'kept', seq: 1 });
      const backup = await client.backup();
      expect(backup.subarray(0, 15).toString()).toBe('SQLite format 3');
      await client.call('append', { client: 'dropped', seq: 1 });
      await client.restore(backup);
      expect(await client.call('entries')).toEqual([{ client: 'kept', seq: 1 }]);
    } finally {
      await client.close();
    }
  });
});
