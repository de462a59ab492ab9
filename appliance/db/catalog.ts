import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError } from './errors.js';
import type { CatalogEndpoint, CatalogService, CloudSql, Region } from './types.js';

type Row = Record<string, unknown>;

const extraOf = (value: unknown): Record<string, unknown> => JSON.parse(String(value)) as Record<string, unknown>;
const toService = (r: Row): CatalogService => ({
  id: String(r.id),
  type: String(r.type),
  name: r.name === null ? null : String(r.name),
  description: r.description === null ? null : String(r.description),
  enabled: r.enabled === 1,
  extra: extraOf(r.extra),
});
const toEndpoint = (r: Row): CatalogEndpoint => ({
  id: String(r.id),
  serviceId: String(r.service_id),
  interface: String(r.interface) as CatalogEndpoint['interface'],
  regionId: r.region_id === null ? null : String(r.region_id),
  url: String(r.url),
  enabled: r.enabled === 1,
  extra: extraOf(r.extra),
});
const toRegion = (r: Row): Region => ({
  id: String(r.id),
  description: String(r.description),
  parentRegionId: r.parent_region_id === null ? null : String(r.parent_region_id),
  extra: extraOf(r.extra),
});

/**
 * The `services`, `endpoints` and `regions` groups: what an admin registered in Keystone's
 * catalog (the API's own services, endpoints and region are built in, never stored). A
 * service's endpoints go with it; a region goes with the regions under it, and not while an
 * endpoint names one of them (Keystone's RegionDeletionError). An endpoint's region is checked
 * by the API, which knows the built-in one.
 */
