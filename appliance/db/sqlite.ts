import type Database from 'better-sqlite3';
import { actionsSql } from './actions.js';
import { aggregatesSql } from './aggregates.js';
import { applicationCredentialsSql } from './application-credentials.js';
import { catalogSql } from './catalog.js';
import { credentialsSql } from './credentials.js';
import { domainConfigsSql } from './domain-configs.js';
import { endpointFilterSql } from './endpoint-filter.js';
import { imageMembersSql } from './image-members.js';
import { metadefsSql } from './metadefs.js';
import { networksSql } from './networks.js';
import { migrationsSql } from './migrations.js';
import { oauthConsumersSql } from './oauth-consumers.js';
import { policiesSql } from './policies.js';
import { computeServicesSql } from './compute-services.js';
import { serverGroupsSql } from './server-groups.js';
import { securityGroupsSql } from './security-groups.js';
import { serversSql } from './servers.js';
import { serverTagsSql } from './server-tags.js';
import { identitySql, toDomain, toProject, toUser } from './identity.js';
import { roleAssignmentsSql } from './role-assignments.js';
import { routersSql } from './routers.js';
import { trustsSql } from './trusts.js';
import { bool, json, num, type Row, statements, str, strOrNull } from './rows.js';
import { DbNotFoundError } from './errors.js';
import {
  type CloudSql,
  DEFAULT_QUOTAS,
  type Flavor,
  type Image,
  type ImageSortKey,
  type Keypair,
  type QuotaResource,
  type SigningKey,
} from './types.js';

// The schema's steps are schema-steps.ts's; still exported here for those that import them from here.
export { CLOUD_MIGRATIONS } from './schema-steps.js';

const toFlavor = (r: Row): Flavor => ({
  id: str(r.id),
  name: str(r.name),
  ram: num(r.ram),
  vcpus: num(r.vcpus),
  disk: num(r.disk),
  swap: num(r.swap),
  ephemeral: num(r.ephemeral),
  rxtxFactor: num(r.rxtx_factor),
  isPublic: bool(r.is_public),
  disabled: bool(r.disabled),
  description: strOrNull(r.description),
  extraSpecs: json<Record<string, string>>(r.extra_specs),
  createdAt: str(r.created_at),
});

const toKeypair = (r: Row): Keypair => ({
  id: num(r.id),
  name: str(r.name),
  userId: str(r.user_id),
  publicKey: str(r.public_key),
  fingerprint: str(r.fingerprint),
  type: str(r.type) === 'x509' ? 'x509' : 'ssh',
  createdAt: str(r.created_at),
});

const toImage = (r: Row): Image => ({
  id: str(r.id),
  name: strOrNull(r.name),
  status: str(r.status) as Image['status'],
  visibility: str(r.visibility) as Image['visibility'],
  protected: bool(r.protected),
  osHidden: bool(r.os_hidden),
  owner: str(r.owner),
  checksum: strOrNull(r.checksum),
  osHashAlgo: strOrNull(r.os_hash_algo),
  osHashValue: strOrNull(r.os_hash_value),
  size: r.size === null ? null : num(r.size),
  virtualSize: r.virtual_size === null ? null : num(r.virtual_size),
  minRam: num(r.min_ram),
  minDisk: num(r.min_disk),
  diskFormat: strOrNull(r.disk_format),
  containerFormat: strOrNull(r.container_format),
  tags: json<string[]>(r.tags),
  properties: json<Record<string, string>>(r.properties),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
});

/**
 * The cloud database's operations as synchronous functions over one open better-sqlite3
 * database whose schema is at {@link CLOUD_MIGRATIONS}' newest version. The caller runs each
 * in a transaction (see {@link CLOUD_OPERATIONS}): the embedded database on its local file,
 * the DB master in its worker thread.
 */
