/**
 * Where rackseed keeps things in etcd. Every key lives under `/rackseed/`; values are JSON.
 * Keys marked "leased" vanish with the lease of the agent that wrote them.
 */
export const ROOT = '/rackseed/';

export const keys = {
  /** leased: a live agent incarnation ({@link NodeRecord}). */
  nodes: `${ROOT}nodes/`,
  node: (name: string) => `${ROOT}nodes/${name}`,
  /** How to reach a node's BMC ({@link BmcRecord}); kept after the node dies, for fencing. */
  bmc: (name: string) => `${ROOT}bmc/${name}`,
  /** Machine envelopes (see MachineHost). */
  nodeMachines: `${ROOT}machines/node/`,
  nodeMachine: (name: string) => `${ROOT}machines/node/${name}`,
  machines: `${ROOT}machines/`,
  /** The claim on a singleton ({@link SingletonClaim}); not leased, so that it outlives a dead holder. */
  singletons: `${ROOT}singletons/`,
  singleton: (service: string) => `${ROOT}singletons/${service}`,
  /** That an incarnation of a node was fenced ({@link FenceRecord}). */
  fencedAll: `${ROOT}fenced/`,
  fenced: (name: string) => `${ROOT}fenced/${name}`,
  /** leased: who is fencing a node right now. */
  fencing: (name: string) => `${ROOT}fencing/${name}`,
  /** leased: a service's health on a node. */
  healthAll: `${ROOT}health/`,
  health: (node: string, service: string) => `${ROOT}health/${node}/${service}`,
} as const;

/** A live agent, under its lease. */
export interface NodeRecord {
  readonly name: string;
  readonly lease: string;
  readonly startedAt: string;
}

export interface BmcRecord {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** Who holds a singleton, and under which lease (incarnation). */
export interface SingletonClaim {
  readonly node: string;
  readonly lease: string;
  readonly since: string;
}

export interface FenceRecord {
  /** The incarnation that was fenced. */
  readonly lease: string;
  readonly method: 'bmc' | 'operator';
  readonly at: string;
  readonly by: string;
}
