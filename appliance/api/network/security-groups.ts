/**
 * Neutron's security groups and their rules (`security-group` extension and the ones that add to
 * it: `stateful-security-group`, `security-groups-normalized-cidr`,
 * `security-groups-rules-belongs-to-default-sg`), as neutron/extensions/securitygroup.py and
 * neutron/db/securitygroups_db.py have them: the routes under `/v2.0`, their views, Neutron's
 * checks and messages, and the change of a port's groups (`PUT /ports/{id}`, ports.ts).
 *
 * A project's `default` group is made on its first need (its listing, a group or port change). A
 * member sees and changes its project's groups and rules only (another's is a 404); the cloud
 * admin sees all. Every change of what a port lets through ends with the project's firewalls
 * refreshed (`ServerService.refreshFirewalls`), which the hosts enforce.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Port, SecurityGroup, SecurityGroupRule } from '../../db/index.js';
import { type ApiDeps, type AuthContext, administers, authOf } from '../context.js';
import { ApiError, badRequest, forbidden } from '../faults.js';
import {
  type AttributeRules,
  filtered,
  neutronTime,
  postItems,
  pythonText,
  requestResource,
  shown,
  stringAttribute,
  toBoolean,
  uuidListAttribute,
} from './attributes.js';
import { IP_PROTOCOLS, PORT_PROTOCOLS, protocolNumber } from '../../compute/index.js';
import { parseIpPrefix } from './ip-prefix.js';

// neutron/extensions/securitygroup.py's exceptions, each with its status and message.
const groupNotFound = (id: string) =>
  new ApiError(404, `Security group ${id} does not exist`, 'API_ERR_SECURITY_GROUP_NOT_FOUND');
const ruleNotFound = (id: string) =>
  new ApiError(404, `Security group rule ${id} does not exist`, 'API_ERR_SECURITY_GROUP_RULE_NOT_FOUND');
const groupInUse = (id: string) => new ApiError(409, `Security Group ${id} in use.`, 'API_ERR_SECURITY_GROUP_IN_USE');
const groupConflict = (reason: string) =>
  new ApiError(409, `Error ${reason} while attempting the operation.`, 'API_ERR_SECURITY_GROUP_CONFLICT');
const defaultExists = () =>
  new ApiError(409, 'Default security group already exists.', 'API_ERR_SECURITY_GROUP_DEFAULT_EXISTS');
const overQuota = (resource: string) =>
  new ApiError(409, `Quota exceeded for resources: ['${resource}'].`, 'API_ERR_OVER_QUOTA');
const disallowed = (action: string) => forbidden(`rule:${action} is disallowed by policy`);

/** Neutron's `NAME_FIELD_SIZE`, `DESCRIPTION_FIELD_SIZE` and `UUID_FIELD_SIZE` (neutron_lib/db/constants.py). */
const NAME_SIZE = 255;
const DESCRIPTION_SIZE = 255;
const UUID_SIZE = 36;
const PROJECT_ID_SIZE = 255;

const ICMP_PROTOCOLS = [1, 58];
/** The IPv6-only protocols `_validate_ethertype_and_protocol` refuses with IPv4, by name and number. */
const IPV6_ONLY = ['ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route'].flatMap(
  (name) => [name, String(IP_PROTOCOLS[name])],
);
const SUPPORTED_PROTOCOLS = `(None, 'any', ${Object.keys(IP_PROTOCOLS)
  .map((p) => `'${p}'`)
  .join(', ')})`;

/** neutron/extensions/securitygroup.py `convert_protocol`: null for any, a known name (lower case) or 0-255. */
function protocolOf(value: unknown): string | null {
  if (value === null || value === undefined || value === 'any') return null;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : null;
  if (text !== null && /^[+-]?\d+$/.test(text) && Number(text) >= 0 && Number(text) <= 255) return String(Number(text));
  if (text !== null && !/^[+-]?\d+$/.test(text) && (text.toLowerCase() === 'any' || text.toLowerCase() in IP_PROTOCOLS))
    return text.toLowerCase() === 'any' ? null : text.toLowerCase();
  throw badRequest(
    `Security group rule protocol ${pythonText(value)} not supported. Only protocol values ${SUPPORTED_PROTOCOLS} and integer representations [0 to 255] are supported.`,
  );
}

