import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RadosCluster } from '../../appliance/rados/index.js';
import { type CephCluster, type Daemon, Scope, startCeph, waitFor } from '../bed/index.js';

// The fence's epoch barrier (RadosCluster.blocklist) on a real two-OSD cluster, when one OSD
// cannot answer: its process is stopped (SIGSTOP), so it stays up in the osdmap as a
// powered-off node's OSD does until it is marked down (the monitors' heartbeat grace, 20 s,
// or the agent's Ceph keeper right after the node's fence). Here the monitors never mark it
// down themselves (both OSDs are on one host, and a report from the same host does not count),
// so the test marks it down as the keeper does, with `osd down`.
const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** After the `osd down`, the barrier must return well before the heartbeat grace (generous for a loaded 2-core machine). */
const AFTER_DOWN_BOUND_MS = 10_000;

let ceph: CephCluster;
let scope: Scope;
let admin: RadosCluster;

beforeAll(async () => {
  ceph = await startCeph({ osds: 2 });
  scope = Scope.open('blocklist-barrier');
  admin = await RadosCluster.connect({ conf: ceph.conf });
});

afterAll(async () => {
  await admin?.close();
  await scope?.close();
  await ceph?.stop();
});

const osdDaemon = (id: number): Daemon => {
  const daemon = ceph.daemons.find((d) => d.name === `ceph-osd.${id}`);
  if (!daemon) throw new Error(`no ceph-osd.${id}`);
  return daemon;
};

async function osdDump(): Promise<{ epoch: number; up: number[] }> {
  const dump = JSON.parse((await admin.monCommand({ prefix: 'osd dump', format: 'json' })).output.toString()) as {
    epoch: number;
    osds: { osd: number; up: number }[];
  };
  return { epoch: dump.epoch, up: dump.osds.filter((o) => o.up === 1).map((o) => o.osd) };
}

/** An object name whose placement group has `osd` as its primary. */
async function objectOn(osd: number): Promise<string> {
  for (let i = 0; ; i++) {
    const object = `fenced-${i}`;
    const map = JSON.parse(
      (await admin.monCommand({ prefix: 'osd map', pool: ceph.pool, object, format: 'json' })).output.toString(),
    ) as { up_primary: number };
    if (map.up_primary === osd) return object;
  }
}

/** The rados-writer fixture: a client that writes `objects` on and on, printing each outcome. */
function startWriter(objects: readonly string[]) {
  const daemon = scope.spawn(
    'rados-writer',
    ['node', '--import', 'tsx', 'test/integration/fixtures/rados-writer.ts', ceph.conf, ceph.pool, ...objects],
    { cwd: REPO },
  );
  const lines = () =>
    readFileSync(daemon.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { address?: string; oid?: string; seq?: number; ok?: boolean; code?: string });
  return { daemon, lines };
}

/** Blocklists a made-up address with every OSD up and answering: returns once both have the map. */
async function blocklistAllAnswering(label: string): Promise<void> {
  await waitFor(
    'both OSDs up',
    async () => {
      const { up } = await osdDump();
      return up.includes(0) && up.includes(1);
    },
    90_000,
    250,
  );
  const address = `10.9.9.3:0/${Date.now() % 100_000}`;
  const started = Date.now();
  const barrier = await admin.blocklist(address, 600);
  const took = Date.now() - started;
  console.log(`blocklist-barrier: ${label} → blocklist returned in ${took} ms; epoch ${barrier.epoch}`);
  expect(barrier).toMatchObject({ osds: [0, 1], down: [] });
  for (const osd of [0, 1]) {
    const status = JSON.parse((await admin.osdCommand(osd, { prefix: 'status' })).output.toString()) as {
      newest_map: number;
    };
    expect(status.newest_map).toBeGreaterThanOrEqual(barrier.epoch);
  }
  expect(took).toBeLessThan(AFTER_DOWN_BOUND_MS);
  await admin.unblocklist(address);
}

