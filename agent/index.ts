/**
 * agent/ — the node runtime: the etcd store wrapper, elections, the supervisor, fencing, etcd
 * membership, Ceph (agent/ceph/), secrets sealed with the cluster key, and health. This file is the folder's front
 * door; other folders import only from here.
 */
export { isRackseedError, RackseedError } from './errors/index.js';
export { childEnv, INHERITED_ENV, processStart } from './process/index.js';
export { type Agent, type AgentOptions, CEPH_KEEPER, ETCD_MEMBERSHIP, FENCER, startAgent } from './agent.js';
export { AGENT_PORT } from './listener.js';
export { AgentMetrics } from './metrics.js';
export {
  type ClusterEvent,
  type EventFilter,
  EventLog,
  eventEntry,
  followEvents,
  listEvents,
  MAX_EVENTS,
  type NewEvent,
} from './events.js';
export {
  CEPH_MGR,
  CephCommandError,
  type CephAction,
  type CephClientOptions,
  type CephConnect,
  type CephMonConnection,
  CephMonitors,
  type CephMonCandidate,
  type CephMonmapEntry,
  type CephMonView,
  type CephOsdView,
  type CephPoolView,
  type CephRoles,
  cephRoles,
  type CephView,
  cephxKey,
  type MonCommand,
  type OsdDiskPolicy,
  ensureCephIdentity,
  MON_COUNT,
  MON_TIMEOUT_SECONDS,
  newCephIdentity,
  openCephIdentity,
  planCeph,
  IMAGES_POOL,
  RACKSEED_POOL,
  MON_REPLACE_AFTER_FENCE_MS,
  OSD_OUT_AFTER_FENCE_MS,
  VMS_POOL,
  renderCephConf,
  renderKeyring,
  replicasFor,
  CEPH_HARDENED,
  cephPaths,
  type CephPaths,
  CephConfigError,
  checkCephConfig,
  type Utime,
  BLOB_NAMESPACE,
  CEPH_USERS,
  type CephService,
  type CephUser,
  cephUserKeyring,
  DB_NAMESPACE,
  ensureCephUsers,
} from './ceph/index.js';
export { type ElectionHooks, Elections } from './elections.js';
export { followEtcdEndpoints, votersOf } from './etcd-endpoints.js';
export { installed } from './installed.js';
export {
  type BmcPowerDriver,
  type BmcPowerSession,
  FenceBmcError,
  Fencer,
  FenceQuorumError,
  readBmc,
} from './fencer.js';
export { releaseLeases, watchNeighbourPower } from './power-watch.js';
export { EtcdLeadershipMover } from './etcd-leadership.js';
export { fenceByOperator, NodeAliveError, NodeRemoveError, removeByOperator } from './operator.js';
export {
  type BmcRecord,
  type CephIdentity,
  type CephMonRecord,
  type CephOsdRecord,
  type CephReplicas,
  type CephPoolStatus,
  type CephStatusRecord,
  type CertificateKind,
  type EtcdEndpoints,
  type EtcdJoin,
  type EtcdUrls,
  type FenceRecord,
  keys,
  type NodeCertificates,
  type NodeRecord,
  type SingletonClaim,
} from './keys.js';
export {
  type CandidateView,
  DEMOTE_AFTER_LOSS_MS,
  MAX_VOTERS,
  type MembershipAction,
  type MemberView,
  planMembership,
} from './membership.js';
export {
  type Applied,
  type EffectHandler,
  type Envelope,
  MachineHost,
  MachineNotFoundError,
  MachineSnapshotTooNewError,
  type PendingEffect,
} from './machine-host.js';
export {
  ClusterKeyError,
  derivedSecret,
  writeDerivedSecret,
  openRecord,
  parseClusterKey,
  readClusterKey,
  SealedValueError,
  sealRecord,
} from './sealed.js';
export { type ClusterStatus, type MemberStatus, readStatus } from './status.js';
export {
  StoreConflictError,
  StoreCorruptValueError,
  StoreError,
  StoreLeaseLostError,
  StoreUnavailableError,
} from './store/errors.js';
export {
  type Change,
  type Compare,
  type Entry,
  KeptLease,
  type Op,
  parseJson,
  Store,
  type WatchHandle,
  type WatchHandlers,
} from './store/store.js';
export { PrefixView } from './store/view.js';
export {
  apiHosts,
  type CertificateRequest,
  CertificateAuthority,
  ensureApiCertificate,
  NODE_CERT_DAYS,
  type NodeCertificateRequest,
  needsRenewal,
  subjectAltName,
} from './pki.js';
export { NodeTls, TlsError } from './tls.js';
export { CertificateFollower } from './certificates.js';
export {
  commandService,
  killOrphans,
  type RunningService,
  type ServiceContext,
  type ServiceHealth,
  type ServiceSpec,
  serviceEnv,
  Supervisor,
} from './supervisor.js';
