import { RackseedError } from '../errors/index.js';

/**
 * The store's error registry (etcd behind the `etcd3` client). Codes are stable; `retryable`
 * says whether the same call may succeed later (etcd unreachable, a lost lease that a new
 * registration replaces) or not (bad data in a key).
 */
export class StoreError extends RackseedError {}

/** etcd did not answer in time or no endpoint is reachable. */
export class StoreUnavailableError extends StoreError {
  constructor(what: string, cause?: unknown) {
    super('STORE_ERR_UNAVAILABLE', `etcd is unreachable (${what}); check the --etcd endpoints and the network`, {
      retryable: true,
      cause,
    });
  }
}

/** Our lease expired or was revoked: everything held under it is gone. */
export class StoreLeaseLostError extends StoreError {
  constructor(lease: string, cause?: unknown) {
    super('STORE_ERR_LEASE_LOST', `the lease ${lease} was lost; the agent registers again under a new lease`, {
      retryable: true,
      cause,
    });
  }
}

/** A transaction's comparison failed too many times in a row (heavy contention on one key). */
export class StoreConflictError extends StoreError {
  constructor(key: string, attempts: number) {
    super('STORE_ERR_CONFLICT', `gave up on ${key} after ${attempts} conflicting transactions; try again`, {
      retryable: true,
    });
  }
}

/** A key holds something that is not what rackseed wrote there (hand edit, foreign writer). */
export class StoreCorruptValueError extends StoreError {
  constructor(key: string, cause?: unknown) {
    super('STORE_ERR_CORRUPT_VALUE', `the value of ${key} is not valid rackseed data; delete or repair it`, { cause });
  }
}
