/**
 * Nova's proxy of Neutron's security groups (nova/api/openstack/compute/security_groups.py over
 * nova/network/security_group_api.py), on the same groups as Neutron's API (appliance/db,
 * `securityGroups`):
 *
 * - `/os-security-groups` and `/os-security-group-rules`, microversions 2.1 to 2.35 (a 404
 *   from 2.36, where Nova deprecated its proxies): a group in Nova's shape shows its ingress
 *   rules only, as Nova's rules are; a rule is made as Nova makes it (`_new_ingress_rule`),
 *   with Nova's checks and status codes, Neutron's answers mapped as Nova maps them (a group in
 *   use or the default group is a 400 to delete, a quota a 403);
 * - `GET /servers/{id}/os-security-groups`, at every microversion as in Nova (2.36 did not
 *   deprecate it): the groups of the server's ports, in full;
 * - the `addSecurityGroup` and `removeSecurityGroup` server actions, at every microversion: the
 *   server's ports join or leave a group of its project, named by name or id;
 * - the names of the groups of servers' ports, which a server's view shows (views.ts).
 *
 * Whatever changes what a port lets through asks the compute side to bring the project's
 * firewalls up to date (`refreshFirewalls`).
 */
import { randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CloudDb, SecurityGroup, SecurityGroupRule, Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, projectOf, queryAll, requireWriter } from '../context.js';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../faults.js';
import { projectGroup } from '../network/group-names.js';
import { isObject, isUuid, type Json } from './fields.js';
import { atLeast } from './microversions.js';

/** A group a rule names as its other end, as Nova shows it; null when the caller may not see it (the rule is not shown). */
type Remote = { name: string; tenant_id: string } | null;

/** Nova's common.limited: at most 1000 items. */
const MAX_LIMIT = 1000;

const sees = (auth: AuthContext, group: SecurityGroup) => auth.isCloudAdmin || group.projectId === auth.project?.id;
const groupNotFound = (id: string) => notFound(`Security group ${id} does not exist`);

/** Nova's proxies are gone from 2.36: the URL is not found. */
function refuseFrom236(request: FastifyRequest): void {
  if (atLeast(request, '2.36')) throw notFound('The resource could not be found.');
}

/** Nova's `validate_id`: a group's or rule's id in a URL is a UUID, else a 400. */
function validId(id: string): string {
  if (!isUuid(id)) throw badRequest('Security group id should be uuid');
  return id;
}

/**
 * A rule's ports as Nova reads Neutron's (`_convert_to_nova_security_group_rule_format`): a
 * protocol with no port range is every port (1 to 65535 for TCP and UDP, -1 for the others).
 */
function novaPorts(rule: SecurityGroupRule): { from: number | null; to: number | null } {
  if (rule.protocol !== null && rule.portMin === null && rule.portMax === null) {
    return ['tcp', 'udp'].includes(rule.protocol.toLowerCase()) ? { from: 1, to: 65535 } : { from: -1, to: -1 };
  }
  return { from: rule.portMin, to: rule.portMax };
}

/** Nova's `_format_security_group_rule`: the other end is a group (`group`) or a network (`ip_range`). */
function ruleView(rule: SecurityGroupRule, remote: Remote | undefined) {
  const { from, to } = novaPorts(rule);
  return {
    id: rule.id,
    parent_group_id: rule.groupId,
    ip_protocol: rule.protocol,
    from_port: from,
    to_port: to,
    group: rule.remoteGroupId !== null && remote ? remote : {},
    ip_range: rule.remoteGroupId === null ? { cidr: rule.remoteIpPrefix ?? '0.0.0.0/0' } : {},
  };
}

