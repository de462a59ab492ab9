import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError } from './errors.js';
import { bool, type Row, statements, str, strOrNull } from './rows.js';
import { toRole } from './role-assignments.js';
import type { AccessRule, ApplicationCredential, CloudSql } from './types.js';

const toAccessRule = (r: Row): AccessRule => ({
  id: str(r.id),
  userId: str(r.user_id),
  service: str(r.service),
  path: str(r.path),
  method: str(r.method),
});

/**
 * The `applicationCredentials` group: Keystone's application credentials, with the roles they
 * delegate and the access rules that bound their tokens, and each user's access rules. A
 * credential goes with its user and its project, a role it delegates with the role (foreign
 * keys); an access rule outlives the credentials that used it (Keystone's), but may not be
 * deleted while one still does.
 */
export function applicationCredentialsSql(db: Database.Database): CloudSql['applicationCredentials'] {
  const { all, one, run, insert, mustChange } = statements(db);

  const toCredential = (r: Row): ApplicationCredential => ({
    id: str(r.id),
    userId: str(r.user_id),
    name: str(r.name),
    description: strOrNull(r.description),
    secretHash: str(r.secret_hash),
    projectId: str(r.project_id),
    expiresAt: strOrNull(r.expires_at),
    unrestricted: bool(r.unrestricted),
    roles: all(
      `SELECT roles.* FROM roles JOIN application_credential_roles ON application_credential_roles.role_id = roles.id
       WHERE application_credential_roles.application_credential_id = ? ORDER BY roles.name`,
      r.id,
    ).map(toRole),
    accessRules: all(
      `SELECT access_rules.* FROM access_rules
       JOIN application_credential_access_rules ON application_credential_access_rules.access_rule_id = access_rules.id
       WHERE application_credential_access_rules.application_credential_id = ? ORDER BY access_rules.rowid`,
      r.id,
    ).map(toAccessRule),
  });
  const get = (id: string): ApplicationCredential | null => {
    const row = one('SELECT * FROM application_credentials WHERE id = ?', id);
    return row ? toCredential(row) : null;
  };
  const getAccessRule = (id: string): AccessRule | null => {
    const row = one('SELECT * FROM access_rules WHERE id = ?', id);
    return row ? toAccessRule(row) : null;
  };
  /** The user's rule of this id, else its identical rule, else a new one with this id (Keystone's driver). */
  const ruleFor = (userId: string, rule: Omit<AccessRule, 'userId'>): string => {
    const mine = one('SELECT id FROM access_rules WHERE id = ? AND user_id = ?', rule.id, userId);
    if (mine) return str(mine.id);
    const same = one(
      'SELECT id FROM access_rules WHERE user_id = ? AND service = ? AND path = ? AND method = ?',
      userId,
      rule.service,
      rule.path,
      rule.method,
    );
    if (same) return str(same.id);
    insert(
      'access_rules',
      { id: rule.id, user_id: userId, service: rule.service, path: rule.path, method: rule.method },
      `access rule ${rule.id}`,
    );
    return rule.id;
  };

  return {
    create: (c) => {
      if (!one('SELECT 1 FROM users WHERE id = ?', c.userId)) throw new DbNotFoundError('user', c.userId);
      if (!one('SELECT 1 FROM projects WHERE id = ?', c.projectId)) throw new DbNotFoundError('project', c.projectId);
      for (const roleId of c.roleIds) {
        if (!one('SELECT 1 FROM roles WHERE id = ?', roleId)) throw new DbNotFoundError('role', roleId);
      }
      if (one('SELECT 1 FROM application_credentials WHERE user_id = ? AND name = ?', c.userId, c.name)) {
        throw new DbConflictError(`Duplicate entry found with name ${c.name}`);
      }
      insert(
        'application_credentials',
        {
          id: c.id,
          user_id: c.userId,
          name: c.name,
          description: c.description,
          secret_hash: c.secretHash,
          project_id: c.projectId,
          expires_at: c.expiresAt,
          unrestricted: c.unrestricted,
        },
        `application credential ${c.id}`,
      );
      for (const roleId of new Set(c.roleIds)) {
        run(
          'INSERT INTO application_credential_roles (application_credential_id, role_id) VALUES (?, ?)',
          c.id,
          roleId,
        );
      }
      for (const ruleId of new Set(c.accessRules.map((rule) => ruleFor(c.userId, rule)))) {
        run(
          'INSERT INTO application_credential_access_rules (application_credential_id, access_rule_id) VALUES (?, ?)',
          c.id,
          ruleId,
        );
      }
      return get(c.id) as ApplicationCredential;
    },
    get,
    list: (filter) => {
      const name = filter.name === undefined ? '' : ' AND name = ?';
      const params = filter.name === undefined ? [filter.userId] : [filter.userId, filter.name];
      return all(`SELECT * FROM application_credentials WHERE user_id = ?${name} ORDER BY rowid`, ...params).map(
        toCredential,
      );
    },
    delete: (id) =>
      mustChange(run('DELETE FROM application_credentials WHERE id = ?', id), 'application credential', id),
    accessRules: (filter) => {
      const conditions = Object.entries({ service: filter.service, path: filter.path, method: filter.method }).filter(
        ([, v]) => v !== undefined,
      );
      return all(
        `SELECT * FROM access_rules WHERE user_id = ?${conditions.map(([k]) => ` AND ${k} = ?`).join('')} ORDER BY rowid`,
        filter.userId,
        ...conditions.map(([, v]) => v),
      ).map(toAccessRule);
    },
    getAccessRule,
    deleteAccessRule: (id) => {
      if (!getAccessRule(id)) throw new DbNotFoundError('access rule', id);
      if (one('SELECT 1 FROM application_credential_access_rules WHERE access_rule_id = ?', id)) {
        throw new DbConflictError(`access rule ${id} is in use by an application credential`);
      }
      run('DELETE FROM access_rules WHERE id = ?', id);
    },
  };
}
