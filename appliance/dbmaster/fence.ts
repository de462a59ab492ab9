import { type Locker, type RadosCluster, RadosError } from '../rados/index.js';
import { type DbLocation, firstStripe, STRIPER_HOLDER, STRIPER_LOCK } from './location.js';

/** How often a takeover asks the monitors for the newest osdmap while it reads the lock's holders. */
const OSDMAP_REFRESH_MS = 200;

/**
 * The holders a takeover fenced, the osdmap epoch every up OSD had reached with their
 * blocklist, the OSDs it did not wait for because they were marked down meanwhile, and how
 * long each step took (ms): reading the lock's holders, blocklisting them (the monitors'
 * commit, then the epoch barrier), breaking the lock.
 */
export interface Fenced {
  holders: Locker[];
  epoch?: number;
  down?: number[];
  /** The holder was the address the last master announced, blocklisted while the holders were read. */
  announced?: boolean;
  took: { lockers: number; blocklist: number; barrier: number; breakLock: number; release: number };
}

/**
 * Fences whoever holds the Ceph database's lock: blocklists each holder's address, so that an
 * old master that is only paused (SIGSTOP, a long GC, a partition) can never write again, then
 * breaks its lock so that the open does not wait for libcephsqlite's fixed 30 s lease
 * (research §3.4). The blocklist's epoch barrier (see {@link RadosCluster.blocklist}) makes the
 * OSDs refuse the old holder before this returns, hence before the new master opens the
 * database. Last, it clears the holder's name as a clean unlock does: the open then takes the
 * lock in one operation, where it would otherwise blocklist the same holder again.
 *
 * `announced`, the lock address the last master announced in its election, is blocklisted at
 * once, while the holders are read: reading them waits for the placement group of the lock's
 * object to have a live primary (the old master's node may have died with an OSD), and the
 * monitors' commit and the epoch barrier are then under way or done. A holder with another
 * address is blocklisted after the read, as ever; an announced address that holds nothing
 * (the master had released the lock) belongs to a client that is gone. While the read waits,
 * the newest osdmap is asked for every 200 ms: a read sent to a dead primary is sent again the
 * moment a map marks that OSD down, where the objecter would only notice at its next check of
 * late operations (`objecter timeout`, 1 s) and ask for the map then.
 */
export async function fencePreviousHolder(
  cluster: RadosCluster,
  location: Extract<DbLocation, { kind: 'ceph' }>,
  announced?: string,
): Promise<Fenced> {
  const took = { lockers: 0, blocklist: 0, barrier: 0, breakLock: 0, release: 0 };
  const timed = async <T>(step: keyof typeof took, call: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await call();
    } finally {
      took[step] += Date.now() - started;
    }
  };
  const early = announced === undefined ? undefined : cluster.blocklist(announced);
  early?.catch(() => {}); // awaited below, or tried again
  const pool = await cluster.openPool(location.pool, { namespace: location.namespace });
  try {
    const oid = firstStripe(location.name);
    let lockers: Locker[];
    try {
      lockers = (await timed('lockers', () => refreshingOsdmap(cluster, () => pool.listLockers(oid, STRIPER_LOCK))))
        .lockers;
    } catch (error) {
      // A new database.
      if (error instanceof RadosError && error.code === 'RADOS_ERR_NOT_FOUND') return { holders: [], took };
      throw error;
    }
    let epoch: number | undefined;
    const down = new Set<number>();
    let fromAnnounced = false;
    for (const locker of lockers) {
      const wasAnnounced = early !== undefined && untyped(locker.address) === untyped(announced ?? '');
      fromAnnounced ||= wasAnnounced;
      const barrier = wasAnnounced
        ? await early.catch(() => cluster.blocklist(locker.address))
        : await cluster.blocklist(locker.address);
      took.blocklist += barrier.took.add;
      took.barrier += barrier.took.barrier;
      epoch = barrier.epoch;
      for (const osd of barrier.down) down.add(osd);
      try {
        await timed('breakLock', () => pool.breakLock(oid, STRIPER_LOCK, locker));
      } catch (error) {
        // It may have expired or been broken by a concurrent fencer in the meantime.
        if (!(error instanceof RadosError && error.code === 'RADOS_ERR_NOT_FOUND')) throw error;
      }
    }
    // Every holder is fenced: release the lock as its holder's clean unlock would have.
    if (lockers.length > 0) await timed('release', () => pool.setXattr(oid, STRIPER_HOLDER, Buffer.alloc(0)));
    return {
      holders: lockers,
      ...(epoch === undefined ? {} : { epoch }),
      ...(down.size > 0 ? { down: [...down].sort((a, b) => a - b) } : {}),
      ...(fromAnnounced ? { announced: true } : {}),
      took,
    };
  } finally {
    await pool.close();
  }
}

/** Runs `call` while asking the monitors for the newest osdmap, one question at a time. */
async function refreshingOsdmap<T>(cluster: RadosCluster, call: () => Promise<T>): Promise<T> {
  let done = false;
  const refresh = async () => {
    while (!done) {
      await cluster.waitForLatestOsdmap().catch(() => {}); // no quorum now: asked again
      await new Promise((resolve) => setTimeout(resolve, OSDMAP_REFRESH_MS));
    }
  };
  void refresh();
  try {
    return await call();
  } finally {
    done = true;
  }
}

/**
 * A client address without its messenger type: a lock records `v1:IP:0/NONCE`, a client reads
 * its own as `IP:0/NONCE`; the monitors keep every blocklist entry as type any.
 */
function untyped(address: string): string {
  return address.replace(/^(v1|v2|any):/, '');
}
