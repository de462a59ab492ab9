/**
 * appliance/compute — servers' lifecycle (the server machine driven by `ServerService`)
 * and the compute driver interface with its drivers (`fake` for now).
 */
export { type ComputeDriver, type ComputeHost, FakeDriver, type HostInfo } from './driver.js';
export { machineOf, ServerService, ServerStateError } from './servers.js';
