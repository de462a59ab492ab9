import type Database from 'better-sqlite3';
import type { Migration } from '../dbmaster/index.js';
import { actionsSql } from './actions.js';
import { aggregatesSql, DEFAULT_ZONE, hostZones } from './aggregates.js';
import { catalogSql } from './catalog.js';
import { credentialsSql } from './credentials.js';
import { domainConfigsSql } from './domain-configs.js';
import { endpointFilterSql } from './endpoint-filter.js';
import { imageMembersSql } from './image-members.js';
import { metadefsSql } from './metadefs.js';
import { migrationsSql } from './migrations.js';
import { oauthConsumersSql } from './oauth-consumers.js';
import { policiesSql } from './policies.js';
import { computeServicesSql } from './compute-services.js';
import { serverGroupsSql } from './server-groups.js';
import { serverTagsSql } from './server-tags.js';
import { nameFilter } from './name-filter.js';
import { identitySql, toDomain, toProject, toUser } from './identity.js';
import { roleAssignmentsSql } from './role-assignments.js';
import { bool, json, num, type Row, setClause, statements, str, strOrNull, where } from './rows.js';
import { DbExhaustedError, DbNoValidHostError, DbNotFoundError, DbQuotaExceededError, DbStaleError } from './errors.js';
import {
  type CloudSql,
  DEFAULT_QUOTAS,
  type Flavor,
  type HostCapacity,
  type Image,
  type ImageSortKey,
  type Keypair,
  type Network,
  type Nic,
  type Port,
  type QuotaResource,
  type Server,
  type ServerFlavor,
  type ServerGroup,
  type ServerGroupPolicy,
  type SigningKey,
  type Subnet,
} from './types.js';

/**
 * The schema's steps: version n is `user_version` n of an embedded file, and row n of the DB
 * master's migrations table. Append only; never edit a published step.
 */
