/**
 * The guests' network on a node, with iproute2 and nftables (as root, in the host service's
 * network namespace):
 * - each network's plumbing (segment.ts): the provider bridge and the node's uplink; a bridge
 *   and a VXLAN device per project network with a port here, made at its first plug and
 *   removed with its last; each network's services namespace, where its guests' DHCP and
 *   metadata answer (guest-services.ts), apart from the node's own planes;
 * - a tap per port, at its network's MTU, with anti-spoofing rules: a guest sends only from its
 *   port's MAC and IP;
 * - each port's firewall, its security groups' rules, stateful (firewall.ts says how);
 * - the rules of tables.ts: no address and nothing to the node's IP stack from a guest bridge;
 *   nothing of 169.254.169.254 and no DHCP server traffic across the uplink or a VXLAN device,
 *   so each node answers only its own guests and a guest's metadata requests always reach its
 *   own node; a conntrack zone per project network;
 * - the routers homed here (router.ts): a namespace each, whose legs' node ends are taps on
 *   their networks' bridges as a guest's are (a network stays while a leg or a port is on it),
 *   plugged and unplugged in the same queue as the guests' ports. A router's tap has no
 *   anti-spoofing chain nor firewall (it is in no map of tables.ts): the guests' ports filter
 *   what reaches them from it, as Neutron's do.
 * Every step is idempotent: a restarted host service runs setup again under running guests,
 * and finds the project networks again by their bridges.
 */
import { existsSync } from 'node:fs';
import { HostPortError } from '../errors.js';
import type { GuestPorts } from '../parts.js';
import type { NetworkSegment, NicCounters, NicRequest, PortFirewall, RouterRequest } from '../types.js';
import { checkFirewall, firewallScript, MAX_PORT_MARK } from './firewall.js';
import { METADATA_ADDRESS } from './guest-dhcp.js';
import { type GuestDirectory, GuestServices } from './guest-services.js';
import { makeRouter, removeRouter, routerNetns, routersHere } from './router.js';
import { checkRouter, routerLegs } from './router-rules.js';
import {
  checkSegment,
  flatSegment,
  makeBridge,
  makeServicesNamespace,
  makeVxlan,
  removeVxlan,
  type Segment,
  tapsOn,
  VXLAN_BRIDGE,
  vxlanNetworksHere,
  vxlanSegment,
} from './segment.js';
import { exists, listJson, nft, noIpv6, run, sh } from './shell.js';
import { chainsOf, lowestFree, MAX_ZONE, portElements, portScript, TABLE, tableScript } from './tables.js';

/** Linux's interface names hold 15 characters: `tap` and the port id's first 11, as Nova names them. */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

export interface GuestNetworkOptions {
  /** The provider bridge (default `brprov`). */
  readonly bridge?: string;
  /** The interface that carries the provider network to the other nodes (none on a lone node). */
  readonly uplink?: string;
  /** The provider network's services namespace, and the prefix of the others' (unique per node on one machine, as in the lab rack). */
  readonly servicesNetns: string;
  /** The node's IPv4 address the VXLAN networks are carried from; without it, a port of one is refused. */
  readonly tunnelAddress?: string;
}

/**
 * Makes sure the kernel hands bridged frames to the IP hooks (br_netfilter: built in, or a
 * module loaded here). Without it no port's firewall would see a frame: the host refuses to
 * plug guests rather than run them unfiltered.
 */
async function bridgeNetfilter(): Promise<void> {
  if (!existsSync('/proc/sys/net/bridge')) await run('modprobe', ['br_netfilter']).catch(() => undefined);
  if (!existsSync('/proc/sys/net/bridge'))
    throw new HostPortError(
      'the kernel has no br_netfilter (CONFIG_BRIDGE_NETFILTER): guests’ security groups could not be enforced',
    );
}

/** A map's entries, as nftables lists them. */
async function mapElements(family: string, map: string): Promise<[string, number][]> {
  const listed = await listJson<{ nftables: { map?: { elem?: [string, number][] } }[] }>(
    'nft',
    ['list', 'map', family, TABLE, map],
    `the map ${map}`,
  );
  return listed.nftables.find((o) => o.map)?.map?.elem ?? [];
}

export class GuestNetwork implements GuestPorts {
  readonly bridge: string;
  readonly #flat: Segment;
  /** Each plugged tap's number (its frames' mark, see firewall.ts), read back from nftables at setup. */
  readonly #marks = new Map<string, number>();
  /** Each VXLAN network's bridge's conntrack zone, read back from nftables at setup. */
  readonly #zones = new Map<string, number>();
  /** Plugs and unplugs one at a time: a tap's number is taken from what the others hold. */
  #queue: Promise<unknown> = Promise.resolve();
  #services: GuestServices | undefined;

  constructor(readonly options: GuestNetworkOptions) {
    this.bridge = options.bridge ?? 'brprov';
    this.#flat = flatSegment(this.bridge, options.servicesNetns);
  }

