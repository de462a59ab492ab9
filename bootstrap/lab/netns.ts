import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { childEnv } from '../../agent/process/index.js';
import { type Daemon, Scope, type SpawnOptions } from './scope.js';

const run = promisify(execFile);

/** One host of a lab network: its own namespace with `eth0` on the lab bridge. */
export interface LabHost {
  readonly name: string;
  readonly netns: string;
  readonly iface: 'eth0';
  readonly mac: string;
  /** Its IPv4 address, or undefined when the lab was made without addresses (for DHCP clients). */
  readonly ip: string | undefined;
}

/**
 * Network namespaces joined by a bridge on a private subnet. The bridge lives in a namespace
 * of its own, so nothing touches the host's interfaces; every namespace is removed on `destroy()`.
 */
export interface NetworkLab {
  /** e.g. 10.213.7.0/24 */
  readonly subnet: string;
  readonly prefixLength: 24;
  /** The namespace holding the bridge `br0`, which has the subnet's `.1` address. */
  readonly bridgeNetns: string;
  readonly gateway: string;
  readonly hosts: readonly LabHost[];
  host(name: string): LabHost;
  /** Runs a command to completion inside a namespace; rejects with its stderr on failure. */
  exec(netns: string, argv: readonly string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** Starts a long-running process inside a namespace, tracked by pid and killed on destroy. */
  spawn(netns: string, name: string, argv: readonly string[], options?: Omit<SpawnOptions, 'netns'>): Daemon;
  /** The BMC network (br1), when asked for: its subnet and the addresses given to BMCs on it. */
  readonly bmc: { readonly subnet: string; readonly addresses: readonly string[] } | undefined;
  /** The provider network (br2), when asked for: guests' L2 across the hosts, the bridge namespace its gateway. */
  readonly provider: { readonly cidr: string; readonly gateway: string } | undefined;
  /** Takes a host's link down (it is cut off) or up again. */
  setLink(host: string, state: 'up' | 'down'): Promise<void>;
  /** Kills what was spawned in the lab and deletes every namespace (and so every interface). */
  destroy(): Promise<void>;
}

export interface NetworkLabOptions {
  /** How many hosts (named h1, h2, …) or their names. */
  hosts: number | readonly string[];
  /**
   * Give each host .10, .11, … (default true); false for tests where hosts get addresses by
   * DHCP; or the names of the hosts that get one.
   */
  addresses?: boolean | readonly string[];
  /**
   * A second bridge (br1) for BMCs, on the next /24: `count` addresses .11, .12, … on br1 for
   * BMCs to listen on (in the bridge's namespace), and an `eth1` on it (.200, .201, …) for each
   * host of `access` (the management NIC the fencer powers nodes off through).
   */
  bmcNetwork?: { count: number; access: readonly string[] };
  /**
   * A third bridge (br2) for guests (the cloud's provider network): the bridge's namespace has
   * `gateway` on it (so a test reaches guests from there), and each host of `access` an `eth2`
   * on it with no address (its host service enslaves it to its guest bridge).
   */
  providerNetwork?: { cidr: string; gateway: string; access: readonly string[] };
  /** Record into this scope (a lab's) instead of a new one; `destroy()` then closes that scope. */
  scope?: Scope;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000, env: childEnv() });
}

/** Creates namespace `name` with its loopback up; recorded in `scope` first, so a half-made one is still removed. */
export async function addNamespace(scope: Scope, name: string): Promise<void> {
  scope.recordNetns(name);
  await ip('netns', 'add', name);
  await ip('-n', name, 'link', 'set', 'lo', 'up');
}

/**
 * Cables namespace `netns` to `bridge` (in `bridgeNetns`): a veth pair, `port` on the bridge,
 * `iface` inside, with an optional MAC, address (`a.b.c.d/nn`) and default route.
 */
export async function plug(options: {
  bridgeNetns: string;
  bridge: string;
  port: string;
  netns: string;
  iface: string;
  mac?: string;
  address?: string;
  gateway?: string;
}): Promise<void> {
  const { bridgeNetns, netns, iface } = options;
  await ip('-n', bridgeNetns, 'link', 'add', options.port, 'type', 'veth', 'peer', 'name', iface, 'netns', netns);
  await ip('-n', bridgeNetns, 'link', 'set', options.port, 'master', options.bridge, 'up');
  if (options.mac) await ip('-n', netns, 'link', 'set', iface, 'address', options.mac);
  if (options.address) await ip('-n', netns, 'addr', 'add', options.address, 'dev', iface);
  await ip('-n', netns, 'link', 'set', iface, 'up');
  if (options.gateway) await ip('-n', netns, 'route', 'add', 'default', 'via', options.gateway);
}

