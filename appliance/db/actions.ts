import type Database from 'better-sqlite3';
import type { CloudSql, InstanceAction } from './types.js';

type Row = Record<string, unknown>;

const toAction = (r: Row): InstanceAction => ({
  serverId: String(r.server_id),
  requestId: String(r.request_id),
  action: String(r.action),
  userId: r.user_id === null ? null : String(r.user_id),
  projectId: String(r.project_id),
  startTime: String(r.start_time),
  finishTime: r.finish_time === null ? null : String(r.finish_time),
  result: r.result === null ? null : (String(r.result) as InstanceAction['result']),
  message: r.message === null ? null : String(r.message),
});

/** The `actions` group (Nova's instance actions): what was asked of each server, by whom, and how it ended. */
export function actionsSql(db: Database.Database): CloudSql['actions'] {
  return {
    record: (action) => {
      db.prepare(
        `INSERT INTO instance_actions (server_id, request_id, action, user_id, project_id, start_time)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (server_id, request_id) DO NOTHING`,
      ).run(action.serverId, action.requestId, action.action, action.userId, action.projectId, action.startTime);
    },
    finish: (serverId, action, result, message, at) => {
      db.prepare(
        `UPDATE instance_actions SET finish_time = ?, result = ?, message = ?
         WHERE rowid = (SELECT rowid FROM instance_actions
                        WHERE server_id = ? AND action = ? AND finish_time IS NULL
                        ORDER BY start_time DESC LIMIT 1)`,
      ).run(at, result, message, serverId, action);
    },
    list: (serverId) =>
      (
        db
          .prepare('SELECT * FROM instance_actions WHERE server_id = ? ORDER BY start_time DESC, rowid DESC')
          .all(serverId) as Row[]
      ).map(toAction),
    get: (serverId, requestId) => {
      const row = db
        .prepare('SELECT * FROM instance_actions WHERE server_id = ? AND request_id = ?')
        .get(serverId, requestId) as Row | undefined;
      return row ? toAction(row) : null;
    },
  };
}