  /** Makes (or finds) the provider bridge, its uplink, its services namespace, the rules, and the project networks here. */
  async setup(): Promise<void> {
    await bridgeNetfilter();
    await makeBridge(this.bridge);
    if (this.options.uplink) {
      noIpv6(this.options.uplink);
      await sh('ip', ['link', 'set', this.options.uplink, 'master', this.bridge, 'up'], 'the provider uplink');
    }
    await makeServicesNamespace(this.#flat);
    await nft(tableScript(this.bridge, this.options.uplink));
    this.#marks.clear();
    for (const [tap, mark] of await mapElements('bridge', 'port_marks')) this.#marks.set(tap, mark);
    this.#zones.clear();
    for (const [bridge, zone] of await mapElements('ip', 'zones')) this.#zones.set(bridge, zone);
    for (const { vni, mtu } of await vxlanNetworksHere()) {
      const segment = vxlanSegment(vni, this.options.servicesNetns);
      // One whose last port went while the service was down (between the tap and the rest) goes now.
      if ((await tapsOn(segment.bridge)).length === 0) await this.#removeNetwork(segment);
      else await this.#makeNetwork(segment, mtu);
    }
  }

  /**
   * Answers the guests' DHCP and metadata on every network here, from now on on each network
   * made by a plug, with what `directory` knows of the guests (the host service).
   */
  async serveGuests(
    directory: GuestDirectory,
    log?: (event: string, fields: Record<string, unknown>) => void,
  ): Promise<void> {
    const services = new GuestServices(directory, log);
    this.#services = services;
    await services.open(this.#flat.key, this.#flat.netns);
    for (const { vni } of await vxlanNetworksHere()) {
      const segment = vxlanSegment(vni, this.options.servicesNetns);
      await services.open(segment.key, segment.netns);
    }
  }

  /** Stops answering the guests' DHCP and metadata. */
  async stopServing(): Promise<void> {
    await this.#services?.closeAll();
    this.#services = undefined;
  }

  /** The port's tap: made, on its network's bridge (made if it is the first), up, with its anti-spoofing chain and its firewall; its name. */
  async plug(nic: NicRequest): Promise<string> {
    checkSegment(nic.portId, nic.segment);
    checkFirewall(nic.portId, nic.firewall);
    return this.#oneAtATime(async () => {
      const segment = this.#segmentOf(nic);
      if (segment.vni !== null) await this.#makeNetwork(segment, nic.mtu);
      const tap = tapName(nic.portId);
      if (!(await exists(['link', 'show', 'dev', tap])))
        await sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap'], `the tap ${tap}`);
      noIpv6(tap);
      await sh(
        'ip',
        ['link', 'set', 'dev', tap, 'mtu', String(nic.mtu), 'master', segment.bridge, 'up'],
        `the tap ${tap}`,
      );
      const mark = this.#marks.get(tap) ?? this.#freeMark();
      // Chains first, then the map entries that lead to them (replaced, as a restarted service finds them).
      await nft(portScript(tap, mark, nic, nic.firewall));
      const elements = portElements(tap, mark);
      await this.#removeElements(elements.remove);
      await nft(elements.add);
      this.#marks.set(tap, mark);
      await this.#services?.open(segment.key, segment.netns);
      return tap;
    });
  }

