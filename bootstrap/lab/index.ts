/**
 * The lab rack's parts, shared with the test bed: scopes that record and remove what they
 * start, network namespaces on a bridge, and OpenIPMI `ipmi_sim` BMCs whose power-on starts
 * a node.
 */
export { type Daemon, processRunning, Scope, SCOPES_ROOT, type SpawnOptions, sweepStale } from './scope.js';
export { waitFor } from './wait.js';
export { sparseFile } from './sparse-file.js';
export { createNetworkLab, type LabHost, type NetworkLab, type NetworkLabOptions } from './netns.js';
export {
  inSeed,
  LAB_CEPH_CONFIG,
  labAdd,
  LabError,
  type LabInfo,
  labDown,
  labLogTails,
  labPower,
  labs,
  type LabService,
  labUp,
  type LabUpOptions,
} from './lab.js';
export {
  addLabServer,
  buildLabRack,
  LAB_PROVIDER_NETWORK,
  type LabBoot,
  type LabRackHardware,
  type LabRackOptions,
  type LabServer,
  PROVIDER_UPLINK_ENV,
  qemuUuid,
} from './rack.js';
export {
  LAB_BMC_DEVICE,
  type SimulatedBmc,
  type SimulatedBmcOptions,
  type SimulatedRack,
  startSimulatedBmcs,
} from './ipmi-sim.js';
export {
  API_PORT,
  type GatewayBackends,
  type GatewayProcess,
  type GatewayRelayOptions,
  type LabGateway,
  type LabGatewayOptions,
  runGatewayListener,
  runGatewayRelay,
  startLabGateway,
} from './gateway.js';
export {
  apiBackendsOf,
  BackendPool,
  type Endpoint,
  formatEndpoint,
  GatewayError,
  type GatewayErrorCode,
  parseEndpoint,
} from './gateway-pool.js';
