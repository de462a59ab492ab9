/**
 * Where rackseed keeps things in etcd. Every key lives under `/rackseed/`; values are JSON.
 * Keys marked "leased" vanish with the lease of the agent that wrote them.
 */
export const ROOT = '/rackseed/';

export const keys = {
  /** leased: a live agent incarnation ({@link NodeRecord}). */
  nodes: `${ROOT}nodes/`,
  node: (name: string) => `${ROOT}nodes/${name}`,
  /** How to reach a node's BMC ({@link BmcRecord}, sealed with the cluster key); kept after the node dies, for fencing. */
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
  /**
   * A server the operator removed (`rackseed node remove`, {@link RemovedRecord}): the
   * provisioner's BMC scan leaves it alone (no BMC record, no node machine, no power-on) until
   * it enrolls again, as a new server.
   */
  removed: (name: string) => `${ROOT}removed/${name}`,
  /** The cluster's event log, one key per event, named by its time (agent/events.ts). */
  events: `${ROOT}events/`,
  /** leased: who is fencing a node right now. */
  fencing: (name: string) => `${ROOT}fencing/${name}`,
  /** leased: a service's health on a node. */
  healthAll: `${ROOT}health/`,
  health: (node: string, service: string) => `${ROOT}health/${node}/${service}`,
  /** etcd membership: the voters' client URLs ({@link EtcdEndpoints}) and join instructions. */
  etcd: `${ROOT}etcd/`,
  etcdEndpoints: `${ROOT}etcd/endpoints`,
  /** A node told to start its etcd member ({@link EtcdJoin}); deleted when the member is removed. */
  etcdJoin: (name: string) => `${ROOT}etcd/join/${name}`,
  /** The lock every node's `cloud serve` takes to bootstrap the cloud (admin, roles, flavors) one at a time. */
  cloudBootstrapLock: `${ROOT}locks/cloud-bootstrap`,
  /** Ceph: the identity (sealed), monitor assignments, OSDs, replica policy and the keeper's status report. */
  ceph: `${ROOT}ceph/`,
  /** The cluster's Ceph identity ({@link CephIdentity}, sealed with the cluster key); written once. */
  cephIdentity: `${ROOT}ceph/identity`,
  /** A node told to run a monitor ({@link CephMonRecord}); deleted when the monitor is removed. */
  cephMons: `${ROOT}ceph/mons/`,
  cephMon: (node: string) => `${ROOT}ceph/mons/${node}`,
  /** The OSD a node created ({@link CephOsdRecord}). */
  cephOsds: `${ROOT}ceph/osds/`,
  cephOsd: (node: string) => `${ROOT}ceph/osds/${node}`,
  /** The replica count the pools were last set to ({@link CephReplicas}). */
  cephReplicas: `${ROOT}ceph/replicas`,
  /** What the Ceph keeper last saw ({@link CephStatusRecord}). */
  cephStatus: `${ROOT}ceph/status`,
  /** The scheduler's allocation ratios and reserves, cluster-wide ({@link PlacementConfig} of appliance/compute). */
  placement: `${ROOT}config/placement`,
  /**
   * The host services' records: a node's guests and routers (not leased: when the node dies,
   * another reads them to restart its servers and move its routers) and, leased, its inventory
   * (a dead node offers nothing).
   */
  hosts: `${ROOT}hosts/`,
  hostInventory: (node: string) => `${ROOT}hosts/${node}/inventory`,
  hostGuests: (node: string) => `${ROOT}hosts/${node}/guests/`,
  hostGuest: (node: string, id: string) => `${ROOT}hosts/${node}/guests/${id}`,
  hostRouters: (node: string) => `${ROOT}hosts/${node}/routers/`,
  hostRouter: (node: string, id: string) => `${ROOT}hosts/${node}/routers/${id}`,
  /**
   * The cluster PKI: each node's certificates as the CA issued them ({@link NodeCertificates},
   * renewed by the provisioner), requests to revoke a removed node's, and the revocation list
   * (PEM, signed by the CA) every node enforces.
   */
  pkiCerts: `${ROOT}pki/certs/`,
  pkiCert: (node: string) => `${ROOT}pki/certs/${node}`,
  pkiRevokes: `${ROOT}pki/revoke/`,
  pkiRevoke: (node: string) => `${ROOT}pki/revoke/${node}`,
  pkiCrl: `${ROOT}pki/crl`,
  /** The cluster-genesis machine (seed → quorum → steady). */
  clusterGenesis: `${ROOT}machines/cluster-genesis`,
} as const;

