/**
 * The guests' network on a node, with iproute2 and nftables (as root, in the host service's
 * network namespace):
 * - the provider bridge, with no address and an nftables rule that drops every frame it would
 *   hand to the node's own IP stack (guest traffic never meets the node's planes), and the node's provider uplink (the other nodes' guests are across it);
 * - a guest-services namespace cabled to the bridge, holding 169.254.169.254: the node's
 *   guest DHCP and metadata answer there (see guest-net.ts), apart from the node's own planes;
 * - a tap per port, with anti-spoofing rules: a guest sends only from its port's MAC and IP;
 * - on the uplink, nothing of 169.254.169.254 and no DHCP server traffic crosses, so each node
 *   answers only its own guests and a guest's metadata requests always reach its own node.
 * Every step is idempotent: a restarted host service runs setup again under running guests.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { childEnv } from '../../../agent/process/index.js';
import { HostPortError } from '../errors.js';
import type { GuestPorts } from '../service.js';
import type { NicCounters, NicRequest } from '../types.js';
import { METADATA_ADDRESS } from './guest-dhcp.js';

const execFileAsync = promisify(execFile);
/** Runs `ip` or `nft` with an explicit environment (PATH and locale: nothing of the host service's). */
const run = (command: string, args: readonly string[], options: { timeout?: number } = {}) =>
  execFileAsync(command, args, { ...options, env: childEnv() });

/** The nftables table (bridge family) holding the guests' rules. */
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

export class GuestNetwork implements GuestPorts {
  readonly bridge: string;

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
    if (!(await exists(['link', 'show', 'dev', SERVICES_PORT]))) {
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
  }

  /** The port's tap: made, on the bridge, up, with its anti-spoofing chain; its name. */
  async plug(nic: NicRequest): Promise<string> {
    const tap = tapName(nic.portId);
    if (!(await exists(['link', 'show', 'dev', tap])))
      await sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap'], `the tap ${tap}`);
    noIpv6(tap);
    await sh('ip', ['link', 'set', 'dev', tap, 'master', this.bridge, 'up'], `the tap ${tap}`);
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
        `add element bridge ${TABLE} ports { "${tap}" : jump ${tap} }`,
      ].join('\n'),
    ).catch(async (error: unknown) => {
      // The element exists already (a restarted service): the chain above was refreshed.
      if (!String((error as Error).message).includes('File exists')) throw error;
    });
    return tap;
  }

  /** Removes the port's tap and its rules; nothing to do if they are gone. */
  async unplug(nic: NicRequest): Promise<void> {
    const tap = tapName(nic.portId);
    await this.#nft(`delete element bridge ${TABLE} ports { "${tap}" }`).catch(() => undefined);
    await this.#nft(`flush chain bridge ${TABLE} ${tap}\ndelete chain bridge ${TABLE} ${tap}`).catch(() => undefined);
    if (await exists(['link', 'show', 'dev', tap])) await sh('ip', ['link', 'del', 'dev', tap], `the tap ${tap}`);
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
    await run('ip', ['link', 'del', 'dev', this.bridge]).catch(() => undefined);
  }

  /** The table: a verdict map from each tap to its chain, and the uplink's isolation. */
  #tableScript(): string {
    const up = this.options.uplink;
    return [
      `add table bridge ${TABLE}`,
      `add map bridge ${TABLE} ports { type ifname : verdict; }`,
      `add chain bridge ${TABLE} forward { type filter hook forward priority 0; policy accept; }`,
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
      // Nothing from the bridge reaches the node's own IP stack (no address is not enough: a
      // guest's broadcast DHCP would still meet the node's provisioning DHCP server).
      `add chain bridge ${TABLE} input { type filter hook input priority 0; policy accept; }`,
      `flush chain bridge ${TABLE} input`,
      // Matched by port (taps, the services' veth, the uplink): `meta ibrname` is not in every kernel.
      `add rule bridge ${TABLE} input iifname "tap*" drop`,
      `add rule bridge ${TABLE} input iifname "${SERVICES_PORT}" drop`,
      ...(up ? [`add rule bridge ${TABLE} input iifname "${up}" drop`] : []),
    ].join('\n');
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
