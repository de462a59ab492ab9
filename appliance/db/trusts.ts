import type Database from 'better-sqlite3';
import { DbNotFoundError } from './errors.js';
import { bool, type Row, statements, str, strOrNull } from './rows.js';
import { toRole } from './role-assignments.js';
import type { CloudSql, Role, TokenScope, Trust } from './types.js';

/**
 * The `trusts` group: Keystone's trusts (OS-TRUST) and the roles they delegate, and what a token
 * made from one may do (`delegated`, for `tokens.subject`). A trust goes with its trustor, its
 * trustee, its project and the trust it redelegates (foreign keys); a role it delegates is kept
 * by id, so that deleting the role ends the trust's tokens, as Keystone's.
 */
export function trustsSql(db: Database.Database, withImplied: (roleId: string) => { roleId: string }[]) {
  const { all, one, run, insert, mustChange } = statements(db);

  const toTrust = (r: Row): Trust => ({
    id: str(r.id),
    trustorUserId: str(r.trustor_user_id),
    trusteeUserId: str(r.trustee_user_id),
    projectId: strOrNull(r.project_id),
    impersonation: bool(r.impersonation),
    expiresAt: strOrNull(r.expires_at),
    remainingUses: r.remaining_uses === null ? null : Number(r.remaining_uses),
    redelegatedTrustId: strOrNull(r.redelegated_trust_id),
    redelegationCount: Number(r.redelegation_count),
    roleIds: all('SELECT role_id FROM trust_roles WHERE trust_id = ? ORDER BY rowid', r.id).map((x) => str(x.role_id)),
    roles: all(
      `SELECT roles.* FROM roles JOIN trust_roles ON trust_roles.role_id = roles.id WHERE trust_roles.trust_id = ?
       ORDER BY roles.name`,
      r.id,
    ).map(toRole),
  });
  const get = (id: string): Trust | null => {
    const row = one('SELECT * FROM trusts WHERE id = ?', id);
    return row ? toTrust(row) : null;
  };
  /** An enabled user of an enabled domain. */
  const active = (userId: string): boolean =>
    one(
      `SELECT 1 FROM users JOIN domains ON domains.id = users.domain_id
       WHERE users.id = ? AND users.enabled = 1 AND domains.enabled = 1`,
      userId,
    ) !== undefined;

  const sql: CloudSql['trusts'] = {
    create: (t) => {
      for (const userId of [t.trustorUserId, t.trusteeUserId]) {
        if (!one('SELECT 1 FROM users WHERE id = ?', userId)) throw new DbNotFoundError('user', userId);
      }
      if (t.projectId !== null && !one('SELECT 1 FROM projects WHERE id = ?', t.projectId)) {
        throw new DbNotFoundError('project', t.projectId);
      }
      if (t.redelegatedTrustId !== null && !get(t.redelegatedTrustId)) {
        throw new DbNotFoundError('trust', t.redelegatedTrustId);
      }
      insert(
        'trusts',
        {
          id: t.id,
          trustor_user_id: t.trustorUserId,
          trustee_user_id: t.trusteeUserId,
          project_id: t.projectId,
          impersonation: t.impersonation,
          expires_at: t.expiresAt,
          remaining_uses: t.remainingUses,
          redelegated_trust_id: t.redelegatedTrustId,
          redelegation_count: t.redelegationCount,
        },
        'trust',
      );
      for (const roleId of new Set(t.roleIds)) {
        run('INSERT INTO trust_roles (trust_id, role_id) VALUES (?, ?)', t.id, roleId);
      }
      return get(t.id) as Trust;
    },
    get,
    list: (filter) => {
      const [column, value] =
        filter.trustorUserId !== undefined
          ? ['trustor_user_id', filter.trustorUserId]
          : filter.trusteeUserId !== undefined
            ? ['trustee_user_id', filter.trusteeUserId]
            : [null, null];
      const rows = column
        ? all(`SELECT * FROM trusts WHERE ${column} = ? ORDER BY rowid`, value)
        : all('SELECT * FROM trusts ORDER BY rowid');
      return rows.map(toTrust);
    },
    delete: (id) => mustChange(run('DELETE FROM trusts WHERE id = ?', id), 'trust', id),
    consume: (id) => {
      const row = one('SELECT remaining_uses FROM trusts WHERE id = ?', id);
      if (!row) throw new DbNotFoundError('trust', id);
      if (row.remaining_uses === null) return true;
      return (
        run('UPDATE trusts SET remaining_uses = remaining_uses - 1 WHERE id = ? AND remaining_uses > 0', id).changes ===
        1
      );
    },
  };

  /**
   * What a token of `userId` on `scope` made from trust `trustId` may do, as Keystone's token
   * model checks it at each validation: the trust and every trust it redelegates exist, each
   * trustor and trustee of the chain is an enabled user of an enabled domain, the scope is the
   * trust's project and the user its trustor (impersonating) or its trustee. Then the roles:
   * `heldBy(first trustor)` must still include every role the trust delegates, and the token
   * carries those and the roles they imply. Null if any of that fails.
   */
  const delegated = (
    trustId: string,
    userId: string,
    scope: TokenScope,
    heldBy: (userId: string) => Role[],
  ): { trust: Trust; roles: Role[] } | null => {
    const trust = get(trustId);
    if (!trust || trust.projectId === null) return null;
    if (scope?.targetType !== 'project' || scope.targetId !== trust.projectId) return null;
    if (userId !== (trust.impersonation ? trust.trustorUserId : trust.trusteeUserId)) return null;
    const chain = [trust];
    for (let at = trust; at.redelegatedTrustId !== null;) {
      const parent = get(at.redelegatedTrustId);
      if (!parent || chain.some((t) => t.id === parent.id)) return null;
      chain.push(parent);
      at = parent;
    }
    if (!chain.every((t) => active(t.trustorUserId) && active(t.trusteeUserId))) return null;
    const first = chain[chain.length - 1] as Trust;
    const held = heldBy(first.trustorUserId);
    const heldIds = new Set(held.map((r) => r.id));
    if (!trust.roleIds.every((id) => heldIds.has(id))) return null;
    const delegatedIds = new Set(trust.roleIds.flatMap((id) => withImplied(id).map((r) => r.roleId)));
    return { trust, roles: held.filter((r) => delegatedIds.has(r.id)) };
  };

  return { sql, delegated };
}