export function cloudSql(db: Database.Database): CloudSql {
  const { all, one, run, insert, mustChange, getOrThrow, updateRow } = statements(db);
  const roleAssignments = roleAssignmentsSql(db);
  const applicationCredentials = applicationCredentialsSql(db);
  const trusts = trustsSql(db, roleAssignments.withImplied);

  const signingKeys = (): SigningKey[] =>
    all('SELECT * FROM signing_keys ORDER BY created_at DESC, kid DESC').map((r) => ({
      kid: str(r.kid),
      secret: str(r.secret),
      createdAt: str(r.created_at),
    }));

  /** `base` with the limits of `rows` (resource, hard_limit) over it. */
  const withLimits = (base: Record<QuotaResource, number>, rows: Row[]) => {
    const limits = { ...base };
    for (const r of rows) {
      const resource = str(r.resource);
      if (resource in limits) limits[resource as QuotaResource] = num(r.hard_limit);
    }
    return limits;
  };
  const classOf = (className: string): Record<QuotaResource, number> =>
    withLimits(DEFAULT_QUOTAS, all('SELECT resource, hard_limit FROM quota_classes WHERE class_name = ?', className));
  /** Writes the limits set of a project's quotas or a quota class (both tables keyed by owner and resource). */
  const setLimits = db.transaction(
    (table: 'quotas' | 'quota_classes', owner: 'project_id' | 'class_name', key: string, limits: object) => {
      for (const [resource, limit] of Object.entries(limits)) {
        if (limit === undefined || !(resource in DEFAULT_QUOTAS)) continue;
        run(
          `INSERT INTO ${table} (${owner}, resource, hard_limit) VALUES (?, ?, ?)
           ON CONFLICT (${owner}, resource) DO UPDATE SET hard_limit = excluded.hard_limit`,
          key,
          resource,
          limit,
        );
      }
    },
  );
  const quotasOf = (projectId: string): Record<QuotaResource, number> =>
    withLimits(classOf('default'), all('SELECT resource, hard_limit FROM quotas WHERE project_id = ?', projectId));

  const IMAGE_COLUMNS = {
    name: 'name',
    status: 'status',
    visibility: 'visibility',
    protected: 'protected',
    osHidden: 'os_hidden',
    owner: 'owner',
    checksum: 'checksum',
    osHashAlgo: 'os_hash_algo',
    osHashValue: 'os_hash_value',
    size: 'size',
    virtualSize: 'virtual_size',
    minRam: 'min_ram',
    minDisk: 'min_disk',
    diskFormat: 'disk_format',
    containerFormat: 'container_format',
    tags: 'tags',
    properties: 'properties',
    updatedAt: 'updated_at',
  };

  const flavorAccess = (id: string): string[] =>
    all('SELECT project_id FROM flavor_access WHERE flavor_id = ? ORDER BY project_id', id).map((r) =>
      str(r.project_id),
    );

  return {
    actions: actionsSql(db),
    imageMembers: imageMembersSql(db),
    metadefs: metadefsSql(db),
    serverGroups: serverGroupsSql(db),
    securityGroups: securityGroupsSql(db),
    serverTags: serverTagsSql(db),
    computeServices: computeServicesSql(db),
    aggregates: aggregatesSql(db),
    migrations: migrationsSql(db),
    ...catalogSql(db),
    credentials: credentialsSql(db),
    applicationCredentials,
    trusts: trusts.sql,
    oauthConsumers: oauthConsumersSql(db),
    policies: policiesSql(db),
    domainConfigs: domainConfigsSql(db),
    ...endpointFilterSql(db),
    ...identitySql(db),
    roles: roleAssignments.roles,
    assignments: roleAssignments.assignments,
    tokens: {
      signingKeys,
      rotate: (key, keep, olderThan) =>
        db.transaction(() => {
          const newest = signingKeys()[0];
          // ISO 8601 times in UTC compare as strings.
          if (newest && newest.createdAt > olderThan) return signingKeys();
          insert('signing_keys', { kid: key.kid, secret: key.secret, created_at: key.createdAt }, 'signing key');
          run(
            'DELETE FROM signing_keys WHERE kid NOT IN (SELECT kid FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT ?)',
            keep,
          );
          return signingKeys();
        })(),
      revoke: (auditId, expiresAt) => {
        const now = new Date().toISOString();
        db.transaction(() => {
          run('DELETE FROM revocations WHERE expires_at < ?', now);
          run('INSERT OR IGNORE INTO revocations (audit_id, expires_at) VALUES (?, ?)', auditId, expiresAt);
        })();
      },
      isRevoked: (auditId) => one('SELECT 1 FROM revocations WHERE audit_id = ?', auditId) !== undefined,
      subject: (auditId, userId, scope, delegation = {}) => {
        if (one('SELECT 1 FROM revocations WHERE audit_id = ?', auditId) !== undefined) return null;
        const { applicationCredentialId, trustId } = delegation;
        const credential =
          applicationCredentialId === undefined ? undefined : applicationCredentials.get(applicationCredentialId);
        if (credential === null) return null;
        if (
          credential &&
          (credential.userId !== userId || scope?.targetType !== 'project' || scope.targetId !== credential.projectId)
        )
          return null;
        // A trust's token carries the roles it delegates, held by its (first) trustor.
        const trusted =
          trustId === undefined
            ? undefined
            : trusts.delegated(trustId, userId, scope, (trustor) => roleAssignments.rolesOn(trustor, scope));
        if (trusted === null) return null;
        const u = one('SELECT * FROM users WHERE id = ?', userId);
        const user = u ? toUser(u) : null;
        if (!user?.enabled) return null;
        if (scope === null) return { user, project: null, domain: null, roles: [] };
        const p = scope.targetType === 'project' ? one('SELECT * FROM projects WHERE id = ?', scope.targetId) : null;
        const project = p ? toProject(p) : null;
        if (scope.targetType === 'project' && !project?.enabled) return null;
        const domainId = scope.targetType === 'domain' ? scope.targetId : project?.domainId;
        const d = domainId === undefined ? null : one('SELECT * FROM domains WHERE id = ?', domainId);
        const domain = d ? toDomain(d) : null;
        // A project's domain must be enabled too (Keystone: a disabled domain disables its projects).
        if (domainId !== undefined && !domain?.enabled) return null;
        const held = trusted ? trusted.roles : roleAssignments.rolesOn(userId, scope);
        // A credential's token carries the roles it delegates that the user still holds (Keystone's).
        const delegated = credential && new Set(credential.roles.map((r) => r.id));
        const roles = delegated ? held.filter((r) => delegated.has(r.id)) : held;
        if (roles.length === 0) return null;
        const subject = {
          user,
          project,
          domain: scope.targetType === 'domain' ? domain : null,
          roles,
          ...(trusted ? { trust: trusted.trust } : {}),
        };
        if (!credential) return subject;
        // Its secret's hash stays here: no request needs it.
        const { secretHash: _, ...applicationCredential } = credential;
        return { ...subject, applicationCredential };
      },
    },
    logins: {
      failures: (userId) => {
        const r = one('SELECT count, last_at FROM login_failures WHERE user_id = ?', userId);
        return r ? { count: num(r.count), lastAt: str(r.last_at) } : null;
      },
      fail: (userId, at, forgetBefore) => {
        // ISO 8601 times in UTC compare as strings.
        run(
          `INSERT INTO login_failures (user_id, count, last_at) VALUES (?, 1, ?)
           ON CONFLICT (user_id) DO UPDATE SET count = CASE WHEN last_at < ? THEN 1 ELSE count + 1 END,
             last_at = excluded.last_at`,
          userId,
          at,
          forgetBefore,
        );
      },
      clear: (userId) => {
        run('DELETE FROM login_failures WHERE user_id = ?', userId);
      },
    },
    flavors: {
      create: (f) => {
        insert(
          'flavors',
          {
            id: f.id,
            name: f.name,
            ram: f.ram,
            vcpus: f.vcpus,
            disk: f.disk,
            swap: f.swap,
            ephemeral: f.ephemeral,
            rxtx_factor: f.rxtxFactor,
            is_public: f.isPublic,
            disabled: f.disabled,
            description: f.description,
            extra_specs: f.extraSpecs,
            created_at: f.createdAt,
          },
          `flavor with name ${f.name} or id ${f.id}`,
        );
        return f;
      },
      get: (id) => {
        const r = one('SELECT * FROM flavors WHERE id = ?', id);
        return r ? toFlavor(r) : null;
      },
      list: (filter) => {
        const clauses: string[] = [];
        const params: unknown[] = [];
        if (filter.isPublic !== undefined) {
          if (filter.isPublic) clauses.push('is_public = 1');
          else {
            clauses.push('is_public = 0');
          }
        }
        if (filter.projectId !== undefined) {
          clauses.push('(is_public = 1 OR id IN (SELECT flavor_id FROM flavor_access WHERE project_id = ?))');
          params.push(filter.projectId);
        }
        if (filter.minRam !== undefined) {
          clauses.push('ram >= ?');
          params.push(filter.minRam);
        }
        if (filter.minDisk !== undefined) {
          clauses.push('disk >= ?');
          params.push(filter.minDisk);
        }
        const sql = `SELECT * FROM flavors${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY id`;
        return all(sql, ...params).map(toFlavor);
      },
      delete: (id) => {
        mustChange(run('DELETE FROM flavors WHERE id = ?', id), 'flavor', id);
      },
      setDescription: (id, description) => {
        mustChange(run('UPDATE flavors SET description = ? WHERE id = ?', description, id), 'flavor', id);
        return getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
      },
      setExtraSpecs: (id, specs) =>
        db.transaction(() => {
          const f = getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
          run('UPDATE flavors SET extra_specs = ? WHERE id = ?', JSON.stringify({ ...f.extraSpecs, ...specs }), id);
          return getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
        })(),
      deleteExtraSpec: (id, key) =>
        db.transaction(() => {
          const f = getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
          if (!(key in f.extraSpecs)) throw new DbNotFoundError('flavor extra spec', key);
          const { [key]: _gone, ...rest } = f.extraSpecs;
          run('UPDATE flavors SET extra_specs = ? WHERE id = ?', JSON.stringify(rest), id);
          return getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
        })(),
      access: (id) => {
        getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
        return flavorAccess(id);
      },
      addAccess: (id, projectId) => {
        getOrThrow('SELECT * FROM flavors WHERE id = ?', id, 'flavor', toFlavor);
        insert(
          'flavor_access',
          { flavor_id: id, project_id: projectId },
          `access of project ${projectId} to flavor ${id}`,
        );
        return flavorAccess(id);
      },
      removeAccess: (id, projectId) => {
        mustChange(
          run('DELETE FROM flavor_access WHERE flavor_id = ? AND project_id = ?', id, projectId),
          'flavor access',
          `${id}/${projectId}`,
        );
        return flavorAccess(id);
      },
    },
    keypairs: {
      create: (k) => {
        insert(
          'keypairs',
          {
            name: k.name,
            user_id: k.userId,
            public_key: k.publicKey,
            fingerprint: k.fingerprint,
            type: k.type,
            created_at: k.createdAt,
          },
          `Key pair '${k.name}'`,
        );
        return toKeypair(one('SELECT * FROM keypairs WHERE user_id = ? AND name = ?', k.userId, k.name) ?? {});
      },
      get: (userId, name) => {
        const r = one('SELECT * FROM keypairs WHERE user_id = ? AND name = ?', userId, name);
        return r ? toKeypair(r) : null;
      },
      list: (userId) => all('SELECT * FROM keypairs WHERE user_id = ? ORDER BY name', userId).map(toKeypair),
      delete: (userId, name) => {
        mustChange(run('DELETE FROM keypairs WHERE user_id = ? AND name = ?', userId, name), 'keypair', name);
      },
    },
    servers: serversSql(db),
    images: {
      create: (image) => {
        insert(
          'images',
          {
            id: image.id,
            name: image.name,
            status: image.status,
            visibility: image.visibility,
            protected: image.protected,
            os_hidden: image.osHidden,
            owner: image.owner,
            checksum: image.checksum,
            os_hash_algo: image.osHashAlgo,
            os_hash_value: image.osHashValue,
            size: image.size,
            virtual_size: image.virtualSize,
            min_ram: image.minRam,
            min_disk: image.minDisk,
            disk_format: image.diskFormat,
            container_format: image.containerFormat,
            tags: image.tags,
            properties: image.properties,
            created_at: image.createdAt,
            updated_at: image.updatedAt,
          },
          `image ${image.id}`,
        );
        return image;
      },
      get: (id) => {
        const r = one(`SELECT * FROM images WHERE id = ? AND status != 'deleted'`, id);
        return r ? toImage(r) : null;
      },
      list: (filter, page) => {
        // glance/db/sqlalchemy/api.py `_select_images_query` and `_image_get_all`.
        const clauses = [`status != 'deleted'`];
        const params: unknown[] = [];
        if (!filter.admin) {
          const status = filter.memberStatus === 'all' ? '' : ' AND status = ?';
          clauses.push(
            `(visibility IN ('public', 'community') OR owner = ? OR (visibility = 'shared' AND id IN
              (SELECT image_id FROM image_members WHERE member_id = ?${status})))`,
          );
          params.push(filter.projectId, filter.projectId);
          if (status) params.push(filter.memberStatus);
        }
        if (filter.visibility === undefined) {
          clauses.push(`(owner = ? OR visibility != 'community')`);
          params.push(filter.projectId);
        }
        for (const [column, op, value] of [
          ['name', '=', filter.name],
          ['status', '=', filter.status],
          ['visibility', '=', filter.visibility === 'all' ? undefined : filter.visibility],
          ['owner', '=', filter.owner],
          ['container_format', '=', filter.containerFormat],
          ['disk_format', '=', filter.diskFormat],
          ['size', '=', filter.size],
          ['size', '>=', filter.sizeMin],
          ['size', '<=', filter.sizeMax],
        ] as const) {
          if (value !== undefined) {
            clauses.push(`${column} ${op} ?`);
            params.push(value);
          }
        }
        for (const tag of filter.tags ?? []) {
          clauses.push('EXISTS (SELECT 1 FROM json_each(images.tags) WHERE value = ?)');
          params.push(tag);
        }
        for (const [key, wanted] of Object.entries(filter.properties ?? {})) {
          clauses.push('EXISTS (SELECT 1 FROM json_each(images.properties) WHERE key = ? AND value = ?)');
          params.push(key, wanted);
        }
        // The sort keys, then created_at and id (newest first) to break ties; a missing name or
        // size sorts as the least (COALESCE: SQL's NULL compares with nothing).
        const keys: ImageSortKey[] = [...(filter.sort ?? [])];
        for (const key of ['created_at', 'id'] as const) {
          if (!keys.some((k) => k.key === key)) keys.push({ key, dir: 'desc' });
        }
        const value = (k: ImageSortKey['key'], table = '') =>
          k === 'size' ? `COALESCE(${table}size, -1)` : k === 'name' ? `COALESCE(${table}name, '')` : `${table}${k}`;
        if (page.marker !== undefined) {
          const marker = one('SELECT * FROM images WHERE id = ?', page.marker);
          if (!marker) throw new DbNotFoundError('marker', page.marker);
          // After the marker in that order: the first key that differs decides.
          const after = keys.map((k, i) => {
            const equal = keys.slice(0, i).map((e) => `${value(e.key, 'images.')} = ${value(e.key, 'm.')}`);
            const beyond = `${value(k.key, 'images.')} ${k.dir === 'desc' ? '<' : '>'} ${value(k.key, 'm.')}`;
            return [...equal, beyond].join(' AND ');
          });
          clauses.push(`EXISTS (SELECT 1 FROM images m WHERE m.id = ? AND ((${after.join(') OR (')})))`);
          params.push(page.marker);
        }
        const order = keys.map((k) => `${value(k.key)} ${k.dir.toUpperCase()}`).join(', ');
        return all(
          `SELECT * FROM images WHERE ${clauses.join(' AND ')} ORDER BY ${order} LIMIT ?`,
          ...params,
          page.limit,
        ).map(toImage);
      },
      update: (id, patch) => updateRow('images', id, patch, IMAGE_COLUMNS, 'image', toImage),
      delete: (id) => {
        mustChange(run(`UPDATE images SET status = 'deleted' WHERE id = ? AND status != 'deleted'`, id), 'image', id);
        run('DELETE FROM image_members WHERE image_id = ?', id);
      },
    },
    networks: networksSql(db),
    routers: routersSql(db),
    quotas: {
      get: (projectId) => quotasOf(projectId),
      set: (projectId, limits) => {
        setLimits('quotas', 'project_id', projectId, limits);
        return quotasOf(projectId);
      },
      reset: (projectId) => {
        run('DELETE FROM quotas WHERE project_id = ?', projectId);
      },
      getClass: (className) => classOf(className),
      setClass: (className, limits) => {
        setLimits('quota_classes', 'class_name', className, limits);
        return classOf(className);
      },
    },
  };
}