export const CLOUD_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'cloud',
    up: `
  CREATE TABLE domains (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1);
  INSERT INTO domains (id, name, description) VALUES ('default', 'Default', 'The default domain');
  CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL REFERENCES domains(id),
    description TEXT NOT NULL, enabled INTEGER NOT NULL, parent_id TEXT, tags TEXT NOT NULL DEFAULT '[]',
    UNIQUE (domain_id, name));
  CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL REFERENCES domains(id),
    enabled INTEGER NOT NULL, password_hash TEXT, default_project_id TEXT, email TEXT, description TEXT NOT NULL,
    UNIQUE (domain_id, name));
  CREATE TABLE roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, domain_id TEXT, description TEXT NOT NULL);
  CREATE TABLE assignments (user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE, PRIMARY KEY (user_id, project_id, role_id));
  CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE revocations (audit_id TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
  CREATE TABLE flavors (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, ram INTEGER NOT NULL, vcpus INTEGER NOT NULL,
    disk INTEGER NOT NULL, swap INTEGER NOT NULL, ephemeral INTEGER NOT NULL, rxtx_factor REAL NOT NULL,
    is_public INTEGER NOT NULL, disabled INTEGER NOT NULL, description TEXT, extra_specs TEXT NOT NULL,
    created_at TEXT NOT NULL);
  CREATE TABLE flavor_access (flavor_id TEXT NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL, PRIMARY KEY (flavor_id, project_id));
  CREATE TABLE keypairs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, user_id TEXT NOT NULL,
    public_key TEXT NOT NULL, fingerprint TEXT NOT NULL, type TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (user_id, name));
  CREATE TABLE servers (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, project_id TEXT NOT NULL,
    user_id TEXT NOT NULL, name TEXT NOT NULL, flavor_id TEXT NOT NULL, image_id TEXT NOT NULL, key_name TEXT,
    availability_zone TEXT NOT NULL, access_ipv4 TEXT NOT NULL, access_ipv6 TEXT NOT NULL, metadata TEXT NOT NULL,
    state TEXT NOT NULL, machine TEXT NOT NULL, host TEXT NOT NULL, addresses TEXT NOT NULL,
    vcpus INTEGER NOT NULL, ram INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, launched_at TEXT);
  CREATE INDEX servers_project ON servers (project_id, state, seq);
  CREATE TABLE images (id TEXT PRIMARY KEY, name TEXT, status TEXT NOT NULL, visibility TEXT NOT NULL,
    protected INTEGER NOT NULL, os_hidden INTEGER NOT NULL, owner TEXT NOT NULL, checksum TEXT, os_hash_algo TEXT,
    os_hash_value TEXT, size INTEGER, virtual_size INTEGER, min_ram INTEGER NOT NULL, min_disk INTEGER NOT NULL,
    disk_format TEXT, container_format TEXT, tags TEXT NOT NULL, properties TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL, shared INTEGER NOT NULL,
    external INTEGER NOT NULL, mtu INTEGER NOT NULL, admin_state_up INTEGER NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE subnets (id TEXT PRIMARY KEY, name TEXT NOT NULL, network_id TEXT NOT NULL REFERENCES networks(id),
    project_id TEXT NOT NULL, cidr TEXT NOT NULL, gateway_ip TEXT NOT NULL, ip_version INTEGER NOT NULL,
    enable_dhcp INTEGER NOT NULL, pool_start TEXT NOT NULL, pool_end TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE ports (id TEXT PRIMARY KEY, name TEXT NOT NULL, network_id TEXT NOT NULL REFERENCES networks(id),
    subnet_id TEXT NOT NULL REFERENCES subnets(id), project_id TEXT NOT NULL, device_id TEXT NOT NULL,
    device_owner TEXT NOT NULL, mac_address TEXT NOT NULL UNIQUE, ip_address TEXT NOT NULL, ip_int INTEGER NOT NULL,
    created_at TEXT NOT NULL, UNIQUE (subnet_id, ip_int));
  CREATE INDEX ports_device ON ports (device_id);
  CREATE TABLE quotas (project_id TEXT NOT NULL, resource TEXT NOT NULL, hard_limit INTEGER NOT NULL,
    PRIMARY KEY (project_id, resource));
  `,
  },
  {
    version: 2,
    name: 'real compute: user data and the flavor disk each server holds on its host',
    up: `
  ALTER TABLE servers ADD COLUMN user_data TEXT;
  ALTER TABLE servers ADD COLUMN disk INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX servers_host ON servers (host, state);
  `,
  },
  {
    version: 3,
    name: 'instance actions: what was asked of each server, by whom, and how it ended',
    up: `
  CREATE TABLE instance_actions (
    server_id TEXT NOT NULL, request_id TEXT NOT NULL, action TEXT NOT NULL, user_id TEXT,
    project_id TEXT NOT NULL, start_time TEXT NOT NULL, finish_time TEXT, result TEXT, message TEXT,
    PRIMARY KEY (server_id, request_id)
  );
  `,
  },
  {
    version: 4,
    name: "image members: the projects a shared image is offered to, and each one's answer",
    up: `
  CREATE TABLE image_members (
    image_id TEXT NOT NULL REFERENCES images(id), member_id TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member_id)
  );
  CREATE INDEX image_members_member ON image_members (member_id, status);
    `,
  },
  {
    version: 5,
    name: "failed logins: Keystone's lockout counts each user's, shared by every API node",
    up: `
  CREATE TABLE login_failures (user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    count INTEGER NOT NULL, last_at TEXT NOT NULL);
  `,
  },
  {
    version: 6,
    name: "Keystone's catalog: the services, endpoints and regions an admin registered",
    up: `
  CREATE TABLE catalog_services (id TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT, description TEXT,
    enabled INTEGER NOT NULL, extra TEXT NOT NULL);
  CREATE TABLE regions (id TEXT PRIMARY KEY, description TEXT NOT NULL, parent_region_id TEXT,
    extra TEXT NOT NULL);
  CREATE TABLE catalog_endpoints (id TEXT PRIMARY KEY, service_id TEXT NOT NULL REFERENCES catalog_services(id),
    interface TEXT NOT NULL, region_id TEXT, url TEXT NOT NULL, enabled INTEGER NOT NULL, extra TEXT NOT NULL);
  CREATE INDEX catalog_endpoints_service ON catalog_endpoints (service_id);
  `,
  },
  {
    version: 7,
    name: "Nova's server groups: a policy the scheduler applies to the servers created in one",
    up: `
  CREATE TABLE server_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL,
    user_id TEXT NOT NULL, policy TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE INDEX server_groups_project ON server_groups (project_id);
  ALTER TABLE servers ADD COLUMN server_group_id TEXT;
  CREATE INDEX servers_server_group ON servers (server_group_id);
  `,
  },
  {
    version: 8,
    name: "Nova's server locks: who locked a server (its project, or an admin from another)",
    up: `
  ALTER TABLE servers ADD COLUMN locked_by TEXT;
  `,
  },
  {
    version: 9,
    name: "Nova's reservation: the id of the request that created a server, and its index among those created",
    up: `
  ALTER TABLE servers ADD COLUMN reservation_id TEXT;
  ALTER TABLE servers ADD COLUMN launch_index INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX servers_reservation ON servers (reservation_id);
  `,
  },
  {
    version: 10,
    name: "Nova's services: a host's service an admin disabled or forced down",
    up: `
  CREATE TABLE compute_services (host TEXT NOT NULL, binary TEXT NOT NULL, disabled INTEGER NOT NULL,
    disabled_reason TEXT, forced_down INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (host, binary));
  `,
  },
  {
    version: 11,
    name: "Nova's server descriptions (microversion 2.19)",
    up: `
  ALTER TABLE servers ADD COLUMN description TEXT;
  `,
  },
  {
    version: 12,
    name: "Nova's server tags (microversion 2.26)",
    up: `
  ALTER TABLE servers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
  `,
  },
  {
    version: 13,
    name: "Nova's device tags on a server's ports (microversion 2.32)",
    up: `
  ALTER TABLE ports ADD COLUMN tag TEXT;
  ALTER TABLE servers ADD COLUMN root_device_tag TEXT;
  `,
  },
  {
    version: 14,
    name: "Nova's host aggregates, whose availability_zone metadata makes their hosts a zone",
    up: `
  CREATE TABLE aggregates (id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT);
  CREATE TABLE aggregate_hosts (aggregate_id INTEGER NOT NULL REFERENCES aggregates (id), host TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, host));
  `,
  },
  {
    version: 15,
    name: "A server's copy of its flavor (Nova's instance.flavor, microversion 2.47); Nova's quota classes",
    up: `
  ALTER TABLE servers ADD COLUMN flavor TEXT NOT NULL DEFAULT '{}';
  CREATE TABLE quota_classes (class_name TEXT NOT NULL, resource TEXT NOT NULL, hard_limit INTEGER NOT NULL,
    PRIMARY KEY (class_name, resource));
  UPDATE servers SET flavor = COALESCE(
    (SELECT json_object('name', f.name, 'vcpus', f.vcpus, 'ram', f.ram, 'disk', f.disk, 'ephemeral', f.ephemeral,
       'swap', f.swap, 'extraSpecs', json(f.extra_specs)) FROM flavors f WHERE f.id = servers.flavor_id),
    json_object('name', servers.flavor_id, 'vcpus', servers.vcpus, 'ram', servers.ram, 'disk', servers.disk,
       'ephemeral', 0, 'swap', 0, 'extraSpecs', json('{}')));
  `,
  },
  {
    version: 16,
    name: "Nova's migration records: the moves of servers between hosts (rackseed's evacuations)",
    up: `
  CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, server_id TEXT NOT NULL,
    migration_type TEXT NOT NULL, source_host TEXT NOT NULL, dest_host TEXT, status TEXT NOT NULL,
    flavor_id TEXT NOT NULL, project_id TEXT NOT NULL, user_id TEXT, created_at TEXT NOT NULL, updated_at TEXT);
  `,
  },
  {
    version: 17,
    name: "A server group's rules (Nova's max_server_per_host, 2.64); why a server is locked (2.73)",
    up: `
  ALTER TABLE server_groups ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE servers ADD COLUMN locked_reason TEXT;
  `,
  },
  {
    version: 18,
    name: "Keystone's credentials (EC2 ones too), OAuth1 consumers, policies, domain configurations and endpoint filters",
    up: `
  CREATE TABLE credentials (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE, type TEXT NOT NULL, blob TEXT NOT NULL,
    extra TEXT NOT NULL);
  CREATE INDEX credentials_user ON credentials (user_id);
  CREATE TABLE oauth_consumers (id TEXT PRIMARY KEY, description TEXT, secret TEXT NOT NULL, extra TEXT NOT NULL);
  CREATE TABLE policies (id TEXT PRIMARY KEY, blob TEXT NOT NULL, type TEXT NOT NULL, extra TEXT NOT NULL);
  CREATE TABLE domain_configs (domain_id TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    config_group TEXT NOT NULL, option TEXT NOT NULL, value TEXT NOT NULL, sensitive INTEGER NOT NULL,
    PRIMARY KEY (domain_id, config_group, option));
  CREATE TABLE endpoint_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, filters TEXT NOT NULL);
  CREATE TABLE endpoint_group_projects (
    endpoint_group_id TEXT NOT NULL REFERENCES endpoint_groups(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, PRIMARY KEY (endpoint_group_id, project_id));
  CREATE INDEX endpoint_group_projects_project ON endpoint_group_projects (project_id);
  -- The endpoint is not a foreign key: the API's own endpoints are never stored.
  CREATE TABLE project_endpoints (project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL, PRIMARY KEY (project_id, endpoint_id));
  CREATE INDEX project_endpoints_endpoint ON project_endpoints (endpoint_id);
  CREATE TRIGGER project_endpoints_gone AFTER DELETE ON catalog_endpoints
    BEGIN DELETE FROM project_endpoints WHERE endpoint_id = OLD.id; END;
  `,
  },
  {
    version: 19,
    name: "Glance's metadata definitions catalog: namespaces, resource types, objects, properties and tags",
    up: `
  CREATE TABLE metadef_namespaces (id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL UNIQUE,
    display_name TEXT, description TEXT, visibility TEXT NOT NULL, protected INTEGER NOT NULL, owner TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE TABLE metadef_resource_types (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE TABLE metadef_namespace_resource_types (namespace_id INTEGER NOT NULL REFERENCES metadef_namespaces (id),
    resource_type_id INTEGER NOT NULL REFERENCES metadef_resource_types (id), prefix TEXT, properties_target TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace_id, resource_type_id));
  -- Objects, properties and tags, by kind; body is the rest of Glance's JSON for each.
  CREATE TABLE metadef_definitions (id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id INTEGER NOT NULL REFERENCES metadef_namespaces (id), kind TEXT NOT NULL, name TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE UNIQUE INDEX metadef_definitions_name ON metadef_definitions (namespace_id, kind, name);
  -- Glance's tag names are unique whatever their case (MetadefDuplicateTag).
  CREATE UNIQUE INDEX metadef_tags_name ON metadef_definitions (namespace_id, name COLLATE NOCASE) WHERE kind = 'tag';
  `,
  },
  {
    version: 20,
    name: "Keystone's groups, grants on domains and the system, inherited grants, implied and domain-specific roles",
    up: `
  CREATE TABLE groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL REFERENCES domains(id),
    description TEXT NOT NULL, UNIQUE (domain_id, name));
  CREATE TABLE group_members (group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, PRIMARY KEY (group_id, user_id));
  CREATE INDEX group_members_user ON group_members (user_id);
  CREATE TABLE role_assignments (actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, target_type TEXT NOT NULL,
    target_id TEXT NOT NULL, role_id TEXT NOT NULL, inherited INTEGER NOT NULL,
    PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited));
  CREATE INDEX role_assignments_target ON role_assignments (target_type, target_id);
  CREATE INDEX role_assignments_role ON role_assignments (role_id);
  INSERT INTO role_assignments SELECT 'user', user_id, 'project', project_id, role_id, 0 FROM assignments;
  DROP TABLE assignments;
  CREATE TABLE roles_by_domain (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT REFERENCES domains(id),
    description TEXT NOT NULL);
  INSERT INTO roles_by_domain SELECT id, name, domain_id, description FROM roles;
  DROP TABLE roles;
  ALTER TABLE roles_by_domain RENAME TO roles;
  CREATE UNIQUE INDEX roles_name ON roles (coalesce(domain_id, ''), name);
  ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
  CREATE TABLE implied_roles (prior_role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE, PRIMARY KEY (prior_role_id, implied_role_id));
  `,
  },
];

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

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