/** `convert_validate_port_value`: null, or 0-65535 (oslo's `is_valid_port`). */
function portOf(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535)
    throw badRequest(`Invalid value for port ${pythonText(value)}`);
  return n;
}

/** `convert_ethertype_to_case_insensitive`. */
function ethertypeOf(value: unknown): 'IPv4' | 'IPv6' {
  const found = (['IPv4', 'IPv6'] as const).find(
    (e) => typeof value === 'string' && e.toLowerCase() === value.toLowerCase(),
  );
  if (!found)
    throw badRequest(
      `Security group rule for ethertype '${pythonText(value)}' not supported. Allowed values are ['IPv4', 'IPv6'].`,
    );
  return found;
}

/** A rule as a POST asks for it, converted and checked (no database look-up yet). */
export type RequestedRule = Omit<SecurityGroupRule, 'id' | 'projectId' | 'createdAt'> & {
  remoteAddressGroupId: string | null;
};

/**
 * The rule a request's attributes ask for, as Neutron converts them (the attribute map's order)
 * and then checks them (`_validate_base_security_group_rule_attributes`): IPv6's ICMP by its
 * IPv6 name, the whole port range as none, ports only with port or ICMP protocols, a prefix of
 * the ethertype's version, one remote at most.
 */
export function requestedRule(attributes: Record<string, unknown>): RequestedRule {
  const groupId = stringAttribute('security_group_id', attributes.security_group_id, UUID_SIZE);
  const remoteGroup = attributes.remote_group_id;
  const remoteGroupId =
    remoteGroup === null || remoteGroup === undefined || remoteGroup === '' ? null : String(remoteGroup);
  const direction = attributes.direction;
  if (direction !== 'ingress' && direction !== 'egress')
    throw badRequest(`Invalid input for direction. Reason: ${pythonText(direction)} is not in ['ingress', 'egress'].`);
  let protocol = protocolOf(attributes.protocol);
  let portMin = portOf(attributes.port_range_min);
  let portMax = portOf(attributes.port_range_max);
  const ethertype = attributes.ethertype === undefined ? 'IPv4' : ethertypeOf(attributes.ethertype);
  const prefixInput = attributes.remote_ip_prefix;
  let remote: ReturnType<typeof parseIpPrefix> = null;
  if (prefixInput !== null && prefixInput !== undefined && prefixInput !== '') {
    remote = typeof prefixInput === 'string' ? parseIpPrefix(prefixInput) : null;
    if (!remote) throw badRequest(`Invalid CIDR ${pythonText(prefixInput)} given as IP prefix.`);
  }
  const description =
    attributes.description === undefined
      ? ''
      : stringAttribute('description', attributes.description, DESCRIPTION_SIZE);
  const address = attributes.remote_address_group_id;
  const remoteAddressGroupId = address === null || address === undefined || address === '' ? null : String(address);

  // _make_canonical_ipv6_icmp_protocol
  if (ethertype === 'IPv6' && (protocol === 'icmp' || protocol === 'icmpv6')) protocol = 'ipv6-icmp';
  if (ethertype === 'IPv6' && protocol === '1') protocol = '58';
  // _make_canonical_port_range: the whole range is no range.
  if (portMin === 1 && portMax === 65535) portMin = portMax = null;
  // _validate_port_range
  if (portMin !== null || portMax !== null) {
    if (protocol === null) throw badRequest('Must also specify protocol if port range is given.');
    const number = protocolNumber(protocol);
    if (PORT_PROTOCOLS.includes(number)) {
      if (portMin === 0 || portMax === 0) throw badRequest('Invalid value for port 0');
      if (portMin === null || portMax === null || portMin > portMax)
        throw badRequest('For TCP/UDP protocols, port_range_min must be <= port_range_max');
    } else if (ICMP_PROTOCOLS.includes(number)) {
      for (const [value, field, attr] of [
        [portMin, 'type', 'port_range_min'],
        [portMax, 'code', 'port_range_max'],
      ] as const)
        if (value !== null && value > 255)
          throw badRequest(`Invalid value for ICMP ${field} (${attr}) ${value}. It must be 0 to 255.`);
      if (portMin === null && portMax !== null)
        throw badRequest(
          `ICMP code (port-range-max) ${portMax} is provided but ICMP type (port-range-min) is missing.`,
        );
    } else
      throw badRequest(
        `Ports cannot be specified for protocol ${number}. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.`,
      );
  }
  // _validate_ip_prefix
  if (remote && ethertype !== `IPv${remote.version}`)
    throw badRequest(`Conflicting value ethertype ${ethertype} for CIDR ${remote.text}`);
  // _validate_ethertype_and_protocol
  if (ethertype === 'IPv4' && protocol !== null && IPV6_ONLY.includes(protocol))
    throw badRequest(`Invalid ethertype ${ethertype} for protocol ${protocol}.`);
  // _validate_multiple_remote_entites
  if ([remote, remoteGroupId, remoteAddressGroupId].filter((r) => r !== null).length > 1)
    throw badRequest('Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.');
  return {
    groupId,
    direction,
    ethertype,
    protocol,
    portMin,
    portMax,
    remoteIpPrefix: remote?.text ?? null,
    remoteGroupId,
    remoteAddressGroupId,
    description,
  };
}