/** Nova's `_format_security_group`: its ingress rules only, but those whose other end the caller cannot see. */
function groupView(group: SecurityGroup, remotes: ReadonlyMap<string, Remote>) {
  return {
    id: group.id,
    name: group.name,
    description: group.description,
    tenant_id: group.projectId,
    rules: group.rules
      .filter((r) => r.direction === 'ingress' && (r.remoteGroupId === null || remotes.get(r.remoteGroupId)))
      .map((r) => ruleView(r, r.remoteGroupId === null ? undefined : remotes.get(r.remoteGroupId))),
  };
}

/** The groups the rules of `groups` name as their other end, looked up once each (Nova's `_get_group_rule_data_by_rule_group_id`). */
async function remotesOf(db: CloudDb, auth: AuthContext, groups: readonly SecurityGroup[]) {
  const remotes = new Map<string, Remote>(groups.map((g) => [g.id, { name: g.name, tenant_id: g.projectId }]));
  for (const rule of groups.flatMap((g) => g.rules)) {
    const id = rule.remoteGroupId;
    if (id === null || remotes.has(id)) continue;
    const remote = await db.securityGroups.get(id);
    remotes.set(id, remote && sees(auth, remote) ? { name: remote.name, tenant_id: remote.projectId } : null);
  }
  return remotes;
}

const byTenantAndName = (a: { tenant_id: string; name: string }, b: { tenant_id: string; name: string }) =>
  a.tenant_id < b.tenant_id ? -1 : a.tenant_id > b.tenant_id ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** A group the caller may see (its project's, any to the cloud admin), else 404. */
async function visibleGroup(deps: ApiDeps, auth: AuthContext, id: string): Promise<SecurityGroup> {
  const group = await deps.db.securityGroups.get(id);
  if (!group || !sees(auth, group)) throw groupNotFound(id);
  return group;
}

/** A create's or update's `name` and `description`, as Nova's schema takes them (strings of at most 255). */
function groupFields(request: FastifyRequest): { name: string; description: string } {
  const b = request.body;
  if (!isObject(b) || !isObject(b.security_group))
    throw badRequest("Invalid input: 'security_group' is a required property");
  const g = b.security_group;
  for (const field of ['name', 'description'] as const) {
    const v = g[field];
    if (typeof v !== 'string' || v.length > 255)
      throw badRequest(`Invalid input for field/attribute ${field}: a string of at most 255 characters is required.`);
  }
  return { name: g.name as string, description: g.description as string };
}

/** `limit` and `offset` of a list, non-negative integers (Nova's index schema and common.limited). */
function limitedOf(request: FastifyRequest): { offset: number; limit: number } {
  const read = (name: string, fallback: number) => {
    const v = queryAll(request, name)[0];
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v)) throw badRequest(`Invalid input for query parameters ${name}. Value: ${v}.`);
    return Number(v);
  };
  const limit = read('limit', MAX_LIMIT);
  return { offset: read('offset', 0), limit: Math.min(limit === 0 ? MAX_LIMIT : limit, MAX_LIMIT) };
}

/** Neutron's validation of a name (`name_not_default`): no group but a project's own default is called `default`. */
const reservedName = (name: string) => name.toLowerCase() === 'default';

/** Python's `int()` of a rule's port as Nova takes it: an integer, or a string of one. */
function portOf(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
  return null;
}

/** A CIDR as netaddr writes it (`address/prefix`, IPv6 compressed), or null if it is not one (netutils.is_valid_cidr). */
export function cidrOf(text: string): { cidr: string; address: string; prefix: number } | null {
  const [address = '', prefix, ...more] = text.split('/');
  if (prefix === undefined || more.length > 0 || !/^\d{1,3}$/.test(prefix)) return null;
  const bits = Number(prefix);
  if (isIPv4(address) && bits <= 32) return { cidr: `${address}/${bits}`, address, prefix: bits };
  if (isIPv6(address) && bits <= 128) {
    const compressed = new URL(`http://[${address}]/`).hostname.slice(1, -1);
    return { cidr: `${compressed}/${bits}`, address: compressed, prefix: bits };
  }
  return null;
}

