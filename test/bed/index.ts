/**
 * The test bed: real components started by the tests themselves, each in a scope that records
 * what it started (pids, namespaces, ports, directories) and removes it on stop, at process
 * exit, or, after a crash, on the next run. Usable from vitest (globalSetup or a test file),
 * scripts and the demo; each fixture picks unique ports, names and directories, so several
 * test files can use it at once. Namespaces and simulated BMCs are the lab rack's own parts
 * (bootstrap/lab); etcd and Ceph clusters are started here.
 */
export {
  createNetworkLab,
  type Daemon,
  LAB_BMC_DEVICE,
  LAB_CEPH_CONFIG,
  type LabHost,
  type NetworkLab,
  type NetworkLabOptions,
  processRunning,
  Scope,
  SCOPES_ROOT,
  sparseFile,
  type SimulatedBmc,
  type SimulatedBmcOptions,
  type SimulatedRack,
  startSimulatedBmcs,
  sweepStale,
  waitFor,
} from '../../bootstrap/index.js';
export { type EtcdCluster, type EtcdMember, startEtcd } from './etcd.js';
export { type CephCluster, type CephOptions, startCeph } from './ceph.js';
export { JOURNAL_SCHEMA, type MasterProcess, SLOW_OPEN_SCHEMA, spawnCloudMaster, spawnMaster } from './db-master.js';
export {
  adminPasswordOf,
  adminToken,
  curlNodeCert,
  type CloudProcess,
  type ClusterCloudOptions,
  startCloud,
  trusting,
} from './cloud.js';
export { cloudApi, memberOf } from './projects.js';
export { TEST_CLUSTER_KEY, testCa, testNodeTls } from './tls.js';
export { failoverTimeline, labLogEntries } from './failover-timeline.js';
export { FlavorWriter, type Write } from './writer.js';
export { type Prometheus, type PrometheusJob, type PrometheusSample, startPrometheus } from './prometheus.js';