describe('blocklist barrier', () => {
  it('with every OSD answering, returns as soon as they have the map (its prober connecting meanwhile)', async () => {
    await blocklistAllAnswering('every OSD answering, first blocklist');
  });

  it('waits for an up OSD that does not answer until it is marked down, then returns; the fenced client writes nowhere', async () => {
    const [onHealthy, onStopped] = [await objectOn(0), await objectOn(1)];
    const writer = startWriter([onHealthy, onStopped]);
    const stopped = osdDaemon(1);
    try {
      await waitFor(
        'the writer to write both objects',
        () => {
          if (!writer.daemon.alive()) throw new Error(`the writer exited (log: ${writer.daemon.logFile})`);
          const oks = writer.lines().filter((l) => l.ok);
          return oks.some((l) => l.oid === onHealthy) && oks.some((l) => l.oid === onStopped);
        },
        60_000,
        50,
      );
      const address = writer.lines().find((l) => l.address)?.address ?? '';
      // The old writer pauses, and osd.1 stops answering as if its node had lost power.
      process.kill(stopped.pid, 'SIGSTOP');
      process.kill(writer.daemon.pid, 'SIGSTOP');

      const started = Date.now();
      let returnedAt: number | undefined;
      const fence = admin.blocklist(address, 600).then((barrier) => {
        returnedAt = Date.now();
        return barrier;
      });
      fence.catch(() => {});
      // Long enough for several of the barrier's tells to the stopped OSD to time out (2 s each).
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      expect(returnedAt, 'the barrier returned while osd.1 was up and had not answered').toBeUndefined();
      const markedDownAt = Date.now();
      await admin.monCommand({ prefix: 'osd down', ids: ['1'] });
      const barrier = await fence;
      const afterDown = (returnedAt ?? Date.now()) - markedDownAt;
      console.log(
        `blocklist-barrier: osd.1 stopped → blocklist returned ${afterDown} ms after its osd down (${(returnedAt ?? 0) - started} ms after the blocklist began); epoch ${barrier.epoch}`,
      );
      expect(barrier).toMatchObject({ osds: [0], down: [1] });
      expect(afterDown).toBeLessThan(AFTER_DOWN_BOUND_MS);

      // osd.1 wakes with an old map, learns it was marked down and boots again: up from an epoch
      // after the blocklist's, so it has the blocklist before it serves anything.
      process.kill(stopped.pid, 'SIGCONT');
      await waitFor('osd.1 up again', async () => (await osdDump()).up.includes(1), 90_000, 250);
      const pool = await admin.openPool(ceph.pool);
      try {
        // What the objects held once the fence was complete (a write the writer had in flight to
        // the stopped OSD may have landed when it woke: it was sent before the fence).
        const before = [(await pool.read(onHealthy)).toString(), (await pool.read(onStopped)).toString()];
        const seen = writer.lines().length;
        process.kill(writer.daemon.pid, 'SIGCONT');
        await waitFor(
          'the paused writer to be refused on both OSDs',
          () => {
            const refused = writer
              .lines()
              .slice(seen)
              .filter((l) => l.code === 'RADOS_ERR_BLOCKLISTED');
            return refused.some((l) => l.oid === onHealthy) && refused.some((l) => l.oid === onStopped);
          },
          60_000,
          50,
        );
        expect([(await pool.read(onHealthy)).toString(), (await pool.read(onStopped)).toString()]).toEqual(before);
      } finally {
        await pool.close();
      }
      await admin.unblocklist(address);
    } finally {
      if (stopped.alive()) process.kill(stopped.pid, 'SIGCONT');
      if (writer.daemon.alive()) process.kill(writer.daemon.pid, 'SIGCONT');
      await writer.daemon.stop();
    }
  }, 180_000);

  it('once the stopped OSD is back (it listens at another address now), returns as soon as both have the map', async () => {
    await blocklistAllAnswering('every OSD answering, osd.1 restarted');
  });
});
