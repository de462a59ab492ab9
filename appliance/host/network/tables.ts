/**
 * The guests' nftables rules, as scripts (pure; plumbing.ts runs them). Two tables named
 * {@link TABLE}:
 * - bridge family: each tap's anti-spoofing chain and number (see firewall.ts for the marks),
 *   and the isolation of the links to other nodes (the provider uplink, every VXLAN device):
 *   nothing of 169.254.169.254 and no DHCP server traffic crosses them, so a guest is answered
 *   only by its own node; nothing from a guest bridge reaches the node's own IP stack;
 * - ip family: the forward chain that sends a bridged frame through its ports' firewalls, on
 *   every guest bridge, and each VXLAN network's conntrack zone: two networks may hold the same
 *   addresses, and their connections must not meet in one table.
 */
import type { NicRequest, PortFirewall } from '../types.js';
import { firewallScript, MAX_PORT_MARK } from './firewall.js';
import { METADATA_ADDRESS } from './guest-dhcp.js';
import { FLAT_SERVICES_PORT, VXLAN_BRIDGE, VXLAN_DEVICE, VXLAN_SERVICES_PORT } from './segment.js';

export const TABLE = 'rackseed_guests';
/** The conntrack zones nftables gives (16 bits; 0, the default, is the provider network's). */
export const MAX_ZONE = 0xffff;

/** A tap's number in the high 16 bits of the mark: its frames' destination (as an unsigned number, not `<<`'s). */
export const ingressMark = (mark: number) => mark * 0x10000;

/** A tap's chains: anti-spoofing and the ingress mark (bridge), egress and ingress firewall (ip). */
export const chainsOf = (tap: string) => ({ tag: `${tap}-tag`, egress: `${tap}-out`, ingress: `${tap}-in` });

/** The tables, their maps and base chains (idempotent: what is there is kept, the base chains rewritten). */
export function tableScript(bridge: string, uplink: string | undefined): string {
  const vxlans = `${VXLAN_DEVICE}*`;
  const outside = [...(uplink ? [uplink] : []), vxlans];
  const bridges = [bridge, `${VXLAN_BRIDGE}*`];
  const services = [FLAT_SERVICES_PORT, `${VXLAN_SERVICES_PORT}*`];
  const forward = `bridge ${TABLE} forward`;
  return [
    `add table bridge ${TABLE}`,
    `add map bridge ${TABLE} ports { type ifname : verdict; }`,
    `add map bridge ${TABLE} port_marks { type ifname : mark; }`,
    `add map bridge ${TABLE} ingress_tags { type ifname : verdict; }`,
    `add chain bridge ${TABLE} prerouting { type filter hook prerouting priority -300; policy accept; }`,
    `flush chain bridge ${TABLE} prerouting`,
    // Frames of the services' veths and of other nodes come from no tap: no mark.
    ...[...services, ...outside].map((port) => `add rule bridge ${TABLE} prerouting iifname "${port}" meta mark set 0`),
    `add rule bridge ${TABLE} prerouting meta mark set iifname map @port_marks`,
    // Before the bridge hands the frame to the IP hooks (their priority 0).
    `add chain ${forward} { type filter hook forward priority -200; policy accept; }`,
    `flush chain ${forward}`,
    ...outside.flatMap((link) => [
      // The services namespaces talk to their own node's guests only (their IPv6 neighbour
      // discovery too: another node's bridge would learn their MAC).
      ...services.flatMap((port) => [
        `add rule ${forward} iifname "${port}" oifname "${link}" drop`,
        `add rule ${forward} iifname "${link}" oifname "${port}" drop`,
      ]),
      `add rule ${forward} oifname "${link}" ether type arp arp daddr ip ${METADATA_ADDRESS} drop`,
      `add rule ${forward} oifname "${link}" ether type arp arp saddr ip ${METADATA_ADDRESS} drop`,
      `add rule ${forward} iifname "${link}" ether type arp arp saddr ip ${METADATA_ADDRESS} drop`,
      `add rule ${forward} iifname "${link}" ether type arp arp daddr ip ${METADATA_ADDRESS} drop`,
      `add rule ${forward} oifname "${link}" ip daddr ${METADATA_ADDRESS} drop`,
      `add rule ${forward} iifname "${link}" ip saddr ${METADATA_ADDRESS} drop`,
      `add rule ${forward} oifname "${link}" udp sport 67 drop`,
      `add rule ${forward} iifname "${link}" udp dport 67 drop`,
    ]),
    `add rule ${forward} iifname vmap @ports`,
    `add rule ${forward} oifname vmap @ingress_tags`,
    // Nothing from a guest bridge reaches the node's own IP stack (no address is not enough: a
    // guest's broadcast DHCP would still meet the node's provisioning DHCP server).
    `add chain bridge ${TABLE} input { type filter hook input priority 0; policy accept; }`,
    `flush chain bridge ${TABLE} input`,
    // Matched by port: `meta ibrname` is not in every kernel.
    ...['tap*', ...services, ...outside].map((port) => `add rule bridge ${TABLE} input iifname "${port}" drop`),
    `add table ip ${TABLE}`,
    `add map ip ${TABLE} egress { type mark : verdict; }`,
    `add map ip ${TABLE} ingress { type mark : verdict; }`,
    `add map ip ${TABLE} zones { typeof iifname : ct zone; }`,
    // Before conntrack (priority -200) sees the frame; the IP hooks see a bridged frame's bridge as its input.
    `add chain ip ${TABLE} zone { type filter hook prerouting priority -300; policy accept; }`,
    `flush chain ip ${TABLE} zone`,
    `add rule ip ${TABLE} zone ct zone set iifname map @zones`,
    `add chain ip ${TABLE} forward { type filter hook forward priority 0; policy accept; }`,
    `flush chain ip ${TABLE} forward`,
    ...bridges.flatMap((b) => [
      `add rule ip ${TABLE} forward iifname "${b}" meta mark and ${MAX_PORT_MARK} vmap @egress`,
      `add rule ip ${TABLE} forward iifname "${b}" meta mark and ${ingressMark(MAX_PORT_MARK)} vmap @ingress`,
    ]),
  ].join('\n');
}

