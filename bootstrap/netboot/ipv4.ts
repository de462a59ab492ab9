import { NetbootConfigError } from './errors.js';

/** Dotted quad → unsigned 32-bit integer. Throws on anything that is not four octets. */
export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new NetbootConfigError('NETBOOT_ERR_BAD_SUBNET', `${JSON.stringify(ip)} is not an IPv4 address`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** Unsigned 32-bit integer → dotted quad. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** An IPv4 subnet: network address, prefix length, mask and broadcast as integers. */
export interface Subnet {
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
}

/** Parses `10.0.0.0/24` (host bits are cleared). */
export function parseCidr(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const prefix = Number(m?.[2]);
  if (!m?.[1] || prefix < 1 || prefix > 30) {
    throw new NetbootConfigError('NETBOOT_ERR_BAD_SUBNET', `${JSON.stringify(cidr)} is not a subnet like 10.0.0.0/24`);
  }
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ipToInt(m[1]) & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | ~mask) >>> 0 };
}

/** True when `ip` (integer) is a host address of `subnet` (not its network or broadcast address). */
export function inSubnet(subnet: Subnet, ip: number): boolean {
  return (ip & subnet.mask) >>> 0 === subnet.network && ip !== subnet.network && ip !== subnet.broadcast;
}