/** Creates the namespaces, the bridge and one veth pair per host. */
export async function createNetworkLab(options: NetworkLabOptions): Promise<NetworkLab> {
  const scope = options.scope ?? Scope.open('net');
  const names =
    typeof options.hosts === 'number'
      ? Array.from({ length: options.hosts }, (_, i) => `h${i + 1}`)
      : [...options.hosts];
  const net = `10.${randomInt(200, 251)}.${randomInt(0, 255)}`;
  const subnet = `${net}.0/24`;
  const gateway = `${net}.1`;
  const bridgeNetns = `rsb-${scope.id}-br`;
  try {
    await addNamespace(scope, bridgeNetns);
    await ip('-n', bridgeNetns, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
    await ip('-n', bridgeNetns, 'addr', 'add', `${gateway}/24`, 'dev', 'br0');
    await ip('-n', bridgeNetns, 'link', 'set', 'br0', 'up');
    const hosts: LabHost[] = [];
    for (const [i, name] of names.entries()) {
      const netns = `rsb-${scope.id}-${name}`;
      const mac = `52:54:00:${scope.id.slice(0, 2)}:${scope.id.slice(2, 4)}:${(i + 1).toString(16).padStart(2, '0')}`;
      const addressed = Array.isArray(options.addresses)
        ? options.addresses.includes(name)
        : options.addresses !== false;
      const address = addressed ? `${net}.${10 + i}` : undefined;
      await addNamespace(scope, netns);
      await plug({
        bridgeNetns,
        bridge: 'br0',
        port: `p${i + 1}`,
        netns,
        iface: 'eth0',
        mac,
        ...(address ? { address: `${address}/24`, gateway } : {}),
      });
      hosts.push({ name, netns, iface: 'eth0', mac, ip: address });
    }
    let bmc: NetworkLab['bmc'];
    if (options.bmcNetwork) {
      const [a, b, c] = net.split('.');
      const bmcNet = `${a}.${b}.${Number(c) + 1}`;
      await ip('-n', bridgeNetns, 'link', 'add', 'br1', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
      await ip('-n', bridgeNetns, 'link', 'set', 'br1', 'up');
      const addresses = Array.from({ length: options.bmcNetwork.count }, (_, i) => `${bmcNet}.${11 + i}`);
      for (const address of addresses) await ip('-n', bridgeNetns, 'addr', 'add', `${address}/24`, 'dev', 'br1');
      for (const [i, name] of options.bmcNetwork.access.entries()) {
        const host = hosts.find((h) => h.name === name);
        if (!host) throw new Error(`no host ${name} to give BMC network access`);
        await plug({
          bridgeNetns,
          bridge: 'br1',
          port: `b${i + 1}`,
          netns: host.netns,
          iface: 'eth1',
          address: `${bmcNet}.${200 + i}/24`,
        });
      }
      bmc = { subnet: `${bmcNet}.0/24`, addresses };
    }
    if (options.providerNetwork) {
      const { cidr, gateway: providerGateway, access } = options.providerNetwork;
      await ip('-n', bridgeNetns, 'link', 'add', 'br2', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
      await ip('-n', bridgeNetns, 'addr', 'add', `${providerGateway}/${cidr.split('/')[1]}`, 'dev', 'br2');
      await ip('-n', bridgeNetns, 'link', 'set', 'br2', 'up');
      for (const [i, name] of access.entries()) {
        const host = hosts.find((h) => h.name === name);
        if (!host) throw new Error(`no host ${name} to cable to the provider network`);
        await plug({ bridgeNetns, bridge: 'br2', port: `g${i + 1}`, netns: host.netns, iface: 'eth2' });
      }
    }
    const byName = (name: string): LabHost => {
      const host = hosts.find((h) => h.name === name);
      if (!host) throw new Error(`no host ${name} in this lab (hosts: ${names.join(', ')})`);
      return host;
    };
    return {
      subnet,
      prefixLength: 24,
      bridgeNetns,
      gateway,
      hosts,
      bmc,
      provider: options.providerNetwork
        ? { cidr: options.providerNetwork.cidr, gateway: options.providerNetwork.gateway }
        : undefined,
      host: byName,
      exec: async (netns, argv, timeoutMs = 30_000) => {
        const { stdout, stderr } = await run('ip', ['netns', 'exec', netns, ...argv], {
          timeout: timeoutMs,
          env: childEnv(),
        });
        return { stdout, stderr };
      },
      spawn: (netns, name, argv, spawnOptions = {}) => scope.spawn(name, argv, { ...spawnOptions, netns }),
      setLink: async (name, state) => {
        const index = names.indexOf(byName(name).name);
        await ip('-n', bridgeNetns, 'link', 'set', `p${index + 1}`, state);
      },
      destroy: () => scope.close(),
    };
  } catch (error) {
    await scope.close();
    throw error;
  }
}
