/**
 * The guests' network on a node, with iproute2 and nftables (as root, in the host service's
 * network namespace):
 * - the provider bridge, with no address and an nftables rule that drops every frame it would
 *   hand to the node's own IP stack (guest traffic never meets the node's planes), and the node's provider uplink (the other nodes' guests are across it);
 * - a guest-services namespace cabled to the bridge, holding 169.254.169.254: the node's
 *   guest DHCP and metadata answer there (see guest-net.ts), apart from the node's own planes;
 * - a tap per port, with anti-spoofing rules: a guest sends only from its port's MAC and IP;
 * - each port's firewall, its security groups' rules, stateful (firewall.ts says how);
 * - on the uplink, nothing of 169.254.169.254 and no DHCP server traffic crosses, so each node
 *   answers only its own guests and a guest's metadata requests always reach its own node.
 * Every step is idempotent: a restarted host service runs setup again under running guests.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { childEnv } from '../../../agent/process/index.js';
import { HostPortError } from '../errors.js';
import type { GuestPorts } from '../service.js';
import type { NicCounters, NicRequest, PortFirewall } from '../types.js';
import { checkFirewall, firewallScript, MAX_PORT_MARK } from './firewall.js';
import { METADATA_ADDRESS } from './guest-dhcp.js';

const execFileAsync = promisify(execFile);
/** Runs `ip` or `nft` with an explicit environment (PATH and locale: nothing of the host service's). */
const run = (command: string, args: readonly string[], options: { timeout?: number } = {}) =>
  execFileAsync(command, args, { ...options, env: childEnv() });

/** The nftables tables holding the guests' rules: anti-spoofing and marks (bridge family), firewalls (ip). */
const TABLE = 'rackseed_guests';
/** The node's end of the veth pair to the guest-services namespace. */
const SERVICES_PORT = 'rsguests0';

/** Linux's interface names hold 15 characters: `tap` and the port id's first 11, as Nova names them. */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

export interface GuestNetworkOptions {
  /** The provider bridge (default `brprov`). */
  readonly bridge?: string;
  /** The interface that carries the provider network to the other nodes (none on a lone node). */
  readonly uplink?: string;
  /** The guest-services namespace (unique per node on one machine, as in the lab rack). */
  readonly servicesNetns: string;
}

async function sh(command: string, args: readonly string[], what: string): Promise<string> {
  try {
    return (await run(command, args, { timeout: 15_000 })).stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new HostPortError(`${what} (${command} ${args.join(' ')}): ${stderr || (error as Error).message}`, error);
  }
}

