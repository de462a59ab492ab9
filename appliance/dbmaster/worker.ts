// The database worker thread: the only place the cloud database is open. better-sqlite3 and
// libcephsqlite are synchronous and a lock wait inside them is unbounded (research §3.4), so
// they never run on the master's event loop.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { DB_ERRORS, type WireError } from './errors.js';
import { CEPHSQLITE_EXTENSION, cephUri, type DbLocation } from './location.js';
import type { Migration, Schema } from './schema.js';

export interface WorkerData {
  location: DbLocation;
  schemaModule: string;
}

/** Host → worker, after `{ kind: 'open' }` (sent once, when this node may open the database). */
export type WorkerRequest =
  | { id: number; kind: 'call'; op: string; args: unknown; requestId?: string }
  | { id: number; kind: 'backup' }
  | { id: number; kind: 'restore'; bytes: Uint8Array }
  | { id: number; kind: 'status' }
  | { id: number; kind: 'close' };

/**
 * How long opening took (ms): libcephsqlite's connection to the cluster (made at the first
 * open), taking the lock and recovering the WAL (the first read, under `journal_mode = WAL`),
 * then the migrations.
 */
export interface OpenSteps {
  connect: number;
  recover: number;
  migrate: number;
}

/** Worker → host: `ready` once open and migrated, then one reply per request. */
export type WorkerReply =
  | { kind: 'ready'; schemaVersion: number; lockAddress: string | undefined; took: OpenSteps }
  | { kind: 'open-failed'; error: WireError }
  | { id: number; kind: 'ok'; result: unknown; replayed?: boolean }
  | { id: number; kind: 'error'; error: WireError; fatal: boolean };

const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread');
const { location, schemaModule } = workerData as WorkerData;

const REQUESTS_TABLE = '_rackseed_requests';
const MIGRATIONS_TABLE = '_rackseed_migrations';
// A retry arrives within a call's deadline; a day is far beyond any of them.
const REQUEST_TTL_MS = 24 * 3600 * 1000;

function loadVfs(): void {
  if (location.kind !== 'ceph') return;
  // Any connection can load the extension; it registers the "ceph" VFS process-wide.
  const boot = new Database(':memory:');
  boot.loadExtension(CEPHSQLITE_EXTENSION);
  boot.close();
}

function open(took: OpenSteps): Database.Database {
  let started = Date.now();
  const db = new Database(location.kind === 'ceph' ? cephUri(location) : location.path);
  took.connect = Date.now() - started;
  started = Date.now();
  // Order matters: the page size before the first write; EXCLUSIVE before WAL (no shared
  // memory on the ceph VFS); synchronous=FULL, or WAL loses acknowledged commits on kill -9
  // (research §3.3: better-sqlite3 defaults WAL to NORMAL).
  db.pragma('page_size = 65536');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  took.recover = Date.now() - started;
  db.pragma('synchronous = FULL');
  // A takeover's open reads the whole WAL back, one frame (a page) at a time, each a RADOS read:
  // SQLite's default (a checkpoint every 1000 pages, 64 MiB here) left up to 1000 reads on the
  // new master's path, seconds on a busy rack (issue #15). A checkpoint every 64 pages (one
  // 4 MiB stripe object) bounds them to 64.
  db.pragma('wal_autocheckpoint = 64');
  // Reads come from SQLite's page cache, kept across transactions: in EXCLUSIVE locking mode
  // SQLite trusts its cached pages (nobody else may change the file while we hold the lock, and
  // a master that lost it is fenced, and refuses calls once its election lease may have run out:
  // master.ts). The default cache (2000 KiB) is only 31 pages of 64 KiB: let it hold 64 MiB,
  // so that a read is a RADOS round trip only the first time its page is needed.
  db.pragma('cache_size = -65536');
  // Statement journals and other temporary files in memory: the ceph VFS cannot open the
  // nameless temporary files SQLite otherwise asks it for (SQLITE_CANTOPEN inside a transaction).
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = ON');
  return db;
}

