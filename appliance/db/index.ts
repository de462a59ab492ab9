/**
 * appliance/db — the cloud database behind named asynchronous operations (`CloudDb`). The
 * embedded default is SQLite on a local file; SQL stays inside this folder.
 */
export { DbConflictError, DbExhaustedError, DbNotFoundError, DbQuotaExceededError, DbStaleError } from './errors.js';
export { openSqliteDb } from './sqlite.js';
export * from './types.js';
