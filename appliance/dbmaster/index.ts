/**
 * The cloud database master: the cloud's SQL database (SQLite on Ceph through libcephsqlite,
 * or a local file when no Ceph is configured) opened only by the elected `db-master`, in a
 * worker thread, after fencing the previous holder. Every node calls named operations through
 * {@link DbClient}, which follows the master in etcd and retries through failovers; writes
 * carry request ids, so a retry never applies twice.
 */
export { type BlobLocation, type BlobStore, openBlobStore } from './blobs.js';
export { DbClient, type CallOptions, type DbClientOptions } from './client.js';
export { DB_ERRORS, DbError, type DbErrorCode } from './errors.js';
export { fencePreviousHolder } from './fence.js';
export {
  CEPHSQLITE_EXTENSION,
  cephUri,
  DB_MASTER_ELECTION,
  type DbLocation,
  firstStripe,
  STRIPER_HOLDER,
  STRIPER_LOCK,
} from './location.js';
export {
  type DbMaster,
  type DbMasterOptions,
  type MasterAnnouncement,
  type MasterRole,
  startDbMaster,
} from './master.js';
export { type MasterProcessConfig, runMasterProcess } from './process.js';
export { defineSchema, type Migration, type Operation, type Schema } from './schema.js';
