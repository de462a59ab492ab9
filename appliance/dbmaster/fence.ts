import { type Locker, type RadosCluster, RadosError } from '../rados/index.js';
import { type DbLocation, firstStripe, STRIPER_HOLDER, STRIPER_LOCK } from './location.js';

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
 */
export async function fencePreviousHolder(
  cluster: RadosCluster,
  location: Extract<DbLocation, { kind: 'ceph' }>,
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
  const pool = await cluster.openPool(location.pool, { namespace: location.namespace });
  try {
    const oid = firstStripe(location.name);
    let lockers: Locker[];
    try {
      lockers = (await timed('lockers', () => pool.listLockers(oid, STRIPER_LOCK))).lockers;
    } catch (error) {
      // A new database.
      if (error instanceof RadosError && error.code === 'RADOS_ERR_NOT_FOUND') return { holders: [], took };
      throw error;
    }
    let epoch: number | undefined;
    const down = new Set<number>();
    for (const locker of lockers) {
      const barrier = await cluster.blocklist(locker.address);
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
      took,
    };
  } finally {
    await pool.close();
  }
}
