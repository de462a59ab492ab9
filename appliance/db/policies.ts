import type Database from 'better-sqlite3';
import { DbNotFoundError } from './errors.js';
import { json, type Row, statements, str, where } from './rows.js';
import type { CloudSql, Policy } from './types.js';

const toPolicy = (r: Row): Policy => ({
  id: str(r.id),
  blob: str(r.blob),
  type: str(r.type),
  extra: json<Record<string, unknown>>(r.extra),
});

/** The `policies` group: Keystone's stored policy blobs (`/v3/policies`), which nothing here enforces. */
export function policiesSql(db: Database.Database): CloudSql['policies'] {
  const { all, one, run, insert, mustChange } = statements(db);
  const get = (id: string): Policy | null => {
    const row = one('SELECT * FROM policies WHERE id = ?', id);
    return row ? toPolicy(row) : null;
  };
  return {
    create: (p) => {
      insert('policies', { id: p.id, blob: p.blob, type: p.type, extra: p.extra }, `policy ${p.id}`);
      return get(p.id) as Policy;
    },
    get,
    list: (filter) => {
      const w = where({ type: filter.type });
      return all(`SELECT * FROM policies${w.sql} ORDER BY rowid`, ...w.params).map(toPolicy);
    },
    update: (id, patch) => {
      const before = get(id);
      if (!before) throw new DbNotFoundError('policy', id);
      const next = { ...before, ...patch };
      run(
        'UPDATE policies SET blob = ?, type = ?, extra = ? WHERE id = ?',
        next.blob,
        next.type,
        JSON.stringify(next.extra),
        id,
      );
      return get(id) as Policy;
    },
    delete: (id) => mustChange(run('DELETE FROM policies WHERE id = ?', id), 'policy', id),
  };
}
