import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError } from './errors.js';
import { bool, isUniqueViolation, json, type Row, str, strOrNull } from './rows.js';
import {
  type CloudSql,
  METADEF_NAMESPACE_ORDER,
  type MetadefAssociation,
  type MetadefDefinition,
  type MetadefKind,
  type MetadefNamespace,
  type MetadefOrder,
} from './types.js';

/** Glance's message for a definition's name taken (glance/common/exception.py `MetadefDuplicate*`). */
function duplicate(kind: MetadefKind, name: string, namespace: string): string {
  switch (kind) {
    case 'object':
      return `A metadata definition object with name=${name} already exists in namespace=${namespace}.`;
    case 'property':
      return `A metadata definition property with name=${name} already exists in namespace=${namespace}.`;
    case 'tag':
      return `A metadata tag with name=${name} already exists in namespace=${namespace}. (Please note that metadata tag names are case insensitive).`;
  }
}

/** The columns a list of each table may be ordered by (the API refuses others first). */
const ORDERABLE: Record<'namespaces' | 'definitions', ReadonlySet<string>> = {
  namespaces: new Set(METADEF_NAMESPACE_ORDER),
  definitions: new Set(['name', 'created_at', 'updated_at']),
};

/** -1, 0 or 1 as row `a` comes before, with or after `b` by `keys` (NULL first, as SQLite orders). */
function compare(a: Row, b: Row, keys: readonly string[]): number {
  for (const key of keys) {
    const x = a[key] as string | number | null;
    const y = b[key] as string | number | null;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * One page of `rows` (Glance's paginate_query): ordered by the key, then creation and id, all
 * in one direction; those after `marker` by that order (the marker need not be among them).
 */
function paged(rows: Row[], table: keyof typeof ORDERABLE, order: MetadefOrder, marker: Row | undefined): Row[] {
  if (!ORDERABLE[table].has(order.key)) throw new TypeError(`metadef ${table} cannot be ordered by ${order.key}`);
  const keys = [...new Set([order.key, 'created_at', 'id'])];
  const sign = order.dir === 'asc' ? 1 : -1;
  const sorted = [...rows].sort((a, b) => sign * compare(a, b, keys));
  const after = marker ? sorted.filter((r) => sign * compare(r, marker, keys) > 0) : sorted;
  return order.limit === undefined ? after : after.slice(0, order.limit);
}

const toAssociation = (r: Row): MetadefAssociation => ({
  name: str(r.name),
  prefix: strOrNull(r.prefix),
  propertiesTarget: strOrNull(r.properties_target),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
});

const toDefinition = (r: Row): MetadefDefinition => ({
  kind: str(r.kind) as MetadefKind,
  name: str(r.name),
  body: json<Record<string, unknown>>(r.body),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
});

/**
 * The `metadefs` group (Glance's metadata definitions catalog): namespaces, the resource types
 * they are associated with, and their objects, properties and tags, kept in one table by kind.
 * Whoever may see a namespace is the API's question, but for a list (Glance's
 * `_select_namespaces_query`: the cloud admin every one, others the public ones and their project's).
 */
export function metadefsSql(db: Database.Database): CloudSql['metadefs'] {
  const one = (sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as Row | undefined;
  const all = (sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as Row[];

  const associationsOf = (namespaceId: unknown): MetadefAssociation[] =>
    all(
      `SELECT t.name, a.prefix, a.properties_target, a.created_at, a.updated_at
         FROM metadef_namespace_resource_types a JOIN metadef_resource_types t ON t.id = a.resource_type_id
        WHERE a.namespace_id = ? ORDER BY a.rowid`,
      namespaceId,
    ).map(toAssociation);
  const toNamespace = (r: Row): MetadefNamespace => ({
    namespace: str(r.namespace),
    displayName: strOrNull(r.display_name),
    description: strOrNull(r.description),
    visibility: str(r.visibility) as MetadefNamespace['visibility'],
    protected: bool(r.protected),
    owner: str(r.owner),
    resourceTypes: associationsOf(r.id),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  });
  const namespaceRow = (name: string) => one('SELECT * FROM metadef_namespaces WHERE namespace = ?', name);
  /** The namespace's id, or DbNotFoundError. */
  const idOf = (name: string): number => {
    const row = namespaceRow(name);
    if (!row) throw new DbNotFoundError('Metadata definition namespace', name);
    return Number(row.id);
  };
  const getNamespace = (name: string): MetadefNamespace | null => {
    const row = namespaceRow(name);
    return row ? toNamespace(row) : null;
  };

  const associate = (namespaceId: number, namespace: string, a: MetadefAssociation): MetadefAssociation => {
    db.prepare('INSERT OR IGNORE INTO metadef_resource_types (name, created_at, updated_at) VALUES (?, ?, ?)').run(
      a.name,
      a.createdAt,
      a.updatedAt,
    );
    const type = one('SELECT id FROM metadef_resource_types WHERE name = ?', a.name) as Row;
    try {
      db.prepare(
        `INSERT INTO metadef_namespace_resource_types
           (namespace_id, resource_type_id, prefix, properties_target, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(namespaceId, type.id, a.prefix, a.propertiesTarget, a.createdAt, a.updatedAt);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new DbConflictError(
        `The metadata definition resource-type association of resource-type=${a.name} to namespace=${namespace} already exists.`,
      );
    }
    return a;
  };
  const add = (namespaceId: number, namespace: string, d: MetadefDefinition): MetadefDefinition => {
    try {
      db.prepare(
        `INSERT INTO metadef_definitions (namespace_id, kind, name, body, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(namespaceId, d.kind, d.name, JSON.stringify(d.body), d.createdAt, d.updatedAt);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new DbConflictError(duplicate(d.kind, d.name, namespace));
    }
    return d;
  };
  const definitionRow = (namespaceId: number, kind: MetadefKind, name: string) =>
    one('SELECT * FROM metadef_definitions WHERE namespace_id = ? AND kind = ? AND name = ?', namespaceId, kind, name);

  return {
    createNamespace: (ns, definitions) => {
      let id: number;
      try {
        id = Number(
          db
            .prepare(
              `INSERT INTO metadef_namespaces
                 (namespace, display_name, description, visibility, protected, owner, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(
              ns.namespace,
              ns.displayName,
              ns.description,
              ns.visibility,
              ns.protected ? 1 : 0,
              ns.owner,
              ns.createdAt,
              ns.updatedAt,
            ).lastInsertRowid,
        );
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw new DbConflictError(`The metadata definition namespace=${ns.namespace} already exists.`);
      }
      for (const a of ns.resourceTypes) associate(id, ns.namespace, a);
      for (const d of definitions) add(id, ns.namespace, d);
      return getNamespace(ns.namespace) as MetadefNamespace;
    },
    getNamespace,
    listNamespaces: (filter, order) => {
      const seen = filter.admin ? '1 = 1' : `(visibility = 'public' OR owner = ?)`;
      const seenParams = filter.admin ? [] : [filter.projectId];
      const marker =
        order.marker === undefined
          ? undefined
          : one(`SELECT * FROM metadef_namespaces WHERE namespace = ? AND ${seen}`, order.marker, ...seenParams);
      if (order.marker !== undefined && !marker) {
        throw new DbNotFoundError('Metadata definition namespace', order.marker);
      }
      const conditions = [seen];
      const params: unknown[] = [...seenParams];
      if (filter.visibility) {
        conditions.push('visibility = ?');
        params.push(filter.visibility);
      }
      if (filter.resourceTypes) {
        conditions.push(
          `id IN (SELECT a.namespace_id FROM metadef_namespace_resource_types a
                    JOIN metadef_resource_types t ON t.id = a.resource_type_id
                   WHERE t.name IN (${filter.resourceTypes.map(() => '?').join(', ')}))`,
        );
        params.push(...filter.resourceTypes);
      }
      const rows = all(`SELECT * FROM metadef_namespaces WHERE ${conditions.join(' AND ')}`, ...params);
      return paged(rows, 'namespaces', order, marker).map(toNamespace);
    },
    updateNamespace: (name, fields) => {
      let changed: number;
      try {
        changed = db
          .prepare(
            `UPDATE metadef_namespaces SET namespace = ?, display_name = ?, description = ?, visibility = ?,
               protected = ?, owner = ?, updated_at = ? WHERE namespace = ?`,
          )
          .run(
            fields.namespace,
            fields.displayName,
            fields.description,
            fields.visibility,
            fields.protected ? 1 : 0,
            fields.owner,
            fields.updatedAt,
            name,
          ).changes;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw new DbConflictError(
          `Invalid update. It would result in a duplicate metadata definition namespace with the same name of ${fields.namespace}`,
        );
      }
      if (changed === 0) throw new DbNotFoundError('Metadata definition namespace', name);
      return getNamespace(fields.namespace) as MetadefNamespace;
    },
    deleteNamespace: (name) => {
      const id = idOf(name);
      db.prepare('DELETE FROM metadef_definitions WHERE namespace_id = ?').run(id);
      db.prepare('DELETE FROM metadef_namespace_resource_types WHERE namespace_id = ?').run(id);
      db.prepare('DELETE FROM metadef_namespaces WHERE id = ?').run(id);
    },
    definitions: (namespace, kind, order) => {
      const id = idOf(namespace);
      const rows = all('SELECT * FROM metadef_definitions WHERE namespace_id = ? AND kind = ? ORDER BY id', id, kind);
      if (!order) return rows.map(toDefinition);
      const marker = order.marker === undefined ? undefined : definitionRow(id, kind, order.marker);
      if (order.marker !== undefined && !marker) throw new DbNotFoundError(`Metadata ${kind}`, order.marker);
      return paged(rows, 'definitions', order, marker).map(toDefinition);
    },
    getDefinition: (namespace, kind, name) => {
      const ns = namespaceRow(namespace);
      const row = ns ? definitionRow(Number(ns.id), kind, name) : undefined;
      return row ? toDefinition(row) : null;
    },
    addDefinitions: (namespace, definitions, replace) => {
      const id = idOf(namespace);
      if (replace) {
        for (const kind of new Set(definitions.map((d) => d.kind))) {
          db.prepare('DELETE FROM metadef_definitions WHERE namespace_id = ? AND kind = ?').run(id, kind);
        }
      }
      return definitions.map((d) => add(id, namespace, d));
    },
    updateDefinition: (namespace, name, d) => {
      const id = idOf(namespace);
      let changed: number;
      try {
        changed = db
          .prepare(
            `UPDATE metadef_definitions SET name = ?, body = ?, updated_at = ?
              WHERE namespace_id = ? AND kind = ? AND name = ?`,
          )
          .run(d.name, JSON.stringify(d.body), d.updatedAt, id, d.kind, name).changes;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw new DbConflictError(duplicate(d.kind, d.name, namespace));
      }
      if (changed === 0) throw new DbNotFoundError(`Metadata ${d.kind}`, name);
      return toDefinition(definitionRow(id, d.kind, d.name) as Row);
    },
    deleteDefinitions: (namespace, kind, name) => {
      const id = idOf(namespace);
      if (name === undefined) {
        db.prepare('DELETE FROM metadef_definitions WHERE namespace_id = ? AND kind = ?').run(id, kind);
        return;
      }
      const changed = db
        .prepare('DELETE FROM metadef_definitions WHERE namespace_id = ? AND kind = ? AND name = ?')
        .run(id, kind, name).changes;
      if (changed === 0) throw new DbNotFoundError(`Metadata ${kind}`, name);
    },
    resourceTypes: () =>
      all('SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY id').map((r) => ({
        name: str(r.name),
        createdAt: str(r.created_at),
        updatedAt: str(r.updated_at),
      })),
    associate: (namespace, association) => associate(idOf(namespace), namespace, association),
    dissociate: (namespace, resourceType) => {
      const changed = db
        .prepare(
          `DELETE FROM metadef_namespace_resource_types WHERE namespace_id = ?
              AND resource_type_id = (SELECT id FROM metadef_resource_types WHERE name = ?)`,
        )
        .run(idOf(namespace), resourceType).changes;
      if (changed === 0) throw new DbNotFoundError('Metadata definition resource type association', resourceType);
    },
  };
}
