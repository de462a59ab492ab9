import Database from 'better-sqlite3';
import { cloudDbOver, sqlFunction } from './operations.js';
import { CLOUD_MIGRATIONS } from './schema-steps.js';
import { cloudSql } from './sqlite.js';
import type { CloudDb } from './types.js';

/**
 * Opens (creating and migrating if needed) the cloud database in the SQLite file at `path`,
 * in WAL mode with `synchronous=FULL` so that an acknowledged write survives power loss.
 * Each write runs in an immediate transaction, as on the DB master.
 */
export function openSqliteDb(path: string): CloudDb {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = Number(db.pragma('user_version', { simple: true }));
  for (const step of CLOUD_MIGRATIONS) {
    if (step.version <= version) continue;
    db.transaction(() => {
      if (typeof step.up === 'string') db.exec(step.up);
      else step.up(db);
      db.pragma(`user_version = ${step.version}`);
    })();
  }
  const sql = cloudSql(db);
  return cloudDbOver(
    async (call) => {
      const apply = () => sqlFunction(sql, call)(...call.args);
      return call.kind === 'write' ? db.transaction(apply).immediate() : apply();
    },
    async () => {
      db.close();
    },
  );
}
