import type Database from 'better-sqlite3';
import { DbNotFoundError } from './errors.js';
import { bool, type Row, statements, str, strOrNull, where } from './rows.js';
import type {
  ActorType,
  CloudSql,
  EffectiveAssignment,
  Role,
  RoleAssignment,
  TargetType,
  TokenScope,
} from './types.js';

export const toRole = (r: Row): Role => ({
  id: str(r.id),
  name: str(r.name),
  domainId: strOrNull(r.domain_id),
  description: str(r.description),
});

const toAssignment = (r: Row): RoleAssignment => ({
  actorType: str(r.actor_type) as ActorType,
  actorId: str(r.actor_id),
  targetType: str(r.target_type) as TargetType,
  targetId: str(r.target_id),
  roleId: str(r.role_id),
  inherited: bool(r.inherited),
});

const ROLE_COLUMNS = { name: 'name', description: 'description' };

/** A grant's columns, in the table's order. */
const columnsOf = (a: RoleAssignment) =>
  [a.actorType, a.actorId, a.targetType, a.targetId, a.roleId, a.inherited ? 1 : 0] as const;

/**
 * Keystone's roles and assignments: the `roles` and `assignments` groups, and the effective
 * roles a token carries (`rolesOn`). A grant is a user's or a group's, on a project, a domain or
 * the system; an inherited one applies to every project under its target (a domain's projects at
 * any depth, a project's subprojects) and not to the target itself. A role may imply others
 * (transitively, a cycle stopping where it closes); a domain-specific role is never effective
 * itself, only through the global roles it implies (Keystone's rule).
 */
