import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError } from './errors.js';

/**
 * What the SQL modules of this folder share: a row's column readers, `WHERE` and `SET` clauses
 * built from a filter or a patch, and the statements of one connection (`statements`), which
 * turn SQLite's constraint failures into the database's own errors.
 */
export type Row = Record<string, unknown>;

export const str = (v: unknown): string => String(v);
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
export const num = (v: unknown): number => Number(v);
export const bool = (v: unknown): boolean => v === 1 || v === true;
export const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;

export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_CONSTRAINT');
}

/** A value as SQLite stores it: booleans as 0/1, objects as JSON. */
const encode = (v: unknown): unknown => {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return v;
};

/** Builds `WHERE a = ? AND b = ?` from the defined entries of `conditions`. */
export function where(conditions: Record<string, unknown>): { sql: string; params: unknown[] } {
  const entries = Object.entries(conditions).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return { sql: '', params: [] };
  return {
    sql: ` WHERE ${entries.map(([k]) => `${k} = ?`).join(' AND ')}`,
    params: entries.map(([, v]) => encode(v)),
  };
}

/** Builds `SET a = ?, b = ?` from a patch, with `columns` mapping field names to columns. */
export function setClause(
  patch: Record<string, unknown>,
  columns: Record<string, string>,
): { sql: string; params: unknown[] } {
  const entries = Object.entries(patch).filter(([k, v]) => v !== undefined && columns[k] !== undefined);
  return {
    sql: entries.map(([k]) => `${columns[k]} = ?`).join(', '),
    params: entries.map(([, v]) => encode(v)),
  };
}

/** Each connection's statements, compiled once (a token's check alone runs a dozen). */
const compiled = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** The statements every SQL module runs on its connection. */
export function statements(db: Database.Database) {
  let cache = compiled.get(db);
  if (!cache) compiled.set(db, (cache = new Map()));
  const known = cache;
  const prepare = (sql: string): Database.Statement => {
    let statement = known.get(sql);
    if (!statement) known.set(sql, (statement = db.prepare(sql)));
    return statement;
  };
  const all = (sql: string, ...params: unknown[]): Row[] => prepare(sql).all(...params) as Row[];
  const one = (sql: string, ...params: unknown[]): Row | undefined => prepare(sql).get(...params) as Row | undefined;
  const run = (sql: string, ...params: unknown[]): Database.RunResult => prepare(sql).run(...params);
  /** Inserts `row` (column → value); a duplicate is a DbConflictError naming `what`. */
  const insert = (table: string, row: Record<string, unknown>, what: string): void => {
    const keys = Object.keys(row);
    try {
      run(
        `INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`,
        ...keys.map((k) => encode(row[k])),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new DbConflictError(`${what} already exists`);
      throw error;
    }
  };
  const mustChange = (result: Database.RunResult, what: string, id: string): void => {
    if (result.changes === 0) throw new DbNotFoundError(what, id);
  };
  const getOrThrow = <T>(sql: string, id: string, what: string, map: (r: Row) => T): T => {
    const row = one(sql, id);
    if (!row) throw new DbNotFoundError(what, id);
    return map(row);
  };
  /** Applies `patch` to the row `id` of `table` (a taken name is a DbConflictError); the row after. */
  const updateRow = <T>(
    table: string,
    id: string,
    patch: Record<string, unknown>,
    columns: Record<string, string>,
    what: string,
    map: (r: Row) => T,
  ): T => {
    const set = setClause(patch, columns);
    if (set.sql) {
      try {
        mustChange(run(`UPDATE ${table} SET ${set.sql} WHERE id = ?`, ...set.params, id), what, id);
      } catch (error) {
        if (isUniqueViolation(error)) throw new DbConflictError(`${what} name already in use`);
        throw error;
      }
    }
    return getOrThrow(`SELECT * FROM ${table} WHERE id = ?`, id, what, map);
  };
  return { all, one, run, insert, mustChange, getOrThrow, updateRow };
}
