import { RackseedError } from '../../agent/errors/index.js';

/**
 * A named record does not exist (or is not visible to the caller); `message` says so otherwise
 * when what is missing is a link between records (a router's interface, a route to a network).
 */
export class DbNotFoundError extends RackseedError {
  constructor(what: string, id: string, message = `${what} ${id} could not be found`) {
    super('DB_ERR_NOT_FOUND', message);
  }
}

/** A write would break a uniqueness rule (a name already taken, a record still in use). */
export class DbConflictError extends RackseedError {
  constructor(message: string) {
    super('DB_ERR_CONFLICT', message);
  }
}

/** A write would exceed the project's quota; nothing was written. */
export class DbQuotaExceededError extends RackseedError {
  constructor(message: string) {
    super('DB_ERR_QUOTA_EXCEEDED', message);
  }
}

/** A server changed state under us (another request won the race); re-read and try again. */
export class DbStaleError extends RackseedError {
  constructor(message: string) {
    super('DB_ERR_STALE', message, { retryable: true });
  }
}

/** The network has no free address left. */
export class DbExhaustedError extends RackseedError {
  constructor(message: string) {
    super('DB_ERR_EXHAUSTED', message);
  }
}

/**
 * No host can take the server (the scheduler's filters left none). The message is Nova's, with
 * why after it.
 */
export class DbNoValidHostError extends RackseedError {
  constructor(message: string) {
    super('DB_ERR_NO_VALID_HOST', message);
  }
}

/**
 * A write the rules of the records refuse, though nothing in it is malformed: an aggregate
 * deleted with hosts in it, or a change that would move a host's servers to another
 * availability zone.
 */
export class DbInvalidActionError extends RackseedError {
  constructor(message: string) {
    super('DB_ERR_INVALID_ACTION', message);
  }
}

const REBUILD: Readonly<Record<string, () => RackseedError>> = {
  DB_ERR_NOT_FOUND: () => new DbNotFoundError('record', ''),
  DB_ERR_CONFLICT: () => new DbConflictError(''),
  DB_ERR_QUOTA_EXCEEDED: () => new DbQuotaExceededError(''),
  DB_ERR_STALE: () => new DbStaleError(''),
  DB_ERR_EXHAUSTED: () => new DbExhaustedError(''),
  DB_ERR_NO_VALID_HOST: () => new DbNoValidHostError(''),
  DB_ERR_INVALID_ACTION: () => new DbInvalidActionError(''),
};

/**
 * The typed error with this `code` and exactly this `message` (as it crossed the DB master's
 * RPC), or undefined when the code is not one of this registry's.
 */
export function dbErrorFromCode(code: string, message: string, cause?: unknown): RackseedError | undefined {
  const error = REBUILD[code]?.();
  if (!error) return undefined;
  error.message = message;
  if (cause !== undefined) error.cause = cause;
  return error;
}
