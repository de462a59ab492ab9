/** Records of the cloud database and the named operations on them. */

export interface Domain {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
}

export interface Project {
  id: string;
  name: string;
  domainId: string;
  description: string;
  enabled: boolean;
  parentId: string | null;
  tags: string[];
}

export interface User {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
  /** `scrypt$N$r$p$salt$hash` (base64 parts); null when the user cannot log in with a password. */
  passwordHash: string | null;
  defaultProjectId: string | null;
  email: string | null;
  description: string;
  /** The attributes Keystone keeps for a user beyond its own (any name a client sent), shown with them. */
  extra: Record<string, unknown>;
  /** Keystone's user options of its security compliance rules: those set. */
  options: UserOptions;
  /**
   * When the password was last changed (an admin's reset or its user's change, ISO 8601); null if
   * not since the user was made. The user's tokens issued until then (to the second) are revoked.
   */
  passwordChangedAt: string | null;
  /** When the current password expires (ISO 8601, Keystone's `password_expires_at`); null: never. */
  passwordExpiresAt: string | null;
  /** The current password was set by its user (a self-service change, at `passwordChangedAt`), not by an admin. */
  passwordSelfService: boolean;
}

/** Keystone's user options (identity/backends/resource_options.py) that rackseed enforces. */
export interface UserOptions {
  ignore_change_password_upon_first_use?: boolean;
  ignore_password_expiry?: boolean;
  ignore_lockout_failure_attempts?: boolean;
  lock_password?: boolean;
}

/** A user's new password: it becomes the current one and the newest of its history. */
export interface NewPassword {
  hash: string;
  setAt: string;
  expiresAt: string | null;
  selfService: boolean;
  /** Hashes kept in the user's history, this one included (at least 1). */
  keep: number;
}

/** What an update of a user changes: its attributes, and with `password` its password. */
export type UserPatch = Partial<
  Omit<User, 'id' | 'passwordHash' | 'passwordChangedAt' | 'passwordExpiresAt' | 'passwordSelfService'>
> & { password?: NewPassword };

export interface Role {
  id: string;
  name: string;
  domainId: string | null;
  description: string;
}

/** A Keystone group: users in a domain who are granted roles together. */
export interface Group {
  id: string;
  name: string;
  domainId: string;
  description: string;
}

/** Who holds a role: a user, or every member of a group. */
export type ActorType = 'user' | 'group';
/** Where a role is held: on a project, on a domain, or on the whole system (Keystone's system scope). */
export type TargetType = 'project' | 'domain' | 'system';
/** The one target of type `system` (Keystone's `system: {all: true}`). */
export const SYSTEM_ALL = 'all';

/** A role granted (Keystone's assignment): `inherited` ones apply to the projects under the target, not to it. */
export interface RoleAssignment {
  actorType: ActorType;
  actorId: string;
  targetType: TargetType;
  targetId: string;
  roleId: string;
  inherited: boolean;
}

/** A role a user holds on a target, and the grant it comes from (through a group, an inheritance or an implication). */
export interface EffectiveAssignment {
  userId: string;
  targetType: TargetType;
  targetId: string;
  roleId: string;
  source: RoleAssignment;
  /** The role whose implication gives this one; null when it is the granted role itself. */
  priorRoleId: string | null;
}

/** What a token is scoped to; null for an unscoped token. */
export type TokenScope = { targetType: TargetType; targetId: string } | null;

/** Who a valid token speaks for, as {@link CloudDb}'s `tokens.subject` reads it. */
export interface TokenSubject {
  user: User;
  /** The scope's project, or domain; both null for a system-scoped or unscoped token. */
  project: Project | null;
  domain: Domain | null;
  /** The user's effective roles on the scope (none for an unscoped token); an application credential's token's, those of them it delegates. */
  roles: Role[];
  /** The application credential a token was made from, if it was. */
  applicationCredential?: Omit<ApplicationCredential, 'secretHash'>;
  /** The trust a token was made from, if it was. */
  trust?: Trust;
}

/** What a token was made from, beyond its user: an application credential or a trust (at most one). */
export interface TokenDelegation {
  applicationCredentialId?: string;
  trustId?: string;
}

export interface SigningKey {
  kid: string;
  /** base64 HMAC key. */
  secret: string;
  createdAt: string;
}

export interface LoginFailures {
  count: number;
  /** When the last one was (ISO 8601). */
  lastAt: string;
}

export interface Flavor {
  id: string;
  name: string;
  ram: number;
  vcpus: number;
  disk: number;
  swap: number;
  ephemeral: number;
  rxtxFactor: number;
  isPublic: boolean;
  disabled: boolean;
  description: string | null;
  extraSpecs: Record<string, string>;
  createdAt: string;
}

export interface Keypair {
  id: number;
  name: string;
  userId: string;
  publicKey: string;
  fingerprint: string;
  type: 'ssh' | 'x509';
  createdAt: string;
}

export interface ServerAddress {
  network: string;
  addr: string;
  version: 4 | 6;
  mac: string;
  portId: string;
}

export interface Server {
  id: string;
  projectId: string;
  userId: string;
  name: string;
  flavorId: string;
  imageId: string;
  keyName: string | null;
  /**
   * Its availability zone: the one its create asked for (empty for any) until it is placed,
   * then its host's (`aggregates`), which it keeps: an evacuation stays in it.
   */
  availabilityZone: string;
  accessIPv4: string;
  accessIPv6: string;
  metadata: Record<string, string>;
  /** The server machine's state value, and its persisted snapshot (`{version, value, context}`). */
  state: string;
  machine: string;
  host: string;
  addresses: ServerAddress[];
  createdAt: string;
  updatedAt: string;
  launchedAt: string | null;
  /** The user data the server was created with, base64 (as Nova keeps it), or null. */
  userData: string | null;
  /** The server group it was created in (`os:scheduler_hints` `group`), or null. */
  serverGroupId: string | null;
  /** Who locked it (Nova's `locked_by`): its own project, or an admin from another; null when unlocked. */
  lockedBy: 'owner' | 'admin' | null;
  /** Why, as the locker said (2.73); null for no reason or not locked. */
  lockedReason: string | null;
  /** The id of the create request that made it (Nova's `r-…`), shared by the servers of one multi-create; null before it was kept. */
  reservationId: string | null;
  /** Its index among the servers of its create request, from 0. */
  launchIndex: number;
  /** Its owner's words about it (Nova's description, 2.19), or null. */
  description: string | null;
  /** Its tags (2.26), in the order they were added; changed through `serverTags`. */
  tags: string[];
  /** Its root disk's device tag (Nova's, 2.32), which the guest's metadata shows; null for none. */
  rootDeviceTag: string | null;
  /** The flavor it was made with, as it was then (Nova's instance.flavor, shown from 2.47); set by `servers.create`. */
  flavor: ServerFlavor;
}

/** A server's copy of its flavor, kept when the flavor changes or is deleted. */
export interface ServerFlavor {
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  extraSpecs: Record<string, string>;
}

/** What an admin set on one of a host's Nova services (`os-services`); none set means enabled and up. */
export interface ComputeService {
  host: string;
  /** `nova-compute`, `nova-scheduler` or `nova-conductor`. */
  binary: string;
  disabled: boolean;
  disabledReason: string | null;
  /** Nova's forced_down (2.11): the service is down whatever its host says, as after a fence. */
  forcedDown: boolean;
  updatedAt: string;
}