  /** Makes the plugged port's firewall what `firewall` says (at once: one nft transaction). */
  async applyFirewall(portId: string, firewall: PortFirewall): Promise<void> {
    checkFirewall(portId, firewall);
    await this.#oneAtATime(async () => {
      const tap = tapName(portId);
      if (!this.#marks.has(tap)) return; // not plugged here: its next plug applies it
      const { egress, ingress } = chainsOf(tap);
      await nft(firewallScript(TABLE, { egress, ingress }, firewall, METADATA_ADDRESS));
    });
  }

  /** Removes the port's tap, its rules and its firewall, and its project network's plumbing if it was its last port here; nothing to do if they are gone. */
  async unplug(nic: NicRequest): Promise<void> {
    await this.#oneAtATime(async () => {
      const tap = tapName(nic.portId);
      const mark = this.#marks.get(tap);
      if (mark !== undefined) await this.#removeElements(portElements(tap, mark).remove);
      const { tag, egress, ingress } = chainsOf(tap);
      for (const [family, chain] of [
        ['bridge', tap],
        ['bridge', tag],
        ['ip', egress],
        ['ip', ingress],
      ])
        await nft(`flush chain ${family} ${TABLE} ${chain}\ndelete chain ${family} ${TABLE} ${chain}`).catch(
          () => undefined,
        );
      this.#marks.delete(tap);
      if (await exists(['link', 'show', 'dev', tap])) await sh('ip', ['link', 'del', 'dev', tap], `the tap ${tap}`);
      await this.#removeIdle([this.#segmentOf(nic).bridge]);
    });
  }

  /**
   * Makes router `id` here as `request` says (router.ts; only what differs), its legs' networks
   * with it, and removes the networks its old legs leave with no port.
   */
  async applyRouter(id: string, request: RouterRequest): Promise<void> {
    checkRouter(id, request);
    await this.#oneAtATime(async () => {
      const segments = routerLegs(request).map((leg) => ({ segment: this.#segmentOf(leg), mtu: leg.mtu }));
      for (const { segment, mtu } of segments) if (segment.vni !== null) await this.#makeNetwork(segment, mtu);
      const netns = routerNetns(this.options.servicesNetns, id);
      await this.#removeIdle(await makeRouter(netns, request, (segment) => this.#segmentOf({ segment }).bridge));
      for (const { segment } of segments) await this.#services?.open(segment.key, segment.netns);
    });
  }

  /** Removes router `id`'s namespace and legs, and the networks they leave with no port; nothing to do if it is gone. */
  async removeRouter(id: string): Promise<void> {
    await this.#oneAtATime(async () =>
      this.#removeIdle(await removeRouter(routerNetns(this.options.servicesNetns, id))),
    );
  }

  /** The port's tap's counters, turned to the guest's side: what the tap transmits, the guest receives. */
  async counters(nic: NicRequest): Promise<NicCounters> {
    const tap = tapName(nic.portId);
    let link: { stats64?: Record<'rx' | 'tx', Record<'bytes' | 'packets' | 'errors' | 'dropped', number>> }[];
    try {
      link = JSON.parse((await run('ip', ['-s', '-j', 'link', 'show', 'dev', tap], { timeout: 10_000 })).stdout);
    } catch {
      link = []; // no tap (the guest is not running here)
    }
    const stats = link[0]?.stats64;
    return {
      rxOctets: stats?.tx.bytes ?? 0,
      rxPackets: stats?.tx.packets ?? 0,
      rxErrors: stats?.tx.errors ?? 0,
      rxDrop: stats?.tx.dropped ?? 0,
      txOctets: stats?.rx.bytes ?? 0,
      txPackets: stats?.rx.packets ?? 0,
      txErrors: stats?.rx.errors ?? 0,
      txDrop: stats?.rx.dropped ?? 0,
    };
  }

  /** Removes the routers, every network's plumbing, the rules and the provider bridge (the guests must be gone). */
  async teardown(): Promise<void> {
    await this.stopServing();
    for (const id of routersHere(this.options.servicesNetns))
      await removeRouter(routerNetns(this.options.servicesNetns, id));
    for (const { vni } of await vxlanNetworksHere()) await removeVxlan(vxlanSegment(vni, this.options.servicesNetns));
    await run('ip', ['netns', 'del', this.options.servicesNetns]).catch(() => undefined);
    await run('nft', ['delete', 'table', 'bridge', TABLE]).catch(() => undefined);
    await run('nft', ['delete', 'table', 'ip', TABLE]).catch(() => undefined);
    this.#marks.clear();
    this.#zones.clear();
    await run('ip', ['link', 'del', 'dev', this.bridge]).catch(() => undefined);
  }

  #segmentOf(port: { readonly segment?: NetworkSegment | undefined }): Segment {
    return port.segment?.type === 'vxlan' ? vxlanSegment(port.segment.vni, this.options.servicesNetns) : this.#flat;
  }

  /** Removes the project networks of these bridges that have no port (a guest's or a router's tap) left here. */
  async #removeIdle(bridges: readonly string[]): Promise<void> {
    const named = new RegExp(`^${VXLAN_BRIDGE}(\\d+)$`);
    for (const bridge of new Set(bridges)) {
      const vni = Number(named.exec(bridge)?.[1] ?? NaN);
      if (!Number.isInteger(vni) || (await tapsOn(bridge)).length > 0) continue;
      await this.#removeNetwork(vxlanSegment(vni, this.options.servicesNetns));
    }
  }

  /** Makes (or finds) a VXLAN network's links and namespace, and its conntrack zone. */
  async #makeNetwork(segment: Segment, mtu: number): Promise<void> {
    await makeVxlan(segment, mtu, this.options.tunnelAddress);
    const zone = this.#zones.get(segment.bridge) ?? lowestFree(this.#zones.values(), MAX_ZONE);
    if (zone === undefined)
      throw new HostPortError(`no conntrack zone left: ${MAX_ZONE} project networks are plugged on this node`);
    await nft(`add element ip ${TABLE} zones { "${segment.bridge}" : ${zone} }`);
    this.#zones.set(segment.bridge, zone);
  }

  /** Removes a VXLAN network's services, zone, namespace and links. */
  async #removeNetwork(segment: Segment): Promise<void> {
    await this.#services?.close(segment.key);
    await this.#removeElements([`ip ${TABLE} zones { "${segment.bridge}" }`]);
    this.#zones.delete(segment.bridge);
    await removeVxlan(segment);
  }

  /** The lowest tap number no tap holds. */
  #freeMark(): number {
    const mark = lowestFree(this.#marks.values(), MAX_PORT_MARK);
    if (mark === undefined)
      throw new HostPortError(`no tap number left: ${MAX_PORT_MARK} ports are plugged on this node`);
    return mark;
  }

  /** Deletes map entries (each may be missing). */
  async #removeElements(elements: readonly string[]): Promise<void> {
    for (const element of elements) await nft(`delete element ${element}`).catch(() => undefined);
  }

  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
