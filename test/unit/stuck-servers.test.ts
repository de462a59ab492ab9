import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCloud } from '../../appliance/api/index.js';
import { FakeDriver, machineOf, ServerService, StuckServers } from '../../appliance/compute/index.js';
import { type CloudDb, openSqliteDb, type Server } from '../../appliance/db/index.js';
import { newServer } from '../new-server.js';

/** A driver whose spawn never reports, as when the API process running it died. */
class SpawnNeverEnds extends FakeDriver {
  override spawn(): Promise<void> {
    return new Promise(() => {});
  }
}

describe('servers whose effect never reported', () => {
  let dir: string;
  let db: CloudDb;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-stuck-'));
    db = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, 'pw');
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (service: ServerService, name: string) =>
    service.create(
      newServer({ id: crypto.randomUUID(), projectId: 'p', userId: 'u', name, flavorId: '1', imageId: 'i' }),
      [],
      { instances: -1, cores: -1, ram: -1, serverGroupMembers: -1 },
      { requestId: 'req-test', userId: 'u', projectId: 'p' },
    );

  it('leave BUILD for ERROR with a fault once past the bound, and only then; steady servers are left alone', async () => {
    const stuckService = new ServerService(db, new SpawnNeverEnds(), console);
    const stuck = await create(stuckService, 'stuck');
    const steadyService = new ServerService(db, new FakeDriver(), console);
    const steady = await create(steadyService, 'steady');
    await steadyService.idle();
    const sweeper = new StuckServers(db, stuckService, undefined, 10 * 60_000);
    expect(await sweeper.sweep(Date.now() + 60_000)).toEqual([]); // a minute in: still its spawn's to finish
    expect((await db.servers.get(stuck.id))?.state).toBe('building');
    expect(await sweeper.sweep(Date.now() + 11 * 60_000)).toEqual([stuck.id]);
    const failed = (await db.servers.get(stuck.id)) as Server;
    expect(failed.state).toBe('error');
    expect(machineOf(failed).context.fault?.message).toMatch(/stayed building for more than 10 minutes/);
    expect((await db.servers.get(steady.id))?.state).toBe('active');
  });
});