/** A server's move from one host to another (Nova's migration record); rackseed's are evacuations. */
export interface Migration {
  id: number;
  uuid: string;
  serverId: string;
  /** `resize` (a new flavor) and `migration` (a cold migration) are the owner's or admin's; `evacuation` the cloud's. */
  migrationType: 'evacuation' | 'resize' | 'migration';
  sourceHost: string;
  /** Null until the scheduler chose it. */
  destHost: string | null;
  /**
   * Nova's: an evacuation is accepted, then done or error; a resize or cold migration is
   * pre-migrating, migrating, finished (VERIFY_RESIZE), then confirmed or reverted, or error.
   */
  status: 'accepted' | 'done' | 'error' | 'pre-migrating' | 'migrating' | 'finished' | 'confirmed' | 'reverted';
  /** The server's flavor before it (Nova's old_instance_type_id). */
  flavorId: string;
  /** The server's flavor after it (the same but for a resize). */
  newFlavorId: string;
  /** A resize's or cold migration's copies of the server's flavor before it (which a revert puts back) and after; null for an evacuation. */
  oldFlavor: ServerFlavor | null;
  newFlavor: ServerFlavor | null;
  projectId: string;
  /** Null for a move the cloud made on its own. */
  userId: string | null;
  createdAt: string;
  updatedAt: string | null;
}

/**
 * A host aggregate (Nova's `os-aggregates`): a named set of hosts with metadata. One whose
 * metadata has `availability_zone` makes its hosts that availability zone; a host in none is in
 * `nova`, Nova's default zone.
 */
export interface Aggregate {
  id: number;
  uuid: string;
  name: string;
  hosts: string[];
  metadata: Record<string, string>;
  createdAt: string;
  updatedAt: string | null;
}

/**
 * Where a server group's members may run: all on one host, or each on its own (Nova's hard
 * policies, refused when no host fits), or preferably so (the soft ones of 2.15, never refused).
 */
export type ServerGroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

/** A server group (Nova's): a policy the scheduler applies to the servers created in it. */
export interface ServerGroup {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  policy: ServerGroupPolicy;
  /** Its policy's rules (2.64): how many of its servers an anti-affinity group allows a host (1 when not set). */
  rules: { maxServerPerHost?: number };
  /** Its live servers, oldest first. */
  members: string[];
  createdAt: string;
}

/** A server's life as usage reports count it: when it was launched and, once deleted, when. */
export interface ServerLifetime {
  id: string;
  name: string;
  projectId: string;
  flavorId: string;
  vcpus: number;
  memoryMb: number;
  /** The server machine's state value, and its persisted snapshot (as {@link Server}'s). */
  state: string;
  machine: string;
  launchedAt: string;
  /** When it was deleted; null while it exists. */
  terminatedAt: string | null;
}

/** One thing asked of a server (Nova's instance action), and how it ended. */
export interface InstanceAction {
  serverId: string;
  /** The API request's id (`req-…`), or one the compute keeper made for an evacuation. */
  requestId: string;
  /** Nova's names: create, delete, stop, start, reboot, rebuild, createImage, evacuate. */
  action: string;
  /** Null for what the cloud did on its own (an evacuation). */
  userId: string | null;
  projectId: string;
  startTime: string;
  finishTime: string | null;
  result: 'Success' | 'Error' | null;
  message: string | null;
}

export interface Image {
  id: string;
  name: string | null;
  status: 'queued' | 'saving' | 'active' | 'deactivated' | 'deleted' | 'killed';
  visibility: 'public' | 'private' | 'shared' | 'community';
  protected: boolean;
  osHidden: boolean;
  owner: string;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  size: number | null;
  virtualSize: number | null;
  minRam: number;
  minDisk: number;
  diskFormat: string | null;
  containerFormat: string | null;
  tags: string[];
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** A service an admin registered in Keystone's catalog (the API's own are built in, not stored). */
export interface CatalogService {
  id: string;
  type: string;
  name: string | null;
  description: string | null;
  enabled: boolean;
  /** The attributes Keystone keeps without knowing them. */
  extra: Record<string, unknown>;
}

/** One of a registered service's endpoints. */
export interface CatalogEndpoint {
  id: string;
  serviceId: string;
  interface: 'public' | 'internal' | 'admin';
  regionId: string | null;
  url: string;
  enabled: boolean;
  extra: Record<string, unknown>;
}

/** A region an admin registered (the cloud's own is built in). */
export interface Region {
  id: string;
  description: string;
  parentRegionId: string | null;
  extra: Record<string, unknown>;
}

/** A secret a user keeps in Keystone (`/v3/credentials`), such as an EC2 key pair. */
export interface Credential {
  id: string;
  userId: string;
  /** Required for type `ec2`: the project its keys act on. */
  projectId: string | null;
  type: string;
  /** The credential itself, as the client serialized it (JSON with `access` and `secret` for `ec2`). */
  blob: string;
  /** The attributes Keystone keeps without knowing them. */
  extra: Record<string, unknown>;
}

/** What a user's application credential's tokens may call (Keystone's access rule): a method on a path of a service. */
export interface AccessRule {
  id: string;
  userId: string;
  /** A service type of the catalog (`compute`). */
  service: string;
  /** A path after the service's endpoint (`/v2.1/servers/{id}/ips`); `*` stands for one segment, `**` for any. */
  path: string;
  method: string;
}

/**
 * Keystone's application credential: a secret a user makes for an application, which
 * authenticates as the user on one project with some of the user's roles there.
 */
export interface ApplicationCredential {
  id: string;
  userId: string;
  /** Unique among the user's. */
  name: string;
  description: string | null;
  /** Its secret's hash, as a password's (`scrypt$…`); the secret itself is never kept. */
  secretHash: string;
  /** The project its tokens are scoped to. */
  projectId: string;
  /** When it stops authenticating: ISO 8601 UTC with microseconds (`2026-12-07T02:48:23.123456Z`); null for never. */
  expiresAt: string | null;
  /** Its tokens may make or delete application credentials (and trusts). */
  unrestricted: boolean;
  /** The roles it delegates that still exist, by name; its tokens carry those the user still holds. */
  roles: Role[];
  /** What its tokens may call; none: anything. */
  accessRules: AccessRule[];
}

/** A new application credential: its roles by id, its access rules each an existing rule of the user's or a new one. */
export type NewApplicationCredential = Omit<ApplicationCredential, 'roles' | 'accessRules'> & {
  roleIds: string[];
  accessRules: Omit<AccessRule, 'userId'>[];
};

/**
 * A Keystone trust (OS-TRUST): its trustor delegates some of its roles on a project to its trustee,
 * who may then get tokens scoped to that project, acting as the trustor (`impersonation`) or as
 * itself, with those of the roles the trustor still holds.
 */
export interface Trust {
  id: string;
  trustorUserId: string;
  trusteeUserId: string;
  /** The project its tokens are scoped to; null for a trust that delegates no role (its tokens have no scope). */
  projectId: string | null;
  /** Its tokens' user is the trustor (else the trustee). */
  impersonation: boolean;
  /** When it ends: ISO 8601 UTC with microseconds (`2026-12-07T02:48:23.123456Z`); null for never. */
  expiresAt: string | null;
  /** How many more tokens it may issue; null for no limit. */
  remainingUses: number | null;
  /** The trust this one redelegates (it was made with a token of that one), or null. */
  redelegatedTrustId: string | null;
  /** How many more times it may be redelegated down a chain (0: not). */
  redelegationCount: number;
  /** The ids of the roles it delegates, a deleted role's too (its tokens then fail, as Keystone's). */
  roleIds: string[];
  /** Those of them that still exist, by name. */
  roles: Role[];
}

/** A Keystone OAuth1 consumer (OS-OAUTH1): a client that may ask users to delegate roles to it. */
export interface OAuthConsumer {
  id: string;
  description: string | null;
  /** Shown once, when it is made. */
  secret: string;
  extra: Record<string, unknown>;
}