type RuleShape = Pick<
  SecurityGroupRule,
  'direction' | 'ethertype' | 'protocol' | 'portMin' | 'portMax' | 'remoteIpPrefix' | 'remoteGroupId'
>;

/**
 * `_rule_to_key`: what makes two rules of a group the same (a protocol by its number, `0.0.0.0/0`
 * and `::/0` as no prefix).
 */
export function ruleKey(rule: RuleShape): string {
  const prefix =
    rule.remoteIpPrefix === null || rule.remoteIpPrefix === '0.0.0.0/0' || rule.remoteIpPrefix === '::/0'
      ? '+'
      : rule.remoteIpPrefix;
  return [
    rule.direction,
    rule.ethertype,
    rule.portMax ?? '+',
    rule.portMin ?? '+',
    rule.protocol === null ? '+' : protocolNumber(rule.protocol),
    rule.remoteGroupId ?? '+',
    prefix,
  ].join('_');
}

/** neutron_lib's attribute maps for the two resources, with the extensions' attributes. */
const GROUP_ATTRIBUTES: AttributeRules = {
  known: ['id', 'name', 'tenant_id', 'project_id', 'security_group_rules', 'description', 'stateful'],
  post: ['name', 'tenant_id', 'project_id', 'description', 'stateful'],
  put: ['name', 'description', 'stateful'],
};
/** What a rule's POST may name (the rest of its view is read only). */
const RULE_POST = [
  'security_group_id',
  'remote_group_id',
  'direction',
  'protocol',
  'port_range_min',
  'port_range_max',
  'ethertype',
  'remote_ip_prefix',
  'tenant_id',
  'project_id',
  'description',
  'remote_address_group_id',
];
const RULE_ATTRIBUTES: AttributeRules = {
  known: ['id', ...RULE_POST, 'normalized_cidr', 'belongs_to_default_sg'],
  post: RULE_POST,
  required: ['security_group_id', 'direction'],
};

