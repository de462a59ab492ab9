import type { Database } from 'better-sqlite3';

/**
 * One named operation: runs in the master's database worker, inside one transaction (IMMEDIATE
 * for writes, DEFERRED for reads), synchronously. Its result must be JSON-serializable. A write
 * called with a request id is applied at most once: the id and the result are stored in the
 * same transaction, and a retry returns the stored result.
 */
export interface Operation<Args = unknown, Result = unknown> {
  readonly readOnly?: boolean;
  run(db: Database, args: Args): Result;
}

/** One schema step. Versions are positive, strictly increasing, and never reused. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL (may hold several statements) or a function run inside the migration's transaction. */
  readonly up: string | ((db: Database) => void);
}

/**
 * What the owner of a schema hands the master, as the default export of a module (the master
 * imports it inside its worker thread, where functions cannot be sent).
 */
export interface Schema {
  readonly migrations: readonly Migration[];
  readonly operations: Readonly<Record<string, Operation>>;
}

/** Identity helper that type-checks a schema module's default export. */
export function defineSchema(schema: Schema): Schema {
  return schema;
}
