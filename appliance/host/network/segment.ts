/**
 * One network's own plumbing on a node, as Neutron's linuxbridge agent makes it:
 * - the provider network (`flat`): the provider bridge, the node's uplink on it;
 * - a project's network (`vxlan`): a bridge of its own (`brv<VNI>`) and a VXLAN device on it
 *   (`vxl<VNI>`, RFC 7348) to the other nodes, sent from the node's tunnel address to the
 *   link-local multicast group 224.0.0.1 (Neutron's `vxlan_group` default: flooded on the
 *   rack's L2, no list of peers to keep), learning the guests' MACs from what arrives;
 * - for each, a namespace of its services (Neutron's qdhcp-<net>), cabled to the bridge by a
 *   veth whose namespace end (`gw0`) holds 169.254.169.254: its guests' DHCP and metadata
 *   answer there (guest-services.ts), so two networks may use the same subnet.
 * Everything is made if missing (a restarted host service runs it again under running guests)
 * and a VXLAN network is found again from its bridge's name.
 */
import { HostNoTunnelError, HostRequestError } from '../errors.js';
import type { NetworkSegment } from '../types.js';
import { isCidr } from './firewall.js';
import { METADATA_ADDRESS } from './guest-dhcp.js';
import { exists, listJson, noIpv6, run, sh } from './shell.js';

/** RFC 7348 §5: the VXLAN header's VNI is 24 bits (0 is not used). */
const MAX_VNI = 0xffffff;
/** RFC 7348 §5: IANA's UDP port for VXLAN. */
const VXLAN_PORT = 4789;
/** Neutron's `vxlan_group` default: all hosts on the link, so every node of the rack's L2 hears it. */
const VXLAN_GROUP = '224.0.0.1';
/** Names of a VXLAN network's links (`<prefix><VNI>`, at most 11 characters): matched by prefix in nftables. */
export const VXLAN_BRIDGE = 'brv';
export const VXLAN_DEVICE = 'vxl';
export const VXLAN_SERVICES_PORT = 'rsv';
/** The provider network's services veth (the node's end). */
export const FLAT_SERVICES_PORT = 'rsguests0';

/** A network as plumbed on this node. */
export interface Segment {
  /** Its identity here: `flat`, or `vxlan:<VNI>`. */
  readonly key: string;
  readonly vni: number | null;
  readonly bridge: string;
  /** Its services' namespace, and the node's end of the veth to it. */
  readonly netns: string;
  readonly servicesPort: string;
}

/** A port's network's identity on this node (an absent segment is the provider network's). */
export function segmentKey(segment: NetworkSegment | undefined): string {
  return segment?.type === 'vxlan' ? `vxlan:${segment.vni}` : 'flat';
}

/** Refuses a segment that is not exactly what {@link NetworkSegment} says (HOST_ERR_BAD_SEGMENT, naming the port). */
export function checkSegment(portId: string, segment: unknown): void {
  if (segment === undefined) return;
  const s = segment as NetworkSegment | null;
  const vni = (s as { vni?: unknown } | null)?.vni;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    (s.type === 'flat' ||
      (s.type === 'vxlan' && Number.isInteger(vni) && (vni as number) >= 1 && (vni as number) <= MAX_VNI));
  if (!ok)
    throw new HostRequestError(
      `port ${portId}: segment must be {"type":"flat"} or {"type":"vxlan","vni":N} with N an integer in 1..${MAX_VNI}`,
      'HOST_ERR_BAD_SEGMENT',
    );
}

/** The flat network's plumbing. */
export function flatSegment(bridge: string, servicesNetns: string): Segment {
  return { key: 'flat', vni: null, bridge, netns: servicesNetns, servicesPort: FLAT_SERVICES_PORT };
}

/** A VXLAN network's plumbing (its namespace is named after the node's services namespace: several nodes may share a machine). */
export function vxlanSegment(vni: number, servicesNetns: string): Segment {
  return {
    key: `vxlan:${vni}`,
    vni,
    bridge: `${VXLAN_BRIDGE}${vni}`,
    netns: `${servicesNetns}-v${vni}`,
    servicesPort: `${VXLAN_SERVICES_PORT}${vni}`,
  };
}

/** Makes (or finds) a guest bridge: no STP, no address, its IPv4 frames through the IP hooks (firewall.ts). */
export async function makeBridge(bridge: string, mtu?: number): Promise<void> {
  if (!(await exists(['link', 'show', 'dev', bridge])))
    await sh(
      'ip',
      ['link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0'],
      `the bridge ${bridge}`,
    );
  noIpv6(bridge);
  await sh('ip', ['link', 'set', bridge, 'type', 'bridge', 'nf_call_iptables', '1'], `the bridge ${bridge}`);
  if (mtu !== undefined) await sh('ip', ['link', 'set', bridge, 'mtu', String(mtu)], `the bridge ${bridge}`);
  await sh('ip', ['link', 'set', bridge, 'up'], `the bridge ${bridge}`);
}

