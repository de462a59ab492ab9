/**
 * The test bed: real components started by the tests themselves, each in a scope that records
 * what it started (pids, namespaces, ports, directories) and removes it on stop, at process
 * exit, or, after a crash, on the next run. Usable from vitest (globalSetup or a test file),
 * scripts and the demo; each fixture picks unique ports, names and directories, so several
 * test files can use it at once.
 */
export { BED_ROOT, type Daemon, processRunning, Scope, sweepStale } from './scope.js';
export { waitFor } from './wait.js';
export { buildFru, type FruContents } from './fru.js';
export {
  LAB_BMC_DEVICE,
  type SimulatedBmc,
  type SimulatedBmcOptions,
  type SimulatedRack,
  startSimulatedBmcs,
} from './ipmi-sim.js';
export { createNetworkLab, type LabHost, type NetworkLab, type NetworkLabOptions } from './netns.js';
export { type EtcdCluster, type EtcdMember, startEtcd } from './etcd.js';
export { type CephCluster, type CephOptions, startCeph } from './ceph.js';
export { JOURNAL_SCHEMA, type MasterProcess, spawnMaster } from './db-master.js';
