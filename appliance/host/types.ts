import type { GuestMetadata } from './network/metadata.js';

/**
 * The host service's vocabulary: what the compute service asks a node to run (a
 * {@link GuestRequest}), what the node reports back ({@link GuestState}, kept in etcd under the
 * node), and what the node offers ({@link HostInventory}). Plain JSON: these cross the wire
 * and sit in etcd.
 */

/** A Glance image as the host finds it on Ceph: a raw RBD image with its protected `snap`. */
export interface ImageRef {
  readonly pool: string;
  readonly name: string;
  /**
   * The disk made from it is flattened (a whole copy, no clone of it): an unshelved server's,
   * whose shelved image goes once it boots (Nova's RBD driver flattens it so).
   */
  readonly flatten?: boolean;
}

/**
 * One allow rule of a port's firewall, resolved by the compute side from a security group rule
 * (its remote group turned into the addresses of the ports in it). IPv4 only: the guests' ports
 * carry no IPv6 (the host drops it).
 */
export interface FirewallRule {
  /** `ingress`: to the guest; `egress`: from it. */
  readonly direction: 'ingress' | 'egress';
  /** The IP protocol's number (6 TCP, 17 UDP, 1 ICMP…); null for any. */
  readonly protocol: number | null;
  /** TCP, UDP, SCTP or DCCP destination ports, first and last; null for any. */
  readonly ports: readonly [number, number] | null;
  /** ICMP's type, and code (null for any); null for any ICMP. */
  readonly icmp: { readonly type: number; readonly code: number | null } | null;
  /** The other end's IPv4 networks (`a.b.c.d/n`); null for anywhere, empty for nowhere. */
  readonly remote: readonly string[] | null;
}

/**
 * What a port lets through: its groups' rules, nothing else but DHCP and ARP (within the
 * port's own addresses). `stateful`: the answers to allowed traffic are let back.
 */
export interface PortFirewall {
  readonly stateful: boolean;
  readonly rules: readonly FirewallRule[];
}

/** One network interface of a guest: a port of the cloud's network, plugged by the host. */
/**
 * How a port's network reaches the other nodes: the provider network (`flat`: the provider
 * bridge and its uplink), or a project's own network (`vxlan`: a segment of its own, VNI
 * 1 to 16777215, carried between the nodes' tunnel addresses).
 */
export type NetworkSegment = { readonly type: 'flat' } | { readonly type: 'vxlan'; readonly vni: number };

export interface NicRequest {
  readonly portId: string;
  readonly networkId: string;
  /** Its network's segment; absent in guest records from before tenant networks: the provider network. */
  readonly segment?: NetworkSegment;
  readonly mac: string;
  /** The port's fixed IPv4 address (the host's guest DHCP hands it out) and its subnet's. */
  readonly ip: string;
  readonly prefixLength: number;
  readonly gateway: string | null;
  readonly mtu: number;
  readonly dns: readonly string[];
  /** Its device tag (Nova's, 2.32), shown in the guest's metadata; absent or null for none. */
  readonly tag?: string | null;
  /** What its security groups let through. */
  readonly firewall: PortFirewall;
}

/**
 * How a guest's power should be: the host starts or stops its QEMU to match; `paused`: its QEMU
 * runs with its vCPUs stopped (QMP `stop`), its memory kept (Nova's pause); `suspended`: its
 * memory and device state saved to Ceph and its QEMU ended (Nova's suspend), to run on from
 * there when it is asked to run again, on this node or another.
 */
export type PowerRequest = 'running' | 'paused' | 'suspended' | 'shutoff';

/**
 * A guest as the compute service wants it: `PUT /v1/guests/{id}` with the same body twice
 * changes nothing. The root disk is made once (a clone of `image`, grown to `diskGb`) and kept
 * across stops, reboots and moves to another host.
 */
export interface GuestRequest {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly image: ImageRef;
  readonly diskGb: number;
  readonly nics: readonly NicRequest[];
  /** The root disk's device tag (Nova's, 2.32), shown in the guest's metadata; absent or null for none. */
  readonly rootDiskTag?: string | null;
  readonly power: PowerRequest;
  /** What the metadata service tells the guest about itself. */
  readonly metadata: GuestMetadata;
}

/**
 * What the host saw its guest do: `building` (its disk and ports being made: it never ran here
 * yet); `running`; `paused` (its QEMU runs, its vCPUs stopped); `suspended` (its state kept on
 * Ceph, no QEMU); `shutoff` (stopped on request, or powered off from inside); `crashed` (QEMU
 * ended with no shutdown of the guest's: killed, or it died).
 */
export type GuestPower = 'building' | 'running' | 'paused' | 'suspended' | 'shutoff' | 'crashed';

/** How to find a guest's QEMU again after the host service restarts. */
export interface GuestProcess {
  readonly pid: number;
  /** The kernel's start time of `pid` (/proc/PID/stat field 22): a reused pid is not the guest. */
  readonly startTime: string;
  readonly qmpSocket: string;
  readonly consoleLog: string;
  readonly runDir: string;
}

