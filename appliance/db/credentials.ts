import type Database from 'better-sqlite3';
import { DbNotFoundError } from './errors.js';
import { json, type Row, statements, str, strOrNull, where } from './rows.js';
import type { CloudSql, Credential } from './types.js';

const toCredential = (r: Row): Credential => ({
  id: str(r.id),
  userId: str(r.user_id),
  projectId: strOrNull(r.project_id),
  type: str(r.type),
  blob: str(r.blob),
  extra: json<Record<string, unknown>>(r.extra),
});

/**
 * The `credentials` group (Keystone's `/v3/credentials`, EC2 key pairs among them). A
 * credential goes with its user and with its project (foreign keys), as Keystone deletes them
 * when either is deleted.
 */
export function credentialsSql(db: Database.Database): CloudSql['credentials'] {
  const { all, one, run, insert, mustChange } = statements(db);
  const get = (id: string): Credential | null => {
    const row = one('SELECT * FROM credentials WHERE id = ?', id);
    return row ? toCredential(row) : null;
  };
  /** The owner and project must exist: the foreign keys would refuse them without saying which. */
  const checkRefs = (c: Pick<Credential, 'userId' | 'projectId'>): void => {
    if (!one('SELECT id FROM users WHERE id = ?', c.userId)) throw new DbNotFoundError('user', c.userId);
    if (c.projectId !== null && !one('SELECT id FROM projects WHERE id = ?', c.projectId)) {
      throw new DbNotFoundError('project', c.projectId);
    }
  };
  return {
    create: (c) => {
      checkRefs(c);
      insert(
        'credentials',
        { id: c.id, user_id: c.userId, project_id: c.projectId, type: c.type, blob: c.blob, extra: c.extra },
        `credential ${c.id}`,
      );
      return get(c.id) as Credential;
    },
    get,
    list: (filter) => {
      const w = where({ user_id: filter.userId, type: filter.type });
      return all(`SELECT * FROM credentials${w.sql} ORDER BY rowid`, ...w.params).map(toCredential);
    },
    update: (id, patch) => {
      const before = get(id);
      if (!before) throw new DbNotFoundError('credential', id);
      const next = { ...before, ...patch };
      checkRefs(next);
      run(
        'UPDATE credentials SET user_id = ?, project_id = ?, type = ?, blob = ?, extra = ? WHERE id = ?',
        next.userId,
        next.projectId,
        next.type,
        next.blob,
        JSON.stringify(next.extra),
        id,
      );
      return get(id) as Credential;
    },
    delete: (id) => mustChange(run('DELETE FROM credentials WHERE id = ?', id), 'credential', id),
  };
}
