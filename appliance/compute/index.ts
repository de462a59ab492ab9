/**
 * appliance/compute — servers' lifecycle (the server machine driven by `ServerService`), the
 * compute driver interface with its drivers (`qemu`: guests on the nodes' host services;
 * `fake`: instant, for API conformance and scale benchmarks), the view of the host services,
 * the evacuation of a fenced node's servers, the sweep of servers whose effect never reported,
 * a server's ports, and ports' firewalls from their security groups.
 */
export { type ComputeDriver, type ComputeHost, FakeDriver, type HostInfo } from './driver.js';
export { Evacuation, type EvacuationOptions } from './evacuation.js';
export { IP_PROTOCOLS, PORT_PROTOCOLS, portFirewalls, protocolNumber } from './firewall.js';
export { HostComputeDriver, HostUnavailableError, hostnameOf, ServerBuildError } from './host-driver.js';
export { type HostView, watchHosts } from './host-view.js';
export {
  DEFAULT_PLACEMENT,
  hostCapacities,
  mergePlacement,
  type PlacementConfig,
  PlacementConfigError,
  watchPlacement,
} from './placement.js';
export { serverPorts } from './server-ports.js';
export { type Destination, machineOf, type Requester, ServerService, ServerStateError } from './servers.js';
export { StuckServers } from './stuck.js';
