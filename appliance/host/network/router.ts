/**
 * A router on its home node, as Neutron's legacy L3 agent makes one with linuxbridge: a network
 * namespace of its own (`<services namespace>-r<router id>`, Neutron's qrouter-<id>: unique
 * per machine, as several lab nodes share one), forwarding, strict reverse-path filtering and
 * no IPv6 there; a veth per leg, `tap<port>` on its network's bridge (plumbing.ts makes the
 * network for it as for a guest's port) and `qr-<port>` / `qg-<port>` inside with the port's
 * MAC, addresses and MTU; its routes (the default one to the gateway's gateway, the extra
 * ones) and its NAT (router-rules.ts) in its own nftables table. The node's own planes have no
 * leg there: a guest reaches through it only what its legs' networks reach.
 *
 * Making it is idempotent and changes only what differs (legs added or removed, addresses,
 * routes; the rules replaced in one transaction), so a restarted host service runs it again
 * under live traffic. An address new on a leg (a floating IP made, or the router moved here)
 * is announced with a gratuitous ARP, as Neutron's L3 agent does (busybox's `arping -U`, on
 * this machine and in the node image): the switches, the bridges and VXLAN devices on the
 * way, and the neighbours learn its place at once, not when their entries age out.
 */
import { existsSync, readdirSync } from 'node:fs';
import type { NetworkSegment, RouterRequest } from '../types.js';
import { legDevices, routerLegs, routerRoutes, routerScript } from './router-rules.js';
import { exists, listJson, nft, noIpv6, run, sh } from './shell.js';

/** The namespace of router `id` on the node whose services namespace is `servicesNetns`. */
export const routerNetns = (servicesNetns: string, id: string) => `${servicesNetns}-r${id}`;

/** The namespace's own settings: a router forwards, takes a packet only where its answer would leave, speaks no IPv6, and answers ARP for an address only on the leg that holds it. */
const SYSCTLS = [
  'net.ipv4.ip_forward=1',
  'net.ipv4.conf.all.rp_filter=1',
  'net.ipv4.conf.default.rp_filter=1',
  'net.ipv4.conf.all.arp_ignore=1',
  'net.ipv6.conf.all.disable_ipv6=1',
  'net.ipv6.conf.default.disable_ipv6=1',
];

/** The routers whose namespace is on this node (their ids). */
export function routersHere(servicesNetns: string): string[] {
  const prefix = routerNetns(servicesNetns, '');
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns')
    .filter((name) => name.startsWith(prefix))
    .map((name) => name.slice(prefix.length));
}

/** The bridge a link is on, if it is there and on one. */
async function masterOf(link: string): Promise<string | undefined> {
  const links = await listJson<{ master?: string }[]>('ip', ['link', 'show', 'dev', link], link).catch(() => []);
  return links[0]?.master;
}

/** The router's legs in its namespace (its `qr-` and `qg-` ends). */
async function legsIn(netns: string): Promise<{ ifname: string; address: string }[]> {
  const links = await listJson<{ ifname: string; address: string }[]>(
    'ip',
    ['-n', netns, 'link', 'show'],
    `the links of ${netns}`,
  );
  return links.filter((l) => /^q[rg]-/.test(l.ifname));
}

/** The node end of a leg from its namespace end. */
const outsideOf = (inside: string) => `tap${inside.slice(3)}`;

/**
 * Makes the router as `request` says in `netns`; `bridgeOf` names the bridge of a leg's network
 * (made already). Returns the bridges that legs left, whose networks may now have no port here.
 */
