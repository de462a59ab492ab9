/**
 * IPMI v2.0 over LAN (RMCP+): the client the seed uses to power servers on, BMC discovery,
 * and a BMC simulator for scale tests and the lab rack.
 */
export { IpmiClient, type IpmiClientOptions, type BootDeviceResult } from './client.js';
export { IpmiPowerDriver } from './power-driver.js';
export { scanBmcs, cidrAddresses, type ScanOptions, type DiscoveredBmc } from './discovery.js';
export {
  BmcModel,
  startBmcSimulators,
  simulatedFru,
  type BmcModelOptions,
  type BmcEvent,
  type BmcSimulators,
  type RunningBmc,
  type SimulatedBmcSpec,
  type SimulatedUser,
} from './simulator.js';
export { IPMI_ERRORS, IpmiError, IpmiDecodeError, IpmiCompletionCodeError, type IpmiErrorCode } from './errors.js';
export type {
  BootDevice,
  BootFlags,
  ChannelAuthCapabilities,
  ChassisAction,
  ChassisStatus,
  CipherSuiteRecord,
  DeviceId,
  UserAccess,
} from './commands.js';
export { PRIVILEGE, BOOT_DEVICE, CHASSIS_CONTROL } from './commands.js';
export { encodeFru, type FruInventory, type FruBoard, type FruProduct } from './fru.js';
