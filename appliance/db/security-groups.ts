import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { DbConflictError, DbNotFoundError, DbQuotaExceededError } from './errors.js';
import { bool, num, type Row, statements, str, strOrNull, where } from './rows.js';
import type { CloudSql, SecurityGroup, SecurityGroupRule } from './types.js';

const toRule = (r: Row): SecurityGroupRule => ({
  id: str(r.id),
  groupId: str(r.group_id),
  projectId: str(r.project_id),
  direction: str(r.direction) as SecurityGroupRule['direction'],
  ethertype: str(r.ethertype) as SecurityGroupRule['ethertype'],
  protocol: strOrNull(r.protocol),
  portMin: r.port_min === null ? null : num(r.port_min),
  portMax: r.port_max === null ? null : num(r.port_max),
  remoteIpPrefix: strOrNull(r.remote_ip_prefix),
  remoteGroupId: strOrNull(r.remote_group_id),
  description: str(r.description),
  createdAt: str(r.created_at),
});

/**
 * The `securityGroups` group (Neutron's security groups and their rules, and which ports are in
 * which). The rules are allow rules only; what they mean on a port is the compute side's
 * (appliance/compute/firewall.ts) and the host's to enforce.
 */
export function securityGroupsSql(db: Database.Database): CloudSql['securityGroups'] {
  const { all, one, run, insert, mustChange } = statements(db);

  const rulesOf = (groupId: string) =>
    all('SELECT * FROM security_group_rules WHERE group_id = ? ORDER BY rowid', groupId).map(toRule);
  const toGroup = (r: Row): SecurityGroup => ({
    id: str(r.id),
    projectId: str(r.project_id),
    name: str(r.name),
    description: str(r.description),
    stateful: bool(r.stateful),
    isDefault: bool(r.is_default),
    rules: rulesOf(str(r.id)),
    revision: num(r.revision),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  });
  const get = (id: string): SecurityGroup | null => {
    const row = one('SELECT * FROM security_groups WHERE id = ?', id);
    return row ? toGroup(row) : null;
  };
  const touch = (groupId: string, now: string) =>
    run('UPDATE security_groups SET revision = revision + 1, updated_at = ? WHERE id = ?', now, groupId);
  const countOf = (sql: string, projectId: string) => num(one(sql, projectId)?.n);
  const groupCount = (projectId: string) =>
    countOf('SELECT COUNT(*) AS n FROM security_groups WHERE project_id = ?', projectId);
  const ruleCount = (projectId: string) =>
    countOf('SELECT COUNT(*) AS n FROM security_group_rules WHERE project_id = ?', projectId);

  /** Inserts a rule; the same rule twice in one group is a DbConflictError naming the first. */
  const insertRule = (rule: SecurityGroupRule): void => {
    const same = one(
      `SELECT id FROM security_group_rules WHERE group_id = ? AND direction = ? AND ethertype = ?
         AND coalesce(protocol, '') = ? AND coalesce(port_min, -1) = ? AND coalesce(port_max, -1) = ?
         AND coalesce(remote_ip_prefix, '') = ? AND coalesce(remote_group_id, '') = ?`,
      rule.groupId,
      rule.direction,
      rule.ethertype,
      rule.protocol ?? '',
      rule.portMin ?? -1,
      rule.portMax ?? -1,
      rule.remoteIpPrefix ?? '',
      rule.remoteGroupId ?? '',
    );
    if (same) throw new DbConflictError(`Security group rule already exists. Rule id is ${str(same.id)}.`);
    insert(
      'security_group_rules',
      {
        id: rule.id,
        group_id: rule.groupId,
        project_id: rule.projectId,
        direction: rule.direction,
        ethertype: rule.ethertype,
        protocol: rule.protocol,
        port_min: rule.portMin,
        port_max: rule.portMax,
        remote_ip_prefix: rule.remoteIpPrefix,
        remote_group_id: rule.remoteGroupId,
        description: rule.description,
        created_at: rule.createdAt,
      },
      'security group rule',
    );
  };
  /** A rule of `group` to anywhere (or from its own members, `remoteSelf`), any protocol. */
  const baseRule = (
    id: string,
    group: { id: string; projectId: string; createdAt: string },
    direction: SecurityGroupRule['direction'],
    ethertype: SecurityGroupRule['ethertype'],
    remoteSelf: boolean,
  ): SecurityGroupRule => ({
    id,
    groupId: group.id,
    projectId: group.projectId,
    direction,
    ethertype,
    protocol: null,
    portMin: null,
    portMax: null,
    remoteIpPrefix: null,
    remoteGroupId: remoteSelf ? group.id : null,
    description: '',
    createdAt: group.createdAt,
  });
  const insertGroup = (group: Omit<SecurityGroup, 'rules' | 'revision'>) =>
    insert(
      'security_groups',
      {
        id: group.id,
        project_id: group.projectId,
        name: group.name,
        description: group.description,
        stateful: group.stateful,
        is_default: group.isDefault,
        revision: 0,
        created_at: group.createdAt,
        updated_at: group.updatedAt,
      },
      `security group ${group.name}`,
    );

  const ensureDefault = db.transaction((projectId: string, now: string): SecurityGroup => {
    const existing = one('SELECT * FROM security_groups WHERE project_id = ? AND is_default = 1', projectId);
    if (existing) return toGroup(existing);
    const group = {
      id: randomUUID(),
      projectId,
      name: 'default',
      description: 'Default security group',
      stateful: true,
      isDefault: true,
      createdAt: now,
      updatedAt: now,
    };
    insertGroup(group);
    // Neutron's default group: anything out, and in from the group's own members only.
    for (const [direction, ethertype] of [
      ['ingress', 'IPv4'],
      ['ingress', 'IPv6'],
      ['egress', 'IPv4'],
      ['egress', 'IPv6'],
    ] as const)
      insertRule(baseRule(randomUUID(), group, direction, ethertype, direction === 'ingress'));
    return get(group.id) as SecurityGroup;
  });

  const create = db.transaction(
    (group: Omit<SecurityGroup, 'rules' | 'isDefault' | 'revision'>, ruleIds: readonly [string, string], quota) => {
      if (quota >= 0 && groupCount(group.projectId) + 1 > quota)
        throw new DbQuotaExceededError('Quota exceeded for resources: security_group.');
      insertGroup({ ...group, isDefault: false });
      insertRule(baseRule(ruleIds[0], group, 'egress', 'IPv4', false));
      insertRule(baseRule(ruleIds[1], group, 'egress', 'IPv6', false));
      return get(group.id) as SecurityGroup;
    },
  );

  const addRule = db.transaction((rule: SecurityGroupRule, quota: number, now: string) => {
    if (!one('SELECT 1 FROM security_groups WHERE id = ?', rule.groupId))
      throw new DbNotFoundError('security group', rule.groupId);
    if (rule.remoteGroupId !== null && !one('SELECT 1 FROM security_groups WHERE id = ?', rule.remoteGroupId))
      throw new DbNotFoundError('security group', rule.remoteGroupId);
    if (quota >= 0 && ruleCount(rule.projectId) + 1 > quota)
      throw new DbQuotaExceededError('Quota exceeded for resources: security_group_rule.');
    insertRule(rule);
    touch(rule.groupId, now);
    return rule;
  });

  const setPortGroups = db.transaction((portId: string, groupIds: readonly string[]) => {
    if (!one('SELECT 1 FROM ports WHERE id = ?', portId)) throw new DbNotFoundError('port', portId);
    for (const id of groupIds)
      if (!one('SELECT 1 FROM security_groups WHERE id = ?', id)) throw new DbNotFoundError('security group', id);
    run('DELETE FROM port_security_groups WHERE port_id = ?', portId);
    for (const id of new Set(groupIds))
      run('INSERT INTO port_security_groups (port_id, group_id) VALUES (?, ?)', portId, id);
  });

  const remove = db.transaction((id: string) => {
    if (one('SELECT 1 FROM port_security_groups WHERE group_id = ? LIMIT 1', id))
      throw new DbConflictError(`Security Group ${id} in use.`);
    // The rules naming it as remote group go with it (cascade), and their groups change.
    for (const r of all(
      'SELECT DISTINCT group_id FROM security_group_rules WHERE remote_group_id = ? AND group_id != ?',
      id,
      id,
    ))
      run('UPDATE security_groups SET revision = revision + 1 WHERE id = ?', r.group_id);
    mustChange(run('DELETE FROM security_groups WHERE id = ?', id), 'security group', id);
  });

  const deleteRule = db.transaction((id: string, now: string) => {
    const rule = one('SELECT group_id FROM security_group_rules WHERE id = ?', id);
    if (!rule) throw new DbNotFoundError('security group rule', id);
    run('DELETE FROM security_group_rules WHERE id = ?', id);
    touch(str(rule.group_id), now);
  });

  /** `column IN (?, ?…)` for a list of ids, and its parameters. */
  const inList = (ids: readonly string[]) => ids.map(() => '?').join(', ');

  return {
    ensureDefault: (projectId, now) => ensureDefault(projectId, now),
    create: (group, ruleIds, quota) => create(group, ruleIds, quota),
    get,
    list: (filter) => {
      const w = where({ project_id: filter.projectId });
      return all(`SELECT * FROM security_groups${w.sql} ORDER BY created_at, id`, ...w.params).map(toGroup);
    },
    update: (id, patch, now) => {
      const before = get(id);
      if (!before) throw new DbNotFoundError('security group', id);
      const next = { ...before, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
      run(
        'UPDATE security_groups SET name = ?, description = ?, stateful = ?, revision = revision + 1, updated_at = ? WHERE id = ?',
        next.name,
        next.description,
        next.stateful ? 1 : 0,
        now,
        id,
      );
      return get(id) as SecurityGroup;
    },
    delete: (id) => remove(id),
    addRule: (rule, quota, now) => addRule(rule, quota, now),
    getRule: (id) => {
      const row = one('SELECT * FROM security_group_rules WHERE id = ?', id);
      return row ? toRule(row) : null;
    },
    rules: (filter) => {
      const w = where({ project_id: filter.projectId, group_id: filter.groupId });
      return all(`SELECT * FROM security_group_rules${w.sql} ORDER BY created_at, id`, ...w.params).map(toRule);
    },
    deleteRule: (id, now) => deleteRule(id, now),
    ofPorts: (portIds) => {
      const groups: Record<string, string[]> = Object.fromEntries(portIds.map((id) => [id, []]));
      if (portIds.length === 0) return groups;
      for (const r of all(
        `SELECT port_id, group_id FROM port_security_groups WHERE port_id IN (${inList(portIds)}) ORDER BY rowid`,
        ...portIds,
      ))
        groups[str(r.port_id)]?.push(str(r.group_id));
      return groups;
    },
    setPortGroups: (portId, groupIds) => setPortGroups(portId, groupIds),
    addresses: (groupIds) => {
      const addresses: Record<string, string[]> = Object.fromEntries(groupIds.map((id) => [id, []]));
      if (groupIds.length === 0) return addresses;
      for (const r of all(
        `SELECT m.group_id, p.ip_address FROM port_security_groups m JOIN port_ips p ON p.port_id = m.port_id
         WHERE m.group_id IN (${inList(groupIds)}) ORDER BY p.ip_int`,
        ...groupIds,
      ))
        addresses[str(r.group_id)]?.push(str(r.ip_address));
      return addresses;
    },
    usage: (projectId) => ({ groups: groupCount(projectId), rules: ruleCount(projectId) }),
  };
}
