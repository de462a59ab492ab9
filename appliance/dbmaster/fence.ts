import { type Locker, type RadosCluster, RadosError } from '../rados/index.js';
import { type DbLocation, firstStripe, STRIPER_LOCK } from './location.js';

/**
 * Fences whoever holds the Ceph database's lock: blocklists each holder's address, so that an
 * old master that is only paused (SIGSTOP, a long GC, a partition) can never write again, then
 * breaks its lock so that the open does not wait for libcephsqlite's fixed 30 s lease
 * (research §3.4). Returns the holders it fenced (none after a clean handover).
 */
export async function fencePreviousHolder(
  cluster: RadosCluster,
  location: Extract<DbLocation, { kind: 'ceph' }>,
): Promise<Locker[]> {
  const pool = await cluster.openPool(location.pool, { namespace: location.namespace });
  try {
    const oid = firstStripe(location.name);
    let lockers: Locker[];
    try {
      lockers = (await pool.listLockers(oid, STRIPER_LOCK)).lockers;
    } catch (error) {
      if (error instanceof RadosError && error.code === 'RADOS_ERR_NOT_FOUND') return []; // a new database
      throw error;
    }
    for (const locker of lockers) {
      await cluster.blocklist(locker.address);
      try {
        await pool.breakLock(oid, STRIPER_LOCK, locker);
      } catch (error) {
        // It may have expired or been broken by a concurrent fencer in the meantime.
        if (!(error instanceof RadosError && error.code === 'RADOS_ERR_NOT_FOUND')) throw error;
      }
    }
    return lockers;
  } finally {
    await pool.close();
  }
}
