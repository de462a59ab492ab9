import type Database from 'better-sqlite3';
import { DbNotFoundError, DbQuotaExceededError } from './errors.js';
import type { CloudSql, ServerGroup } from './types.js';

type Row = Record<string, unknown>;

/**
 * The `serverGroups` group (Nova's server groups). A server joins one when it is created in it
 * (`servers.create`, whose transaction checks the group's member quota) and leaves it when it
 * is deleted; the scheduler applies the group's policy (`servers.place`).
 */
export function serverGroupsSql(db: Database.Database): CloudSql['serverGroups'] {
  const membersOf = db.prepare(
    `SELECT id FROM servers WHERE server_group_id = ? AND state != 'deleted' ORDER BY created_at, id`,
  );
  const toGroup = (r: Row): ServerGroup => ({
    id: String(r.id),
    name: String(r.name),
    projectId: String(r.project_id),
    userId: String(r.user_id),
    policy: String(r.policy) as ServerGroup['policy'],
    rules: JSON.parse(String(r.rules)) as ServerGroup['rules'],
    members: (membersOf.all(r.id) as Row[]).map((m) => String(m.id)),
    createdAt: String(r.created_at),
  });
  const get = (id: string): ServerGroup | null => {
    const row = db.prepare('SELECT * FROM server_groups WHERE id = ?').get(id) as Row | undefined;
    return row ? toGroup(row) : null;
  };
  return {
    create: (group, quota) => {
      const { count } = db
        .prepare('SELECT COUNT(*) AS count FROM server_groups WHERE project_id = ?')
        .get(group.projectId) as { count: number };
      if (quota >= 0 && count + 1 > quota) throw new DbQuotaExceededError('Quota exceeded, too many server groups.');
      db.prepare(
        `INSERT INTO server_groups (id, name, project_id, user_id, policy, rules, created_at)
         VALUES (@id, @name, @projectId, @userId, @policy, @rules, @createdAt)`,
      ).run({ ...group, rules: JSON.stringify(group.rules) });
      return { ...group, members: [] };
    },
    get,
    list: (filter) =>
      (
        (filter.projectId === undefined
          ? db.prepare('SELECT * FROM server_groups ORDER BY created_at, id').all()
          : db
              .prepare('SELECT * FROM server_groups WHERE project_id = ? ORDER BY created_at, id')
              .all(filter.projectId)) as Row[]
      ).map(toGroup),
    delete: (id) => {
      if (db.prepare('DELETE FROM server_groups WHERE id = ?').run(id).changes === 0)
        throw new DbNotFoundError('server group', id);
      db.prepare('UPDATE servers SET server_group_id = NULL WHERE server_group_id = ?').run(id);
    },
  };
}