export async function makeRouter(
  netns: string,
  request: RouterRequest,
  bridgeOf: (segment: NetworkSegment) => string,
): Promise<string[]> {
  const what = `the router namespace ${netns}`;
  const inNs = (args: readonly string[]) => sh('ip', ['-n', netns, ...args], what);
  if (!(await exists(['-n', netns, 'link', 'show', 'dev', 'lo']))) {
    await exists(['netns', 'delete', netns]); // a name left by a namespace that is gone
    await sh('ip', ['netns', 'add', netns], what);
  }
  // Before any leg is made: a leg made later takes the namespace's defaults (no IPv6 address).
  await sh('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', ...SYSCTLS], what);
  await inNs(['link', 'set', 'lo', 'up']);

  const legs = routerLegs(request);
  const wanted = new Set(legs.map((leg) => legDevices(leg.portId, leg.external).inside));
  const present = await legsIn(netns);
  const left: string[] = [];
  for (const link of present.filter((l) => !wanted.has(l.ifname))) {
    const bridge = await masterOf(outsideOf(link.ifname));
    if (bridge) left.push(bridge);
    await inNs(['link', 'del', 'dev', link.ifname]); // and its node end with it
  }

  const announce: { address: string; device: string }[] = [];
  for (const leg of legs) {
    const { outside, inside } = legDevices(leg.portId, leg.external);
    const found = present.find((l) => l.ifname === inside);
    if (!found || !(await exists(['link', 'show', 'dev', outside]))) {
      await run('ip', ['-n', netns, 'link', 'del', 'dev', inside]).catch(() => undefined);
      await run('ip', ['link', 'del', 'dev', outside]).catch(() => undefined);
      await sh('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', netns], what);
    }
    const bridge = bridgeOf(leg.segment);
    const was = await masterOf(outside);
    if (was && was !== bridge) left.push(was);
    noIpv6(outside);
    await sh(
      'ip',
      ['link', 'set', 'dev', outside, 'mtu', String(leg.mtu), 'master', bridge, 'up'],
      `the leg ${outside}`,
    );
    if (found?.address !== leg.mac) await inNs(['link', 'set', 'dev', inside, 'address', leg.mac]);
    await inNs(['link', 'set', 'dev', inside, 'mtu', String(leg.mtu), 'up']);
    const listed = await listJson<{ addr_info?: { local: string; prefixlen: number }[] }[]>(
      'ip',
      ['-n', netns, '-4', 'addr', 'show', 'dev', inside],
      what,
    );
    const has = (listed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
    for (const address of has.filter((a) => !leg.addresses.includes(a)))
      await inNs(['addr', 'del', address, 'dev', inside]);
    for (const address of leg.addresses.filter((a) => !has.includes(a))) {
      await inNs(['addr', 'add', address, 'dev', inside]);
      announce.push({ address: address.split('/')[0] ?? '', device: inside });
    }
  }

  // Routes are ours when static (the legs' subnets are the kernel's).
  const routes = routerRoutes(request);
  const current = await listJson<{ dst: string; gateway?: string }[]>(
    'ip',
    ['-n', netns, 'route', 'show', 'proto', 'static'],
    what,
  );
  for (const route of current)
    if (!routes.some((r) => r.destination === route.dst && r.nexthop === route.gateway))
      await inNs(['route', 'del', route.dst, ...(route.gateway ? ['via', route.gateway] : []), 'proto', 'static']);
  for (const route of routes)
    await inNs(['route', 'replace', route.destination, 'via', route.nexthop, 'proto', 'static']);

  await nft(routerScript(request), netns);
  for (const { address, device } of announce)
    await sh(
      'ip',
      ['netns', 'exec', netns, 'busybox', 'arping', '-U', '-c', '1', '-w', '1', '-I', device, '-s', address, address],
      `the announcement of ${address}`,
    );
  return left;
}

/** Removes the router's legs and namespace; nothing to do if they are gone. Returns the bridges its legs were on. */
export async function removeRouter(netns: string): Promise<string[]> {
  if (!(await exists(['-n', netns, 'link', 'show', 'dev', 'lo']))) {
    await exists(['netns', 'delete', netns]);
    return [];
  }
  const left: string[] = [];
  // The legs first: a namespace's links go when the kernel gets to it, after `netns delete`
  // returns, and the node must see its networks' bridges without them at once.
  for (const link of await legsIn(netns)) {
    const bridge = await masterOf(outsideOf(link.ifname));
    if (bridge) left.push(bridge);
    await sh('ip', ['-n', netns, 'link', 'del', 'dev', link.ifname], `the router namespace ${netns}`);
  }
  await sh('ip', ['netns', 'delete', netns], `the router namespace ${netns}`);
  return left;
}
