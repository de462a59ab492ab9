/**
 * appliance/host/network — the guests' network on a node: the provider bridge and the node's
 * uplink, ports with anti-spoofing rules, and the guest DHCP server and metadata service in a
 * namespace of their own, answering only this node's guests.
 */
export { serveGuestControl } from './control.js';
export { classlessRoutes, type GuestLease, guestDhcpReply, METADATA_ADDRESS } from './guest-dhcp.js';
export { CALLER_HEADER, runGuestNet } from './guest-net.js';
export {
  type DeviceMetadata,
  type GuestMetadata,
  type GuestPortView,
  type MetadataAnswer,
  metadataAnswer,
} from './metadata.js';
export { GuestNetwork, type GuestNetworkOptions, tapName } from './plumbing.js';
export { Supervised } from './supervised.js';