const ruleView = (r: SecurityGroupRule, inDefaultGroup: boolean) => ({
  id: r.id,
  project_id: r.projectId,
  tenant_id: r.projectId,
  security_group_id: r.groupId,
  ethertype: r.ethertype,
  direction: r.direction,
  protocol: r.protocol,
  port_range_min: r.portMin,
  port_range_max: r.portMax,
  remote_ip_prefix: r.remoteIpPrefix,
  remote_address_group_id: null,
  normalized_cidr: r.remoteIpPrefix === null ? null : (parseIpPrefix(r.remoteIpPrefix)?.cidr ?? null),
  remote_group_id: r.remoteGroupId,
  belongs_to_default_sg: inDefaultGroup,
  description: r.description,
  // A rule never changes once made.
  revision_number: 0,
  created_at: neutronTime(r.createdAt),
  updated_at: neutronTime(r.createdAt),
});

const groupView = (g: SecurityGroup) => ({
  id: g.id,
  name: g.name,
  description: g.description,
  project_id: g.projectId,
  tenant_id: g.projectId,
  security_group_rules: g.rules.map((r) => ruleView(r, g.isDefault)),
  stateful: g.stateful,
  shared: false,
  tags: [],
  // Neutron's count from 1 at creation; the database's counts the changes since.
  revision_number: g.revision + 1,
  created_at: neutronTime(g.createdAt),
  updated_at: neutronTime(g.updatedAt),
});

/** Whether a database error is the one with this code (errors keep it across the DB master's RPC). */
const isDbError = (error: unknown, code: string) => (error as { code?: unknown } | null)?.code === code;

