/**
 * A router's request checked, and what it becomes on the node, as pure functions (router.ts
 * runs them): its legs with their devices' names, its routes, and its NAT rules as one nft
 * script. The rules are those of Neutron's legacy L3 agent (`neutron-l3-agent-*` chains, in
 * nftables words): a floating IP's DNAT to its fixed address and SNAT back from it, before the
 * router's general SNAT to its gateway address; and the SNAT of a project's packet that went to
 * a floating IP behind the same router (hairpin: the answer must come back through the router).
 */
import { HostRequestError } from '../errors.js';
import type { NetworkSegment, RouterRequest } from '../types.js';
import { checkSegment } from './segment.js';

/** The nftables table in each router's namespace. */
export const ROUTER_TABLE = 'rackseed_router';
/** Bounds on one request (one nft script, one namespace's routing table). */
const MAX_LEGS = 64;
const MAX_FLOATING_IPS = 1024;
const MAX_ROUTES = 256;

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
/** Dotted IPv4, no leading zeros (iproute2 would read `010` as octal). */
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A router's leg as plumbed: a veth whose node end (`tap…`, as Neutron's linuxbridge names router ports) is on its network's bridge. */
export interface RouterLeg {
  readonly portId: string;
  readonly segment: NetworkSegment;
  readonly mac: string;
  readonly mtu: number;
  /** Its addresses (`a.b.c.d/n`): the port's, and on the gateway leg each floating IP's /32. */
  readonly addresses: readonly string[];
  readonly external: boolean;
}

/** A leg's veth: `tap<11>` on the node's bridge, `qr-<11>` (a project's network) or `qg-<11>` (the external one) in the router. */
export function legDevices(portId: string, external: boolean): { outside: string; inside: string } {
  const short = portId.slice(0, 11);
  return { outside: `tap${short}`, inside: `${external ? 'qg' : 'qr'}-${short}` };
}

/** The router's legs: its gateway's first. */
export function routerLegs(request: RouterRequest): RouterLeg[] {
  const { gateway } = request;
  const external: RouterLeg[] = gateway
    ? [
        {
          ...{ portId: gateway.portId, segment: gateway.segment, mac: gateway.mac, mtu: gateway.mtu },
          addresses: [`${gateway.ip}/${gateway.prefixLength}`, ...request.floatingIps.map((f) => `${f.floatingIp}/32`)],
          external: true,
        },
      ]
    : [];
  return [
    ...external,
    ...request.interfaces.map((leg) => ({
      ...{ portId: leg.portId, segment: leg.segment, mac: leg.mac, mtu: leg.mtu },
      addresses: [`${leg.ip}/${leg.prefixLength}`],
      external: false,
    })),
  ];
}

/** The router's routes, as `ip route` names their destinations: the default one (to the gateway's gateway) and the extra ones. */
export function routerRoutes(request: RouterRequest): { destination: string; nexthop: string }[] {
  const way = request.gateway?.gateway;
  return [
    ...(way ? [{ destination: 'default', nexthop: way }] : []),
    ...request.routes.map((r) => ({
      destination: r.destination === '0.0.0.0/0' ? 'default' : r.destination,
      nexthop: r.nexthop,
    })),
  ];
}

/** The router's NAT, replacing the table's previous rules in one transaction (connections keep their translation). */
export function routerScript(request: RouterRequest): string {
  const table = `ip ${ROUTER_TABLE}`;
  const lines = [`add table ${table}`, `delete table ${table}`, `add table ${table}`];
  const { gateway } = request;
  if (!gateway) return lines.join('\n');
  const qg = legDevices(gateway.portId, true).inside;
  lines.push(
    `add chain ${table} prerouting { type nat hook prerouting priority -100; policy accept; }`,
    `add chain ${table} postrouting { type nat hook postrouting priority 100; policy accept; }`,
    ...request.floatingIps.map((f) => `add rule ${table} prerouting ip daddr ${f.floatingIp} dnat to ${f.fixedIp}`),
    // Hairpin: a project's packet to a floating IP goes back in; its answer must come through here.
    `add rule ${table} postrouting iifname != "${qg}" ct status dnat snat to ${gateway.ip}`,
    ...request.floatingIps.map(
      (f) => `add rule ${table} postrouting oifname "${qg}" ip saddr ${f.fixedIp} snat to ${f.floatingIp}`,
    ),
    ...(gateway.snat ? [`add rule ${table} postrouting oifname "${qg}" snat to ${gateway.ip}`] : []),
  );
  return lines.join('\n');
}

/** An IPv4 address as a number, or null. */
function ipv4(text: unknown): number | null {
  const m = typeof text === 'string' ? IPV4.exec(text) : null;
  return m ? m.slice(1, 5).reduce((n, o) => n * 256 + Number(o), 0) : null;
}
const maskOf = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
const within = (address: number, net: { ip: number; prefix: number }) =>
  (address & maskOf(net.prefix)) >>> 0 === (net.ip & maskOf(net.prefix)) >>> 0;

/**
 * Refuses a request that is not exactly what {@link RouterRequest} says, or that the router
 * could not carry out (HOST_ERR_BAD_ROUTER, saying what): addresses, prefixes, MACs, MTUs,
 * segments; no two legs on one port or on overlapping subnets; each floating IP's fixed address
 * on a leg's subnet and each route's next hop too.
 */