class MigrationError extends Error {}

function migrate(db: Database.Database, migrations: readonly Migration[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS ${REQUESTS_TABLE} (id TEXT PRIMARY KEY, result TEXT NOT NULL, at INTEGER NOT NULL)`);
  const current =
    (db.prepare(`SELECT max(version) AS v FROM ${MIGRATIONS_TABLE}`).get() as { v: number | null }).v ?? 0;
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const newest = sorted.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new MigrationError(`the database is at schema version ${current}, newer than this code's ${newest}`);
  }
  for (const migration of sorted) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      try {
        if (typeof migration.up === 'string') db.exec(migration.up);
        else migration.up(db);
      } catch (error) {
        throw new MigrationError(
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
        );
      }
      db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (version, name, at) VALUES (?, ?, ?)`).run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }).immediate();
  }
  return Math.max(current, newest);
}

/** Storage failures (fenced, I/O) end this worker: its database handle cannot be trusted. */
function isStorageFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(IOERR|CORRUPT|NOTADB|FULL|CANTOPEN|READONLY)/.test(code);
}

function wire(error: unknown, code: WireError['code']): WireError {
  const operationCode = (error as { code?: unknown }).code;
  return {
    code,
    message: error instanceof Error ? error.message : String(error),
    ...(typeof operationCode === 'string' ? { operationCode } : {}),
  };
}

/**
 * Replaces every table, index, view and trigger with the backup's, inside one transaction on
 * the open connection (so the lock is never let go): restore works on any VFS.
 */
function restore(db: Database.Database, bytes: Uint8Array): void {
  const source = withScratch((file) => {
    writeFileSync(file, bytes);
    return new Database(file, { readonly: true });
  });
  try {
    type Row = { type: string; name: string; sql: string | null };
    const objects = (kind: Database.Database) =>
      kind.prepare(`SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`).all() as Row[];
    const wanted = objects(source);
    db.transaction(() => {
      db.pragma('defer_foreign_keys = ON');
      for (const object of objects(db).filter((o) => o.type !== 'table' && o.sql)) {
        db.exec(`DROP ${object.type.toUpperCase()} IF EXISTS "${object.name}"`);
      }
      for (const table of objects(db).filter((o) => o.type === 'table')) db.exec(`DROP TABLE "${table.name}"`);
      for (const table of wanted.filter((o) => o.type === 'table' && o.sql)) {
        db.exec(table.sql as string);
        const rows = source.prepare(`SELECT * FROM "${table.name}"`).raw().all() as unknown[][];
        if (rows.length === 0) continue;
        const insert = db.prepare(`INSERT INTO "${table.name}" VALUES (${rows[0]?.map(() => '?').join(', ')})`);
        for (const row of rows) insert.run(...row);
      }
      for (const object of wanted.filter((o) => o.type !== 'table' && o.sql)) db.exec(object.sql as string);
    }).immediate();
  } finally {
    source.close();
  }
}

/** Runs `use` with a scratch file path on the local disk, removed afterwards. */
function withScratch<T>(use: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-db-'));
  try {
    return use(join(dir, 'db.sqlite'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A consistent copy as a plain (rollback-journal) SQLite file, whatever the VFS. */
function backup(db: Database.Database): Buffer {
  return withScratch((file) => {
    db.prepare('VACUUM INTO ?').run(`file:${file}?vfs=unix`);
    return readFileSync(file);
  });
}

async function main(): Promise<void> {
  let db: Database.Database;
  let schema: Schema;
  let schemaVersion: number;
  const took: OpenSteps = { connect: 0, recover: 0, migrate: 0 };
  try {
    // Prepared while a standby: the schema module, the addon and the ceph VFS are loaded
    // before the election is won, so that a takeover only opens the database.
    schema = ((await import(schemaModule)) as { default: Schema }).default;
    loadVfs();
    await new Promise<void>((resolve) =>
      port?.once('message', (message: WorkerRequest | { kind: 'open' }) => {
        if (message.kind === 'open') resolve();
      }),
    );
    db = open(took);
    const started = Date.now();
    schemaVersion = migrate(db, schema.migrations);
    took.migrate = Date.now() - started;
  } catch (error) {
    const code = error instanceof MigrationError ? DB_ERRORS.MIGRATION : DB_ERRORS.OPEN_FAILED;
    port?.postMessage({ kind: 'open-failed', error: wire(error, code) } satisfies WorkerReply);
    return;
  }
  const lockAddress =
    location.kind === 'ceph'
      ? (JSON.parse((db.prepare('SELECT ceph_status() AS s').get() as { s: string }).s) as { addr: string }).addr
      : undefined;
  const findRequest = db.prepare(`SELECT result FROM ${REQUESTS_TABLE} WHERE id = ?`);
  const saveRequest = db.prepare(`INSERT INTO ${REQUESTS_TABLE} (id, result, at) VALUES (?, ?, ?)`);
  const pruneRequests = db.prepare(`DELETE FROM ${REQUESTS_TABLE} WHERE at < ?`);
  pruneRequests.run(Date.now() - REQUEST_TTL_MS);
  let writes = 0;

  const call = (request: Extract<WorkerRequest, { kind: 'call' }>): WorkerReply => {
    const operation = schema.operations[request.op];
    if (!operation) {
      return {
        id: request.id,
        kind: 'error',
        fatal: false,
        error: { code: DB_ERRORS.UNKNOWN_OPERATION, message: `no database operation named ${request.op}` },
      };
    }
    const dedupe = request.requestId !== undefined && !operation.readOnly;
    const transaction = db.transaction(() => {
      if (dedupe) {
        const previous = findRequest.get(request.requestId) as { result: string } | undefined;
        if (previous) return { result: JSON.parse(previous.result) as unknown, replayed: true };
      }
      const result = operation.run(db, request.args);
      if (dedupe) saveRequest.run(request.requestId, JSON.stringify(result ?? null), Date.now());
      return { result, replayed: false };
    });
    try {
      const { result, replayed } = operation.readOnly ? transaction.deferred() : transaction.immediate();
      if (!operation.readOnly && ++writes % 10_000 === 0) pruneRequests.run(Date.now() - REQUEST_TTL_MS);
      return { id: request.id, kind: 'ok', result, replayed };
    } catch (error) {
      const fatal = isStorageFailure(error);
      return {
        id: request.id,
        kind: 'error',
        fatal,
        error: wire(error, fatal ? DB_ERRORS.STORAGE : DB_ERRORS.OPERATION_FAILED),
      };
    }
  };

  port?.on('message', (request: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      switch (request.kind) {
        case 'call':
          reply = call(request);
          break;
        case 'backup':
          reply = { id: request.id, kind: 'ok', result: backup(db) };
          break;
        case 'restore':
          restore(db, request.bytes);
          schemaVersion = migrate(db, schema.migrations);
          reply = { id: request.id, kind: 'ok', result: { schemaVersion } };
          break;
        case 'status':
          reply = { id: request.id, kind: 'ok', result: { schemaVersion, lockAddress } };
          break;
        case 'close':
          db.close();
          reply = { id: request.id, kind: 'ok', result: null };
          break;
      }
    } catch (error) {
      const fatal = isStorageFailure(error);
      reply = {
        id: request.id,
        kind: 'error',
        fatal,
        error: wire(error, fatal ? DB_ERRORS.STORAGE : DB_ERRORS.BAD_REQUEST),
      };
    }
    port?.postMessage(reply);
  });
  port?.postMessage({ kind: 'ready', schemaVersion, lockAddress, took } satisfies WorkerReply);
}

await main();
