// The cloud database as the DB master hosts it: the default export is the Schema the master
// imports in its worker thread (`schemaModule`: CLOUD_SCHEMA_MODULE). The operations are the
// very functions the embedded database runs (sqlite.ts); only the transaction is the master's.
import type { Database } from 'better-sqlite3';
import { defineSchema, type Operation } from '../dbmaster/index.js';
import { cloudOperationNames, sqlFunction } from './operations.js';
import { CLOUD_MIGRATIONS } from './schema-steps.js';
import { cloudSql } from './sqlite.js';
import type { CloudSql } from './types.js';

// The worker hands every operation the same connection: build its functions once.
const built = new WeakMap<Database, CloudSql>();
const sqlOf = (db: Database): CloudSql => {
  let sql = built.get(db);
  if (!sql) built.set(db, (sql = cloudSql(db)));
  return sql;
};

// No prototype: an RPC naming `toString` finds no operation.
const operations: Record<string, Operation> = Object.create(null) as Record<string, Operation>;
for (const operation of cloudOperationNames()) {
  operations[operation.name] = {
    readOnly: operation.kind === 'read',
    run: (db, args) => {
      if (!Array.isArray(args)) throw new TypeError(`${operation.name} takes its arguments as a JSON array`);
      return sqlFunction(sqlOf(db), operation)(...(args as unknown[]));
    },
  };
}

export default defineSchema({ migrations: CLOUD_MIGRATIONS, operations });