/** A policy blob stored in Keystone (`/v3/policies`) for other services to fetch; Keystone enforces none of it. */
export interface Policy {
  id: string;
  blob: string;
  /** The blob's MIME type, as its author says. */
  type: string;
  extra: Record<string, unknown>;
}

/** One option of a domain's configuration (Keystone's domain-specific identity driver options). */
export interface DomainConfigOption {
  group: string;
  option: string;
  /** Any JSON value. */
  value: unknown;
  /** Never shown (`ldap.password`): only substituted into the other options' values. */
  sensitive: boolean;
}

/** What an endpoint group selects: endpoints whose every given attribute equals the filter's. */
export interface EndpointGroupFilters {
  serviceId?: string;
  regionId?: string | null;
  interface?: CatalogEndpoint['interface'];
}

/** A Keystone endpoint group (OS-EP-FILTER): endpoints chosen by filters, for projects to see. */
export interface EndpointGroup {
  id: string;
  name: string;
  description: string | null;
  filters: EndpointGroupFilters;
}

/** What limits a project's catalog (OS-EP-FILTER): the endpoints given it one by one, and its endpoint groups' filters. */
export interface ProjectEndpointFilter {
  endpointIds: string[];
  groups: EndpointGroupFilters[];
}

/** A project a shared image is offered to, and its answer (Glance's image member). */
export interface ImageMember {
  imageId: string;
  /** The member project's id. */
  memberId: string;
  status: 'pending' | 'accepted' | 'rejected';
  createdAt: string;
  updatedAt: string;
}

/** A namespace of Glance's metadata definitions catalog (metadefs), named uniquely. */
export interface MetadefNamespace {
  namespace: string;
  displayName: string | null;
  description: string | null;
  visibility: 'public' | 'private';
  /** Refuses deleting the namespace and what it defines. */
  protected: boolean;
  /** The owner project's id. */
  owner: string;
  /** The resource types it applies to, oldest association first. */
  resourceTypes: MetadefAssociation[];
  createdAt: string;
  updatedAt: string;
}

