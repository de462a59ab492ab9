/**
 * appliance/host — the host service: the one process per node that runs its guests (QEMU on
 * RBD disks, their taps) and the routers homed there (a namespace each, with NAT and floating
 * IPs) behind a small typed, authenticated API, records what it runs in etcd under its node,
 * and adopts its guests and makes its routers again after a restart. The compute service (and later the
 * volume and network services) call it through {@link HostClient}.
 */
export { hostApi } from './api.js';
export { RbdGuestDisks } from './disks.js';
export { machineSize, qemuVersion } from './inventory.js';
export { HostClient } from './client.js';
export {
  HostCallError,
  HostGuestNotFoundError,
  HostImageNotBootableError,
  HostNoTunnelError,
  HostPortError,
  HostRequestError,
  HostRouterNotFoundError,
  QemuStartError,
  QmpClosedError,
  QmpCommandError,
  QmpMalformedError,
  QmpTimeoutError,
} from './errors.js';
export {
  checkRouter,
  classlessRoutes,
  type GuestDirectory,
  type GuestLease,
  type GuestMetadata,
  GuestNetwork,
  type GuestNetworkOptions,
  guestDhcpReply,
  metadataAnswer,
  METADATA_ADDRESS,
  routerNetns,
  routerScript,
  tapName,
} from './network/index.js';
export { HostRouters, type HostRoutersOptions, type RouterPlumbing } from './routers.js';
export { accelFor, QemuGuest, type QemuOptions, QemuRuntime, qemuArgs, socketPath } from './qemu/index.js';
export type { GuestDiskSource, GuestDisks, GuestPorts, GuestRuntime, RunningGuest } from './parts.js';
export { HostService, type HostServiceOptions } from './service.js';
export type {
  GuestDiagnostics,
  GuestPower,
  GuestProcess,
  GuestRequest,
  GuestState,
  HostInventory,
  FirewallRule,
  ImageRef,
  NetworkSegment,
  NicRequest,
  PortFirewall,
  PowerRequest,
  FloatingIpRequest,
  RouterGatewayRequest,
  RouterInterfaceRequest,
  RouterRequest,
  RouterRoute,
  RouterState,
} from './types.js';
