import type Database from 'better-sqlite3';
import { DbConflictError, DbInvalidActionError, DbNotFoundError } from './errors.js';
import type { Aggregate, CloudSql } from './types.js';

type Row = Record<string, unknown>;

/** Nova's default availability zone: that of a host no aggregate puts in one. */
export const DEFAULT_ZONE = 'nova';

const ZONE_KEY = 'availability_zone';

/**
 * The `aggregates` group (Nova's host aggregates). The zone rules are Nova's, checked in the
 * write's transaction: a host is in at most one zone; a zone is never empty-named; and a change
 * that would move a host's live servers to another zone is refused (a server keeps the zone it
 * was placed in: `servers.place` records it).
 */
export function aggregatesSql(db: Database.Database): CloudSql['aggregates'] {
  const hostsOf = db.prepare('SELECT host FROM aggregate_hosts WHERE aggregate_id = ? ORDER BY host');
  const toAggregate = (r: Row): Aggregate => ({
    id: Number(r.id),
    uuid: String(r.uuid),
    name: String(r.name),
    hosts: (hostsOf.all(r.id) as Row[]).map((h) => String(h.host)),
    metadata: JSON.parse(String(r.metadata)) as Record<string, string>,
    createdAt: String(r.created_at),
    updatedAt: r.updated_at === null ? null : String(r.updated_at),
  });
  const find = (id: number): Aggregate | null => {
    const row = db.prepare('SELECT * FROM aggregates WHERE id = ?').get(id) as Row | undefined;
    return row ? toAggregate(row) : null;
  };
  const get = (id: number): Aggregate => {
    const found = find(id);
    if (!found) throw new DbNotFoundError('Aggregate', String(id));
    return found;
  };
  const nameTaken = (name: string, id: number) =>
    db.prepare('SELECT 1 FROM aggregates WHERE name = ? AND id != ?').get(name, id) !== undefined;
  const hasServers = (host: string) =>
    db.prepare(`SELECT 1 FROM servers WHERE host = ? AND state != 'deleted' LIMIT 1`).get(host) !== undefined;

  /** Each host's zone with `change` applied to aggregate `id`: its zone (null for none), and its hosts. */
  const zonesWith = (id: number, change: { zone?: string | null; hosts?: readonly string[] }) => {
    const zones = new Map<string, Set<string>>();
    for (const a of db.prepare('SELECT * FROM aggregates').all() as Row[]) {
      const one = toAggregate(a);
      const zone = one.id === id && 'zone' in change ? change.zone : one.metadata[ZONE_KEY];
      if (!zone) continue;
      for (const host of one.id === id && change.hosts ? change.hosts : one.hosts) {
        zones.set(host, (zones.get(host) ?? new Set()).add(zone));
      }
    }
    return zones;
  };
  /** Refuses a change that puts a host in two zones, or moves a host's servers to another zone. */
  const checkZones = (aggregate: Aggregate, change: { zone?: string | null; hosts?: readonly string[] }) => {
    const before = zonesWith(aggregate.id, {});
    const after = zonesWith(aggregate.id, change);
    const hosts = new Set([...aggregate.hosts, ...(change.hosts ?? [])]);
    for (const host of hosts) {
      const zones = [...(after.get(host) ?? [])];
      if (zones.length > 1) {
        throw new DbInvalidActionError(`One or more hosts already in availability zone(s) ${zones.join(', ')}`);
      }
      const was = [...(before.get(host) ?? [DEFAULT_ZONE])][0];
      const will = zones[0] ?? DEFAULT_ZONE;
      if (was !== will && hasServers(host)) {
        throw new DbInvalidActionError(
          `The availability zone of host ${host} would change from '${was}' to '${will}' but the host has servers. ` +
            'Changing the zone of an existing server is not supported: move them away from this host, then try again.',
        );
      }
    }
  };
  const touch = (id: number, at: string) => db.prepare('UPDATE aggregates SET updated_at = ? WHERE id = ?').run(at, id);

  return {
    create: (aggregate) => {
      if (nameTaken(aggregate.name, -1)) throw new DbConflictError(`Aggregate ${aggregate.name} already exists.`);
      const { lastInsertRowid } = db
        .prepare('INSERT INTO aggregates (uuid, name, metadata, created_at) VALUES (?, ?, ?, ?)')
        .run(aggregate.uuid, aggregate.name, JSON.stringify(aggregate.metadata), aggregate.createdAt);
      return get(Number(lastInsertRowid));
    },
    get: find,
    list: () => (db.prepare('SELECT * FROM aggregates ORDER BY id').all() as Row[]).map(toAggregate),
    update: (id, patch, at) => {
      const aggregate = get(id);
      if (patch.name !== undefined) {
        if (nameTaken(patch.name, id)) throw new DbConflictError(`Aggregate ${patch.name} already exists.`);
        db.prepare('UPDATE aggregates SET name = ? WHERE id = ?').run(patch.name, id);
      }
      if (patch.metadata !== undefined) {
        const change = patch.metadata;
        if (ZONE_KEY in change) {
          if (!change[ZONE_KEY]) {
            throw new DbInvalidActionError(
              `Aggregate ${aggregate.name} does not support empty named availability zone`,
            );
          }
          checkZones(aggregate, { zone: change[ZONE_KEY] });
        }
        const metadata: Record<string, string> = { ...aggregate.metadata };
        for (const [key, value] of Object.entries(change)) {
          if (value === null) delete metadata[key];
          else metadata[key] = value;
        }
        db.prepare('UPDATE aggregates SET metadata = ? WHERE id = ?').run(JSON.stringify(metadata), id);
      }
      touch(id, at);
      return get(id);
    },
    delete: (id) => {
      if (get(id).hosts.length > 0) throw new DbInvalidActionError('Host aggregate is not empty');
      db.prepare('DELETE FROM aggregates WHERE id = ?').run(id);
    },
    addHost: (id, host) => {
      const aggregate = get(id);
      if (aggregate.hosts.includes(host)) {
        throw new DbConflictError(`Aggregate ${id} already has host ${host}.`);
      }
      checkZones(aggregate, { hosts: [...aggregate.hosts, host] });
      db.prepare('INSERT INTO aggregate_hosts (aggregate_id, host) VALUES (?, ?)').run(id, host);
      return get(id);
    },
    removeHost: (id, host) => {
      const aggregate = get(id);
      if (!aggregate.hosts.includes(host)) throw new DbNotFoundError(`Host ${host} in aggregate`, String(id));
      checkZones(aggregate, { hosts: aggregate.hosts.filter((h) => h !== host) });
      db.prepare('DELETE FROM aggregate_hosts WHERE aggregate_id = ? AND host = ?').run(id, host);
      return get(id);
    },
    zones: () => hostZones(db),
  };
}

/** The zone of each host an aggregate puts in one. */
export function hostZones(db: Database.Database): Record<string, string> {
  const rows = db
    .prepare(
      `SELECT h.host, json_extract(a.metadata, '$.${ZONE_KEY}') AS zone FROM aggregate_hosts h
       JOIN aggregates a ON a.id = h.aggregate_id WHERE zone IS NOT NULL`,
    )
    .all() as Row[];
  return Object.fromEntries(rows.map((r) => [String(r.host), String(r.zone)]));
}
