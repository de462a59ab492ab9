/**
 * Netboot services: PXE- and iPXE-aware DHCP and ProxyDHCP, read-only TFTP, and HTTP boot
 * (per-MAC iPXE scripts, kernel and initrd with Range support).
 */
export { dhcpServersOn } from './dhcp-probe.js';
export { clientRequest, decodeDhcp, encodeDhcp, type DhcpPacket, MSG, OPT } from './dhcp-codec.js';
export { DEFAULT_BOOT_FILES, type DhcpConfig, DhcpResponder, type NetbootEvent } from './dhcp-server.js';
export { startDhcpServer, type DhcpServer } from './dhcp-io.js';
export {
  DhcpDecodeError,
  HttpBootError,
  LeaseStoreError,
  NetbootConfigError,
  NetbootError,
  TftpDecodeError,
} from './errors.js';
export { type BootClient, createHttpBoot, type HttpBootOptions, type TokenProvider } from './http-boot.js';
export { FileLeaseStore, type Lease, type LeaseStore } from './leases.js';
export { classifyClient, type ClientArch, type ClientKind, smbiosGuid } from './pxe.js';
export {
  interfaceAddress,
  interfaceOnSubnet,
  type Netboot,
  type NetbootOptions,
  startNetboot,
  type TimedNetbootEvent,
} from './serve.js';
export { decodeTftp, encodeTftp, type TftpPacket } from './tftp-codec.js';
export { startTftpServer, type TftpServer } from './tftp-io.js';