const exists = (args: readonly string[]) =>
  run('ip', args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

/** No IPv6 on an interface (no link-local address for guests to reach the node by). */
function noIpv6(iface: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${iface}/disable_ipv6`, '1');
  } catch {
    /* IPv6 disabled on this machine */
  }
}

/** A tap's number in the high 16 bits of the mark: its frames' destination (as an unsigned number, not `<<`'s). */
const ingressMark = (mark: number) => mark * 0x10000;

/** A tap's chains: anti-spoofing and the ingress mark (bridge), egress and ingress firewall (ip). */
const chainsOf = (tap: string) => ({ tag: `${tap}-tag`, egress: `${tap}-out`, ingress: `${tap}-in` });

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

export class GuestNetwork implements GuestPorts {
  readonly bridge: string;
  /** Each plugged tap's number (its frames' mark, see firewall.ts), read back from nftables at setup. */
  readonly #marks = new Map<string, number>();
  /** Plugs and unplugs one at a time: a tap's number is taken from what the others hold. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly options: GuestNetworkOptions) {
    this.bridge = options.bridge ?? 'brprov';
  }

  /** Makes (or finds) the bridge, the uplink's place on it, the guest-services namespace and the rules. */
  async setup(): Promise<void> {
    const { bridge } = this;
    const ns = this.options.servicesNetns;
    if (!(await exists(['link', 'show', 'dev', bridge]))) {
      await sh(
        'ip',
        ['link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0'],
        'the provider bridge',
      );
    }
    noIpv6(bridge);
    await bridgeNetfilter();
    // Its IPv4 frames pass the IP hooks, where the firewalls keep connection state (firewall.ts).
    await sh('ip', ['link', 'set', bridge, 'type', 'bridge', 'nf_call_iptables', '1'], 'the provider bridge');
    await sh('ip', ['link', 'set', bridge, 'up'], 'the provider bridge');
    if (this.options.uplink) {
      noIpv6(this.options.uplink);
      await sh('ip', ['link', 'set', this.options.uplink, 'master', bridge, 'up'], 'the provider uplink');
    }
    if (!(await exists(['-n', ns, 'link', 'show', 'dev', 'lo']))) {
      // A name left by a namespace that is gone (it died with the processes whose mount held
      // it: a lab machine's power-off) is made anew.
      await exists(['netns', 'delete', ns]);
      await sh('ip', ['netns', 'add', ns], 'the guest-services namespace');
    }
    // The pair's namespace end must be in this namespace: one made anew above leaves the node's
    // end cabled to the old one (still alive while a process of the last incarnation is in it).
    if (!(await exists(['-n', ns, 'link', 'show', 'dev', 'gw0']))) {
      await run('ip', ['link', 'del', 'dev', SERVICES_PORT]).catch(() => undefined);
      await sh(
        'ip',
        ['link', 'add', SERVICES_PORT, 'type', 'veth', 'peer', 'name', 'gw0', 'netns', ns],
        'the services veth',
      );
    }
    noIpv6(SERVICES_PORT);
    await sh('ip', ['link', 'set', SERVICES_PORT, 'master', bridge, 'up'], 'the services veth');
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], 'the services namespace');
    await sh('ip', ['-n', ns, 'link', 'set', 'gw0', 'up'], 'the services namespace');
    await sh('ip', ['-n', ns, 'addr', 'replace', `${METADATA_ADDRESS}/32`, 'dev', 'gw0'], 'the metadata address');
    // Everything is on-link from there: guests' addresses, and DHCP's broadcast replies.
    await sh('ip', ['-n', ns, 'route', 'replace', 'default', 'dev', 'gw0'], 'the services namespace’s route');
    await this.#nft(this.#tableScript());
    this.#marks.clear();
    const listed = JSON.parse(
      await sh('nft', ['-j', 'list', 'map', 'bridge', TABLE, 'port_marks'], 'the tap marks'),
    ) as {
      nftables: { map?: { elem?: [string, number][] } }[];
    };
    for (const [tap, mark] of listed.nftables.find((o) => o.map)?.map?.elem ?? []) this.#marks.set(tap, mark);
  }

  /** The port's tap: made, on the bridge, up, with its anti-spoofing chain and its firewall; its name. */
  async plug(nic: NicRequest): Promise<string> {
    checkFirewall(nic.portId, nic.firewall);
    return this.#oneAtATime(async () => {
      const tap = tapName(nic.portId);
      if (!(await exists(['link', 'show', 'dev', tap])))
        await sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap'], `the tap ${tap}`);
      noIpv6(tap);
      await sh('ip', ['link', 'set', 'dev', tap, 'master', this.bridge, 'up'], `the tap ${tap}`);
      const mark = this.#marks.get(tap) ?? this.#freeMark();
      const { tag, egress, ingress } = chainsOf(tap);
      // Chains first, then the map entries that lead to them (replaced, as a restarted service finds them).
      await this.#nft(
        [
          `add chain bridge ${TABLE} ${tap}`,
          `flush chain bridge ${TABLE} ${tap}`,
          `add rule bridge ${TABLE} ${tap} ether saddr != ${nic.mac} drop`,
          `add rule bridge ${TABLE} ${tap} ether type arp arp saddr ether != ${nic.mac} drop`,
          `add rule bridge ${TABLE} ${tap} ether type arp arp saddr ip != ${nic.ip} drop`,
          `add rule bridge ${TABLE} ${tap} ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 return`,
          `add rule bridge ${TABLE} ${tap} ether type ip ip saddr != ${nic.ip} drop`,
          `add rule bridge ${TABLE} ${tap} ether type ip udp sport 67 drop`,
          `add rule bridge ${TABLE} ${tap} ether type ip6 drop`,
          `add chain bridge ${TABLE} ${tag}`,
          `flush chain bridge ${TABLE} ${tag}`,
          `add rule bridge ${TABLE} ${tag} meta mark set meta mark | ${ingressMark(mark)}`,
          firewallScript(TABLE, { egress, ingress }, nic.firewall, METADATA_ADDRESS),
        ].join('\n'),
      );
      await this.#removeElements(tap, mark);
      await this.#nft(
        [
          `add element bridge ${TABLE} ports { "${tap}" : jump ${tap} }`,
          `add element bridge ${TABLE} port_marks { "${tap}" : ${mark} }`,
          `add element bridge ${TABLE} ingress_tags { "${tap}" : jump ${tag} }`,
          `add element ip ${TABLE} egress { ${mark} : jump ${egress} }`,
          `add element ip ${TABLE} ingress { ${ingressMark(mark)} : jump ${ingress} }`,
        ].join('\n'),
      );
      this.#marks.set(tap, mark);
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
      await this.#nft(firewallScript(TABLE, { egress, ingress }, firewall, METADATA_ADDRESS));
    });
  }

  /** Removes the port's tap, its rules and its firewall; nothing to do if they are gone. */
  async unplug(nic: NicRequest): Promise<void> {
    await this.#oneAtATime(async () => {
      const tap = tapName(nic.portId);
      const mark = this.#marks.get(tap);
      if (mark !== undefined) await this.#removeElements(tap, mark);
      const { tag, egress, ingress } = chainsOf(tap);
      for (const [family, chain] of [
        ['bridge', tap],
        ['bridge', tag],
        ['ip', egress],
        ['ip', ingress],
      ])
        await this.#nft(`flush chain ${family} ${TABLE} ${chain}\ndelete chain ${family} ${TABLE} ${chain}`).catch(
          () => undefined,
        );
      this.#marks.delete(tap);
      if (await exists(['link', 'show', 'dev', tap])) await sh('ip', ['link', 'del', 'dev', tap], `the tap ${tap}`);
    });
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

  /** Removes the namespace, the rules and the bridge (the guests must be gone). */
  async teardown(): Promise<void> {
    await run('ip', ['netns', 'del', this.options.servicesNetns]).catch(() => undefined);
    await run('nft', ['delete', 'table', 'bridge', TABLE]).catch(() => undefined);
    await run('nft', ['delete', 'table', 'ip', TABLE]).catch(() => undefined);
    this.#marks.clear();
    await run('ip', ['link', 'del', 'dev', this.bridge]).catch(() => undefined);
  }

  /**
   * The tables: in the bridge family, each tap's anti-spoofing chain and number, the marks (on
   * frames of the uplink and the services' port, none) and the uplink's isolation; in the ip
   * family, the forward chain that sends a bridged frame through its ports' firewalls.
   */
  #tableScript(): string {
    const up = this.options.uplink;
    return [
      `add table bridge ${TABLE}`,
      `add map bridge ${TABLE} ports { type ifname : verdict; }`,
      `add map bridge ${TABLE} port_marks { type ifname : mark; }`,
      `add map bridge ${TABLE} ingress_tags { type ifname : verdict; }`,
      `add chain bridge ${TABLE} prerouting { type filter hook prerouting priority -300; policy accept; }`,
      `flush chain bridge ${TABLE} prerouting`,
      `add rule bridge ${TABLE} prerouting iifname "${SERVICES_PORT}" meta mark set 0`,
      ...(up ? [`add rule bridge ${TABLE} prerouting iifname "${up}" meta mark set 0`] : []),
      `add rule bridge ${TABLE} prerouting meta mark set iifname map @port_marks`,
      // Before the bridge hands the frame to the IP hooks (their priority 0).
      `add chain bridge ${TABLE} forward { type filter hook forward priority -200; policy accept; }`,
      `flush chain bridge ${TABLE} forward`,
      ...(up
        ? [
            `add rule bridge ${TABLE} forward oifname "${up}" ether type arp arp daddr ip ${METADATA_ADDRESS} drop`,
            `add rule bridge ${TABLE} forward oifname "${up}" ether type arp arp saddr ip ${METADATA_ADDRESS} drop`,
            `add rule bridge ${TABLE} forward iifname "${up}" ether type arp arp saddr ip ${METADATA_ADDRESS} drop`,
            `add rule bridge ${TABLE} forward iifname "${up}" ether type arp arp daddr ip ${METADATA_ADDRESS} drop`,
            `add rule bridge ${TABLE} forward oifname "${up}" ip daddr ${METADATA_ADDRESS} drop`,
            `add rule bridge ${TABLE} forward iifname "${up}" ip saddr ${METADATA_ADDRESS} drop`,
            `add rule bridge ${TABLE} forward oifname "${up}" udp sport 67 drop`,
            `add rule bridge ${TABLE} forward iifname "${up}" udp dport 67 drop`,
          ]
        : []),
      `add rule bridge ${TABLE} forward iifname vmap @ports`,
      `add rule bridge ${TABLE} forward oifname vmap @ingress_tags`,
      // Nothing from the bridge reaches the node's own IP stack (no address is not enough: a
      // guest's broadcast DHCP would still meet the node's provisioning DHCP server).
      `add chain bridge ${TABLE} input { type filter hook input priority 0; policy accept; }`,
      `flush chain bridge ${TABLE} input`,
      // Matched by port (taps, the services' veth, the uplink): `meta ibrname` is not in every kernel.
      `add rule bridge ${TABLE} input iifname "tap*" drop`,
      `add rule bridge ${TABLE} input iifname "${SERVICES_PORT}" drop`,
      ...(up ? [`add rule bridge ${TABLE} input iifname "${up}" drop`] : []),
      `add table ip ${TABLE}`,
      `add map ip ${TABLE} egress { type mark : verdict; }`,
      `add map ip ${TABLE} ingress { type mark : verdict; }`,
      `add chain ip ${TABLE} forward { type filter hook forward priority 0; policy accept; }`,
      `flush chain ip ${TABLE} forward`,
      `add rule ip ${TABLE} forward iifname "${this.bridge}" meta mark and ${MAX_PORT_MARK} vmap @egress`,
      `add rule ip ${TABLE} forward iifname "${this.bridge}" meta mark and ${ingressMark(MAX_PORT_MARK)} vmap @ingress`,
    ].join('\n');
  }

  /** The lowest tap number no tap holds. */
  #freeMark(): number {
    const taken = new Set(this.#marks.values());
    for (let mark = 1; mark <= MAX_PORT_MARK; mark++) if (!taken.has(mark)) return mark;
    throw new HostPortError(`no tap number left: ${MAX_PORT_MARK} ports are plugged on this node`);
  }

  /** Takes the tap out of the maps (each entry may be missing). */
  async #removeElements(tap: string, mark: number): Promise<void> {
    for (const element of [
      `bridge ${TABLE} ports { "${tap}" }`,
      `bridge ${TABLE} port_marks { "${tap}" }`,
      `bridge ${TABLE} ingress_tags { "${tap}" }`,
      `ip ${TABLE} egress { ${mark} }`,
      `ip ${TABLE} ingress { ${ingressMark(mark)} }`,
    ])
      await this.#nft(`delete element ${element}`).catch(() => undefined);
  }

  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #nft(script: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = execFile('nft', ['-f', '-'], { timeout: 15_000, env: childEnv() }, (error, _stdout, stderr) =>
        error ? reject(new HostPortError(`nft: ${String(stderr).trim() || error.message}`, error)) : resolve(),
      );
      child.stdin?.end(`${script}\n`);
    });
  }
}