const toServer = (r: Row): Server => ({
  id: str(r.id),
  projectId: str(r.project_id),
  userId: str(r.user_id),
  name: str(r.name),
  flavorId: str(r.flavor_id),
  imageId: str(r.image_id),
  keyName: strOrNull(r.key_name),
  availabilityZone: str(r.availability_zone),
  accessIPv4: str(r.access_ipv4),
  accessIPv6: str(r.access_ipv6),
  metadata: json<Record<string, string>>(r.metadata),
  state: str(r.state),
  machine: str(r.machine),
  host: str(r.host),
  addresses: json<Server['addresses']>(r.addresses),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
  launchedAt: strOrNull(r.launched_at),
  userData: strOrNull(r.user_data),
  serverGroupId: strOrNull(r.server_group_id),
  lockedBy: strOrNull(r.locked_by) as Server['lockedBy'],
  lockedReason: strOrNull(r.locked_reason),
  reservationId: strOrNull(r.reservation_id),
  launchIndex: num(r.launch_index),
  description: strOrNull(r.description),
  tags: json<string[]>(r.tags),
  rootDeviceTag: strOrNull(r.root_device_tag),
  flavor: json<ServerFlavor>(r.flavor),
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

const toNetwork = (r: Row): Network => ({
  id: str(r.id),
  name: str(r.name),
  projectId: str(r.project_id),
  shared: bool(r.shared),
  external: bool(r.external),
  mtu: num(r.mtu),
  adminStateUp: bool(r.admin_state_up),
  createdAt: str(r.created_at),
});

const toSubnet = (r: Row): Subnet => ({
  id: str(r.id),
  name: str(r.name),
  networkId: str(r.network_id),
  projectId: str(r.project_id),
  cidr: str(r.cidr),
  gatewayIp: str(r.gateway_ip),
  ipVersion: 4,
  enableDhcp: bool(r.enable_dhcp),
  poolStart: str(r.pool_start),
  poolEnd: str(r.pool_end),
  createdAt: str(r.created_at),
});

const toPort = (r: Row): Port => ({
  id: str(r.id),
  name: str(r.name),
  networkId: str(r.network_id),
  subnetId: str(r.subnet_id),
  projectId: str(r.project_id),
  deviceId: str(r.device_id),
  deviceOwner: str(r.device_owner),
  macAddress: str(r.mac_address),
  ipAddress: str(r.ip_address),
  tag: strOrNull(r.tag),
  createdAt: str(r.created_at),
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

  const serverUsage = (projectId: string) => {
    const r = one(
      `SELECT COUNT(*) AS instances, COALESCE(SUM(vcpus), 0) AS cores, COALESCE(SUM(ram), 0) AS ram
       FROM servers WHERE project_id = ? AND state != 'deleted'`,
      projectId,
    );
    return { instances: num(r?.instances), cores: num(r?.cores), ram: num(r?.ram) };
  };

  const createServer = db.transaction((server: Omit<Server, 'flavor'>, nics: readonly Nic[], quota) => {
    const flavor = one('SELECT * FROM flavors WHERE id = ?', server.flavorId);
    if (!flavor) throw new DbNotFoundError('flavor', server.flavorId);
    const usage = serverUsage(server.projectId);
    const over = (
      [
        ['instances', usage.instances + 1, quota.instances],
        ['cores', usage.cores + num(flavor.vcpus), quota.cores],
        ['ram', usage.ram + num(flavor.ram), quota.ram],
      ] as const
    ).filter(([, wanted, limit]) => limit >= 0 && wanted > limit);
    if (over.length > 0) {
      throw new DbQuotaExceededError(`Quota exceeded for ${over.map(([name]) => name).join(', ')}`);
    }
    if (server.serverGroupId !== null) {
      if (!one('SELECT 1 FROM server_groups WHERE id = ?', server.serverGroupId))
        throw new DbNotFoundError('server group', server.serverGroupId);
      const members = num(
        one(`SELECT COUNT(*) AS n FROM servers WHERE server_group_id = ? AND state != 'deleted'`, server.serverGroupId)
          ?.n,
      );
      if (quota.serverGroupMembers >= 0 && members + 1 > quota.serverGroupMembers)
        throw new DbQuotaExceededError('Quota exceeded, too many servers in group');
    }
    const addresses: Server['addresses'] = [];
    for (const nic of nics) {
      const network = one('SELECT name FROM networks WHERE id = ?', nic.networkId);
      const subnet = one('SELECT * FROM subnets WHERE network_id = ? ORDER BY created_at LIMIT 1', nic.networkId);
      if (!network || !subnet) throw new DbNotFoundError('network', nic.networkId);
      const used = new Set(all('SELECT ip_int FROM ports WHERE subnet_id = ?', subnet.id).map((r) => num(r.ip_int)));
      let ip = ipToInt(str(subnet.pool_start));
      const last = ipToInt(str(subnet.pool_end));
      while (ip <= last && used.has(ip)) ip++;
      if (ip > last) throw new DbExhaustedError(`network ${nic.networkId} has no free address left`);
      insert(
        'ports',
        {
          id: nic.portId,
          name: '',
          network_id: nic.networkId,
          subnet_id: subnet.id,
          project_id: server.projectId,
          device_id: server.id,
          device_owner: 'compute:nova',
          mac_address: nic.macAddress,
          ip_address: intToIp(ip),
          ip_int: ip,
          tag: nic.tag,
          created_at: server.createdAt,
        },
        'port',
      );
      addresses.push({
        network: str(network.name),
        addr: intToIp(ip),
        version: 4,
        mac: nic.macAddress,
        portId: nic.portId,
      });
    }
    const created: Server = {
      ...server,
      addresses,
      flavor: {
        name: str(flavor.name),
        vcpus: num(flavor.vcpus),
        ram: num(flavor.ram),
        disk: num(flavor.disk),
        ephemeral: num(flavor.ephemeral),
        swap: num(flavor.swap),
        extraSpecs: json<Record<string, string>>(flavor.extra_specs),
      },
    };
    insert(
      'servers',
      {
        id: created.id,
        project_id: created.projectId,
        user_id: created.userId,
        name: created.name,
        flavor_id: created.flavorId,
        image_id: created.imageId,
        key_name: created.keyName,
        availability_zone: created.availabilityZone,
        access_ipv4: created.accessIPv4,
        access_ipv6: created.accessIPv6,
        metadata: created.metadata,
        state: created.state,
        machine: created.machine,
        host: created.host,
        addresses: created.addresses,
        vcpus: num(flavor.vcpus),
        ram: num(flavor.ram),
        disk: num(flavor.disk),
        user_data: created.userData,
        server_group_id: created.serverGroupId,
        locked_by: created.lockedBy,
        locked_reason: created.lockedReason,
        reservation_id: created.reservationId,
        launch_index: created.launchIndex,
        description: created.description,
        tags: created.tags,
        root_device_tag: created.rootDeviceTag,
        flavor: created.flavor,
        created_at: created.createdAt,
        updated_at: created.updatedAt,
        launched_at: created.launchedAt,
      },
      'server',
    );
    return created;
  });

  const transitionServer = db.transaction(
    (id: string, fromState: string, change: { state: string; machine: string; launchedAt?: string | null }) => {
      const now = new Date().toISOString();
      const result = run(
        `UPDATE servers SET state = ?, machine = ?, launched_at = COALESCE(?, launched_at), updated_at = ?
         WHERE id = ? AND state = ?`,
        change.state,
        change.machine,
        change.launchedAt ?? null,
        now,
        id,
        fromState,
      );
      if (result.changes === 0) {
        if (!one('SELECT 1 FROM servers WHERE id = ?', id)) throw new DbNotFoundError('server', id);
        throw new DbStaleError(`server ${id} is no longer ${fromState}`);
      }
      if (change.state === 'deleted') run('DELETE FROM ports WHERE device_id = ?', id);
      const row = one('SELECT * FROM servers WHERE id = ?', id);
      if (!row) throw new DbNotFoundError('server', id);
      return toServer(row);
    },
  );

  /** What the servers on each host hold, but `except`. */
  const usedByHost = (except: string) => {
    const used = new Map<string, { vcpus: number; memoryMb: number; diskGb: number; servers: number }>();
    const rows = all(
      `SELECT host, SUM(vcpus) AS vcpus, SUM(ram) AS ram, SUM(disk) AS disk, COUNT(*) AS n FROM servers
       WHERE state NOT IN ('deleted') AND host != '' AND id != ? GROUP BY host`,
      except,
    );
    for (const r of rows)
      used.set(str(r.host), { vcpus: num(r.vcpus), memoryMb: num(r.ram), diskGb: num(r.disk), servers: num(r.n) });
    return used;
  };
  const hostUsage = () => Object.fromEntries(usedByHost(''));

  /**
   * The policy of `server`'s group as a host filter and weigher: which hosts a hard policy
   * refuses, and why; how much a soft one prefers a host (Nova's ServerGroupSoft(Anti)Affinity
   * weighers: more of the group's servers there, or fewer). Members on an excluded host (a dead
   * one, being evacuated) do not count: the first of an affinity group to move chooses the host
   * the others follow.
   */
  const groupPolicy = (server: Row, exclude: readonly string[]) => {
    if (server.server_group_id === null) return undefined;
    const group = one('SELECT id, policy, rules FROM server_groups WHERE id = ?', server.server_group_id);
    if (!group) return undefined; // deleted since: its servers are in no group
    const members = new Map<string, number>();
    for (const r of all(
      `SELECT host FROM servers WHERE server_group_id = ? AND id != ? AND state != 'deleted' AND host != ''`,
      group.id,
      server.id,
    )) {
      const host = str(r.host);
      if (!exclude.includes(host)) members.set(host, (members.get(host) ?? 0) + 1);
    }
    const id = str(group.id);
    const here = (host: string) => members.get(host) ?? 0;
    const never = () => false;
    const even = () => 0;
    switch (str(group.policy) as ServerGroupPolicy) {
      case 'affinity':
        return {
          refuses: (host: string) => members.size > 0 && !members.has(host),
          weight: even,
          why: `not the host of server group ${id}'s servers (affinity)`,
        };
      case 'anti-affinity': {
        // Its rule (2.64) may allow up to that many of its servers on a host; one, by default.
        const most = json<ServerGroup['rules']>(group.rules).maxServerPerHost ?? 1;
        return {
          refuses: (host: string) => here(host) >= most,
          weight: even,
          why: `holds ${most === 1 ? 'a server' : `${most} servers`} of server group ${id} (anti-affinity)`,
        };
      }
      case 'soft-affinity':
        return { refuses: never, weight: here, why: '' };
      case 'soft-anti-affinity':
        return { refuses: never, weight: (host: string) => -here(host), why: '' };
    }
  };

  const placeServer = db.transaction((id: string, candidates: readonly HostCapacity[], exclude: readonly string[]) => {
    const server = one(`SELECT * FROM servers WHERE id = ? AND state != 'deleted'`, id);
    if (!server) throw new DbNotFoundError('server', id);
    // The zone asked for (empty: any); a host no aggregate puts in a zone is in Nova's default.
    const az = str(server.availability_zone);
    const zones = hostZones(db);
    const used = usedByHost(id);
    const need = { vcpus: num(server.vcpus), memoryMb: num(server.ram), diskGb: num(server.disk) };
    const why: string[] = [];
    const group = groupPolicy(server, exclude);
    const fitting = candidates
      .filter((c) => !exclude.includes(c.host))
      .map((c) => {
        const u = used.get(c.host) ?? { vcpus: 0, memoryMb: 0, diskGb: 0, servers: 0 };
        return {
          host: c.host,
          az: zones[c.host] ?? DEFAULT_ZONE,
          free: { vcpus: c.vcpus - u.vcpus, memoryMb: c.memoryMb - u.memoryMb, diskGb: c.diskGb - u.diskGb },
        };
      })
      .filter((c) => {
        const short = [
          ...(az && c.az !== az ? [`not in zone ${az}`] : []),
          ...(c.free.vcpus < need.vcpus ? [`${c.free.vcpus} vCPUs free`] : []),
          ...(c.free.memoryMb < need.memoryMb ? [`${c.free.memoryMb} MB free`] : []),
          ...(c.free.diskGb < need.diskGb ? [`${c.free.diskGb} GB of disk free`] : []),
          ...(group?.refuses(c.host) ? [group.why] : []),
        ];
        if (short.length > 0) why.push(`${c.host}: ${short.join(', ')}`);
        return short.length === 0;
      })
      .sort(
        (a, b) =>
          (group?.weight(b.host) ?? 0) - (group?.weight(a.host) ?? 0) ||
          b.free.memoryMb - a.free.memoryMb ||
          a.host.localeCompare(b.host),
      );
    const chosen = fitting[0];
    if (!chosen) {
      throw new DbNoValidHostError(
        `No valid host was found. There are not enough hosts available. (${why.join('; ') || 'no compute host is up'})`,
      );
    }
    run(
      'UPDATE servers SET host = ?, availability_zone = ?, updated_at = ? WHERE id = ?',
      chosen.host,
      chosen.az,
      new Date().toISOString(),
      id,
    );
    return { host: chosen.host, availabilityZone: chosen.az };
  });

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
    serverTags: serverTagsSql(db),
    computeServices: computeServicesSql(db),
    aggregates: aggregatesSql(db),
    migrations: migrationsSql(db),
    ...catalogSql(db),
    credentials: credentialsSql(db),
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
      subject: (auditId, userId, scope) => {
        if (one('SELECT 1 FROM revocations WHERE audit_id = ?', auditId) !== undefined) return null;
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
        const roles = roleAssignments.rolesOn(userId, scope);
        return roles.length === 0
          ? null
          : { user, project, domain: scope.targetType === 'domain' ? domain : null, roles };
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
    servers: {
      create: (server, nics, quota) => createServer(server, nics, quota),
      get: (id, options) => {
        const r = options?.deleted
          ? one('SELECT * FROM servers WHERE id = ?', id)
          : one(`SELECT * FROM servers WHERE id = ? AND state != 'deleted'`, id);
        return r ? toServer(r) : null;
      },
      list: (filter, page) => {
        const clauses = [`state != 'deleted'`];
        const params: unknown[] = [];
        const add = (clause: string, ...values: unknown[]) => {
          clauses.push(clause);
          params.push(...values);
        };
        if (filter.projectId !== undefined) add('project_id = ?', filter.projectId);
        if (filter.imageId !== undefined) add('image_id = ?', filter.imageId);
        if (filter.flavorId !== undefined) add('flavor_id = ?', filter.flavorId);
        if (filter.host !== undefined) add('host = ?', filter.host);
        if (filter.changesSince !== undefined) add('updated_at >= ?', filter.changesSince);
        if (filter.changesBefore !== undefined) add('updated_at <= ?', filter.changesBefore);
        if (filter.reservationId !== undefined) add('reservation_id = ?', filter.reservationId);
        if (filter.locked !== undefined) add(filter.locked ? 'locked_by IS NOT NULL' : 'locked_by IS NULL');
        if (filter.status !== undefined) add(`state IN (${filter.status.map(() => '?').join(', ')})`, ...filter.status);
        if (page.marker !== undefined) {
          // Within the project listed: another project's server is no marker (Nova looks markers
          // up across projects, which tells a caller that another project's server exists).
          const marker =
            filter.projectId === undefined
              ? one('SELECT seq FROM servers WHERE id = ?', page.marker)
              : one('SELECT seq FROM servers WHERE id = ? AND project_id = ?', page.marker, filter.projectId);
          if (!marker) throw new DbNotFoundError('marker', page.marker);
          add('seq < ?', marker.seq);
        }
        let rows = all(`SELECT * FROM servers WHERE ${clauses.join(' AND ')} ORDER BY seq DESC`, ...params);
        if (filter.name !== undefined) {
          const pattern = nameFilter(filter.name);
          rows = rows.filter((r) => pattern.test(str(r.name)));
        }
        const { tags, tagsAny, notTags, notTagsAny } = filter;
        if (tags || tagsAny || notTags || notTagsAny) {
          rows = rows.filter((r) => {
            const has = new Set(json<string[]>(r.tags));
            const holds = (t: string) => has.has(t);
            return (
              (!tags || tags.every(holds)) &&
              (!tagsAny || tagsAny.some(holds)) &&
              (!notTags || !notTags.every(holds)) &&
              (!notTagsAny || !notTagsAny.some(holds))
            );
          });
        }
        for (const [pattern, version] of [
          [filter.ip, 4],
          [filter.ip6, 6],
        ] as const) {
          if (pattern === undefined) continue;
          // Nova matches an address from its start (re.match).
          const re = nameFilter(pattern);
          rows = rows.filter((r) =>
            json<Server['addresses']>(r.addresses).some((a) => a.version === version && re.exec(a.addr)?.index === 0),
          );
        }
        return rows.slice(0, page.limit).map(toServer);
      },
      update: (id, patch) => {
        const set = setClause(
          { ...patch, updatedAt: new Date().toISOString() },
          {
            name: 'name',
            accessIPv4: 'access_ipv4',
            accessIPv6: 'access_ipv6',
            metadata: 'metadata',
            imageId: 'image_id',
            lockedBy: 'locked_by',
            lockedReason: 'locked_reason',
            description: 'description',
            keyName: 'key_name',
            userData: 'user_data',
            updatedAt: 'updated_at',
          },
        );
        mustChange(
          run(`UPDATE servers SET ${set.sql} WHERE id = ? AND state != 'deleted'`, ...set.params, id),
          'server',
          id,
        );
        return getOrThrow('SELECT * FROM servers WHERE id = ?', id, 'server', toServer);
      },
      transition: (id, fromState, change) => transitionServer(id, fromState, change),
      usage: (projectId) => serverUsage(projectId),
      place: (id, candidates, exclude = []) => placeServer(id, candidates, exclude),
      hostUsage: () => hostUsage(),
      projectUsageOn: (host) =>
        Object.fromEntries(
          all(
            `SELECT project_id, SUM(vcpus) AS vcpus, SUM(ram) AS ram, SUM(disk) AS disk, COUNT(*) AS n FROM servers
             WHERE state != 'deleted' AND host = ? GROUP BY project_id ORDER BY project_id`,
            host,
          ).map((r) => [
            str(r.project_id),
            { vcpus: num(r.vcpus), memoryMb: num(r.ram), diskGb: num(r.disk), servers: num(r.n) },
          ]),
        ),
      lifetimes: ({ projectId, start, end }) =>
        all(
          `SELECT * FROM servers
           WHERE (? IS NULL OR project_id = ?) AND NOT (state = 'deleted' AND updated_at < ?)
             AND launched_at IS NOT NULL AND launched_at < ?
           ORDER BY seq`,
          projectId ?? null,
          projectId ?? null,
          start,
          end,
        ).map((r) => ({
          id: str(r.id),
          name: str(r.name),
          projectId: str(r.project_id),
          flavorId: str(r.flavor_id),
          vcpus: num(r.vcpus),
          memoryMb: num(r.ram),
          state: str(r.state),
          machine: str(r.machine),
          launchedAt: str(r.launched_at),
          terminatedAt: str(r.state) === 'deleted' ? str(r.updated_at) : null,
        })),
    },
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
    networks: {
      create: (network, subnet) =>
        db.transaction(() => {
          insert(
            'networks',
            {
              id: network.id,
              name: network.name,
              project_id: network.projectId,
              shared: network.shared,
              external: network.external,
              mtu: network.mtu,
              admin_state_up: network.adminStateUp,
              created_at: network.createdAt,
            },
            `network ${network.name}`,
          );
          insert(
            'subnets',
            {
              id: subnet.id,
              name: subnet.name,
              network_id: subnet.networkId,
              project_id: subnet.projectId,
              cidr: subnet.cidr,
              gateway_ip: subnet.gatewayIp,
              ip_version: subnet.ipVersion,
              enable_dhcp: subnet.enableDhcp,
              pool_start: subnet.poolStart,
              pool_end: subnet.poolEnd,
              created_at: subnet.createdAt,
            },
            `subnet ${subnet.name}`,
          );
          return network;
        })(),
      get: (id) => {
        const r = one('SELECT * FROM networks WHERE id = ?', id);
        return r ? toNetwork(r) : null;
      },
      list: (filter) => {
        const clauses: string[] = [];
        const params: unknown[] = [];
        if (filter.name !== undefined) {
          clauses.push('name = ?');
          params.push(filter.name);
        }
        if (filter.projectId !== undefined) {
          clauses.push('(shared = 1 OR project_id = ?)');
          params.push(filter.projectId);
        }
        const sql = `SELECT * FROM networks${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY name`;
        return all(sql, ...params).map(toNetwork);
      },
      subnets: (filter) => {
        const clauses: string[] = [];
        const params: unknown[] = [];
        if (filter.networkId !== undefined) {
          clauses.push('network_id = ?');
          params.push(filter.networkId);
        }
        if (filter.projectId !== undefined) {
          clauses.push('(project_id = ? OR network_id IN (SELECT id FROM networks WHERE shared = 1))');
          params.push(filter.projectId);
        }
        const sql = `SELECT * FROM subnets${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY name`;
        return all(sql, ...params).map(toSubnet);
      },
      getSubnet: (id) => {
        const r = one('SELECT * FROM subnets WHERE id = ?', id);
        return r ? toSubnet(r) : null;
      },
      ports: (filter) => {
        const w = where({ device_id: filter.deviceId, network_id: filter.networkId, project_id: filter.projectId });
        return all(`SELECT * FROM ports${w.sql} ORDER BY created_at, id`, ...w.params).map(toPort);
      },
      getPort: (id) => {
        const r = one('SELECT * FROM ports WHERE id = ?', id);
        return r ? toPort(r) : null;
      },
    },
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
