/**
 * Ceph in the self-assembled cluster: the identity sealed in etcd, monitors on the first three
 * live nodes, an OSD on every node, the manager as a singleton; a pure planner and a keeper.
 */
export { adminSocketCommand } from './admin-socket.js';
export { CephCommandError } from './cli.js';
export {
  CEPH_HARDENED,
  CephConfigError,
  cephPaths,
  type CephPaths,
  checkCephConfig,
  monAddr,
  renderCephConf,
  renderKeyring,
} from './conf.js';
export {
  BLANK_HEAD_BYTES,
  clearOsdLabel,
  type DeviceReader,
  findOsdDisk,
  type OsdDisk,
  type OsdDiskPolicy,
  type OsdDiskSearch,
} from './disk.js';
export { cephxKey, ensureCephIdentity, newCephIdentity, openCephIdentity, type Utime } from './identity.js';
export { markPoweredOffOsdsDown } from './fenced.js';
export { CephKeeper } from './keeper.js';
export {
  type CephClientOptions,
  type CephConnect,
  type CephMonConnection,
  CephMonitors,
  type MonCommand,
  MON_TIMEOUT_SECONDS,
} from './monitors.js';
export { type CephRoles, cephRoles } from './roles.js';
export {
  BLOB_NAMESPACE,
  CEPH_USERS,
  type CephService,
  type CephUser,
  cephUserKeyring,
  DB_NAMESPACE,
  ensureCephUsers,
} from './users.js';
export { CEPH_EXPORTER_URL, CEPH_MGR, cephMgrService, LocalCeph, type LocalCephOptions } from './node.js';
export {
  type CephAction,
  type CephMonCandidate,
  type CephMonmapEntry,
  type CephMonView,
  type CephOsdView,
  type CephPoolView,
  type CephView,
  MON_COUNT,
  planCeph,
  IMAGES_POOL,
  RACKSEED_POOL,
  MON_REPLACE_AFTER_FENCE_MS,
  OSD_OUT_AFTER_FENCE_MS,
  VMS_POOL,
  replicasFor,
} from './plan.js';