/** A namespace's association with a resource type (`OS::Glance::Image`): the prefix its properties take there. */
export interface MetadefAssociation {
  name: string;
  prefix: string | null;
  propertiesTarget: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A resource type a namespace may be associated with (made by its first association). */
export interface MetadefResourceType {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** What a namespace defines; each named uniquely within it (tags whatever their case). */
export type MetadefKind = 'object' | 'property' | 'tag';

/** An object, property or tag of a namespace: its name, and the rest of Glance's JSON for it. */
export interface MetadefDefinition {
  kind: MetadefKind;
  name: string;
  /** An object's description, required and properties; a property's schema; nothing of a tag. */
  body: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** Which namespaces a list shows. */
export interface MetadefNamespaceFilter {
  /** The caller's project: it sees the public namespaces and its own, the cloud admin (`admin`) every one. */
  projectId: string | null;
  admin: boolean;
  visibility?: MetadefNamespace['visibility'];
  /** Only those associated with one of these resource types. */
  resourceTypes?: string[];
}

/** What a list of metadef namespaces may be ordered by (Glance's). */
export const METADEF_NAMESPACE_ORDER = [
  'namespace',
  'display_name',
  'description',
  'visibility',
  'protected',
  'owner',
  'created_at',
  'updated_at',
] as const;

/** A paged list's order: by `key` then creation (Glance's paginate_query), after the item named `marker`. */
export interface MetadefOrder {
  key:
    | 'namespace'
    | 'display_name'
    | 'description'
    | 'visibility'
    | 'protected'
    | 'owner'
    | 'name'
    | 'created_at'
    | 'updated_at';
  dir: 'asc' | 'desc';
  marker?: string;
  limit?: number;
}

/** How a network's traffic travels between hosts: the provider's flat network, or a VXLAN segment of its own. */
export type NetworkType = 'flat' | 'vxlan';

export interface Network {
  id: string;
  name: string;
  projectId: string;
  shared: boolean;
  external: boolean;
  mtu: number;
  adminStateUp: boolean;
  networkType: NetworkType;
  /** A vxlan network's VNI (1 to 16777215, unique); null for the flat one. */
  segmentationId: number | null;
  description: string;
  createdAt: string;
  updatedAt: string;
}

/** One address range of a subnet, inclusive. */
export interface AllocationPool {
  start: string;
  end: string;
}

export interface HostRoute {
  destination: string;
  nexthop: string;
}

export interface Subnet {
  id: string;
  name: string;
  networkId: string;
  projectId: string;
  cidr: string;
  /** null: the subnet has no gateway. */
  gatewayIp: string | null;
  ipVersion: 4;
  enableDhcp: boolean;
  /** What its IPAM hands out when a port names no address, in order. */
  allocationPools: AllocationPool[];
  dnsNameservers: string[];
  hostRoutes: HostRoute[];
  description: string;
  createdAt: string;
  updatedAt: string;
}

/** One fixed address of a port, on one of its network's subnets. */
export interface FixedIp {
  subnetId: string;
  ipAddress: string;
}

/** A fixed address a new or updated port asks for: a subnet (any free address of it), an address, or both. */
export interface FixedIpRequest {
  subnetId?: string;
  ipAddress?: string;
}

export interface Port {
  id: string;
  name: string;
  networkId: string;
  projectId: string;
  deviceId: string;
  deviceOwner: string;
  macAddress: string;
  fixedIps: FixedIp[];
  adminStateUp: boolean;
  description: string;
  /** Made by a server's create, and deleted with it (a port the user made is only unbound). */
  serverMade: boolean;
  /** The device tag its server's create gave it (Nova's, 2.32), which the guest's metadata shows; null for none. */
  tag: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Neutron's device owners of a router's ports (neutron_lib/constants.py). */
export const ROUTER_GATEWAY_OWNER = 'network:router_gateway';
export const ROUTER_INTERFACE_OWNER = 'network:router_interface';
export const FLOATING_IP_OWNER = 'network:floatingip';

/** A route of a router's own (Neutron's `extraroute`): `destination`, a CIDR, through `nexthop`. */
export interface RouterRoute {
  destination: string;
  nexthop: string;
}

/**
 * A Neutron router. Its ports (its gateway on an external network, its interfaces on project
 * networks) are ports of the `networks` group, tied to it by the `routers` group.
 */
export interface Router {
  id: string;
  projectId: string;
  name: string;
  description: string;
  adminStateUp: boolean;
  /** Whether the project networks' traffic leaves through the gateway with its address (`ext-gw-mode`). */
  enableSnat: boolean;
  routes: RouterRoute[];
  /** Its gateway port; null: no gateway. */
  gatewayPortId: string | null;
  /** Its interface ports, oldest first. */
  interfacePortIds: string[];
  createdAt: string;
  updatedAt: string;
}

/**
 * A router's gateway as a write asks for it: the port to make on the external network (unless
 * the router has one there already), the addresses asked for (null: any one), SNAT.
 */
export interface GatewayRequest {
  port: Omit<Port, 'fixedIps'>;
  fixedIps: FixedIpRequest[] | null;
  enableSnat: boolean;
}

/** A router interface to add: a new port with the subnet's gateway address, or an unbound port of the caller's. */
export type InterfaceRequest =
  { kind: 'subnet'; subnetId: string; port: Omit<Port, 'fixedIps'> } | { kind: 'port'; portId: string };

/** A router interface as added or removed: its port, and the subnets of its addresses. */
export interface RouterInterface {
  port: Port;
  subnetIds: string[];
}

/** A floating IP's association: a port and one of its fixed IPv4 addresses (null: its only one). */
export interface FloatingIpAssociation {
  portId: string;
  fixedIpAddress: string | null;
}

/** A Neutron floating IP: an address of an external network (its own port there), maybe bound to a fixed address. */
export interface FloatingIp {
  id: string;
  projectId: string;
  floatingNetworkId: string;
  floatingPortId: string;
  floatingIpAddress: string;
  /** The port and fixed address it is bound to, and the router that does it; all null when unbound. */
  fixedPortId: string | null;
  fixedIpAddress: string | null;
  routerId: string | null;
  description: string;
  createdAt: string;
  updatedAt: string;
}

/** A network interface to create with a server: a new port on a network, or a port the user made. */
export interface Nic {
  networkId: string;
  portId: string;
  /** The port exists (the user made it): the server binds it rather than making one. */
  existing: boolean;
  /** The address asked for on the network (Nova's `fixed_ip`); null for any. */
  fixedIp: string | null;
  macAddress: string;
  tag: string | null;
  /** The security groups its port is in (ids of the server's project's groups); an existing port keeps its own. */
  securityGroupIds: readonly string[];
}

/**
 * A Neutron security group: a project's set of allow rules for the ports in it (a port in no
 * group, or in groups with no rule for a packet, drops it). `stateful` groups let the answers
 * to allowed traffic back; a port's groups are all stateful or all not.
 */
export interface SecurityGroup {
  id: string;
  projectId: string;
  name: string;
  description: string;
  stateful: boolean;
  /** The project's `default` group (one per project, made on first need with Neutron's four rules). */
  isDefault: boolean;
  rules: SecurityGroupRule[];
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** One allow rule of a security group, as Neutron's API has it. */
export interface SecurityGroupRule {
  id: string;
  groupId: string;
  projectId: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** Neutron's: a name (`tcp`, `udp`, `icmp`…), a number as text, or null for any. */
  protocol: string | null;
  /** Destination ports (TCP, UDP…), or ICMP's type (min) and code (max); null for any. */
  portMin: number | null;
  portMax: number | null;
  /** The other end: a CIDR, or the addresses of the ports in a group; both null for anywhere. */
  remoteIpPrefix: string | null;
  remoteGroupId: string | null;
  description: string;
  createdAt: string;
}

/** A page request: at most `limit` records strictly after `marker`. */
export interface Page {
  limit: number;
  marker?: string;
}

export interface ServerFilter {
  /** Only this project's servers; undefined = every project (admin `all_tenants`). */
  projectId?: string;
  name?: string;
  status?: readonly string[];
  imageId?: string;
  flavorId?: string;
  host?: string;
  changesSince?: string;
  changesBefore?: string;
  /** Locked or not (2.73). */
  locked?: boolean;
  /** Nova's regular expressions on the IPv4 and IPv6 addresses, matched from an address's start. */
  ip?: string;
  ip6?: string;
  reservationId?: string;
  /** Nova's tag filters (2.26): all of these, any of them, not all of them, none of them. */
  tags?: readonly string[];
  tagsAny?: readonly string[];
  notTags?: readonly string[];
  notTagsAny?: readonly string[];
}

export interface ImageFilter {
  /**
   * The caller's project. A non-admin lists public and community images, its project's own,
   * and the shared images its project is a member of with `memberStatus`; anyone's community
   * images but its own only when `visibility` asks for them (Glance's rules).
   */
  projectId: string;
  admin: boolean;
  /** Of the shared images the project is a member of, those with this answer (`all`: any). */
  memberStatus: ImageMember['status'] | 'all';
  name?: string;
  status?: string;
  /** Only images with this visibility (`all`: any, community images included). */
  visibility?: Image['visibility'] | 'all';
  owner?: string;
  containerFormat?: string;
  diskFormat?: string;
  /** Bytes: exactly, at least and at most. */
  size?: number;
  sizeMin?: number;
  sizeMax?: number;
  /** Images with every one of these tags. */
  tags?: readonly string[];
  /** Images whose extra properties have these values. */
  properties?: Readonly<Record<string, string>>;
  /** The order, first key first (Glance's default: newest first); `created_at` and `id` break ties. */
  sort?: readonly ImageSortKey[];
}

/** A key Glance sorts images by, and its direction. */
export interface ImageSortKey {
  key: 'name' | 'status' | 'container_format' | 'disk_format' | 'size' | 'id' | 'created_at' | 'updated_at';
  dir: 'asc' | 'desc';
}

/** Limits a server create is checked against, inside the same transaction. */
/**
 * What a host can give servers, for the scheduler: its inventory after allocation ratios and
 * reserved memory (see appliance/compute's placement).
 */
export interface HostCapacity {
  host: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface ServerQuota {
  instances: number;
  cores: number;
  ram: number;
  /** How many servers one server group may hold (`server_group_members`). */
  serverGroupMembers: number;
}

/** Compute quota resources with their defaults (Nova's `[quota]` defaults). */
export const DEFAULT_QUOTAS = {
  instances: 10,
  cores: 20,
  ram: 51200,
  key_pairs: 100,
  metadata_items: 128,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  server_groups: 10,
  server_group_members: 10,
  fixed_ips: -1,
  floating_ips: -1,
  /** Neutron's `security_group` and `security_group_rule` quotas (its defaults), which Nova's API showed up to 2.35. */
  security_groups: 10,
  security_group_rules: 100,
  network: 100,
  subnet: 100,
  port: 500,
  /** Neutron's `router` and `floatingip` quotas (its defaults). */
  router: 10,
  floatingip: 50,
} as const;

export type QuotaResource = keyof typeof DEFAULT_QUOTAS;

/**
 * The cloud database as named asynchronous operations. The embedded default runs them on a
 * local SQLite file; in a cluster the same calls go to the DB master over RPC. Each method is
 * atomic: it either does all it says or throws (DbNotFoundError, DbConflictError, …).
 */
export interface CloudDb {
  actions: {
    /** Records an action (once per request: the same request id again changes nothing). */
    record(action: Omit<InstanceAction, 'finishTime' | 'result' | 'message'>): Promise<void>;
    /** Ends the server's newest unfinished `action` with its result (nothing if there is none). */
    finish(
      serverId: string,
      action: string,
      result: 'Success' | 'Error',
      message: string | null,
      at: string,
    ): Promise<void>;
    /** Newest first. */
    list(serverId: string): Promise<InstanceAction[]>;
    get(serverId: string, requestId: string): Promise<InstanceAction | null>;
  };
  domains: {
    create(domain: Domain): Promise<Domain>;
    get(id: string): Promise<Domain | null>;
    list(filter: { name?: string; enabled?: boolean }): Promise<Domain[]>;
    update(id: string, patch: Partial<Omit<Domain, 'id'>>): Promise<Domain>;
    /** Deletes the domain with everything in it: projects, users, groups, roles, and the grants on it. */
    delete(id: string): Promise<void>;
  };
  projects: {
    create(project: Project): Promise<Project>;
    get(id: string): Promise<Project | null>;
    findByName(domainId: string, name: string): Promise<Project | null>;
    list(filter: { name?: string; domainId?: string; enabled?: boolean; parentId?: string }): Promise<Project[]>;
    /** The project's parents, nearest first (not its domain). */
    ancestors(id: string): Promise<Project[]>;
    /** Every project under it, at any depth. */
    descendants(id: string): Promise<Project[]>;
    update(id: string, patch: Partial<Omit<Project, 'id'>>): Promise<Project>;
    /** Deletes the project and the grants on it; refused (DbInvalidActionError) while it has projects under it. */
    delete(id: string): Promise<void>;
  };
  users: {
    create(user: User): Promise<User>;
    get(id: string): Promise<User | null>;
    findByName(domainId: string, name: string): Promise<User | null>;
    list(filter: { name?: string; domainId?: string; enabled?: boolean }): Promise<User[]>;
    /** Changes the user; a new password is recorded in its history, of which only the `keep` newest stay. */
    update(id: string, patch: UserPatch): Promise<User>;
    /** The hashes of the user's `count` newest passwords, newest (the current one) first. */
    passwordHistory(id: string, count: number): Promise<string[]>;
    /** Deletes the user, its grants and its group memberships. */
    delete(id: string): Promise<void>;
  };
  groups: {
    create(group: Group): Promise<Group>;
    get(id: string): Promise<Group | null>;
    list(filter: { name?: string; domainId?: string }): Promise<Group[]>;
    update(id: string, patch: Partial<Omit<Group, 'id' | 'domainId'>>): Promise<Group>;
    delete(id: string): Promise<void>;
    addMember(groupId: string, userId: string): Promise<void>;
    removeMember(groupId: string, userId: string): Promise<void>;
    members(groupId: string): Promise<User[]>;
    ofUser(userId: string): Promise<Group[]>;
  };
  roles: {
    create(role: Role): Promise<Role>;
    get(id: string): Promise<Role | null>;
    /** The global roles, or with `domainId` that domain's. */
    list(filter: { name?: string; domainId?: string }): Promise<Role[]>;
    update(id: string, patch: Partial<Pick<Role, 'name' | 'description'>>): Promise<Role>;
    /** Deletes the role, its grants and its implications. */
    delete(id: string): Promise<void>;
    /** Keystone's implied roles: holding `priorId` gives `impliedId` too. */
    imply(priorId: string, impliedId: string): Promise<void>;
    unimply(priorId: string, impliedId: string): Promise<void>;
    /** The direct implications, of `priorId` or of every role. */
    implications(filter: { priorId?: string }): Promise<{ priorId: string; impliedId: string }[]>;
  };
  assignments: {
    grant(assignment: RoleAssignment): Promise<void>;
    revoke(assignment: RoleAssignment): Promise<void>;
    list(filter: Partial<RoleAssignment>): Promise<RoleAssignment[]>;
    /**
     * Keystone's effective assignments: group grants given to each member, inherited grants to
     * each project under their target, implied roles added, domain-specific roles left out.
     */
    effective(filter: {
      userId?: string;
      targetType?: TargetType;
      targetId?: string;
      roleId?: string;
    }): Promise<EffectiveAssignment[]>;
  };
  tokens: {
    signingKeys(): Promise<SigningKey[]>;
    /**
     * Adds `key` as the newest signing key unless the newest one was created after `olderThan`
     * (another API node rotated first: one rotation a period however many nodes ask), keeps only
     * the `keep` newest; the keys, newest first.
     */
    rotate(key: SigningKey, keep: number, olderThan: string): Promise<SigningKey[]>;
    revoke(auditId: string, expiresAt: string): Promise<void>;
    isRevoked(auditId: string): Promise<boolean>;
    /**
     * Everything a token's check needs from the database, read at once (one call to the DB
     * master per request instead of five): null if `auditId` is revoked, the user is gone or
     * disabled, or, for a scoped token, its project or domain is gone or disabled or the user
     * has no effective role on the scope; else the user, the scope and those roles (by name).
     * With `delegation.applicationCredentialId` (a token made from one), null too if the
     * credential is gone or not the user's; the roles are then only those of the user's that the
     * credential delegates. With `delegation.trustId` (a token made from a trust), null too if the
     * trust or one it redelegates is gone, a trustor or trustee of the chain is gone or disabled,
     * the scope or the user is not the trust's, or the first trustor no longer holds every role
     * it delegates; the roles are then those (with the roles they imply). Whether the trust has
     * expired is the caller's to check (with its clock), from the subject's `trust`.
     */
    subject(
      auditId: string,
      userId: string,
      scope: TokenScope,
      delegation?: TokenDelegation,
    ): Promise<TokenSubject | null>;
  };
  /** Failed logins of each user (Keystone's lockout), counted where every API node sees them. */
  logins: {
    /** The user's failed logins since its last success, and when the last one was; null if none. */
    failures(userId: string): Promise<LoginFailures | null>;
    /** Counts a failed login at `at`; the count starts again at 1 if the last one was before `forgetBefore`. */
    fail(userId: string, at: string, forgetBefore: string): Promise<void>;
    /** Forgets the user's failed logins (it logged in). */
    clear(userId: string): Promise<void>;
  };
  flavors: {
    create(flavor: Flavor): Promise<Flavor>;
    get(id: string): Promise<Flavor | null>;
    list(filter: { isPublic?: boolean; projectId?: string; minRam?: number; minDisk?: number }): Promise<Flavor[]>;
    delete(id: string): Promise<void>;
    /** Its description (Nova's only flavor field that changes, 2.55); null for none. */
    setDescription(id: string, description: string | null): Promise<Flavor>;
    setExtraSpecs(id: string, specs: Record<string, string>): Promise<Flavor>;
    deleteExtraSpec(id: string, key: string): Promise<Flavor>;
    access(id: string): Promise<string[]>;
    addAccess(id: string, projectId: string): Promise<string[]>;
    removeAccess(id: string, projectId: string): Promise<string[]>;
  };
  keypairs: {
    create(keypair: Omit<Keypair, 'id'>): Promise<Keypair>;
    get(userId: string, name: string): Promise<Keypair | null>;
    list(userId: string): Promise<Keypair[]>;
    delete(userId: string, name: string): Promise<void>;
  };
  servers: {
    /**
     * Creates the server, with one port (lowest free address) per nic, if the project stays
     * within `quota`; `server.addresses` is filled from the ports.
     */
    /** Copies its flavor into the server (`flavor`). */
    create(server: Omit<Server, 'flavor'>, nics: readonly Nic[], quota: ServerQuota): Promise<Server>;
    /** A live server; with `deleted`, a deleted one too (its row stays, as Nova's soft delete). */
    get(id: string, options?: { deleted?: boolean }): Promise<Server | null>;
    /** Newest first; `marker` is a server id, of `filter.projectId` when that is given (else DbNotFoundError). */
    list(filter: ServerFilter, page: Page): Promise<Server[]>;
    update(
      id: string,
      patch: Partial<
        Pick<
          Server,
          | 'name'
          | 'accessIPv4'
          | 'accessIPv6'
          | 'metadata'
          | 'imageId'
          | 'lockedBy'
          | 'lockedReason'
          | 'description'
          | 'keyName'
          | 'userData'
        >
      >,
    ): Promise<Server>;
    /** Moves the machine from `fromState` only if it is still there (else DbStaleError). */
    transition(
      id: string,
      fromState: string,
      change: Pick<Server, 'state' | 'machine'> & Partial<Pick<Server, 'launchedAt'>>,
    ): Promise<Server>;
    usage(projectId: string): Promise<{ instances: number; cores: number; ram: number }>;
    /**
     * Schedules the server atomically: among `candidates` (minus `exclude`), the hosts with
     * room for its flavor (vCPUs, memory, disk, counting every server placed on them but this
     * one), in the availability zone its create asked for, if any (not the zone of the host it
     * is on: a server that named none moves across zones, as Nova's), and allowed by its server
     * group's policy (affinity: the host of the group's other placed servers, if any;
     * anti-affinity: a host with none of them; servers on an excluded host, a dead one being
     * evacuated, do not count), the one with the most free memory (Nova's spreading RAM
     * weigher); records it as the server's host, and the host's zone as the server's, and
     * returns both. DbNoValidHostError if none. Every call runs in one transaction on the
     * database's single writer, so two concurrent
     * placements never over-commit a host.
     */
    place(
      id: string,
      candidates: readonly HostCapacity[],
      options?: {
        exclude?: readonly string[];
        /** A resize's: the host must have room for this flavor, which becomes the server's with the host. */
        flavor?: { id: string; flavor: ServerFlavor };
        /** An unshelve's (2.77): the zone asked for now, which becomes the server's own. */
        zone?: string;
      },
    ): Promise<{ host: string; availabilityZone: string }>;
    /** Takes the server off its host (a shelve's offload): it holds no room anywhere. */
    unplace(id: string): Promise<void>;
    /**
     * Puts the server back on `host` with this flavor, with no scheduling (a resize reverted or
     * failed: the old host kept its room).
     */
    moveBack(id: string, host: string, flavor: { id: string; flavor: ServerFlavor }): Promise<Server>;
    /**
     * The servers alive at some point of [start, end) (ISO times), deleted ones included, of one
     * project or all, in the order they were made: launched before `end`, not deleted before
     * `start` (Nova's instances by window).
     */
    lifetimes(filter: { projectId?: string; start: string; end: string }): Promise<ServerLifetime[]>;
    /** What the servers placed on each host use (for the hypervisors API). */
    hostUsage(): Promise<Record<string, { vcpus: number; memoryMb: number; diskGb: number; servers: number }>>;
    /** What each project's servers placed on `host` use (for the hosts API). */
    projectUsageOn(
      host: string,
    ): Promise<Record<string, { vcpus: number; memoryMb: number; diskGb: number; servers: number }>>;
  };
  serverTags: {
    /** Adds a tag; false if the server had it. DbConflictError past 50 tags, DbNotFoundError for no live server. */
    add(serverId: string, tag: string): Promise<boolean>;
    /** Removes a tag; false if the server did not have it. */
    remove(serverId: string, tag: string): Promise<boolean>;
    /** Replaces every tag (duplicates once); the tags kept. */
    set(serverId: string, tags: readonly string[]): Promise<string[]>;
  };
  computeServices: {
    /** Every service an admin changed, by host then binary. */
    list(): Promise<ComputeService[]>;
    /** Changes what `patch` names of a host's service (made enabled and up first if new). */
    set(
      host: string,
      binary: string,
      patch: Partial<Pick<ComputeService, 'disabled' | 'disabledReason' | 'forcedDown'>>,
    ): Promise<ComputeService>;
  };
  migrations: {
    record(migration: Omit<Migration, 'id' | 'updatedAt'>): Promise<Migration>;
    /** Its new status, and its destination once the scheduler chose it. */
    finish(uuid: string, status: Migration['status'], at: string, destHost?: string): Promise<void>;
    /** Newest first. */
    list(): Promise<Migration[]>;
    /** The server's, newest first. */
    ofServer(serverId: string): Promise<Migration[]>;
  };
  aggregates: {
    /** DbConflictError if the name is taken. */
    create(aggregate: Omit<Aggregate, 'id' | 'hosts' | 'updatedAt'>): Promise<Aggregate>;
    get(id: number): Promise<Aggregate | null>;
    /** Oldest first. */
    list(): Promise<Aggregate[]>;
    /**
     * Renames it (DbConflictError if the name is taken) and changes its metadata: a key set to
     * null is removed. DbInvalidActionError if a zone would be empty, would put one of its hosts
     * in two zones, or would move a host's servers to another zone.
     */
    update(
      id: number,
      patch: { name?: string; metadata?: Record<string, string | null> },
      at: string,
    ): Promise<Aggregate>;
    /** DbInvalidActionError while it has hosts. */
    delete(id: number): Promise<void>;
    /**
     * DbConflictError if the host is in it already; DbInvalidActionError if the host would be
     * in two zones, or its servers would change zone.
     */
    addHost(id: number, host: string): Promise<Aggregate>;
    /** DbNotFoundError if the host is not in it; DbInvalidActionError if its servers would change zone. */
    removeHost(id: number, host: string): Promise<Aggregate>;
    /** The availability zone of each host an aggregate puts in one (the others are in `nova`). */
    zones(): Promise<Record<string, string>>;
  };
  serverGroups: {
    /** Creates it if its project stays within `quota` groups (else DbQuotaExceededError). */
    create(group: Omit<ServerGroup, 'members'>, quota: number): Promise<ServerGroup>;
    get(id: string): Promise<ServerGroup | null>;
    /** Oldest first; of one project, or of all. */
    list(filter: { projectId?: string }): Promise<ServerGroup[]>;
    /** Its servers stay, in no group. */
    delete(id: string): Promise<void>;
  };
  images: {
    create(image: Image): Promise<Image>;
    get(id: string): Promise<Image | null>;
    list(filter: ImageFilter, page: Page): Promise<Image[]>;
    update(id: string, patch: Partial<Omit<Image, 'id'>>): Promise<Image>;
    /** Marks the image deleted and drops its members. */
    delete(id: string): Promise<void>;
  };
  imageMembers: {
    /**
     * Adds a member (DbConflictError if it is one already; DbQuotaExceededError if the image
     * has `limit` members already).
     */
    add(member: ImageMember, limit: number): Promise<ImageMember>;
    get(imageId: string, memberId: string): Promise<ImageMember | null>;
    /** Oldest first. */
    list(imageId: string): Promise<ImageMember[]>;
    setStatus(imageId: string, memberId: string, status: ImageMember['status'], at: string): Promise<ImageMember>;
    remove(imageId: string, memberId: string): Promise<void>;
  };
  /**
   * Glance's metadata definitions catalog: namespaces are named by their `namespace`, what they
   * define by kind and name. A name taken is a DbConflictError with Glance's message; a namespace
   * or definition named that does not exist, a DbNotFoundError.
   */
  metadefs: {
    /** Creates it with its resource type associations (making new resource types) and `definitions`, all or nothing. */
    createNamespace(namespace: MetadefNamespace, definitions: MetadefDefinition[]): Promise<MetadefNamespace>;
    getNamespace(name: string): Promise<MetadefNamespace | null>;
    /** Those `filter` lets the caller see, one page in `order` (a marker it cannot see is not found). */
    listNamespaces(filter: MetadefNamespaceFilter, order: MetadefOrder): Promise<MetadefNamespace[]>;
    /** Replaces its fields (its name too: what it defines follows it). */
    updateNamespace(
      name: string,
      fields: Omit<MetadefNamespace, 'resourceTypes' | 'createdAt'>,
    ): Promise<MetadefNamespace>;
    /** Deletes it with its associations and definitions. */
    deleteNamespace(name: string): Promise<void>;
    /** Its definitions of one kind: oldest first, or one page in `order`. */
    definitions(namespace: string, kind: MetadefKind, order?: MetadefOrder): Promise<MetadefDefinition[]>;
    getDefinition(namespace: string, kind: MetadefKind, name: string): Promise<MetadefDefinition | null>;
    /** Adds them, all or nothing; with `replace`, after deleting the namespace's definitions of their kinds. */
    addDefinitions(namespace: string, definitions: MetadefDefinition[], replace: boolean): Promise<MetadefDefinition[]>;
    /** Replaces definition `name` (its name too) with `definition`, of the same kind. */
    updateDefinition(namespace: string, name: string, definition: MetadefDefinition): Promise<MetadefDefinition>;
    /** Deletes definition `name` of `kind`, or every one of that kind when `name` is undefined. */
    deleteDefinitions(namespace: string, kind: MetadefKind, name?: string): Promise<void>;
    /** Every resource type, oldest first. */
    resourceTypes(): Promise<MetadefResourceType[]>;
    /** Associates the namespace with a resource type, making the type if it is new. */
    associate(namespace: string, association: MetadefAssociation): Promise<MetadefAssociation>;
    dissociate(namespace: string, resourceType: string): Promise<void>;
  };
  services: {
    create(service: CatalogService): Promise<CatalogService>;
    get(id: string): Promise<CatalogService | null>;
    /** In the order they were made. */
    list(filter: { type?: string; name?: string }): Promise<CatalogService[]>;
    update(id: string, patch: Partial<Omit<CatalogService, 'id'>>): Promise<CatalogService>;
    /** Deletes the service and its endpoints. */
    delete(id: string): Promise<void>;
  };
  endpoints: {
    /** DbNotFoundError if its service is unknown (its region is the API's to check). */
    create(endpoint: CatalogEndpoint): Promise<CatalogEndpoint>;
    get(id: string): Promise<CatalogEndpoint | null>;
    list(filter: { serviceId?: string; interface?: string; regionId?: string }): Promise<CatalogEndpoint[]>;
    update(id: string, patch: Partial<Omit<CatalogEndpoint, 'id'>>): Promise<CatalogEndpoint>;
    delete(id: string): Promise<void>;
  };
  regions: {
    /** DbConflictError if the id is taken; DbNotFoundError if the parent is unknown. */
    create(region: Region): Promise<Region>;
    get(id: string): Promise<Region | null>;
    list(filter: { parentRegionId?: string }): Promise<Region[]>;
    /** DbConflictError if the new parent is the region itself or under it. */
    update(id: string, patch: Partial<Omit<Region, 'id'>>): Promise<Region>;
    /** Deletes the region and the regions under it; DbConflictError if an endpoint names one. */
    delete(id: string): Promise<void>;
  };
  credentials: {
    /** DbConflictError if the id is taken; DbNotFoundError if the user or the project is unknown. */
    create(credential: Credential): Promise<Credential>;
    get(id: string): Promise<Credential | null>;
    /** In the order they were made. */
    list(filter: { userId?: string; type?: string }): Promise<Credential[]>;
    /** DbNotFoundError if it, or a new user or project, is unknown. */
    update(id: string, patch: Partial<Omit<Credential, 'id'>>): Promise<Credential>;
    delete(id: string): Promise<void>;
  };
  applicationCredentials: {
    /**
     * DbConflictError if the user has one of that name; DbNotFoundError if the user, the project or
     * a role is unknown. Access rules identical to one of the user's are that one.
     */
    create(credential: NewApplicationCredential): Promise<ApplicationCredential>;
    get(id: string): Promise<ApplicationCredential | null>;
    /** The user's, in the order they were made. */
    list(filter: { userId: string; name?: string }): Promise<ApplicationCredential[]>;
    delete(id: string): Promise<void>;
    /** The user's access rules, in the order they were made. */
    accessRules(filter: { userId: string; service?: string; path?: string; method?: string }): Promise<AccessRule[]>;
    getAccessRule(id: string): Promise<AccessRule | null>;
    /** DbNotFoundError if unknown; DbConflictError while an application credential uses it. */
    deleteAccessRule(id: string): Promise<void>;
  };
  trusts: {
    /**
     * DbNotFoundError if the trustor, the trustee, the project or the trust it redelegates is
     * unknown; DbConflictError if the same trustor, trustee, project, impersonation and expiry
     * make one already (Keystone's unique constraint, two without expiry never the same).
     */
    create(trust: Omit<Trust, 'roles'>): Promise<Trust>;
    /** The trust however used up or expired, or null. */
    get(id: string): Promise<Trust | null>;
    /** Trusts of this trustor, or of this trustee, or all; in the order they were made. */
    list(filter: { trustorUserId?: string; trusteeUserId?: string }): Promise<Trust[]>;
    /** Deletes it and the trusts that redelegate it; DbNotFoundError if unknown. */
    delete(id: string): Promise<void>;
    /**
     * Takes one of its remaining uses (none to take from a trust without a limit): false if
     * none is left; DbNotFoundError if unknown.
     */
    consume(id: string): Promise<boolean>;
  };
  oauthConsumers: {
    create(consumer: OAuthConsumer): Promise<OAuthConsumer>;
    get(id: string): Promise<OAuthConsumer | null>;
    list(): Promise<OAuthConsumer[]>;
    update(id: string, patch: Partial<Pick<OAuthConsumer, 'description' | 'extra'>>): Promise<OAuthConsumer>;
    delete(id: string): Promise<void>;
  };
  policies: {
    create(policy: Policy): Promise<Policy>;
    get(id: string): Promise<Policy | null>;
    list(filter: { type?: string }): Promise<Policy[]>;
    update(id: string, patch: Partial<Omit<Policy, 'id'>>): Promise<Policy>;
    delete(id: string): Promise<void>;
  };
  domainConfigs: {
    /** A domain's options, sensitive ones too, of one group or one option if named. */
    list(domainId: string, filter: { group?: string; option?: string }): Promise<DomainConfigOption[]>;
    /** Replaces the domain's whole configuration; DbNotFoundError if the domain is unknown. */
    replace(domainId: string, options: DomainConfigOption[]): Promise<void>;
    /** Sets these options, keeping the others. */
    set(domainId: string, options: DomainConfigOption[]): Promise<void>;
    /** Removes the domain's options, of one group or one option if named. */
    delete(domainId: string, filter: { group?: string; option?: string }): Promise<void>;
  };
  endpointGroups: {
    create(group: EndpointGroup): Promise<EndpointGroup>;
    get(id: string): Promise<EndpointGroup | null>;
    list(filter: { name?: string }): Promise<EndpointGroup[]>;
    update(id: string, patch: Partial<Omit<EndpointGroup, 'id'>>): Promise<EndpointGroup>;
    /** Deletes the group and its projects' associations with it. */
    delete(id: string): Promise<void>;
    /** DbConflictError if the project has it already; DbNotFoundError if either is unknown. */
    addProject(groupId: string, projectId: string): Promise<void>;
    /** DbNotFoundError if the project does not have it. */
    removeProject(groupId: string, projectId: string): Promise<void>;
    /** The ids of the projects that have the group. */
    projects(groupId: string): Promise<string[]>;
    /** The groups a project has. */
    ofProject(projectId: string): Promise<EndpointGroup[]>;
  };
  projectEndpoints: {
    /** DbConflictError if the project has it already; DbNotFoundError if the project is unknown (the endpoint is the API's to check). */
    add(projectId: string, endpointId: string): Promise<void>;
    /** DbNotFoundError if the project does not have it. */
    remove(projectId: string, endpointId: string): Promise<void>;
    list(filter: { projectId?: string; endpointId?: string }): Promise<{ projectId: string; endpointId: string }[]>;
    /** What limits the project's catalog, in one read. */
    filterOf(projectId: string): Promise<ProjectEndpointFilter>;
  };
  networks: {
    /**
     * A network; a `vxlan` one with `segmentationId` null gets the lowest free VNI. DbConflictError
     * if its VNI is taken; DbQuotaExceededError past the project's `quota` (-1: none).
     */
    create(network: Network, quota: number): Promise<Network>;
    get(id: string): Promise<Network | null>;
    /** By name; a project's own, the shared and the external ones when `projectId` is given. */
    list(filter: { name?: string; projectId?: string }): Promise<Network[]>;
    update(
      id: string,
      patch: Partial<Pick<Network, 'name' | 'description' | 'adminStateUp' | 'shared' | 'external'>>,
      now: string,
    ): Promise<Network>;
    /**
     * Deletes it, its subnets and its floating IPs bound to nothing; DbConflictError while a port
     * is on it (a router's gateway, a bound floating IP's included).
     */
    delete(id: string): Promise<void>;
    /** DbNotFoundError if its network is unknown; DbConflictError if it overlaps one of the network's; quota as networks'. */
    createSubnet(subnet: Subnet, quota: number): Promise<Subnet>;
    updateSubnet(
      id: string,
      patch: Partial<
        Pick<
          Subnet,
          'name' | 'description' | 'gatewayIp' | 'enableDhcp' | 'allocationPools' | 'dnsNameservers' | 'hostRoutes'
        >
      >,
      now: string,
    ): Promise<Subnet>;
    /** DbConflictError while a port has an address on it. */
    deleteSubnet(id: string): Promise<void>;
    subnets(filter: { networkId?: string; projectId?: string }): Promise<Subnet[]>;
    getSubnet(id: string): Promise<Subnet | null>;
    /**
     * A port with the addresses asked for (none asked: one from the network's first subnet with
     * a free one). DbConflictError (`IpAddressInUse`, `MacAddressInUse`), DbExhaustedError,
     * DbInvalidError for an address on no subnet of the network; quota as networks'.
     */
    createPort(
      port: Omit<Port, 'fixedIps'>,
      fixedIps: readonly FixedIpRequest[] | null,
      securityGroupIds: readonly string[],
      quota: number,
    ): Promise<Port>;
    /** `fixedIps` null: the port keeps its addresses (null, not undefined: arguments cross the DB master's RPC as JSON). */
    updatePort(
      id: string,
      patch: Partial<Pick<Port, 'name' | 'description' | 'adminStateUp' | 'deviceId' | 'deviceOwner' | 'macAddress'>>,
      fixedIps: readonly FixedIpRequest[] | null,
      now: string,
    ): Promise<Port>;
    deletePort(id: string): Promise<void>;
    ports(filter: { deviceId?: string; networkId?: string; projectId?: string }): Promise<Port[]>;
    getPort(id: string): Promise<Port | null>;
  };
  routers: {
    /** A router and its gateway (null: none); DbQuotaExceededError past the project's `quota` (-1: none). */
    create(
      router: Omit<Router, 'gatewayPortId' | 'interfacePortIds'>,
      gateway: GatewayRequest | null,
      quota: number,
    ): Promise<Router>;
    get(id: string): Promise<Router | null>;
    /** A project's own when `projectId` is given. */
    list(filter: { projectId?: string }): Promise<Router[]>;
    /** Every router's id (the router keeper's sweep). */
    ids(): Promise<string[]>;
    /** Its routes checked against its interfaces (DbInvalidActionError, Neutron's `InvalidRoutes`). */
    update(
      id: string,
      patch: Partial<Pick<Router, 'name' | 'description' | 'adminStateUp' | 'routes'>>,
      now: string,
    ): Promise<Router>;
    /**
     * Sets its gateway (null: none), keeping the port when the network stays (readdressed if asked);
     * DbConflictError while floating IPs go through the gateway it loses.
     */
    setGateway(id: string, gateway: GatewayRequest | null, now: string): Promise<Router>;
    /** Deletes it and its gateway port; DbConflictError while it has interfaces. */
    delete(id: string): Promise<void>;
    /** Neutron's `add_router_interface` checks: one port a subnet, no overlapping subnets, an unbound port. */
    addInterface(id: string, request: InterfaceRequest, now: string): Promise<RouterInterface>;
    /** By port, by subnet, or both (null: not given); DbConflictError while floating IPs or routes use it. */
    removeInterface(id: string, portId: string | null, subnetId: string | null): Promise<RouterInterface>;
    /** The router a port is a gateway or an interface of, or null. */
    ofPort(portId: string): Promise<string | null>;
    /**
     * A floating IP: its port on the external network (the addresses asked for, null: any one),
     * bound as asked (null: unbound); DbQuotaExceededError past `quota`.
     */
    createFloatingIp(
      fip: Omit<FloatingIp, 'floatingPortId' | 'floatingIpAddress' | 'fixedPortId' | 'fixedIpAddress' | 'routerId'>,
      port: Omit<Port, 'fixedIps'>,
      fixedIps: FixedIpRequest[] | null,
      association: FloatingIpAssociation | null,
      quota: number,
    ): Promise<FloatingIp>;
    getFloatingIp(id: string): Promise<FloatingIp | null>;
    floatingIps(filter: { projectId?: string; fixedPortIds?: string[]; routerId?: string }): Promise<FloatingIp[]>;
    /**
     * Binds it as asked, unbinds it (`association` null), or leaves the binding (`keep` true); the
     * description when not null. Neutron's `_check_and_get_fip_assoc` checks.
     */
    updateFloatingIp(
      id: string,
      association: FloatingIpAssociation | null,
      keep: boolean,
      description: string | null,
      now: string,
    ): Promise<FloatingIp>;
    /** Deletes it and its port. */
    deleteFloatingIp(id: string): Promise<void>;
  };
  securityGroups: {
    /** The project's `default` group, made with Neutron's four rules if it has none yet. */
    ensureDefault(projectId: string, now: string): Promise<SecurityGroup>;
    /** A new group with Neutron's two egress rules (`ruleIds` are theirs); DbQuotaExceededError past `quota` (-1: none). */
    create(
      group: Omit<SecurityGroup, 'rules' | 'isDefault' | 'revision'>,
      ruleIds: readonly [string, string],
      quota: number,
    ): Promise<SecurityGroup>;
    get(id: string): Promise<SecurityGroup | null>;
    list(filter: { projectId?: string }): Promise<SecurityGroup[]>;
    update(
      id: string,
      patch: { name?: string; description?: string; stateful?: boolean },
      now: string,
    ): Promise<SecurityGroup>;
    /** Removes it and the rules that name it as their remote group; DbConflictError while a port is in it. */
    delete(id: string): Promise<void>;
    /** DbConflictError if the group has the same rule; DbQuotaExceededError past the project's `quota`. */
    addRule(rule: SecurityGroupRule, quota: number, now: string): Promise<SecurityGroupRule>;
    getRule(id: string): Promise<SecurityGroupRule | null>;
    rules(filter: { projectId?: string; groupId?: string }): Promise<SecurityGroupRule[]>;
    deleteRule(id: string, now: string): Promise<void>;
    /** The ids of each port's groups (every port named has an entry). */
    ofPorts(portIds: readonly string[]): Promise<Record<string, string[]>>;
    /** Puts the port in exactly these groups. */
    setPortGroups(portId: string, groupIds: readonly string[]): Promise<void>;
    /** The fixed addresses of the ports in each group (every group named has an entry). */
    addresses(groupIds: readonly string[]): Promise<Record<string, string[]>>;
    /** The projects' counts of groups and rules (Neutron's quota usage). */
    usage(projectId: string): Promise<{ groups: number; rules: number }>;
  };
  quotas: {
    /** A project's quotas: what was set for it, else its quota class `default`'s, else DEFAULT_QUOTAS. */
    get(projectId: string): Promise<Record<QuotaResource, number>>;
    /** A quota class's limits (Nova's os-quota-class-sets): what was set for it over DEFAULT_QUOTAS. */
    getClass(className: string): Promise<Record<QuotaResource, number>>;
    /** Sets a quota class's limits; class `default`'s are every project's defaults. */
    setClass(className: string, limits: Partial<Record<QuotaResource, number>>): Promise<Record<QuotaResource, number>>;
    set(projectId: string, limits: Partial<Record<QuotaResource, number>>): Promise<Record<QuotaResource, number>>;
    reset(projectId: string): Promise<void>;
  };
  close(): Promise<void>;
}

/** The groups of {@link CloudDb}'s operations (`projects`, `servers`…). */
export type CloudDbGroup = Exclude<keyof CloudDb, 'close'>;

type Sync<F> = F extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;

/** {@link CloudDb}'s operations as the synchronous functions that run them on one SQLite connection. */
export type CloudSql = { [G in CloudDbGroup]: { [M in keyof CloudDb[G]]: Sync<CloudDb[G][M]> } };