export function checkRouter(id: string, request: unknown): asserts request is RouterRequest {
  const fail = (what: string): never => {
    throw new HostRequestError(`router ${id}: ${what}`, 'HOST_ERR_BAD_ROUTER');
  };
  const r = request as RouterRequest | null;
  if (typeof r !== 'object' || r === null) return fail('the body must be a JSON object');
  if (typeof r.name !== 'string' || r.name.length > 255) fail('name must be a string of at most 255 characters');
  if (!Array.isArray(r.interfaces) || r.interfaces.length > MAX_LEGS)
    fail(`interfaces must be a list of at most ${MAX_LEGS}`);
  if (!Array.isArray(r.floatingIps) || r.floatingIps.length > MAX_FLOATING_IPS)
    fail(`floatingIps must be a list of at most ${MAX_FLOATING_IPS}`);
  if (!Array.isArray(r.routes) || r.routes.length > MAX_ROUTES) fail(`routes must be a list of at most ${MAX_ROUTES}`);
  if (r.gateway !== null && (typeof r.gateway !== 'object' || r.gateway === undefined))
    fail('gateway must be an object or null');
  const subnets: { ip: number; prefix: number; port: string }[] = [];
  const ports = new Set<string>();
  for (const leg of [...(r.gateway ? [r.gateway] : []), ...r.interfaces]) {
    const port =
      typeof leg?.portId === 'string' && UUID.test(leg.portId)
        ? leg.portId
        : fail('a leg has no port id (a lower-case UUID)');
    const at = `port ${port}: `;
    if (ports.has(port.slice(0, 11))) fail(`${at}two legs on one port (or two ports whose ids start alike)`);
    ports.add(port.slice(0, 11));
    if (typeof leg.networkId !== 'string' || leg.networkId === '') fail(`${at}networkId must be a string`);
    if (leg.segment === undefined) fail(`${at}segment is required`);
    try {
      checkSegment(port, leg.segment);
    } catch (error) {
      fail((error as Error).message.replace(/^port \S+: /, at));
    }
    if (!MAC.test(String(leg.mac))) fail(`${at}${String(leg.mac)} is not a lower-case MAC address`);
    if (!Number.isInteger(leg.mtu) || leg.mtu < 68 || leg.mtu > 65535) fail(`${at}mtu must be an integer in 68..65535`);
    const ip = ipv4(leg.ip) ?? fail(`${at}${String(leg.ip)} is not an IPv4 address`);
    if (!Number.isInteger(leg.prefixLength) || leg.prefixLength < 1 || leg.prefixLength > 32)
      fail(`${at}prefixLength must be an integer in 1..32`);
    const clash = subnets.find((s) => within(ip, { ip: s.ip, prefix: Math.min(s.prefix, leg.prefixLength) }));
    if (clash) fail(`${at}its subnet overlaps port ${clash.port}'s: a router routes each address one way`);
    subnets.push({ ip, prefix: leg.prefixLength, port });
  }
  const onLeg = (address: number) => subnets.some((s) => within(address, s));
  if (r.gateway) {
    const g = r.gateway;
    if (typeof g.snat !== 'boolean') fail('gateway.snat must be true or false');
    if (g.gateway !== null) {
      const way = ipv4(g.gateway) ?? fail(`gateway.gateway ${String(g.gateway)} is not an IPv4 address or null`);
      if (!within(way, { ip: ipv4(g.ip) ?? 0, prefix: g.prefixLength }) || way === ipv4(g.ip))
        fail(`gateway.gateway ${g.gateway} is not another address of the gateway's subnet`);
    }
  } else if (r.floatingIps.length > 0) fail('floating IPs need a gateway');
  const floating = new Set<number>([ipv4(r.gateway?.ip) ?? -1]);
  const fixed = new Set<number>();
  for (const f of r.floatingIps) {
    const at = `floating IP ${String(f?.id)}: `;
    if (typeof f?.id !== 'string' || f.id === '') fail('a floating IP has no id');
    const address = ipv4(f.floatingIp) ?? fail(`${at}${String(f.floatingIp)} is not an IPv4 address`);
    const inside = ipv4(f.fixedIp) ?? fail(`${at}${String(f.fixedIp)} is not an IPv4 address`);
    if (floating.has(address)) fail(`${at}${f.floatingIp} is the gateway's or another floating IP's address`);
    if (fixed.has(inside)) fail(`${at}${f.fixedIp} has another floating IP`);
    if (!subnets.slice(r.gateway ? 1 : 0).some((s) => within(inside, s)))
      fail(`${at}${f.fixedIp} is on none of the router's interfaces' subnets`);
    floating.add(address);
    fixed.add(inside);
  }
  const destinations = new Set(r.gateway?.gateway ? ['0.0.0.0/0'] : []);
  for (const route of r.routes) {
    const [net, length] = typeof route?.destination === 'string' ? route.destination.split('/') : [];
    const prefix = Number(length);
    const base = ipv4(net);
    if (base === null || !/^\d{1,2}$/.test(length ?? '') || prefix > 32 || (base & ~maskOf(prefix)) >>> 0 !== 0)
      fail(`route ${String(route?.destination)}: the destination must be a network a.b.c.d/n (no host bits)`);
    if (destinations.has(route.destination)) fail(`route ${route.destination}: a second route to it`);
    destinations.add(route.destination);
    const hop =
      ipv4(route.nexthop) ?? fail(`route ${route.destination}: ${String(route.nexthop)} is not an IPv4 address`);
    if (!onLeg(hop) || subnets.some((s) => s.ip === hop))
      fail(
        `route ${route.destination}: the next hop ${route.nexthop} is not another address on one of the router's subnets`,
      );
  }
}