/** A rule as Nova builds it before Neutron sees it (`_new_ingress_rule`), in Nova's terms. */
interface NovaRuleRequest {
  groupId: string | null;
  cidr: string | null;
  protocol: string | null;
  from: number | null;
  to: number | null;
}

/**
 * Nova's `_rule_args_to_dict`: a rule from a group (every port of TCP or UDP, every ICMP type,
 * when no range is given) or from a network (its protocol and ports required); Nova's 400s for
 * bad ports and protocols; null when there is not enough to make a rule.
 */
function novaRule(args: Json, groupId: string | null): NovaRuleRequest | null {
  let cidr: string | null = null;
  if (groupId === null) {
    const given = args.cidr;
    if (given === undefined || given === null || given === '' || given === 0 || given === false) {
      cidr = '0.0.0.0/0';
    } else {
      let text = typeof given === 'string' ? given : '';
      try {
        text = decodeURIComponent(text);
      } catch {
        // Python's unquote leaves a bad escape as it is.
      }
      const parsed = cidrOf(text);
      if (!parsed) throw badRequest(`${String(given)} is not a valid IP network.`);
      cidr = parsed.cidr;
    }
  }
  const rawProtocol = args.ip_protocol;
  const protocol = rawProtocol === undefined || rawProtocol === null || rawProtocol === '' ? null : String(rawProtocol);
  const upper = protocol?.toUpperCase() ?? '';
  let rawFrom = args.from_port ?? null;
  let rawTo = args.to_port ?? null;
  if (groupId !== null && rawFrom === null && rawTo === null) {
    if (upper === 'ICMP') [rawFrom, rawTo] = [-1, -1];
    else if (upper === 'TCP' || upper === 'UDP') [rawFrom, rawTo] = [1, 65535];
  }
  if (protocol === null || rawFrom === null || rawTo === null) {
    // From a network, a protocol and its ports are needed; from a group, none is: all of it.
    return groupId === null ? null : { groupId, cidr, protocol: null, from: null, to: null };
  }
  const from = portOf(rawFrom);
  const to = portOf(rawTo);
  if (from === null || to === null) {
    throw badRequest(
      upper === 'ICMP'
        ? 'Invalid input received: Type and Code must be integers for ICMP protocol type'
        : 'Invalid input received: To and From ports must be integers',
    );
  }
  if (!['TCP', 'UDP', 'ICMP'].includes(upper)) throw badRequest(`Invalid IP protocol ${protocol}.`);
  const range = (why: string) => badRequest(`Invalid port range ${from}:${to}. ${why}`);
  if (upper !== 'ICMP' && from > to) throw range('Former value cannot be greater than the later');
  if (upper !== 'ICMP' && (from < 1 || to > 65535)) throw range(`Valid ${upper} ports should be between 1-65535`);
  if (upper === 'ICMP' && (from < -1 || from > 255 || to < -1 || to > 255))
    throw range('For ICMP, the type:code must be valid');
  return { groupId, cidr, protocol, from, to };
}

/** Nova's `_rule_exists`: the same group, network, ports and protocol as one of the group's ingress rules, compared as Nova shows them. */
function ruleExists(group: SecurityGroup, wanted: NovaRuleRequest): boolean {
  return group.rules.some((r) => {
    if (r.direction !== 'ingress') return false;
    const { from, to } = novaPorts(r);
    // A Neutron rule's network shows as 0.0.0.0/0 when it has none, and a group rule's Nova request has none.
    return (
      r.remoteGroupId === wanted.groupId &&
      (r.remoteIpPrefix ?? '0.0.0.0/0') === wanted.cidr &&
      from === wanted.from &&
      to === wanted.to &&
      r.protocol === wanted.protocol
    );
  });
}

