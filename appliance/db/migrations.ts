import type Database from 'better-sqlite3';
import type { CloudSql, Migration, ServerFlavor } from './types.js';

type Row = Record<string, unknown>;

const flavorOrNull = (v: unknown) => (typeof v === 'string' ? (JSON.parse(v) as ServerFlavor) : null);

const toMigration = (r: Row): Migration => ({
  id: Number(r.id),
  uuid: String(r.uuid),
  serverId: String(r.server_id),
  migrationType: String(r.migration_type) as Migration['migrationType'],
  sourceHost: String(r.source_host),
  destHost: r.dest_host === null ? null : String(r.dest_host),
  status: String(r.status) as Migration['status'],
  flavorId: String(r.flavor_id),
  newFlavorId: String(r.new_flavor_id ?? r.flavor_id),
  oldFlavor: flavorOrNull(r.old_flavor),
  newFlavor: flavorOrNull(r.new_flavor),
  projectId: String(r.project_id),
  userId: r.user_id === null ? null : String(r.user_id),
  createdAt: String(r.created_at),
  updatedAt: r.updated_at === null ? null : String(r.updated_at),
});

/**
 * The `migrations` group (Nova's migration records): each move of a server from one host to
 * another: the evacuations the compute keeper records when it restarts a fenced host's server
 * elsewhere, and the resizes and cold migrations of servers' owners and admins.
 */
export function migrationsSql(db: Database.Database): CloudSql['migrations'] {
  return {
    record: (m) => {
      const { lastInsertRowid } = db
        .prepare(
          `INSERT INTO migrations (uuid, server_id, migration_type, source_host, dest_host, status, flavor_id,
             new_flavor_id, old_flavor, new_flavor, project_id, user_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          m.uuid,
          m.serverId,
          m.migrationType,
          m.sourceHost,
          m.destHost,
          m.status,
          m.flavorId,
          m.newFlavorId,
          m.oldFlavor === null ? null : JSON.stringify(m.oldFlavor),
          m.newFlavor === null ? null : JSON.stringify(m.newFlavor),
          m.projectId,
          m.userId,
          m.createdAt,
        );
      return toMigration(db.prepare('SELECT * FROM migrations WHERE id = ?').get(lastInsertRowid) as Row);
    },
    finish: (uuid, status, at, destHost) => {
      db.prepare(
        'UPDATE migrations SET status = ?, updated_at = ?, dest_host = COALESCE(?, dest_host) WHERE uuid = ?',
      ).run(status, at, destHost ?? null, uuid);
    },
    list: () =>
      (db.prepare('SELECT * FROM migrations ORDER BY created_at DESC, id DESC').all() as Row[]).map(toMigration),
    ofServer: (serverId) =>
      (
        db
          .prepare('SELECT * FROM migrations WHERE server_id = ? ORDER BY created_at DESC, id DESC')
          .all(serverId) as Row[]
      ).map(toMigration),
  };
}