/** The security group and rule routes, inside `/v2.0` (a token required). */
export function securityGroupRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const db = deps.db;
  const now = () => new Date().toISOString();
  const own = (auth: AuthContext) => auth.project?.id ?? null;

  /**
   * `_ensure_default_security_group`: the project's default group, made if it has none. Only for
   * the caller's own project, or any the cloud admin names (one that exists: Neutron would make
   * a group for any id).
   */
  const ensureDefault = async (auth: AuthContext, projectId: string | null): Promise<void> => {
    if (!projectId) return;
    if (projectId !== own(auth)) {
      if (!auth.isCloudAdmin || !(await db.projects.get(projectId))) return;
    }
    await db.securityGroups.ensureDefault(projectId, now());
  };
  /** The projects the `project_id` (or `tenant_id`) filter names. */
  const projectFilter = (request: FastifyRequest): string[] => {
    const q = request.query as Record<string, string | string[] | undefined>;
    const values = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const named = values(q.project_id);
    return named.length ? named : values(q.tenant_id);
  };
  /** The project whose default group a listing makes (`get_security_groups`): the filter's first, else the caller's. */
  const askedProject = (request: FastifyRequest, auth: AuthContext): string | null =>
    projectFilter(request)[0] ?? own(auth);

  /** The group, if the caller may see it; a 404 as Neutron's otherwise. */
  const visibleGroup = async (auth: AuthContext, id: string): Promise<SecurityGroup> => {
    const group = await db.securityGroups.get(id);
    if (!group || (!auth.isCloudAdmin && group.projectId !== own(auth))) throw groupNotFound(id);
    return group;
  };
  /** The rule and its group, if the caller may see it: its own rule, or one of its group. */
  const visibleRule = async (
    auth: AuthContext,
    id: string,
  ): Promise<{ rule: SecurityGroupRule; group: SecurityGroup }> => {
    const rule = await db.securityGroups.getRule(id);
    const group = rule ? await db.securityGroups.get(rule.groupId) : null;
    if (!rule || !group) throw ruleNotFound(id);
    if (!auth.isCloudAdmin && rule.projectId !== own(auth) && group.projectId !== own(auth)) throw ruleNotFound(id);
    return { rule, group };
  };
  /** Whether a port is in the group (Neutron refuses to delete it, or to change its `stateful`). */
  const inUse = async (groupId: string) => ((await db.securityGroups.addresses([groupId]))[groupId] ?? []).length > 0;

  /**
   * The project a POST makes its resource in: the one it names (only the cloud admin may name
   * another than its token's), else the token's, else `fallback`.
   */
  const creatorProject = (auth: AuthContext, attributes: Record<string, unknown>, fallback: string | null): string => {
    const named = attributes.project_id ?? attributes.tenant_id;
    if (named !== undefined) {
      const project = stringAttribute('project_id', named, PROJECT_ID_SIZE);
      if (project !== own(auth) && !auth.isCloudAdmin)
        throw badRequest(
          "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
        );
      return project;
    }
    const project = own(auth) ?? fallback;
    if (!project) throw badRequest('This token has no project: the request must name its project_id.');
    return project;
  };

  const refresh = (projectId: string) => deps.servers.refreshFirewalls(projectId);

  // ---- Security groups ----

  api.get('/security-groups', async (request) => {
    const auth = authOf(request);
    const asked = askedProject(request, auth);
    await ensureDefault(auth, asked);
    // A member lists its project's groups only (a filter naming another project finds none).
    const mine = own(auth);
    const [only, ...more] = projectFilter(request);
    const groups = auth.isCloudAdmin
      ? await db.securityGroups.list(only !== undefined && more.length === 0 ? { projectId: only } : {})
      : mine
        ? await db.securityGroups.list({ projectId: mine })
        : [];
    return { security_groups: filtered(request, groups.map(groupView)) };
  });

  api.post('/security-groups', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_security_group');
    const { bulk, items } = postItems(request.body, 'security_group', GROUP_ATTRIBUTES);
    const wanted = items.map((attributes) => {
      const name = attributes.name === undefined ? '' : stringAttribute('name', attributes.name, NAME_SIZE);
      // `type:name_not_default`: there is one default group, Neutron's own.
      if (name.toLowerCase() === 'default') throw defaultExists();
      return {
        name,
        description:
          attributes.description === undefined
            ? ''
            : stringAttribute('description', attributes.description, DESCRIPTION_SIZE),
        stateful: attributes.stateful === undefined ? true : toBoolean(attributes.stateful),
        projectId: creatorProject(auth, attributes, null),
      };
    });
    const created: SecurityGroup[] = [];
    try {
      for (const group of wanted) {
        await ensureDefault(auth, group.projectId);
        const at = now();
        const quota = (await db.quotas.get(group.projectId)).security_groups;
        created.push(
          await db.securityGroups
            .create({ id: randomUUID(), ...group, createdAt: at, updatedAt: at }, [randomUUID(), randomUUID()], quota)
            .catch((error: unknown) => {
              throw isDbError(error, 'DB_ERR_QUOTA_EXCEEDED') ? overQuota('security_group') : error;
            }),
        );
      }
    } catch (error) {
      // A bulk create is all or nothing (Neutron's `_emulate_bulk_create` deletes what it made).
      for (const group of created) await db.securityGroups.delete(group.id).catch(() => undefined);
      throw error;
    }
    const views = created.map(groupView);
    return reply.code(201).send(bulk ? { security_groups: views } : { security_group: views[0] });
  });

  api.get('/security-groups/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { security_group: shown(request, groupView(await visibleGroup(authOf(request), id))) };
  });

  api.put('/security-groups/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const group = await visibleGroup(auth, id);
    if (!auth.canWrite) throw disallowed('update_security_group');
    const attributes = requestResource(request.body, 'security_group', GROUP_ATTRIBUTES, 'PUT');
    const patch: { name?: string; description?: string; stateful?: boolean } = {};
    if ('name' in attributes) {
      patch.name = stringAttribute('name', attributes.name, NAME_SIZE);
      if (patch.name.toLowerCase() === 'default') throw defaultExists();
    }
    if ('description' in attributes)
      patch.description = stringAttribute('description', attributes.description, DESCRIPTION_SIZE);
    if ('stateful' in attributes) patch.stateful = toBoolean(attributes.stateful);
    // A port's groups are all stateful or all not: one in use keeps what it is.
    const statefulChanges = patch.stateful !== undefined && patch.stateful !== group.stateful;
    if (statefulChanges && (await inUse(id))) throw groupInUse(id);
    if (group.isDefault && patch.name !== undefined)
      throw new ApiError(409, 'Updating default security group not allowed.', 'API_ERR_SECURITY_GROUP_DEFAULT_UPDATE');
    // Nothing that changes leaves the group (and its revision) as it is, as Neutron's ORM does.
    const changes = (Object.keys(patch) as (keyof typeof patch)[]).some((k) => patch[k] !== group[k]);
    const updated = changes ? await db.securityGroups.update(id, patch, now()) : group;
    if (statefulChanges) refresh(group.projectId);
    return { security_group: groupView(updated) };
  });

  api.delete('/security-groups/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const group = await visibleGroup(auth, id);
    if (!auth.canWrite) throw disallowed('delete_security_group');
    if (await inUse(id)) throw groupInUse(id);
    // The next need makes a new default group; only an admin may do without it meanwhile.
    if (group.isDefault && !administers(auth, group.projectId))
      throw new ApiError(
        409,
        'Insufficient rights for removing default security group.',
        'API_ERR_SECURITY_GROUP_DEFAULT_DELETE',
      );
    await db.securityGroups.delete(id);
    // Rules of other groups that named it went with it.
    refresh(group.projectId);
    return reply.code(204).send();
  });

  // ---- Security group rules ----

  api.get('/security-group-rules', async (request) => {
    const auth = authOf(request);
    await ensureDefault(auth, askedProject(request, auth));
    const mine = own(auth);
    let groups: SecurityGroup[] = [];
    let rules: SecurityGroupRule[] = [];
    if (auth.isCloudAdmin) {
      groups = await db.securityGroups.list({});
      rules = groups.flatMap((g) => g.rules);
    } else if (mine) {
      // Its groups' rules, and its own rules in others' groups (the cloud admin's rules may be so).
      groups = await db.securityGroups.list({ projectId: mine });
      const ids = new Set(groups.map((g) => g.id));
      const elsewhere = (await db.securityGroups.rules({ projectId: mine })).filter((r) => !ids.has(r.groupId));
      for (const id of new Set(elsewhere.map((r) => r.groupId))) {
        const group = await db.securityGroups.get(id);
        if (group) groups.push(group);
      }
      rules = [...groups.filter((g) => ids.has(g.id)).flatMap((g) => g.rules), ...elsewhere];
    }
    const isDefault = new Map(groups.map((g) => [g.id, g.isDefault]));
    return {
      security_group_rules: filtered(
        request,
        rules.map((r) => ruleView(r, isDefault.get(r.groupId) ?? false)),
      ),
    };
  });

  api.post('/security-group-rules', async (request, reply) => {
    const auth = authOf(request);
    if (!auth.canWrite) throw disallowed('create_security_group_rule');
    const { bulk, items } = postItems(request.body, 'security_group_rule', RULE_ATTRIBUTES);
    const requested = items.map((attributes) => ({ attributes, rule: requestedRule(attributes) }));
    // _validate_single_project_and_group
    if (new Set(requested.map((r) => r.rule.groupId)).size > 1)
      throw badRequest('Only allowed to update rules for one security profile at a time');
    // _validate_security_group_rule: the remote group (or address group), then the rule's own group.
    for (const { rule } of requested) {
      if (rule.remoteGroupId !== null) await visibleGroup(auth, rule.remoteGroupId);
      if (rule.remoteAddressGroupId !== null)
        throw new ApiError(
          404,
          `Address group ${rule.remoteAddressGroupId} could not be found.`,
          'API_ERR_ADDRESS_GROUP_NOT_FOUND',
        );
    }
    const group = await visibleGroup(auth, requested[0]?.rule.groupId ?? '');
    const projects = new Set(requested.map((r) => creatorProject(auth, r.attributes, group.projectId)));
    if (projects.size > 1) throw badRequest('Multiple project_ids in bulk security group rule create not allowed');
    const projectId = [...projects][0] ?? group.projectId;
    // _check_for_duplicate_rules: within the request, then against the group's rules.
    const keys = requested.map((r) => ruleKey(r.rule));
    if (new Set(keys).size < keys.length)
      throw new ApiError(409, 'Duplicate Security Group Rule in POST.', 'API_ERR_SECURITY_GROUP_RULE_DUPLICATE');
    for (const existing of group.rules)
      if (keys.includes(ruleKey(existing)))
        throw new ApiError(
          409,
          `Security group rule already exists. Rule id is ${existing.id}.`,
          'API_ERR_SECURITY_GROUP_RULE_EXISTS',
        );
    const quota = (await db.quotas.get(projectId)).security_group_rules;
    if (quota >= 0 && (await db.securityGroups.usage(projectId)).rules + requested.length > quota)
      throw overQuota('security_group_rule');
    const created: SecurityGroupRule[] = [];
    try {
      for (const { rule } of requested) {
        const { remoteAddressGroupId: _none, ...fields } = rule;
        const at = now();
        created.push(
          await db.securityGroups
            .addRule({ id: randomUUID(), projectId, ...fields, createdAt: at }, quota, at)
            .catch((error: unknown) => {
              throw isDbError(error, 'DB_ERR_QUOTA_EXCEEDED') ? overQuota('security_group_rule') : error;
            }),
        );
      }
    } finally {
      if (created.length < requested.length)
        for (const rule of created) await db.securityGroups.deleteRule(rule.id, now()).catch(() => undefined);
      if (created.length > 0) refresh(group.projectId);
    }
    const views = created.map((r) => ruleView(r, group.isDefault));
    return reply.code(201).send(bulk ? { security_group_rules: views } : { security_group_rule: views[0] });
  });

  api.get('/security-group-rules/:id', async (request) => {
    const { id } = request.params as { id: string };
    const { rule, group } = await visibleRule(authOf(request), id);
    return { security_group_rule: shown(request, ruleView(rule, group.isDefault)) };
  });

  api.delete('/security-group-rules/:id', async (request, reply) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    const { group } = await visibleRule(auth, id);
    if (!auth.canWrite) throw disallowed('delete_security_group_rule');
    await db.securityGroups.deleteRule(id, now());
    refresh(group.projectId);
    return reply.code(204).send();
  });
}

