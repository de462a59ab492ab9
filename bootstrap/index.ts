/**
 * bootstrap/ — from bare metal to a node: BMC control (IPMI), discovery, netboot services
 * (DHCP, TFTP, HTTP boot), the lab rack and the seed. This file is the folder's front door.
 */
export * from './ipmi/index.js';
export * from './netboot/index.js';
export * from './lab/index.js';
