/**
 * Ports' firewalls from their security groups, as the hosts enforce them
 * (appliance/host/network/firewall.ts): each IPv4 rule of each of the port's groups, its remote
 * group turned into the addresses of the ports in that group now. A port in no group lets
 * nothing through but DHCP, as Neutron's. IPv6 rules are kept in the API and have nothing to
 * filter here: the guests' ports carry no IPv6.
 */
import type { CloudDb, Port, SecurityGroup, SecurityGroupRule } from '../db/index.js';
import type { FirewallRule, PortFirewall } from '../host/index.js';

/** neutron_lib/constants.py `IP_PROTOCOL_MAP`: Neutron's protocol names, in its order (its messages list them so). */
export const IP_PROTOCOLS: Readonly<Record<string, number>> = {
  ah: 51,
  dccp: 33,
  egp: 8,
  esp: 50,
  gre: 47,
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ip: 0,
  ipip: 4,
  'ipv6-encap': 41,
  'ipv6-frag': 44,
  'ipv6-icmp': 58,
  icmpv6: 58,
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  'ipv6-route': 43,
  ospf: 89,
  pgm: 113,
  rsvp: 46,
  sctp: 132,
  tcp: 6,
  udp: 17,
  udplite: 136,
  vrrp: 112,
};
/** neutron/common/_constants.py `SG_PORT_PROTO_NUMS`: the protocols with ports (DCCP, SCTP, TCP, UDP, UDP-Lite). */
export const PORT_PROTOCOLS: readonly number[] = [33, 132, 6, 17, 136];

/** A rule's protocol's number (its protocol is a name of IP_PROTOCOLS or a number as text). */
export const protocolNumber = (protocol: string): number => IP_PROTOCOLS[protocol.toLowerCase()] ?? Number(protocol);

/** `a.b.c.d/n` with its host bits cleared (Neutron keeps `10.0.0.5/24` as given; nftables wants the network). */
function network(cidr: string): string {
  const [address = '', bits = '32'] = cidr.split('/');
  const prefix = Number(bits);
  const value = address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const masked = prefix === 0 ? 0 : Number((BigInt(value) >> BigInt(32 - prefix)) << BigInt(32 - prefix));
  return `${[24, 16, 8, 0].map((shift) => (masked >>> shift) & 255).join('.')}/${prefix}`;
}

/** One IPv4 rule as the host takes it; null for a rule no IPv4 packet can match. */
function hostRule(rule: SecurityGroupRule, addresses: Readonly<Record<string, string[]>>): FirewallRule | null {
  if (rule.ethertype !== 'IPv4') return null;
  const protocol = rule.protocol === null ? null : protocolNumber(rule.protocol);
  if (protocol !== null && !(Number.isInteger(protocol) && protocol >= 0 && protocol <= 255)) return null;
  const remote =
    rule.remoteGroupId !== null
      ? (addresses[rule.remoteGroupId] ?? []).map((ip) => `${ip}/32`)
      : rule.remoteIpPrefix !== null && network(rule.remoteIpPrefix) !== '0.0.0.0/0'
        ? [network(rule.remoteIpPrefix)]
        : null;
  const ported = protocol !== null && PORT_PROTOCOLS.includes(protocol) && rule.portMin !== null;
  return {
    direction: rule.direction,
    protocol,
    ports: ported ? [rule.portMin as number, rule.portMax ?? (rule.portMin as number)] : null,
    icmp: protocol === 1 && rule.portMin !== null ? { type: rule.portMin, code: rule.portMax } : null,
    remote,
  };
}

/** Each port's firewall (by port id), from the database now. */
export async function portFirewalls(db: CloudDb, ports: readonly Port[]): Promise<Map<string, PortFirewall>> {
  const groupsOfPort = await db.securityGroups.ofPorts(ports.map((p) => p.id));
  const groups = new Map<string, SecurityGroup>();
  for (const id of new Set(Object.values(groupsOfPort).flat())) {
    const group = await db.securityGroups.get(id);
    if (group) groups.set(id, group);
  }
  const remoteIds = [...groups.values()].flatMap((g) =>
    g.rules.flatMap((r) => (r.remoteGroupId ? [r.remoteGroupId] : [])),
  );
  const addresses = await db.securityGroups.addresses([...new Set(remoteIds)]);
  const firewalls = new Map<string, PortFirewall>();
  for (const port of ports) {
    const own = (groupsOfPort[port.id] ?? []).flatMap((id) => groups.get(id) ?? []);
    firewalls.set(port.id, {
      // Stateless only when all its groups are (Neutron refuses to mix them on a port).
      stateful: own.length === 0 || own.some((g) => g.stateful),
      rules: own.flatMap((g) => g.rules.flatMap((r) => hostRule(r, addresses) ?? [])),
    });
  }
  return firewalls;
}
