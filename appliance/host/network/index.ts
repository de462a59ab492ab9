/**
 * appliance/host/network — the guests' network on a node: the provider bridge and the node's
 * uplink, a bridge and a VXLAN device per project network with a port here, ports with
 * anti-spoofing rules and security groups, and each network's guest DHCP and metadata in a
 * namespace of its own, served by the host service itself and answering only this node's
 * guests on that network.
 */
export { classlessRoutes, type GuestLease, guestDhcpReply, METADATA_ADDRESS } from './guest-dhcp.js';
export type { GuestDirectory } from './guest-services.js';
export {
  type DeviceMetadata,
  type GuestMetadata,
  type GuestPortView,
  type MetadataAnswer,
  metadataAnswer,
} from './metadata.js';
export { GuestNetwork, type GuestNetworkOptions, tapName } from './plumbing.js';
export { routerNetns } from './router.js';
export { checkRouter, routerScript } from './router-rules.js';
