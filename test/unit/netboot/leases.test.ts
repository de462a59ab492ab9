import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileLeaseStore, type Lease } from '../../../bootstrap/netboot/leases.js';

// The file lease store: an append-only journal with group commit, torn-line recovery and
// compaction. (Its crash safety against a real SIGKILL is in netboot-leases.test.ts.)
describe('file lease store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-leases-'));
  let n = 0;
  const fresh = (): string => join(dir, `leases-${++n}.jsonl`);
  const lease = (i: number): Lease => ({
    mac: `52:54:00:00:00:${i.toString(16).padStart(2, '0')}`,
    ip: `10.0.0.${i}`,
    expiresAt: 1000 + i,
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps saves and removals across a reopen, the last save of a MAC winning', async () => {
    const path = fresh();
    const a = new FileLeaseStore(path);
    expect(await a.load()).toEqual([]);
    await Promise.all([a.save(lease(1)), a.save(lease(2)), a.save(lease(3))]); // one group commit
    await a.save({ ...lease(2), ip: '10.0.0.42' });
    await a.remove(lease(3).mac);
    await a.remove('52:54:00:99:99:99'); // unknown: nothing written
    await a.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(5);
    const b = new FileLeaseStore(path);
    expect(await b.load()).toEqual([lease(1), { ...lease(2), ip: '10.0.0.42' }]);
    await b.close();
  });

  it('drops a line torn by a crash and appends after the last whole line', async () => {
    const path = fresh();
    const a = new FileLeaseStore(path);
    await a.save(lease(1));
    await a.close();
    appendFileSync(path, '{"op":"save","lease":{"mac":"52:54'); // the write a crash cut short
    const b = new FileLeaseStore(path);
    expect(await b.load()).toEqual([lease(1)]);
    await b.save(lease(2));
    await b.close();
    expect(await FileLeaseStore.read(path)).toEqual([lease(1), lease(2)]);
  });

  it('reads a lease file of the first format (a JSON array) and rewrites it as a journal', async () => {
    const path = fresh();
    writeFileSync(path, JSON.stringify([lease(1), lease(2)], null, 1));
    const a = new FileLeaseStore(path);
    expect(await a.load()).toEqual([lease(1), lease(2)]);
    await a.save(lease(3));
    await a.close();
    expect(readFileSync(path, 'utf8').startsWith('{"op":"save"')).toBe(true);
    expect(await FileLeaseStore.read(path)).toEqual([lease(1), lease(2), lease(3)]);
  });

  it('refuses a journal with a corrupt line in the middle (STORE_ERR_LEASE_CORRUPT)', async () => {
    const path = fresh();
    writeFileSync(path, `not json\n${JSON.stringify({ op: 'save', lease: lease(1) })}\n`);
    await expect(new FileLeaseStore(path).load()).rejects.toMatchObject({ code: 'STORE_ERR_LEASE_CORRUPT' });
  });

  it('compacts a long journal into a snapshot of the live leases', async () => {
    const path = fresh();
    const a = new FileLeaseStore(path);
    await a.load();
    for (let round = 0; round < 12; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => a.save(lease(i))));
      await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a.remove(lease(i).mac) : Promise.resolve())));
    }
    await a.close();
    // 12 × 150 = 1800 changes were made; compaction kept the journal near the 50 live leases.
    expect(readFileSync(path, 'utf8').trim().split('\n').length).toBeLessThan(1100);
    const b = new FileLeaseStore(path);
    const live = await b.load();
    expect(live.map((l) => l.mac).sort()).toEqual(Array.from({ length: 50 }, (_, k) => lease(2 * k).mac).sort());
    await b.close();
  });
});