export function roleAssignmentsSql(db: Database.Database) {
  const { all, one, run, insert, mustChange, updateRow } = statements(db);

  const roleOf = (id: string): Role | null => {
    const r = one('SELECT * FROM roles WHERE id = ?', id);
    return r ? toRole(r) : null;
  };
  const impliedBy = (priorId: string): string[] =>
    all('SELECT implied_role_id FROM implied_roles WHERE prior_role_id = ?', priorId).map((r) =>
      str(r.implied_role_id),
    );
  /** The role and every role it implies, each with the role that implies it directly (null for itself). */
  const withImplied = (roleId: string): { roleId: string; priorRoleId: string | null }[] => {
    const found = [{ roleId, priorRoleId: null as string | null }];
    const seen = new Set([roleId]);
    for (let i = 0; i < found.length; i++) {
      const prior = found[i]?.roleId ?? '';
      for (const implied of impliedBy(prior)) {
        if (seen.has(implied)) continue;
        seen.add(implied);
        found.push({ roleId: implied, priorRoleId: prior });
      }
    }
    return found;
  };
  const isGlobal = (roleId: string) => roleOf(roleId)?.domainId === null;

  const groupsOf = (userId: string) =>
    all('SELECT group_id FROM group_members WHERE user_id = ?', userId).map((r) => str(r.group_id));
  const membersOf = (groupId: string) =>
    all('SELECT user_id FROM group_members WHERE group_id = ?', groupId).map((r) => str(r.user_id));
  const projectRow = (id: string) => one('SELECT id, parent_id, domain_id FROM projects WHERE id = ?', id);
  const projectsUnder = (a: RoleAssignment): string[] => {
    if (a.targetType === 'domain') {
      return all('SELECT id FROM projects WHERE domain_id = ?', a.targetId).map((r) => str(r.id));
    }
    const found: string[] = [];
    for (let level = [a.targetId]; level.length > 0;) {
      level = level.flatMap((id) => all('SELECT id FROM projects WHERE parent_id = ?', id).map((r) => str(r.id)));
      found.push(...level);
    }
    return found;
  };

  /** The grants of the actors that reach the target: on it, and inherited from the projects above it and its domain. */
  const grantsReaching = (actors: { type: ActorType; id: string }[], targetType: TargetType, targetId: string) => {
    const targets: { type: TargetType; id: string; inherited: boolean }[] = [
      { type: targetType, id: targetId, inherited: false },
    ];
    if (targetType === 'project') {
      const seen = new Set([targetId]);
      let row = projectRow(targetId);
      if (row) targets.push({ type: 'domain', id: str(row.domain_id), inherited: true });
      while (row?.parent_id && !seen.has(str(row.parent_id))) {
        seen.add(str(row.parent_id));
        targets.push({ type: 'project', id: str(row.parent_id), inherited: true });
        row = projectRow(str(row.parent_id));
      }
    }
    return actors.flatMap((actor) =>
      targets.flatMap((t) =>
        all(
          `SELECT * FROM role_assignments WHERE actor_type = ? AND actor_id = ? AND target_type = ? AND target_id = ?
           AND inherited = ?`,
          actor.type,
          actor.id,
          t.type,
          t.id,
          t.inherited ? 1 : 0,
        ).map(toAssignment),
      ),
    );
  };

  /** The user's effective roles on a token's scope, by name; none for an unscoped token. */
  const rolesOn = (userId: string, scope: TokenScope): Role[] => {
    if (!scope) return [];
    const actors = [
      { type: 'user' as const, id: userId },
      ...groupsOf(userId).map((id) => ({ type: 'group' as const, id })),
    ];
    const ids = new Set(
      grantsReaching(actors, scope.targetType, scope.targetId).flatMap((g) =>
        withImplied(g.roleId).map((r) => r.roleId),
      ),
    );
    return [...ids]
      .map(roleOf)
      .filter((r): r is Role => r !== null && r.domainId === null)
      .sort((a, b) => a.name.localeCompare(b.name));
  };

  const sql: Pick<CloudSql, 'roles' | 'assignments'> = {
    roles: {
      create: (role) => {
        insert(
          'roles',
          { id: role.id, name: role.name, domain_id: role.domainId, description: role.description },
          `role ${role.name}`,
        );
        return role;
      },
      get: roleOf,
      list: (filter) => {
        const w = where({ name: filter.name, domain_id: filter.domainId });
        const globalOnly = filter.domainId === undefined ? `${w.sql ? ' AND' : ' WHERE'} domain_id IS NULL` : '';
        return all(`SELECT * FROM roles${w.sql}${globalOnly} ORDER BY name`, ...w.params).map(toRole);
      },
      update: (id, patch) => updateRow('roles', id, patch, ROLE_COLUMNS, 'role', toRole),
      delete: (id) => {
        mustChange(run('DELETE FROM roles WHERE id = ?', id), 'role', id);
        run('DELETE FROM role_assignments WHERE role_id = ?', id);
      },
      imply: (priorId, impliedId) => {
        if (!roleOf(priorId)) throw new DbNotFoundError('role', priorId);
        if (!roleOf(impliedId)) throw new DbNotFoundError('role', impliedId);
        insert(
          'implied_roles',
          { prior_role_id: priorId, implied_role_id: impliedId },
          `implication ${priorId} → ${impliedId}`,
        );
      },
      unimply: (priorId, impliedId) =>
        mustChange(
          run('DELETE FROM implied_roles WHERE prior_role_id = ? AND implied_role_id = ?', priorId, impliedId),
          'implied role',
          `${priorId}/${impliedId}`,
        ),
      implications: (filter) => {
        const w = where({ prior_role_id: filter.priorId });
        return all(`SELECT * FROM implied_roles${w.sql} ORDER BY prior_role_id, implied_role_id`, ...w.params).map(
          (r) => ({ priorId: str(r.prior_role_id), impliedId: str(r.implied_role_id) }),
        );
      },
    },
    assignments: {
      grant: (a) => {
        if (!roleOf(a.roleId)) throw new DbNotFoundError('role', a.roleId);
        run(
          `INSERT OR IGNORE INTO role_assignments (actor_type, actor_id, target_type, target_id, role_id, inherited)
           VALUES (?, ?, ?, ?, ?, ?)`,
          ...columnsOf(a),
        );
      },
      revoke: (a) =>
        mustChange(
          run(
            `DELETE FROM role_assignments WHERE actor_type = ? AND actor_id = ? AND target_type = ? AND target_id = ?
             AND role_id = ? AND inherited = ?`,
            ...columnsOf(a),
          ),
          'role assignment',
          `${a.actorType} ${a.actorId} on ${a.targetType} ${a.targetId}: ${a.roleId}`,
        ),
      list: (filter) => {
        const w = where({
          actor_type: filter.actorType,
          actor_id: filter.actorId,
          target_type: filter.targetType,
          target_id: filter.targetId,
          role_id: filter.roleId,
          inherited: filter.inherited,
        });
        return all(`SELECT * FROM role_assignments${w.sql} ORDER BY rowid`, ...w.params).map(toAssignment);
      },
      effective: (filter) => {
        const grants = filter.userId
          ? [
              ...all("SELECT * FROM role_assignments WHERE actor_type = 'user' AND actor_id = ?", filter.userId),
              ...groupsOf(filter.userId).flatMap((g) =>
                all("SELECT * FROM role_assignments WHERE actor_type = 'group' AND actor_id = ?", g),
              ),
            ]
          : all('SELECT * FROM role_assignments ORDER BY rowid');
        const found: EffectiveAssignment[] = [];
        for (const source of grants.map(toAssignment)) {
          const users = source.actorType === 'user' ? [source.actorId] : membersOf(source.actorId);
          const targets = source.inherited
            ? projectsUnder(source).map((id) => ({ type: 'project' as TargetType, id }))
            : [{ type: source.targetType, id: source.targetId }];
          for (const userId of users) {
            if (filter.userId !== undefined && userId !== filter.userId) continue;
            for (const target of targets) {
              if (filter.targetType !== undefined && target.type !== filter.targetType) continue;
              if (filter.targetId !== undefined && target.id !== filter.targetId) continue;
              for (const role of withImplied(source.roleId)) {
                if (filter.roleId !== undefined && role.roleId !== filter.roleId) continue;
                if (!isGlobal(role.roleId)) continue;
                found.push({ userId, targetType: target.type, targetId: target.id, ...role, source });
              }
            }
          }
        }
        return found;
      },
    },
  };
  return { ...sql, rolesOn, withImplied };
}
