import type Database from 'better-sqlite3';
import { DbInvalidActionError, DbNotFoundError } from './errors.js';
import { bool, json, type Row, statements, str, strOrNull, where } from './rows.js';
import type { CloudSql, Domain, Group, Project, User, UserOptions } from './types.js';

export const toDomain = (r: Row): Domain => ({
  id: str(r.id),
  name: str(r.name),
  description: str(r.description),
  enabled: bool(r.enabled),
});

export const toProject = (r: Row): Project => ({
  id: str(r.id),
  name: str(r.name),
  domainId: str(r.domain_id),
  description: str(r.description),
  enabled: bool(r.enabled),
  parentId: strOrNull(r.parent_id),
  tags: json<string[]>(r.tags),
});

export const toUser = (r: Row): User => ({
  id: str(r.id),
  name: str(r.name),
  domainId: str(r.domain_id),
  enabled: bool(r.enabled),
  passwordHash: strOrNull(r.password_hash),
  defaultProjectId: strOrNull(r.default_project_id),
  email: strOrNull(r.email),
  description: str(r.description),
  extra: json<Record<string, unknown>>(r.extra),
  options: json<UserOptions>(r.options),
  passwordChangedAt: strOrNull(r.password_changed_at),
  passwordExpiresAt: strOrNull(r.password_expires_at),
  passwordSelfService: bool(r.password_self_service),
});

const toGroup = (r: Row): Group => ({
  id: str(r.id),
  name: str(r.name),
  domainId: str(r.domain_id),
  description: str(r.description),
});

const DOMAIN_COLUMNS = { name: 'name', description: 'description', enabled: 'enabled' };
const PROJECT_COLUMNS = { name: 'name', description: 'description', enabled: 'enabled', tags: 'tags' };
const USER_COLUMNS = {
  name: 'name',
  enabled: 'enabled',
  defaultProjectId: 'default_project_id',
  email: 'email',
  description: 'description',
  extra: 'extra',
  options: 'options',
  passwordHash: 'password_hash',
  passwordChangedAt: 'password_changed_at',
  passwordExpiresAt: 'password_expires_at',
  passwordSelfService: 'password_self_service',
};
const GROUP_COLUMNS = { name: 'name', description: 'description' };

/**
 * Keystone's identity and resources: the `domains`, `projects`, `users` and `groups` groups. A
 * user's passwords are kept in its history as they are set, the newest few only.
 * What goes with a deleted one goes in the same transaction: a project's grants; a user's
 * grants and memberships (its failed logins, application credentials and access rules by foreign
 * key; a disabled user's credentials and rules too); a group's grants and members; a
 * domain's projects, users, groups, roles and every grant on or of them.
 */
