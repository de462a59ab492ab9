/**
 * A port's firewall (its security groups' rules) as nftables rules: pure functions, checked
 * and rendered here, run by plumbing.ts.
 *
 * How a bridged frame meets them: Linux keeps no connection state in nftables' bridge family
 * (that needs nf_conntrack_bridge, which kernels may lack), so each guest bridge hands its IPv4
 * frames to the IP hooks (`nf_call_iptables`, Neutron's linuxbridge way), where conntrack
 * runs. There a frame's ports are gone (both are the bridge), so the bridge family marks them on
 * the way: its source tap's number in the mark's low 16 bits (prerouting), its destination
 * tap's in the high 16 (forward, per copy of a flooded frame). The `ip` table's forward chain
 * sends the frame through its source port's egress chain and its destination port's ingress
 * chain by those numbers. A port's chains hold its allow rules, then `drop`.
 */
import { HostRequestError } from '../errors.js';
import type { FirewallRule, PortFirewall } from '../types.js';

/** The IP protocols whose destination port sits where TCP's does (`th dport`): TCP, UDP, DCCP, SCTP, UDP-Lite. */
const PORTED = new Set([6, 17, 33, 132, 136]);
const ICMP = 1;
/** A port's rules, and the addresses of one rule's other end, at most (a bound on one nft script). */
const MAX_RULES = 1000;
const MAX_REMOTES = 4096;
/** The highest tap number the mark's 16 bits hold. */
export const MAX_PORT_MARK = 0xffff;

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const int = (n: unknown, min: number, max: number) =>
  Number.isInteger(n) && (n as number) >= min && (n as number) <= max;

/** Whether `text` is `a.b.c.d/n` with every part in range (it goes into an nft script as is). */
export function isCidr(text: unknown): boolean {
  const m = typeof text === 'string' ? CIDR.exec(text) : null;
  return m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

/** Refuses a firewall that is not exactly what {@link PortFirewall} says (a HostRequestError naming the port). */
export function checkFirewall(portId: string, firewall: unknown): void {
  const fail = (what: string) => {
    throw new HostRequestError(`port ${portId}: firewall ${what}`);
  };
  const f = firewall as PortFirewall | null;
  if (typeof f !== 'object' || f === null) return fail('must be an object');
  if (typeof f.stateful !== 'boolean') fail('stateful must be true or false');
  if (!Array.isArray(f.rules) || f.rules.length > MAX_RULES) fail(`rules must be a list of at most ${MAX_RULES}`);
  f.rules.forEach((rule: FirewallRule, i) => {
    const at = `rule ${i}: `;
    if (rule.direction !== 'ingress' && rule.direction !== 'egress') fail(`${at}direction is ingress or egress`);
    if (rule.protocol !== null && !int(rule.protocol, 0, 255)) fail(`${at}protocol is null or 0..255`);
    if (rule.ports !== null) {
      const [first, last] = Array.isArray(rule.ports) ? rule.ports : [];
      if (!PORTED.has(rule.protocol ?? -1)) fail(`${at}ports need TCP, UDP, DCCP, SCTP or UDP-Lite`);
      if (rule.ports.length !== 2 || !int(first, 1, 65535) || !int(last, first ?? 1, 65535))
        fail(`${at}ports are [first, last] in 1..65535`);
    }
    if (rule.icmp !== null) {
      if (rule.protocol !== ICMP) fail(`${at}icmp needs protocol 1`);
      if (!int(rule.icmp?.type, 0, 255) || (rule.icmp.code !== null && !int(rule.icmp.code, 0, 255)))
        fail(`${at}icmp type and code are 0..255`);
    }
    if (rule.remote !== null) {
      if (!Array.isArray(rule.remote) || rule.remote.length > MAX_REMOTES)
        fail(`${at}remote is null or a list of at most ${MAX_REMOTES} networks`);
      if (!rule.remote.every(isCidr)) fail(`${at}remote holds IPv4 networks (a.b.c.d/n) only`);
    }
  });
}

/** The rule's match, in nft's words ('' for any IPv4 packet); null when it matches nothing (no remote address). */
function match(rule: FirewallRule): string | null {
  const parts: string[] = [];
  if (rule.remote !== null) {
    if (rule.remote.length === 0) return null;
    parts.push(`ip ${rule.direction === 'ingress' ? 'saddr' : 'daddr'} { ${[...new Set(rule.remote)].join(', ')} }`);
  }
  if (rule.protocol !== null) parts.push(`ip protocol ${rule.protocol}`);
  if (rule.ports !== null) {
    const [first, last] = rule.ports;
    parts.push(`th dport ${first === last ? first : `${first}-${last}`}`);
  }
  if (rule.icmp !== null) {
    parts.push(`icmp type ${rule.icmp.type}`);
    if (rule.icmp.code !== null) parts.push(`icmp code ${rule.icmp.code}`);
  }
  return parts.join(' ');
}

/**
 * The nft commands that make the port's two chains in the `ip` table `table` what `firewall`
 * says: `egress` (from the guest; an allowed packet returns to the forward chain, which then
 * checks its destination's ingress) and `ingress` (to the guest). Both let DHCP through (the
 * node's own server answers it; spoofed DHCP replies are stopped in the bridge family), and,
 * for a stateless port, the metadata service's answers.
 */
export function firewallScript(
  table: string,
  chains: { egress: string; ingress: string },
  firewall: PortFirewall,
  metadataAddress: string,
): string {
  const { egress, ingress } = chains;
  const lines = [
    `add chain ip ${table} ${egress}`,
    `flush chain ip ${table} ${egress}`,
    `add chain ip ${table} ${ingress}`,
    `flush chain ip ${table} ${ingress}`,
  ];
  if (firewall.stateful) {
    lines.push(
      `add rule ip ${table} ${egress} ct state established,related return`,
      `add rule ip ${table} ${egress} ct state invalid drop`,
      `add rule ip ${table} ${ingress} ct state established,related accept`,
      `add rule ip ${table} ${ingress} ct state invalid drop`,
    );
  } else {
    lines.push(`add rule ip ${table} ${ingress} ip saddr ${metadataAddress} tcp sport 80 accept`);
  }
  lines.push(
    `add rule ip ${table} ${egress} udp sport 68 udp dport 67 return`,
    `add rule ip ${table} ${ingress} udp sport 67 udp dport 68 accept`,
  );
  for (const rule of firewall.rules) {
    const m = match(rule);
    if (m === null) continue;
    lines.push(
      rule.direction === 'egress'
        ? `add rule ip ${table} ${egress} ${m} return`.replace(/ {2}/g, ' ')
        : `add rule ip ${table} ${ingress} ${m} accept`.replace(/ {2}/g, ' '),
    );
  }
  lines.push(`add rule ip ${table} ${egress} drop`, `add rule ip ${table} ${ingress} drop`);
  return lines.join('\n');
}
