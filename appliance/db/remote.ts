import { DB_ERRORS, type DbClient, DbError } from '../dbmaster/index.js';
import { dbErrorFromCode } from './errors.js';
import { cloudDbOver } from './operations.js';
import type { CloudDb } from './types.js';

/** The module the DB master loads to host the cloud database (its `schemaModule`). */
export const CLOUD_SCHEMA_MODULE = new URL(
  import.meta.url.endsWith('.ts') ? './schema.ts' : './schema.js',
  import.meta.url,
).href;

/**
 * An operation's own error comes back from the master as DB_ERR_OPERATION_FAILED carrying its
 * code: turn it into the same class the embedded database throws, so callers (the API's HTTP
 * mapping) cannot tell the two apart. Anything else (DB_ERR_UNAVAILABLE…) goes through as it is.
 */
export function rethrowOperationError(error: unknown): never {
  if (error instanceof DbError && error.code === DB_ERRORS.OPERATION_FAILED && error.operationCode) {
    throw dbErrorFromCode(error.operationCode, error.message, error) ?? error;
  }
  throw error;
}

/**
 * The cloud database through the DB master: each method is one call of its operation. The
 * client retries through a failover (for `deadlineMs`, else the client's own deadline), and
 * each call's request id makes a retried write apply once. `close` leaves the client open: it
 * belongs to the caller.
 */
export function remoteCloudDb(client: DbClient, options: { deadlineMs?: number } = {}): CloudDb {
  const callOptions = options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs };
  return cloudDbOver(
    ({ name, args }) => client.call(name, args, callOptions).catch(rethrowOperationError),
    async () => {},
  );
}