/**
 * A port's new `security_groups` (`PUT /ports/{id}`; null is none), as Neutron's
 * `_update_security_group_on_port` takes them: groups of the port's project (the cloud admin's may
 * be any), all stateful or all not. Changed, the port's project's firewalls are refreshed.
 */
export async function updatePortGroups(deps: ApiDeps, auth: AuthContext, port: Port, value: unknown): Promise<void> {
  const db = deps.db;
  const ids = value === null ? [] : uuidListAttribute('security_groups', value);
  // Neutron's port BEFORE_UPDATE handler: the project has its default group from then on.
  if (port.projectId === auth.project?.id || auth.isCloudAdmin)
    await db.securityGroups.ensureDefault(port.projectId, new Date().toISOString());
  const groups = await Promise.all(ids.map((id) => db.securityGroups.get(id)));
  const missing = ids.filter((id, i) => {
    const group = groups[i];
    return !group || (!auth.isCloudAdmin && group.projectId !== port.projectId);
  });
  if (missing.length) throw groupNotFound(missing.join(', '));
  const found = groups.filter((g): g is SecurityGroup => g !== null);
  if (found.some((g) => g.stateful) && found.some((g) => !g.stateful))
    throw groupConflict('Cannot apply both stateful and stateless security groups on the same port at the same time');
  const before = (await db.securityGroups.ofPorts([port.id]))[port.id] ?? [];
  if (before.length === ids.length && ids.every((id) => before.includes(id))) return;
  await db.securityGroups.setPortGroups(port.id, ids);
  deps.servers.refreshFirewalls(port.projectId);
}