/** A guest's record in etcd (`/rackseed/hosts/<node>/guests/<id>`): not leased, so it outlives its node. */
export interface GuestState {
  readonly id: string;
  readonly node: string;
  /** The host's address, which Ceph blocklists when the node is fenced (its QEMUs' RBD clients use it). */
  readonly hostAddress: string;
  readonly request: GuestRequest;
  readonly power: GuestPower;
  /** Its QEMU while it runs. */
  readonly process: GuestProcess | null;
  /** What the guest posted to the metadata service's password path ('' if nothing), for the API to read. */
  readonly password?: string;
  /** The last failure of an operation on it (spawn, start), with its stable code. */
  readonly fault: { readonly code: string; readonly message: string } | null;
  readonly updatedAt: string;
}

/** What a guest's QEMU uses, as its host reads it from QMP and the kernel. */
export interface GuestUsage {
  readonly uptimeSeconds: number;
  /** Its memory as configured, and as resident on the host. */
  readonly memory: { readonly maximumMb: number; readonly usedMb: number };
  /** Each vCPU's time on the host's CPUs. */
  readonly cpus: readonly { readonly id: number; readonly timeNs: number }[];
  /** Each disk, in the order the guest sees them (vda first). */
  readonly disks: readonly {
    readonly readBytes: number;
    readonly readRequests: number;
    readonly writeBytes: number;
    readonly writeRequests: number;
    readonly errors: number;
  }[];
}

/** A port's traffic as the guest sees it (what it receives is what its tap sends). */
export interface NicCounters {
  readonly rxOctets: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDrop: number;
  readonly txOctets: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDrop: number;
}

/** A guest's diagnostics (Nova's `os-server-diagnostics`): its usage while it runs, and each port's traffic. */
export interface GuestDiagnostics {
  readonly power: GuestPower;
  readonly accel: 'kvm' | 'tcg';
  /** Null while its QEMU does not run. */
  readonly usage: GuestUsage | null;
  readonly nics: readonly ({ readonly mac: string } & NicCounters)[];
}

/**
 * One leg of a router on a project's network (Neutron's `network:router_interface` port): the
 * router answers `ip` (its subnet's gateway, usually) with `mac` there.
 */
export interface RouterInterfaceRequest {
  readonly portId: string;
  readonly networkId: string;
  readonly segment: NetworkSegment;
  readonly mac: string;
  readonly ip: string;
  readonly prefixLength: number;
  readonly mtu: number;
}

/**
 * A router's leg on its external network (Neutron's `network:router_gateway` port): its address
 * there, the way out (the external subnet's gateway, the router's default route; null for none)
 * and whether the project networks' traffic leaves with the router's address (`snat`, Neutron's
 * `enable_snat`).
 */
export interface RouterGatewayRequest {
  readonly portId: string;
  readonly networkId: string;
  readonly segment: NetworkSegment;
  readonly mac: string;
  readonly ip: string;
  readonly prefixLength: number;
  readonly gateway: string | null;
  readonly mtu: number;
  readonly snat: boolean;
}

/** A floating IP bound to a fixed address behind the router: traffic to `floatingIp` goes to `fixedIp`, and back from it. */
export interface FloatingIpRequest {
  readonly id: string;
  readonly floatingIp: string;
  readonly fixedIp: string;
}

/** A route of the router's own (Neutron's `extraroute`): `destination` (a CIDR) through `nexthop`. */
export interface RouterRoute {
  readonly destination: string;
  readonly nexthop: string;
}

/**
 * A router as the network service wants it on its home node: `PUT /v1/routers/{id}` with the
 * same body twice changes nothing, and a body replaces the router's whole state (legs, floating
 * IPs, routes). One node at a time is a router's home; the network service moves it when its
 * home is fenced.
 */
export interface RouterRequest {
  readonly name: string;
  /** Null: no external leg (no SNAT, no floating IP). */
  readonly gateway: RouterGatewayRequest | null;
  readonly interfaces: readonly RouterInterfaceRequest[];
  /** Only those whose fixed address is on one of `interfaces`' subnets, and only with a gateway. */
  readonly floatingIps: readonly FloatingIpRequest[];
  readonly routes: readonly RouterRoute[];
}

/** A router's record in etcd (`/rackseed/hosts/<node>/routers/<id>`): not leased, so the network service finds a dead home's routers. */
export interface RouterState {
  readonly id: string;
  readonly node: string;
  readonly request: RouterRequest;
  /** The last failure to make it as asked, with its stable code. */
  readonly fault: { readonly code: string; readonly message: string } | null;
  readonly updatedAt: string;
}

/** What a node offers guests, published under its lease (`/rackseed/hosts/<node>/inventory`). */
export interface HostInventory {
  readonly node: string;
  /** Where its host service answers (`http://IP:PORT`). */
  readonly url: string;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly diskGb: number;
  readonly accel: 'kvm' | 'tcg';
  /** QEMU's version as Nova shows a hypervisor version (major × 1,000,000 + minor × 1,000 + micro). */
  readonly hypervisorVersion: number;
}
