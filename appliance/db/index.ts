/**
 * appliance/db — the cloud database behind named asynchronous operations (`CloudDb`). Its SQL
 * is written once, as synchronous functions over a SQLite connection (`sqlite.ts`, one module per
 * group such as `servers.ts`; the schema's steps in `schema-steps.ts`), and run either
 * embedded on a local file (`openSqliteDb`) or by the DB master (`CLOUD_SCHEMA_MODULE`, reached
 * through `remoteCloudDb`). SQL stays inside this folder.
 */
export {
  DbConflictError,
  dbErrorFromCode,
  DbExhaustedError,
  DbInvalidActionError,
  DbNoValidHostError,
  DbNotFoundError,
  DbQuotaExceededError,
  DbStaleError,
} from './errors.js';
export { CLOUD_OPERATIONS, type OperationKind } from './operations.js';
export { CLOUD_SCHEMA_MODULE, remoteCloudDb, rethrowOperationError } from './remote.js';
export { openSqliteDb } from './embedded.js';
export { DEFAULT_ZONE } from './aggregates.js';
export * from './types.js';