/** The rule Neutron keeps for Nova's (`_make_neutron_security_group_rules_list`), with Neutron's own check of ICMP. */
function neutronRule(group: SecurityGroup, wanted: NovaRuleRequest, now: string): SecurityGroupRule {
  const protocol = wanted.protocol?.toLowerCase() ?? null;
  const portMin = wanted.from === null || wanted.from === -1 ? null : wanted.from;
  const portMax = wanted.to === null || wanted.to === -1 ? null : wanted.to;
  if (protocol === 'icmp' && portMin === null && portMax !== null) {
    throw badRequest(`ICMP code (port-range-max) ${portMax} is provided but ICMP type (port-range-min) is missing.`);
  }
  return {
    id: randomUUID(),
    groupId: group.id,
    projectId: group.projectId,
    direction: 'ingress',
    // Nova's rules from a group are IPv4 (it cannot say more); a network's is its own version.
    ethertype: wanted.cidr !== null && wanted.cidr.includes(':') ? 'IPv6' : 'IPv4',
    protocol,
    portMin,
    portMax,
    remoteIpPrefix: wanted.cidr === null ? null : wanted.cidr,
    remoteGroupId: wanted.groupId,
    description: '',
    createdAt: now,
  };
}

/** The unique ids of the ports of `servers`, from their addresses. */
const portsOf = (servers: readonly Server[]) => [...new Set(servers.flatMap((s) => s.addresses.map((a) => a.portId)))];

/**
 * The names of the groups of each server's ports, each group once (where Nova names a group once
 * per port of the server), in the order its ports joined them (Nova's
 * `get_instances_security_groups_bindings`; a group with no name by its id): a server list costs
 * one read of its ports' groups and one of each group, whatever its length.
 */
export async function serverSecurityGroupNames(
  db: CloudDb,
  servers: readonly Server[],
): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  const portIds = portsOf(servers);
  if (portIds.length === 0) return names;
  const byPort = await db.securityGroups.ofPorts(portIds);
  const groupIds = [...new Set(Object.values(byPort).flat())];
  const groups = new Map<string, string>();
  for (const group of await Promise.all(groupIds.map((id) => db.securityGroups.get(id))))
    if (group) groups.set(group.id, group.name || group.id);
  for (const server of servers) {
    const ids = [...new Set(portsOf([server]).flatMap((p) => byPort[p] ?? []))];
    names.set(
      server.id,
      ids.flatMap((id) => groups.get(id) ?? []),
    );
  }
  return names;
}

/**
 * `addSecurityGroup` and `removeSecurityGroup` (Nova's `add_to_instance`, `remove_from_instance`):
 * the group, by name or id among the server's project's, joins or leaves every port of the
 * server. 404 for a group not found, a server with no port, or (remove) a group none of its
 * ports is in; 409 for a name of several groups, or stateful and stateless groups together.
 */
export async function securityGroupAction(
  deps: ApiDeps,
  server: Server,
  action: 'addSecurityGroup' | 'removeSecurityGroup',
  args: unknown,
): Promise<void> {
  if (!isObject(args) || typeof args.name !== 'string' || args.name.length === 0)
    throw badRequest(
      `Invalid input for field/attribute ${action}: {'name': a security group's name or id} is required.`,
    );
  const extra = Object.keys(args).filter((k) => k !== 'name');
  if (extra.length > 0)
    throw badRequest(
      `Invalid input for field/attribute ${action}: Additional properties are not allowed (${extra.join(', ')}).`,
    );
  const name = args.name;
  if (name.trim() === '') throw badRequest('Security group name cannot be empty');
  const db = deps.db;
  const group = await projectGroup(db, server.projectId, name);
  if (!group) throw notFound(`Security group ${name} is not found for project ${server.projectId}`);
  const portIds = portsOf([server]);
  if (portIds.length === 0) throw notFound(`instance_id ${server.id} could not be found as device id on any ports`);
  const byPort = await db.securityGroups.ofPorts(portIds);
  if (action === 'addSecurityGroup') {
    const inIt = portIds.find((p) => byPort[p]?.includes(group.id));
    // Neutron refuses a port's list of groups that names one twice, and Nova answers its 400.
    if (inIt)
      throw badRequest(`Invalid input for security_groups. Reason: Duplicate items in the list: '${group.id}'.`);
    const current = await Promise.all(
      [...new Set(Object.values(byPort).flat())].map((id) => db.securityGroups.get(id)),
    );
    if (current.some((g) => g !== null && g.stateful !== group.stateful)) {
      throw conflict('Cannot apply both stateful and stateless security groups on the same port at the same time.');
    }
    for (const p of portIds) await db.securityGroups.setPortGroups(p, [...(byPort[p] ?? []), group.id]);
  } else {
    const inIt = portIds.filter((p) => byPort[p]?.includes(group.id));
    if (inIt.length === 0) throw notFound(`Security group ${name} not associated with the instance ${server.id}`);
    for (const p of inIt)
      await db.securityGroups.setPortGroups(
        p,
        (byPort[p] ?? []).filter((id) => id !== group.id),
      );
  }
  deps.servers.refreshFirewalls(server.projectId);
}