/** Makes (or finds) the segment's services namespace, cabled to its bridge, holding the metadata address. */
export async function makeServicesNamespace(segment: Segment, mtu?: number): Promise<void> {
  const { netns: ns, servicesPort: port, bridge } = segment;
  if (!(await exists(['-n', ns, 'link', 'show', 'dev', 'lo']))) {
    // A name left by a namespace that is gone (it died with the processes whose mount held
    // it: a lab machine's power-off) is made anew.
    await exists(['netns', 'delete', ns]);
    await sh('ip', ['netns', 'add', ns], `the services namespace ${ns}`);
  }
  // The pair's namespace end must be in this namespace: one made anew above leaves the node's
  // end cabled to the old one (still alive while a process of the last incarnation is in it).
  if (!(await exists(['-n', ns, 'link', 'show', 'dev', 'gw0']))) {
    await run('ip', ['link', 'del', 'dev', port]).catch(() => undefined);
    await sh(
      'ip',
      ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'gw0', 'netns', ns],
      `the services veth ${port}`,
    );
  }
  noIpv6(port);
  const mtuArgs = mtu === undefined ? [] : ['mtu', String(mtu)];
  await sh('ip', ['link', 'set', port, ...mtuArgs, 'master', bridge, 'up'], `the services veth ${port}`);
  await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], `the services namespace ${ns}`);
  await sh('ip', ['-n', ns, 'link', 'set', 'gw0', ...mtuArgs, 'up'], `the services namespace ${ns}`);
  await sh('ip', ['-n', ns, 'addr', 'replace', `${METADATA_ADDRESS}/32`, 'dev', 'gw0'], 'the metadata address');
  // Everything is on-link from there: guests' addresses, and DHCP's broadcast replies.
  await sh('ip', ['-n', ns, 'route', 'replace', 'default', 'dev', 'gw0'], `the route of ${ns}`);
}

/** The interface that holds the node's tunnel address (the VXLAN devices send from it). */
async function tunnelDevice(address: string | undefined): Promise<string> {
  if (address === undefined || !isCidr(`${address}/32`))
    throw new HostNoTunnelError(
      `this node has no IPv4 tunnel address (${address ?? 'none'}) to carry a VXLAN network: start the host service with --host at an IPv4 address of the node`,
    );
  const links = await listJson<{ ifname: string; addr_info?: { local?: string }[] }[]>(
    'ip',
    ['-4', 'addr', 'show'],
    'the node’s addresses',
  );
  const link = links.find((l) => l.addr_info?.some((a) => a.local === address));
  if (!link) throw new HostNoTunnelError(`the tunnel address ${address} is on none of this node’s interfaces`);
  return link.ifname;
}

/** Makes (or finds) a VXLAN network's bridge, VXLAN device and services namespace, all at the network's MTU. */
export async function makeVxlan(segment: Segment, mtu: number, tunnelAddress: string | undefined): Promise<void> {
  const vni = segment.vni ?? 0;
  const device = `${VXLAN_DEVICE}${vni}`;
  const dev = await tunnelDevice(tunnelAddress); // first: a node that cannot carry it makes nothing
  await makeBridge(segment.bridge, mtu);
  if (!(await exists(['link', 'show', 'dev', device]))) {
    await sh(
      'ip',
      [
        ...['link', 'add', device, 'type', 'vxlan', 'id', String(vni), 'group', VXLAN_GROUP, 'dev', dev],
        ...['local', String(tunnelAddress), 'dstport', String(VXLAN_PORT)],
      ],
      `the VXLAN device of VNI ${vni}`,
    );
  }
  noIpv6(device);
  await sh(
    'ip',
    ['link', 'set', device, 'mtu', String(mtu), 'master', segment.bridge, 'up'],
    `the VXLAN device ${device}`,
  );
  await makeServicesNamespace(segment, mtu);
}

/** Removes a VXLAN network's namespace and links; nothing to do for what is gone. */
export async function removeVxlan(segment: Segment): Promise<void> {
  await run('ip', ['netns', 'delete', segment.netns]).catch(() => undefined);
  for (const link of [segment.servicesPort, `${VXLAN_DEVICE}${segment.vni ?? 0}`, segment.bridge])
    await run('ip', ['link', 'del', 'dev', link]).catch(() => undefined);
}

/** The VXLAN networks plumbed on this node (by their bridges), with their MTU. */
export async function vxlanNetworksHere(): Promise<{ vni: number; mtu: number }[]> {
  const bridges = await listJson<{ ifname: string; mtu: number }[]>(
    'ip',
    ['link', 'show', 'type', 'bridge'],
    'the guest bridges',
  );
  const named = new RegExp(`^${VXLAN_BRIDGE}(\\d+)$`);
  return bridges.flatMap((b) => {
    const vni = Number(named.exec(b.ifname)?.[1] ?? NaN);
    return Number.isInteger(vni) ? [{ vni, mtu: b.mtu }] : [];
  });
}

/** The taps on a bridge (none when it is gone). */
export async function tapsOn(bridge: string): Promise<string[]> {
  const links = await listJson<{ ifname: string }[]>(
    'ip',
    ['link', 'show', 'master', bridge],
    `the ports of ${bridge}`,
  ).catch(() => []);
  return links.map((l) => l.ifname).filter((name) => name.startsWith('tap'));
}
