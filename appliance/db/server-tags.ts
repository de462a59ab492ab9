import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError } from './errors.js';
import type { CloudSql } from './types.js';

/** Nova's limit of tags on one server. */
export const MAX_SERVER_TAGS = 50;

/**
 * The `serverTags` group (Nova's server tags, microversion 2.26): a server's tags, kept in
 * order in its row (`servers.tags`, JSON) and changed in one transaction each, so two callers
 * tagging one server at once both land. More than MAX_SERVER_TAGS is a DbConflictError.
 */
export function serverTagsSql(db: Database.Database): CloudSql['serverTags'] {
  const read = (id: string): string[] => {
    const row = db.prepare(`SELECT tags FROM servers WHERE id = ? AND state != 'deleted'`).get(id) as
      { tags: string } | undefined;
    if (!row) throw new DbNotFoundError('server', id);
    return JSON.parse(row.tags) as string[];
  };
  const write = (id: string, tags: readonly string[]) => {
    if (tags.length > MAX_SERVER_TAGS) {
      throw new DbConflictError(`The number of tags exceeded the per-server limit ${MAX_SERVER_TAGS}`);
    }
    db.prepare('UPDATE servers SET tags = ?, updated_at = ? WHERE id = ?').run(
      JSON.stringify(tags),
      new Date().toISOString(),
      id,
    );
  };
  return {
    add: db.transaction((id: string, tag: string) => {
      const tags = read(id);
      if (tags.includes(tag)) return false;
      write(id, [...tags, tag]);
      return true;
    }),
    remove: db.transaction((id: string, tag: string) => {
      const tags = read(id);
      if (!tags.includes(tag)) return false;
      write(
        id,
        tags.filter((t) => t !== tag),
      );
      return true;
    }),
    set: db.transaction((id: string, tags: readonly string[]) => {
      read(id);
      const unique = [...new Set(tags)];
      write(id, unique);
      return unique;
    }),
  };
}