export function identitySql(db: Database.Database): Pick<CloudSql, 'domains' | 'projects' | 'users' | 'groups'> {
  const { all, one, run, insert, mustChange, updateRow } = statements(db);

  const dropGrantsOf = (actorType: 'user' | 'group', actorId: string) =>
    run('DELETE FROM role_assignments WHERE actor_type = ? AND actor_id = ?', actorType, actorId);
  const dropGrantsOn = (targetType: 'project' | 'domain', targetId: string) =>
    run('DELETE FROM role_assignments WHERE target_type = ? AND target_id = ?', targetType, targetId);

  const children = (id: string): Project[] =>
    all('SELECT * FROM projects WHERE parent_id = ? ORDER BY name', id).map(toProject);
  const descendants = (id: string): Project[] => {
    const found: Project[] = [];
    for (let level = children(id); level.length > 0; level = level.flatMap((p) => children(p.id))) {
      found.push(...level);
    }
    return found;
  };
  const deleteProject = (id: string) => {
    if (one('SELECT 1 FROM projects WHERE parent_id = ?', id)) {
      throw new DbInvalidActionError(`project ${id} has projects under it`);
    }
    mustChange(run('DELETE FROM projects WHERE id = ?', id), 'project', id);
    run('DELETE FROM quotas WHERE project_id = ?', id);
    dropGrantsOn('project', id);
  };
  /** Adds a password to the user's history and forgets all but the `keep` newest. */
  const recordPassword = (userId: string, hash: string, keep: number) => {
    run('INSERT INTO password_history (user_id, hash) VALUES (?, ?)', userId, hash);
    run(
      `DELETE FROM password_history WHERE user_id = ? AND id NOT IN
         (SELECT id FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?)`,
      userId,
      userId,
      keep,
    );
  };
  const deleteUser = (id: string) => {
    mustChange(run('DELETE FROM users WHERE id = ?', id), 'user', id);
    dropGrantsOf('user', id);
  };
  const deleteGroup = (id: string) => {
    mustChange(run('DELETE FROM groups WHERE id = ?', id), 'group', id);
    dropGrantsOf('group', id);
  };

  return {
    domains: {
      create: (domain) => {
        insert(
          'domains',
          { id: domain.id, name: domain.name, description: domain.description, enabled: domain.enabled },
          `domain ${domain.name}`,
        );
        return domain;
      },
      get: (id) => {
        const r = one('SELECT * FROM domains WHERE id = ?', id);
        return r ? toDomain(r) : null;
      },
      list: (filter) => {
        const w = where({ name: filter.name, enabled: filter.enabled });
        return all(`SELECT * FROM domains${w.sql} ORDER BY name`, ...w.params).map(toDomain);
      },
      update: (id, patch) => updateRow('domains', id, patch, DOMAIN_COLUMNS, 'domain', toDomain),
      delete: (id) => {
        if (!one('SELECT 1 FROM domains WHERE id = ?', id)) throw new DbNotFoundError('domain', id);
        // Leaves first, so that no project is deleted while one is under it.
        const projects = all('SELECT id FROM projects WHERE domain_id = ?', id).map((r) => str(r.id));
        const depth = (p: string) => {
          let n = 0;
          for (let at = one('SELECT parent_id FROM projects WHERE id = ?', p); at?.parent_id; n++) {
            at = one('SELECT parent_id FROM projects WHERE id = ?', at.parent_id);
          }
          return n;
        };
        for (const p of projects.sort((a, b) => depth(b) - depth(a))) deleteProject(p);
        for (const r of all('SELECT id FROM users WHERE domain_id = ?', id)) deleteUser(str(r.id));
        for (const r of all('SELECT id FROM groups WHERE domain_id = ?', id)) deleteGroup(str(r.id));
        for (const r of all('SELECT id FROM roles WHERE domain_id = ?', id)) {
          run('DELETE FROM role_assignments WHERE role_id = ?', r.id);
          run('DELETE FROM roles WHERE id = ?', r.id);
        }
        dropGrantsOn('domain', id);
        run('DELETE FROM domains WHERE id = ?', id);
      },
    },
    projects: {
      create: (project) => {
        insert(
          'projects',
          {
            id: project.id,
            name: project.name,
            domain_id: project.domainId,
            description: project.description,
            enabled: project.enabled,
            parent_id: project.parentId,
            tags: project.tags,
          },
          `project ${project.name}`,
        );
        return project;
      },
      get: (id) => {
        const r = one('SELECT * FROM projects WHERE id = ?', id);
        return r ? toProject(r) : null;
      },
      findByName: (domainId, name) => {
        const r = one('SELECT * FROM projects WHERE domain_id = ? AND name = ?', domainId, name);
        return r ? toProject(r) : null;
      },
      list: (filter) => {
        const w = where({
          name: filter.name,
          domain_id: filter.domainId,
          enabled: filter.enabled,
          parent_id: filter.parentId,
        });
        return all(`SELECT * FROM projects${w.sql} ORDER BY name`, ...w.params).map(toProject);
      },
      ancestors: (id) => {
        const found: Project[] = [];
        const seen = new Set([id]);
        let row = one('SELECT * FROM projects WHERE id = ?', id);
        while (row?.parent_id && !seen.has(str(row.parent_id))) {
          seen.add(str(row.parent_id));
          row = one('SELECT * FROM projects WHERE id = ?', row.parent_id);
          if (row) found.push(toProject(row));
        }
        return found;
      },
      descendants,
      update: (id, patch) => updateRow('projects', id, patch, PROJECT_COLUMNS, 'project', toProject),
      delete: deleteProject,
    },
    users: {
      create: (user) => {
        insert(
          'users',
          {
            id: user.id,
            name: user.name,
            domain_id: user.domainId,
            enabled: user.enabled,
            password_hash: user.passwordHash,
            default_project_id: user.defaultProjectId,
            email: user.email,
            description: user.description,
            extra: user.extra,
            options: user.options,
            password_changed_at: user.passwordChangedAt,
            password_expires_at: user.passwordExpiresAt,
            password_self_service: user.passwordSelfService,
          },
          `user ${user.name}`,
        );
        if (user.passwordHash !== null) recordPassword(user.id, user.passwordHash, 1);
        return user;
      },
      get: (id) => {
        const r = one('SELECT * FROM users WHERE id = ?', id);
        return r ? toUser(r) : null;
      },
      findByName: (domainId, name) => {
        const r = one('SELECT * FROM users WHERE domain_id = ? AND name = ?', domainId, name);
        return r ? toUser(r) : null;
      },
      list: (filter) => {
        const w = where({ name: filter.name, domain_id: filter.domainId, enabled: filter.enabled });
        return all(`SELECT * FROM users${w.sql} ORDER BY name`, ...w.params).map(toUser);
      },
      update: (id, { password, ...attributes }) => {
        const user = updateRow(
          'users',
          id,
          password
            ? {
                ...attributes,
                passwordHash: password.hash,
                passwordChangedAt: password.setAt,
                passwordExpiresAt: password.expiresAt,
                passwordSelfService: password.selfService,
              }
            : attributes,
          USER_COLUMNS,
          'user',
          toUser,
        );
        if (password) recordPassword(id, password.hash, password.keep);
        // As Keystone: a disabled user's application credentials and access rules are deleted;
        // enabling a user unlocks it (its failed logins are forgotten).
        if (attributes.enabled === false) {
          run('DELETE FROM application_credentials WHERE user_id = ?', id);
          run('DELETE FROM access_rules WHERE user_id = ?', id);
        }
        if (attributes.enabled === true) run('DELETE FROM login_failures WHERE user_id = ?', id);
        return user;
      },
      passwordHistory: (id, count) =>
        all('SELECT hash FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?', id, count).map((r) =>
          str(r.hash),
        ),
      delete: deleteUser,
    },
    groups: {
      create: (group) => {
        insert(
          'groups',
          { id: group.id, name: group.name, domain_id: group.domainId, description: group.description },
          `group ${group.name}`,
        );
        return group;
      },
      get: (id) => {
        const r = one('SELECT * FROM groups WHERE id = ?', id);
        return r ? toGroup(r) : null;
      },
      list: (filter) => {
        const w = where({ name: filter.name, domain_id: filter.domainId });
        return all(`SELECT * FROM groups${w.sql} ORDER BY name`, ...w.params).map(toGroup);
      },
      update: (id, patch) => updateRow('groups', id, patch, GROUP_COLUMNS, 'group', toGroup),
      delete: deleteGroup,
      addMember: (groupId, userId) => {
        if (!one('SELECT 1 FROM groups WHERE id = ?', groupId)) throw new DbNotFoundError('group', groupId);
        if (!one('SELECT 1 FROM users WHERE id = ?', userId)) throw new DbNotFoundError('user', userId);
        run('INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)', groupId, userId);
      },
      removeMember: (groupId, userId) =>
        mustChange(
          run('DELETE FROM group_members WHERE group_id = ? AND user_id = ?', groupId, userId),
          'group membership',
          `${groupId}/${userId}`,
        ),
      members: (groupId) =>
        all(
          `SELECT users.* FROM users JOIN group_members ON group_members.user_id = users.id
           WHERE group_members.group_id = ? ORDER BY users.name`,
          groupId,
        ).map(toUser),
      ofUser: (userId) =>
        all(
          `SELECT groups.* FROM groups JOIN group_members ON group_members.group_id = groups.id
           WHERE group_members.user_id = ? ORDER BY groups.name`,
          userId,
        ).map(toGroup),
    },
  };
}