/** The routes: Nova's security groups and rules (to 2.35) and a server's groups (every microversion). */
export function registerSecurityGroups(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  const db = deps.db;
  const now = () => new Date().toISOString();
  /** The view of one group, its remote groups looked up. */
  const shown = async (auth: AuthContext, group: SecurityGroup) => groupView(group, await remotesOf(db, auth, [group]));

  app.get('/os-security-groups', async (request) => {
    refuseFrom236(request);
    const { auth, project } = projectOf(request);
    const { offset, limit } = limitedOf(request);
    // Neutron makes the caller's default group on its first list; Nova's admin lists every
    // project's with `all_tenants`, whatever its value.
    await db.securityGroups.ensureDefault(project.id, now());
    const everyone = auth.isCloudAdmin && queryAll(request, 'all_tenants').length > 0;
    const groups = (await db.securityGroups.list(everyone ? {} : { projectId: project.id })).slice(
      offset,
      offset + limit,
    );
    const remotes = await remotesOf(db, auth, groups);
    return { security_groups: groups.map((g) => groupView(g, remotes)).sort(byTenantAndName) };
  });

  app.post('/os-security-groups', async (request) => {
    refuseFrom236(request);
    const { auth, project } = projectOf(request);
    requireWriter(auth);
    const { name, description } = groupFields(request);
    // Neutron's 409 for the reserved name, which Nova answers as a quota's 403.
    if (reservedName(name)) throw forbidden('Default security group already exists.');
    const at = now();
    await db.securityGroups.ensureDefault(project.id, at);
    const quota = (await db.quotas.get(project.id)).security_groups;
    const group = await db.securityGroups.create(
      { id: randomUUID(), projectId: project.id, name, description, stateful: true, createdAt: at, updatedAt: at },
      [randomUUID(), randomUUID()],
      quota,
    );
    return { security_group: await shown(auth, group) };
  });

  app.get('/os-security-groups/:id', async (request) => {
    refuseFrom236(request);
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    return { security_group: await shown(auth, await visibleGroup(deps, auth, validId(id))) };
  });

  app.put('/os-security-groups/:id', async (request) => {
    refuseFrom236(request);
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const group = await visibleGroup(deps, auth, validId(id));
    requireWriter(auth);
    const { name, description } = groupFields(request);
    // Neutron's 409s (which Nova lets through as a 500): the default group keeps its name, and no other takes it.
    if (group.isDefault) throw badRequest('Updating default security group not allowed.');
    if (reservedName(name)) throw badRequest('Default security group already exists.');
    return { security_group: await shown(auth, await db.securityGroups.update(id, { name, description }, now())) };
  });

  app.delete('/os-security-groups/:id', async (request, reply) => {
    refuseFrom236(request);
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const group = await visibleGroup(deps, auth, validId(id));
    requireWriter(auth);
    // Neutron's 409s, which Nova answers as 400s.
    if (group.isDefault && !auth.isCloudAdmin)
      throw badRequest('Insufficient rights for removing default security group.');
    try {
      await db.securityGroups.delete(id);
    } catch (error) {
      if ((error as { code?: string }).code === 'DB_ERR_CONFLICT') throw badRequest(`Security Group ${id} in use.`);
      throw error;
    }
    // The rules that named it as their other end went with it.
    deps.servers.refreshFirewalls(group.projectId);
    return reply.code(202).send();
  });

  app.post('/os-security-group-rules', async (request) => {
    refuseFrom236(request);
    const auth = authOf(request);
    const b = request.body;
    if (!isObject(b) || !isObject(b.security_group_rule))
      throw badRequest("Invalid input: 'security_group_rule' is a required property");
    const args = b.security_group_rule;
    const uuidField = (field: string, v: unknown) => {
      if (typeof v !== 'string' || !isUuid(v))
        throw badRequest(`Invalid input for field/attribute ${field}. Value: ${String(v)}. It is not a UUID.`);
      return v;
    };
    const parentId = uuidField('parent_group_id', args.parent_group_id);
    const remoteId =
      args.group_id === undefined || args.group_id === null ? null : uuidField('group_id', args.group_id);
    const parent = await visibleGroup(deps, auth, parentId);
    requireWriter(auth);
    const remote = remoteId === null ? null : await visibleGroup(deps, auth, remoteId);
    const wanted = novaRule(args, remote?.id ?? null);
    if (!wanted) throw badRequest('Not enough parameters to build a valid rule.');
    if (wanted.cidr !== null) {
      const parsed = cidrOf(wanted.cidr);
      if (parsed && parsed.prefix === 0 && parsed.address !== '0.0.0.0' && parsed.address !== '::')
        throw badRequest(`Bad prefix for network in cidr ${wanted.cidr}`);
    }
    if (ruleExists(parent, wanted)) throw badRequest(`This rule already exists in group ${parent.id}`);
    const quota = (await db.quotas.get(parent.projectId)).security_group_rules;
    let rule: SecurityGroupRule;
    try {
      rule = await db.securityGroups.addRule(neutronRule(parent, wanted, now()), quota, now());
    } catch (error) {
      // Neutron's 409 for the same rule as another (compared as Neutron keeps them), a quota to Nova.
      if ((error as { code?: string }).code === 'DB_ERR_CONFLICT')
        throw new ApiError(403, (error as Error).message, 'API_ERR_SECURITY_GROUP_RULE_EXISTS');
      throw error;
    }
    deps.servers.refreshFirewalls(parent.projectId);
    return {
      security_group_rule: ruleView(rule, remote ? { name: remote.name, tenant_id: remote.projectId } : undefined),
    };
  });

  app.delete('/os-security-group-rules/:id', async (request, reply) => {
    refuseFrom236(request);
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const rule = await db.securityGroups.getRule(validId(id));
    if (!rule || (!auth.isCloudAdmin && rule.projectId !== auth.project?.id))
      throw notFound(`Security group rule ${id} does not exist`);
    requireWriter(auth);
    await db.securityGroups.deleteRule(id, now());
    deps.servers.refreshFirewalls(rule.projectId);
    return reply.code(202).send();
  });

  app.get('/servers/:id/os-security-groups', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const server = await visibleServer(auth, id);
    const portIds = portsOf([server]);
    if (portIds.length === 0) return { security_groups: [] };
    const ids = [...new Set(Object.values(await db.securityGroups.ofPorts(portIds)).flat())];
    const groups = (await Promise.all(ids.map((g) => db.securityGroups.get(g)))).filter(
      (g): g is SecurityGroup => g !== null && sees(auth, g),
    );
    const remotes = await remotesOf(db, auth, groups);
    return { security_groups: groups.map((g) => groupView(g, remotes)).sort(byTenantAndName) };
  });
}
