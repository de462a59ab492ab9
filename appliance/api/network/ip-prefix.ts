/**
 * IP prefixes as Neutron reads a security group rule's `remote_ip_prefix`: netaddr's
 * `IPNetwork(text)` (an address with an optional `/length`; the address keeps its host bits,
 * `10.0.0.1/24` stays so, a bare address gets its full length) and the network it names
 * (`normalized_cidr`, the prefix with the host bits cleared). Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A parsed prefix. */
export interface IpPrefix {
  version: 4 | 6;
  /** The address as given, canonical, with its length (`10.0.0.1/24`, `2001:db8::/32`). */
  text: string;
  /** The network: host bits cleared (`10.0.0.0/24`). */
  cidr: string;
}

const ipv4ToBits = (address: string): bigint =>
  address.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
const bitsToIpv4 = (n: bigint): string => [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');

/** RFC 5952 text of an IPv6 address (lower case, the longest run of zero groups as `::`): the URL parser's. */
const canonicalIpv6 = (address: string): string => new URL(`http://[${address}]/`).hostname.slice(1, -1);

/** The 128 bits of a canonical IPv6 address (hex groups only, as `canonicalIpv6` writes it). */
function ipv6ToBits(address: string): bigint {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
}
function bitsToIpv6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return canonicalIpv6(groups.join(':'));
}

/** The prefix `input` names, or null when it is none (netaddr's AddrFormatError). */
export function parseIpPrefix(input: string): IpPrefix | null {
  const match = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(input.trim());
  if (!match?.[1]) return null;
  const address = match[1];
  const version = isIPv4(address) ? 4 : isIPv6(address) && !address.includes('%') ? 6 : null;
  if (version === null) return null;
  const width = version === 4 ? 32 : 128;
  const length = match[2] === undefined ? width : Number(match[2]);
  if (length > width) return null;
  const bits = version === 4 ? ipv4ToBits(address) : ipv6ToBits(canonicalIpv6(address));
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - length)) - 1n);
  const write = version === 4 ? bitsToIpv4 : bitsToIpv6;
  return { version, text: `${write(bits)}/${length}`, cidr: `${write(bits & mask)}/${length}` };
}
