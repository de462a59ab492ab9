import type { CloudDb, CloudDbGroup, CloudSql } from './types.js';

/** A read runs in a deferred transaction; a write in an immediate one, at most once per request id. */
export type OperationKind = 'read' | 'write';

/**
 * Every operation of {@link CloudDb}, by group and method, with its kind. Its wire name is
 * `group.method` (`projects.create`); its arguments travel as the method's argument list.
 */
export const CLOUD_OPERATIONS: { readonly [G in CloudDbGroup]: { readonly [M in keyof CloudDb[G]]: OperationKind } } = {
  actions: { record: 'write', finish: 'write', list: 'read', get: 'read' },
  domains: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  projects: {
    create: 'write',
    get: 'read',
    findByName: 'read',
    list: 'read',
    ancestors: 'read',
    descendants: 'read',
    update: 'write',
    delete: 'write',
  },
  users: {
    create: 'write',
    get: 'read',
    findByName: 'read',
    list: 'read',
    update: 'write',
    passwordHistory: 'read',
    delete: 'write',
  },
  groups: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    delete: 'write',
    addMember: 'write',
    removeMember: 'write',
    members: 'read',
    ofUser: 'read',
  },
  roles: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    delete: 'write',
    imply: 'write',
    unimply: 'write',
    implications: 'read',
  },
  assignments: { grant: 'write', revoke: 'write', list: 'read', effective: 'read' },
  tokens: { signingKeys: 'read', rotate: 'write', revoke: 'write', isRevoked: 'read', subject: 'read' },
  logins: { failures: 'read', fail: 'write', clear: 'write' },
  flavors: {
    create: 'write',
    get: 'read',
    list: 'read',
    delete: 'write',
    setDescription: 'write',
    setExtraSpecs: 'write',
    deleteExtraSpec: 'write',
    access: 'read',
    addAccess: 'write',
    removeAccess: 'write',
  },
  keypairs: { create: 'write', get: 'read', list: 'read', delete: 'write' },
  servers: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    transition: 'write',
    usage: 'read',
    place: 'write',
    moveBack: 'write',
    unplace: 'write',
    hostUsage: 'read',
    projectUsageOn: 'read',
    lifetimes: 'read',
  },
  serverGroups: { create: 'write', get: 'read', list: 'read', delete: 'write' },
  computeServices: { list: 'read', set: 'write' },
  migrations: { record: 'write', finish: 'write', list: 'read', ofServer: 'read' },
  aggregates: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    delete: 'write',
    addHost: 'write',
    removeHost: 'write',
    zones: 'read',
  },
  serverTags: { add: 'write', remove: 'write', set: 'write' },
  images: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  imageMembers: { add: 'write', get: 'read', list: 'read', setStatus: 'write', remove: 'write' },
  metadefs: {
    createNamespace: 'write',
    getNamespace: 'read',
    listNamespaces: 'read',
    updateNamespace: 'write',
    deleteNamespace: 'write',
    definitions: 'read',
    getDefinition: 'read',
    addDefinitions: 'write',
    updateDefinition: 'write',
    deleteDefinitions: 'write',
    resourceTypes: 'read',
    associate: 'write',
    dissociate: 'write',
  },
  networks: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    delete: 'write',
    createSubnet: 'write',
    updateSubnet: 'write',
    deleteSubnet: 'write',
    subnets: 'read',
    getSubnet: 'read',
    createPort: 'write',
    updatePort: 'write',
    deletePort: 'write',
    ports: 'read',
    getPort: 'read',
  },
  routers: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    ids: 'read',
    setGateway: 'write',
    delete: 'write',
    addInterface: 'write',
    removeInterface: 'write',
    ofPort: 'read',
    createFloatingIp: 'write',
    getFloatingIp: 'read',
    floatingIps: 'read',
    updateFloatingIp: 'write',
    deleteFloatingIp: 'write',
  },
  securityGroups: {
    ensureDefault: 'write',
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    delete: 'write',
    addRule: 'write',
    getRule: 'read',
    rules: 'read',
    deleteRule: 'write',
    ofPorts: 'read',
    setPortGroups: 'write',
    addresses: 'read',
    usage: 'read',
  },
  quotas: { get: 'read', set: 'write', reset: 'write', getClass: 'read', setClass: 'write' },
  services: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  endpoints: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  regions: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  credentials: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  applicationCredentials: {
    create: 'write',
    get: 'read',
    list: 'read',
    delete: 'write',
    accessRules: 'read',
    getAccessRule: 'read',
    deleteAccessRule: 'write',
  },
  trusts: { create: 'write', get: 'read', list: 'read', delete: 'write', consume: 'write' },
  oauthConsumers: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  policies: { create: 'write', get: 'read', list: 'read', update: 'write', delete: 'write' },
  domainConfigs: { list: 'read', replace: 'write', set: 'write', delete: 'write' },
  endpointGroups: {
    create: 'write',
    get: 'read',
    list: 'read',
    update: 'write',
    delete: 'write',
    addProject: 'write',
    removeProject: 'write',
    projects: 'read',
    ofProject: 'read',
  },
  projectEndpoints: { add: 'write', remove: 'write', list: 'read', filterOf: 'read' },
};

/** One operation as a caller names it. */
export interface OperationCall {
  group: CloudDbGroup;
  method: string;
  /** `group.method`. */
  name: string;
  kind: OperationKind;
  args: unknown[];
}

/** Every operation's wire name with its group, method and kind. */
export function cloudOperationNames(): Omit<OperationCall, 'args'>[] {
  return Object.entries(CLOUD_OPERATIONS).flatMap(([group, methods]) =>
    Object.entries(methods as Record<string, OperationKind>).map(([method, kind]) => ({
      group: group as CloudDbGroup,
      method,
      name: `${group}.${method}`,
      kind,
    })),
  );
}

/** A {@link CloudDb} whose every method is `invoke` of its operation: the one place the two shapes meet. */
export function cloudDbOver(invoke: (call: OperationCall) => Promise<unknown>, close: () => Promise<void>): CloudDb {
  const groups: Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const operation of cloudOperationNames()) {
    (groups[operation.group] ??= {})[operation.method] = (...args: unknown[]) => invoke({ ...operation, args });
  }
  return { ...(groups as unknown as Omit<CloudDb, 'close'>), close };
}

/** The function that runs one operation on `sql`'s connection, called with the operation's argument list. */
export function sqlFunction(sql: CloudSql, call: Pick<OperationCall, 'group' | 'method' | 'name'>) {
  const run = (sql[call.group] as Record<string, ((...args: unknown[]) => unknown) | undefined>)[call.method];
  if (!run) throw new TypeError(`no cloud database operation ${call.name}`);
  return run;
}