/**
 * A node's certificates from the cluster CA (PEM), the newest last: its node certificates
 * (`certs`) and its public API's (`api`; a record written before the API's were kept has none).
 */
export interface NodeCertificates {
  readonly certs: readonly string[];
  readonly api?: readonly string[];
}

/** Which of a node's certificates: the node's own (mutual TLS) or its public API's. */
export type CertificateKind = 'node' | 'api';

/** A live agent, under its lease. */
export interface NodeRecord {
  readonly name: string;
  readonly lease: string;
  readonly startedAt: string;
  /** Where this node's etcd member would listen, if the node may host one. */
  readonly etcd?: EtcdUrls;
  /** If it takes part in Ceph: the address its daemons bind to, and whether it can host a monitor. */
  readonly ceph?: { readonly host: string; readonly monitor: boolean };
  /** Its agent's mutual-TLS endpoint (`https://ADDRESS:5003`: /health, /status, /metrics), if it listens. */
  readonly endpoint?: string;
}

/** A node's etcd member addresses. */
export interface EtcdUrls {
  readonly peerUrl: string;
  readonly clientUrl: string;
}

/** The voting members' client URLs: every agent's etcd endpoints. */
export interface EtcdEndpoints {
  readonly clientUrls: readonly string[];
}

/** Tells a node to start its etcd member, which was added (as a learner) to the cluster. */
export interface EtcdJoin {
  readonly memberId: string;
  /** `--initial-cluster`: every member's name=peerURL, this node's included. */
  readonly initialCluster: string;
  readonly at: string;
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

/** That the operator removed a server for good (`rackseed node remove`). */
export interface RemovedRecord {
  readonly at: string;
}

/** The cluster's Ceph identity: made once, kept sealed in etcd. Keys are cephx secrets (base64). */
export interface CephIdentity {
  readonly fsid: string;
  readonly monKey: string;
  readonly adminKey: string;
  readonly bootstrapOsdKey: string;
}

/** A node told to run a monitor named after it. */
export interface CephMonRecord {
  readonly node: string;
  /** Its address in the monmap, `v2:IP:3300`. */
  readonly addr: string;
  /** The first monitor: it makes a new monmap instead of fetching the cluster's. */
  readonly initial: boolean;
  readonly at: string;
}

/** The OSD a node created. */
export interface CephOsdRecord {
  readonly id: number;
  readonly uuid: string;
}

/** Pool replicas as the keeper set them. */
export interface CephReplicas {
  readonly size: number;
  readonly minSize: number;
}

/** What the Ceph keeper last saw (`ceph status`), for `rackseed status`. */
export interface CephStatusRecord {
  readonly health: string;
  /** The health checks that are not OK: `CODE: summary`. */
  readonly checks: readonly string[];
  readonly mons: number;
  readonly quorum: readonly string[];
  readonly osds: number;
  readonly up: number;
  readonly in: number;
  readonly pgs: number;
  readonly pools: readonly CephPoolStatus[];
  /** The OSDs' raw space (`ceph df`), absent while the monitors did not answer that. */
  readonly capacity?: { readonly totalBytes: number; readonly usedBytes: number };
  readonly at: string;
}

/** A pool as the keeper last saw it: its replicas (`ceph osd dump`) and what it holds (`ceph df`). */
export interface CephPoolStatus {
  readonly name: string;
  readonly size: number;
  readonly minSize: number;
  /** One copy's bytes and objects, and the bytes it can still take at its replica count; absent while `ceph df` did not answer. */
  readonly usage?: { readonly storedBytes: number; readonly objects: number; readonly maxAvailBytes: number };
}
