/**
 * appliance/compute — servers' lifecycle (the server machine driven by `ServerService`), the
 * compute driver interface with its drivers (`qemu`: guests on the nodes' host services;
 * `fake`: instant, for API conformance and scale benchmarks), the view of the host services,
 * the evacuation of a fenced node's servers, the sweep of servers whose effect never reported,
 * a server's ports, ports' firewalls from their security groups, and the routers' homes (chosen,
 * and moved off fenced nodes by the router keeper).
 */
export { type ComputeDriver, type ComputeHost, FakeDriver, type HostInfo } from './driver.js';
export { Evacuation, type EvacuationOptions } from './evacuation.js';
export { IP_PROTOCOLS, PORT_PROTOCOLS, portFirewalls, protocolNumber } from './firewall.js';
export {
  HostUnavailableError,
  NoRouterHomeError,
  PlacementConfigError,
  ServerBuildError,
  ServerStateError,
} from './errors.js';
export { HostComputeDriver, hostnameOf } from './host-driver.js';
export { type HostView, watchHosts } from './host-view.js';
export {
  DEFAULT_PLACEMENT,
  hostCapacities,
  mergePlacement,
  type PlacementConfig,
  watchPlacement,
} from './placement.js';
export { rendezvous, type RouterHost, RouterHomes } from './router-homes.js';
export { RouterKeeper, type RouterKeeperOptions } from './router-keeper.js';
export { serverPorts } from './server-ports.js';
export { type Destination, machineOf, type Requester, ServerService, type ShelvedImages } from './servers.js';
export { StuckServers } from './stuck.js';
