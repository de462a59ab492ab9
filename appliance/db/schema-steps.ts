/**
 * The cloud database's schema, as the steps that build it: run by the embedded database on its
 * file (embedded.ts) and by the DB master from the schema module it imports (schema.ts).
 */
import type { Migration } from '../dbmaster/index.js';

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
  {
    version: 21,
    name: "Keystone's application credentials, the roles they delegate and the access rules that bound their tokens",
    up: `
  CREATE TABLE application_credentials (id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, name TEXT NOT NULL, description TEXT,
    secret_hash TEXT NOT NULL, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, expires_at TEXT,
    unrestricted INTEGER NOT NULL, UNIQUE (user_id, name));
  CREATE TABLE application_credential_roles (
    application_credential_id TEXT NOT NULL REFERENCES application_credentials(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE, PRIMARY KEY (application_credential_id, role_id));
  CREATE INDEX application_credential_roles_role ON application_credential_roles (role_id);
  CREATE TABLE access_rules (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    service TEXT NOT NULL, path TEXT NOT NULL, method TEXT NOT NULL, UNIQUE (user_id, service, path, method));
  -- A rule in use may not go: no cascade from access_rules.
  CREATE TABLE application_credential_access_rules (
    application_credential_id TEXT NOT NULL REFERENCES application_credentials(id) ON DELETE CASCADE,
    access_rule_id TEXT NOT NULL REFERENCES access_rules(id), PRIMARY KEY (application_credential_id, access_rule_id));
  CREATE INDEX application_credential_access_rules_rule ON application_credential_access_rules (access_rule_id);
  `,
  },
  {
    version: 22,
    name: "Neutron's security groups, their rules and the ports in them; servers' ports so far go in their project's default group",
    up: `
  CREATE TABLE security_groups (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, stateful INTEGER NOT NULL, is_default INTEGER NOT NULL, revision INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE INDEX security_groups_project ON security_groups (project_id);
  CREATE UNIQUE INDEX security_groups_default ON security_groups (project_id) WHERE is_default = 1;
  -- A group's deletion takes the rules that name it as their remote group (Neutron's cascade).
  CREATE TABLE security_group_rules (id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE, project_id TEXT NOT NULL,
    direction TEXT NOT NULL, ethertype TEXT NOT NULL, protocol TEXT, port_min INTEGER, port_max INTEGER,
    remote_ip_prefix TEXT, remote_group_id TEXT REFERENCES security_groups(id) ON DELETE CASCADE,
    description TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE INDEX security_group_rules_group ON security_group_rules (group_id);
  CREATE INDEX security_group_rules_remote ON security_group_rules (remote_group_id);
  CREATE UNIQUE INDEX security_group_rules_same ON security_group_rules (group_id, direction, ethertype,
    coalesce(protocol, ''), coalesce(port_min, -1), coalesce(port_max, -1), coalesce(remote_ip_prefix, ''),
    coalesce(remote_group_id, ''));
  -- A group in use may not go: no cascade from security_groups.
  CREATE TABLE port_security_groups (port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES security_groups(id), PRIMARY KEY (port_id, group_id));
  CREATE INDEX port_security_groups_group ON port_security_groups (group_id);
  INSERT INTO security_groups
    SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))), project_id, 'default', 'Default security group', 1, 1, 0, min(created_at), min(created_at)
    FROM ports WHERE device_owner LIKE 'compute:%' GROUP BY project_id;
  INSERT INTO security_group_rules
    SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))), g.id, g.project_id, r.direction, r.ethertype, NULL, NULL, NULL, NULL,
      CASE r.direction WHEN 'ingress' THEN g.id END, '', g.created_at
    FROM security_groups g, (SELECT 'ingress' AS direction, 'IPv4' AS ethertype UNION ALL SELECT 'ingress', 'IPv6'
      UNION ALL SELECT 'egress', 'IPv4' UNION ALL SELECT 'egress', 'IPv6') r;
  INSERT INTO port_security_groups
    SELECT p.id, g.id FROM ports p JOIN security_groups g ON g.project_id = p.project_id AND g.is_default = 1
    WHERE p.device_owner LIKE 'compute:%';
  `,
  },
  {
    version: 23,
    name: "Keystone's trusts (OS-TRUST) and the roles they delegate",
    up: `
  -- A trust goes with its trustor, its trustee, its project and the trust it redelegates.
  CREATE TABLE trusts (id TEXT PRIMARY KEY,
    trustor_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    trustee_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE, impersonation INTEGER NOT NULL, expires_at TEXT,
    remaining_uses INTEGER, redelegated_trust_id TEXT REFERENCES trusts(id) ON DELETE CASCADE,
    redelegation_count INTEGER NOT NULL,
    UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at));
  CREATE INDEX trusts_trustee ON trusts (trustee_user_id);
  CREATE INDEX trusts_project ON trusts (project_id);
  CREATE INDEX trusts_redelegated ON trusts (redelegated_trust_id);
  -- A deleted role's id stays: the trust's tokens then fail (Keystone's, the trustor no longer holds it).
  CREATE TABLE trust_roles (trust_id TEXT NOT NULL REFERENCES trusts(id) ON DELETE CASCADE, role_id TEXT NOT NULL,
    PRIMARY KEY (trust_id, role_id));
  `,
  },
  {
    version: 24,
    name: "Keystone's security compliance: users' password history, when their password was set and expires, their options",
    up: `
  ALTER TABLE users ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE users ADD COLUMN password_changed_at TEXT;
  ALTER TABLE users ADD COLUMN password_expires_at TEXT;
  ALTER TABLE users ADD COLUMN password_self_service INTEGER NOT NULL DEFAULT 0;
  -- A user's passwords, the current one included, newest last (id order).
  CREATE TABLE password_history (id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
  CREATE INDEX password_history_user ON password_history (user_id, id);
  -- Existing passwords: as if set now by an admin, never expiring (Keystone's password_expires_days
  -- spares them too), no token revoked.
  INSERT INTO password_history (user_id, hash) SELECT id, password_hash FROM users WHERE password_hash IS NOT NULL;
  `,
  },
  {
    version: 25,
    name: "Neutron's networks of a project's own (VXLAN segments), subnets with their pools, DNS and routes, ports with any number of fixed addresses",
    up: `
  -- The provider network (and any network so far) is the flat one.
  ALTER TABLE networks ADD COLUMN network_type TEXT NOT NULL DEFAULT 'flat';
  ALTER TABLE networks ADD COLUMN segmentation_id INTEGER;
  ALTER TABLE networks ADD COLUMN description TEXT NOT NULL DEFAULT '';
  ALTER TABLE networks ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
  UPDATE networks SET updated_at = created_at;
  CREATE UNIQUE INDEX networks_vni ON networks (segmentation_id) WHERE network_type = 'vxlan';
  -- A subnet without a gateway holds '' (the column stays NOT NULL).
  ALTER TABLE subnets ADD COLUMN allocation_pools TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE subnets ADD COLUMN dns_nameservers TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE subnets ADD COLUMN host_routes TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE subnets ADD COLUMN description TEXT NOT NULL DEFAULT '';
  ALTER TABLE subnets ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
  UPDATE subnets SET allocation_pools = json_array(json_object('start', pool_start, 'end', pool_end)),
    updated_at = created_at;
  ALTER TABLE subnets DROP COLUMN pool_start;
  ALTER TABLE subnets DROP COLUMN pool_end;
  CREATE INDEX subnets_network ON subnets (network_id);
  -- A port's addresses move to their own table; the ports table is made again without them. Its
  -- security groups are kept aside meanwhile (dropping the old table cascades to them).
  CREATE TEMP TABLE kept_port_groups AS SELECT * FROM port_security_groups;
  CREATE TABLE ports_new (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks(id), project_id TEXT NOT NULL, device_id TEXT NOT NULL,
    device_owner TEXT NOT NULL, mac_address TEXT NOT NULL, admin_state_up INTEGER NOT NULL,
    description TEXT NOT NULL, server_made INTEGER NOT NULL, tag TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, UNIQUE (network_id, mac_address));
  CREATE TABLE port_ips (port_id TEXT NOT NULL REFERENCES ports_new(id) ON DELETE CASCADE,
    subnet_id TEXT NOT NULL REFERENCES subnets(id), ip_address TEXT NOT NULL, ip_int INTEGER NOT NULL,
    PRIMARY KEY (subnet_id, ip_int));
  CREATE INDEX port_ips_port ON port_ips (port_id);
  INSERT INTO ports_new SELECT id, name, network_id, project_id, device_id, device_owner, mac_address, 1, '',
    CASE WHEN device_owner LIKE 'compute:%' THEN 1 ELSE 0 END, tag, created_at, created_at FROM ports;
  INSERT INTO port_ips SELECT id, subnet_id, ip_address, ip_int FROM ports;
  DROP TABLE ports;
  ALTER TABLE ports_new RENAME TO ports;
  CREATE INDEX ports_device ON ports (device_id);
  CREATE INDEX ports_network ON ports (network_id);
  INSERT INTO port_security_groups SELECT * FROM kept_port_groups;
  DROP TABLE kept_port_groups;
  `,
  },
  {
    version: 26,
    name: "Neutron's routers (their gateways, interfaces and routes) and floating IPs; the provider network external",
    up: `
  -- The one flat network is the provider network the cloud was made with: routers' way out.
  UPDATE networks SET external = 1 WHERE network_type = 'flat';
  CREATE TABLE routers (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, admin_state_up INTEGER NOT NULL, enable_snat INTEGER NOT NULL,
    routes TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE INDEX routers_project ON routers (project_id);
  -- Neutron's routerports: a port is a router's by this row, not by its device_id (which a port's
  -- owner may set). A port deleted leaves its router; a router has one gateway at most.
  CREATE TABLE router_ports (port_id TEXT PRIMARY KEY REFERENCES ports(id) ON DELETE CASCADE,
    router_id TEXT NOT NULL REFERENCES routers(id) ON DELETE CASCADE, port_type TEXT NOT NULL);
  CREATE INDEX router_ports_router ON router_ports (router_id);
  CREATE UNIQUE INDEX router_ports_gateway ON router_ports (router_id) WHERE port_type = 'network:router_gateway';
  -- A floating IP goes with its port on the external network. Its binding (fixed_port_id, the
  -- address, the router) is cleared when the bound port goes, whichever way it goes (a server's
  -- delete takes its own ports).
  CREATE TABLE floating_ips (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES networks(id),
    floating_port_id TEXT NOT NULL UNIQUE REFERENCES ports(id) ON DELETE CASCADE,
    floating_ip_address TEXT NOT NULL, fixed_port_id TEXT, fixed_ip_address TEXT,
    router_id TEXT REFERENCES routers(id), description TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL);
  CREATE INDEX floating_ips_project ON floating_ips (project_id);
  CREATE INDEX floating_ips_fixed_port ON floating_ips (fixed_port_id);
  CREATE INDEX floating_ips_router ON floating_ips (router_id);
  CREATE TRIGGER floating_ips_unbind AFTER DELETE ON ports BEGIN
    UPDATE floating_ips SET fixed_port_id = NULL, fixed_ip_address = NULL, router_id = NULL
      WHERE fixed_port_id = OLD.id;
  END;
  `,
  },
  {
    version: 27,
    name: "Resizes and cold migrations: a migration's flavors, before (a revert's way back) and after",
    up: `
  ALTER TABLE migrations ADD COLUMN new_flavor_id TEXT;
  ALTER TABLE migrations ADD COLUMN old_flavor TEXT;
  ALTER TABLE migrations ADD COLUMN new_flavor TEXT;
  CREATE INDEX migrations_server ON migrations (server_id);
  `,
  },
  {
    version: 28,
    name: "A server's zone as asked for (Nova's request spec), apart from its host's: only that one binds a move",
    up: `
  ALTER TABLE servers ADD COLUMN requested_zone TEXT NOT NULL DEFAULT '';
  -- Which zone an older row asked for is not known: it keeps the zone it has (as it moved before).
  UPDATE servers SET requested_zone = availability_zone;
  `,
  },
];