export function catalogSql(db: Database.Database): Pick<CloudSql, 'services' | 'endpoints' | 'regions'> {
  const one = (sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as Row | undefined;
  const all = (sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as Row[];
  const run = (sql: string, ...params: unknown[]) => db.prepare(sql).run(...params);
  const service = (id: string) => one('SELECT * FROM catalog_services WHERE id = ?', id);
  const endpoint = (id: string) => one('SELECT * FROM catalog_endpoints WHERE id = ?', id);
  const region = (id: string) => one('SELECT * FROM regions WHERE id = ?', id);
  const must = (row: Row | undefined, what: string, id: string): Row => {
    if (!row) throw new DbNotFoundError(what, id);
    return row;
  };
  /** The region and every region under it, the region first. */
  const subtree = (id: string): string[] => {
    const ids = [id];
    for (let i = 0; i < ids.length; i++) {
      for (const child of all('SELECT id FROM regions WHERE parent_region_id = ?', ids[i])) ids.push(String(child.id));
    }
    return ids;
  };
  const where = (filter: Record<string, string | undefined>) => {
    const set = Object.entries(filter).filter((entry): entry is [string, string] => entry[1] !== undefined);
    return {
      sql: set.length === 0 ? '' : ` WHERE ${set.map(([column]) => `${column} = ?`).join(' AND ')}`,
      params: set.map(([, value]) => value),
    };
  };

  return {
    services: {
      create: (s) => {
        run(
          'INSERT INTO catalog_services (id, type, name, description, enabled, extra) VALUES (?, ?, ?, ?, ?, ?)',
          s.id,
          s.type,
          s.name,
          s.description,
          s.enabled ? 1 : 0,
          JSON.stringify(s.extra),
        );
        return toService(must(service(s.id), 'service', s.id));
      },
      get: (id) => {
        const r = service(id);
        return r ? toService(r) : null;
      },
      list: (filter) => {
        const w = where({ type: filter.type, name: filter.name });
        return all(`SELECT * FROM catalog_services${w.sql} ORDER BY rowid`, ...w.params).map(toService);
      },
      update: (id, patch) => {
        const next = { ...toService(must(service(id), 'service', id)), ...patch };
        run(
          'UPDATE catalog_services SET type = ?, name = ?, description = ?, enabled = ?, extra = ? WHERE id = ?',
          next.type,
          next.name,
          next.description,
          next.enabled ? 1 : 0,
          JSON.stringify(next.extra),
          id,
        );
        return toService(must(service(id), 'service', id));
      },
      delete: (id) => {
        must(service(id), 'service', id);
        run('DELETE FROM catalog_endpoints WHERE service_id = ?', id);
        run('DELETE FROM catalog_services WHERE id = ?', id);
      },
    },
    endpoints: {
      create: (e) => {
        must(service(e.serviceId), 'service', e.serviceId);
        run(
          'INSERT INTO catalog_endpoints (id, service_id, interface, region_id, url, enabled, extra) VALUES (?, ?, ?, ?, ?, ?, ?)',
          e.id,
          e.serviceId,
          e.interface,
          e.regionId,
          e.url,
          e.enabled ? 1 : 0,
          JSON.stringify(e.extra),
        );
        return toEndpoint(must(endpoint(e.id), 'endpoint', e.id));
      },
      get: (id) => {
        const r = endpoint(id);
        return r ? toEndpoint(r) : null;
      },
      list: (filter) => {
        const w = where({ service_id: filter.serviceId, interface: filter.interface, region_id: filter.regionId });
        return all(`SELECT * FROM catalog_endpoints${w.sql} ORDER BY rowid`, ...w.params).map(toEndpoint);
      },
      update: (id, patch) => {
        const next = { ...toEndpoint(must(endpoint(id), 'endpoint', id)), ...patch };
        must(service(next.serviceId), 'service', next.serviceId);
        run(
          'UPDATE catalog_endpoints SET service_id = ?, interface = ?, region_id = ?, url = ?, enabled = ?, extra = ? WHERE id = ?',
          next.serviceId,
          next.interface,
          next.regionId,
          next.url,
          next.enabled ? 1 : 0,
          JSON.stringify(next.extra),
          id,
        );
        return toEndpoint(must(endpoint(id), 'endpoint', id));
      },
      delete: (id) => {
        must(endpoint(id), 'endpoint', id);
        run('DELETE FROM catalog_endpoints WHERE id = ?', id);
      },
    },
    regions: {
      create: (r) => {
        if (region(r.id)) throw new DbConflictError(`Duplicate ID, ${r.id}.`);
        if (r.parentRegionId !== null) must(region(r.parentRegionId), 'region', r.parentRegionId);
        run(
          'INSERT INTO regions (id, description, parent_region_id, extra) VALUES (?, ?, ?, ?)',
          r.id,
          r.description,
          r.parentRegionId,
          JSON.stringify(r.extra),
        );
        return toRegion(must(region(r.id), 'region', r.id));
      },
      get: (id) => {
        const r = region(id);
        return r ? toRegion(r) : null;
      },
      list: (filter) => {
        const w = where({ parent_region_id: filter.parentRegionId });
        return all(`SELECT * FROM regions${w.sql} ORDER BY rowid`, ...w.params).map(toRegion);
      },
      update: (id, patch) => {
        const next = { ...toRegion(must(region(id), 'region', id)), ...patch };
        if (next.parentRegionId !== null) {
          must(region(next.parentRegionId), 'region', next.parentRegionId);
          if (subtree(id).includes(next.parentRegionId)) {
            throw new DbConflictError(`a region cannot be under itself: ${next.parentRegionId} is ${id} or under it`);
          }
        }
        run(
          'UPDATE regions SET description = ?, parent_region_id = ?, extra = ? WHERE id = ?',
          next.description,
          next.parentRegionId,
          JSON.stringify(next.extra),
          id,
        );
        return toRegion(must(region(id), 'region', id));
      },
      delete: (id) => {
        must(region(id), 'region', id);
        const doomed = subtree(id);
        const marks = doomed.map(() => '?').join(', ');
        if (one(`SELECT id FROM catalog_endpoints WHERE region_id IN (${marks})`, ...doomed)) {
          throw new DbConflictError(
            `Unable to delete region ${id} because it or its child regions have associated endpoints.`,
          );
        }
        for (const gone of doomed.reverse()) run('DELETE FROM regions WHERE id = ?', gone);
      },
    },
  };
}