/** A port's chains: anti-spoofing (only its MAC and IP leave the guest), the ingress mark, its firewall. */
export function portScript(tap: string, mark: number, nic: NicRequest, firewall: PortFirewall): string {
  const { tag, egress, ingress } = chainsOf(tap);
  const chain = `bridge ${TABLE} ${tap}`;
  return [
    `add chain ${chain}`,
    `flush chain ${chain}`,
    `add rule ${chain} ether saddr != ${nic.mac} drop`,
    `add rule ${chain} ether type arp arp saddr ether != ${nic.mac} drop`,
    `add rule ${chain} ether type arp arp saddr ip != ${nic.ip} drop`,
    `add rule ${chain} ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 return`,
    `add rule ${chain} ether type ip ip saddr != ${nic.ip} drop`,
    `add rule ${chain} ether type ip udp sport 67 drop`,
    `add rule ${chain} ether type ip6 drop`,
    `add chain bridge ${TABLE} ${tag}`,
    `flush chain bridge ${TABLE} ${tag}`,
    `add rule bridge ${TABLE} ${tag} meta mark set meta mark | ${ingressMark(mark)}`,
    firewallScript(TABLE, { egress, ingress }, firewall, METADATA_ADDRESS),
  ].join('\n');
}

/** The map entries that lead a port's frames to its chains (each a `family table map { key }` to delete). */
export function portElements(tap: string, mark: number): { add: string; remove: string[] } {
  const { tag, egress, ingress } = chainsOf(tap);
  return {
    add: [
      `add element bridge ${TABLE} ports { "${tap}" : jump ${tap} }`,
      `add element bridge ${TABLE} port_marks { "${tap}" : ${mark} }`,
      `add element bridge ${TABLE} ingress_tags { "${tap}" : jump ${tag} }`,
      `add element ip ${TABLE} egress { ${mark} : jump ${egress} }`,
      `add element ip ${TABLE} ingress { ${ingressMark(mark)} : jump ${ingress} }`,
    ].join('\n'),
    remove: [
      `bridge ${TABLE} ports { "${tap}" }`,
      `bridge ${TABLE} port_marks { "${tap}" }`,
      `bridge ${TABLE} ingress_tags { "${tap}" }`,
      `ip ${TABLE} egress { ${mark} }`,
      `ip ${TABLE} ingress { ${ingressMark(mark)} }`,
    ],
  };
}

/** The lowest number in 1..max that `taken` does not hold, or undefined. */
export function lowestFree(taken: Iterable<number>, max: number): number | undefined {
  const used = new Set(taken);
  for (let n = 1; n <= max; n++) if (!used.has(n)) return n;
  return undefined;
}
