import { type ChildProcess, type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkSegment, NicRequest, RouterRequest, RouterState } from '../../appliance/host/index.js';
import { testNodeTls } from '../bed/tls.js';

// Routers on the nodes, as the host service makes them (real ip, nftables, VXLAN, etcd, its
// API over mTLS): two "node" namespaces on a test LAN (10.251.8.0/24, their tunnel addresses;
// etcd listens in the LAN's namespace) and on a provider L2 (10.251.9.0/24) through their
// uplinks, where OUT stands for the internet (10.251.9.1, the provider subnet's gateway, and
// 198.51.100.7 behind it) and PEER for another router (192.0.2.1 behind 10.251.9.2). Each node
// runs the host service in a process of its own in its network namespace, driven by JSON lines.
// Guests are namespaces cabled by a veth whose node end has the port's tap name: A (with the
// floating IP 10.251.9.50) and B on the project network VNI 100 on node 2, P on the provider
// network on node 1. The router starts on node 1.
const id = randomBytes(3).toString('hex');
const LAN = `rst-rt-${id}-lan`;
const OUT = `rst-rt-${id}-out`;
const PEER = `rst-rt-${id}-peer`;
const nodes = [1, 2].map((n) => ({ ns: `rst-rt-${id}-n${n}`, name: `n${n}`, address: `10.251.8.${n}` }));
type TestNode = (typeof nodes)[number];
const [n1, n2] = nodes as [TestNode, TestNode];
const ETCD = 'http://10.251.8.254:2379';
const servicesNetns = (node: TestNode) => `${node.ns}-guests`;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const inNs = (ns: string, ...argv: string[]) =>
  execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const links = (ns: string) =>
  (JSON.parse(ip('-n', ns, '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);

const V100: NetworkSegment = { type: 'vxlan', vni: 100 };
const FLAT: NetworkSegment = { type: 'flat' };
const firewall = {
  stateful: true,
  rules: [
    { direction: 'egress', protocol: null, ports: null, icmp: null, remote: null },
    { direction: 'ingress', protocol: 1, ports: null, icmp: { type: 8, code: null }, remote: null },
  ],
} as NicRequest['firewall'];

interface TestGuest {
  readonly ns: string;
  readonly node: TestNode;
  readonly nic: NicRequest;
  readonly gateway: string;
}
function guest(name: string, node: TestNode, segment: NetworkSegment, n: number, address: string, gateway: string) {
  const nic: NicRequest = {
    ...{ portId: randomUUID(), networkId: segment.type, segment, mac: `fa:16:3e:00:${n}:01`, ip: address },
    ...{ prefixLength: 24, gateway, mtu: segment.type === 'vxlan' ? 1450 : 1500, dns: [], firewall },
  };
  return { ns: `rst-rt-${id}-${name}`, node, nic, gateway } satisfies TestGuest;
}
const a = guest('a', n2, V100, 11, '10.0.0.5', '10.0.0.1');
const b = guest('b', n2, V100, 12, '10.0.0.6', '10.0.0.1');
const p = guest('p', n1, FLAT, 13, '10.251.9.30', '10.251.9.1');

const ROUTER = randomUUID();
const GATEWAY_PORT = randomUUID();
const INTERFACE_PORT = randomUUID();
const router = (over: { snat?: boolean; routes?: RouterRequest['routes'] } = {}): RouterRequest => ({
  name: 'r1',
  gateway: {
    ...{ portId: GATEWAY_PORT, networkId: 'flat', segment: FLAT, mac: 'fa:16:3e:00:99:01', ip: '10.251.9.10' },
    ...{ prefixLength: 24, gateway: '10.251.9.1', mtu: 1500, snat: over.snat ?? true },
  },
  interfaces: [
    {
      ...{ portId: INTERFACE_PORT, networkId: 'v100', segment: V100, mac: 'fa:16:3e:00:99:02' },
      ...{ ip: '10.0.0.1', prefixLength: 24, mtu: 1450 },
    },
  ],
  floatingIps: [{ id: 'fip-a', floatingIp: '10.251.9.50', fixedIp: a.nic.ip }],
  routes: over.routes ?? [],
});
const routerNs = (node: TestNode) => `${servicesNetns(node)}-r${ROUTER}`;

let dir: string;
let etcd: ChildProcess | undefined;

type Answer = { ok: boolean; code?: string; message?: string; value?: unknown };
/** A node's host service (GuestNetwork, HostService, its API on 127.0.0.1 and a HostClient to it), in a process inside its namespace. */
class NodeProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #replies: ((line: string) => void)[] = [];
  constructor(node: TestNode, tunnelAddress?: string) {
    const script = `import { createInterface } from 'node:readline';
      import { join } from 'node:path';
      import { NodeTls, Store } from './agent/index.js';
      import { GuestNetwork, HostClient, HostService, hostApi, QemuRuntime, RbdGuestDisks } from './appliance/host/index.js';
      import { Rbd } from './appliance/rbd/index.js';
      const answer = (o) => console.log(JSON.stringify(o));
      const net = new GuestNetwork({ servicesNetns: '${servicesNetns(node)}', uplink: 'up0', tunnelAddress: ${JSON.stringify(tunnelAddress)} });
      await net.setup();
      const store = Store.connect(['${ETCD}']);
      const service = new HostService({
        node: '${node.name}', store, ports: net, routers: net, runDir: '${dir}/${node.name}',
        runtime: new QemuRuntime({ accel: 'tcg', ceph: { conf: '/dev/null', user: 'admin' } }),
        disks: new RbdGuestDisks(new Rbd({ conf: '/dev/null', id: 'admin' }), 'vms'),
        inventory: { node: '${node.name}', url: 'https://127.0.0.1:1', vcpus: 1, memoryMb: 512, diskGb: 1, accel: 'tcg', hypervisorVersion: 0 },
      });
      const adopted = await service.adoptAll();
      const [hostTls, callerTls] = [new NodeTls('${dir}/pki/host'), new NodeTls('${dir}/pki/caller')];
      const api = hostApi(service, hostTls);
      await api.listen({ host: '127.0.0.1', port: 0 });
      const client = new HostClient('https://127.0.0.1:' + api.server.address().port, callerTls);
      answer({ ok: true, value: adopted });
      for await (const line of createInterface({ input: process.stdin })) {
        const { op, id, body } = JSON.parse(line);
        try {
          const value =
            op === 'plug' ? await net.plug(body) : op === 'unplug' ? await net.unplug(body)
            : op === 'put' ? await client.putRouter(id, body) : op === 'get' ? await client.router(id)
            : op === 'list' ? await client.routers() : await client.deleteRouter(id);
          answer({ ok: true, value });
        } catch (error) {
          answer({ ok: false, code: error.code, message: error.message });
        }
      }
      service.close();
      await api.close();
      await store.close();
      await Promise.all([hostTls.close(), callerTls.close()]);`;
    // Only its network namespace: the routers' namespaces it mounts are the machine's (as on a
    // node), seen by this test and kept when it restarts (`ip netns exec` would hold them in a
    // mount namespace of its own, gone with it).
    this.#child = spawn('nsenter', [
      ...[`--net=/run/netns/${node.ns}`, process.execPath],
      ...['--import', 'tsx', '--input-type=module', '-e', script],
    ]);
    this.#child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#replies.shift()?.(line));
  }
  /** The next answer: the start's first (what it adopted), then each request's. */
  next(): Promise<Answer> {
    return new Promise((resolve) => this.#replies.push((line) => resolve(JSON.parse(line) as Answer)));
  }
  ask(op: 'plug' | 'unplug' | 'put' | 'get' | 'list' | 'delete', routerId?: string, body?: unknown) {
    const answer = this.next();
    this.#child.stdin.write(`${JSON.stringify({ op, id: routerId, body })}\n`);
    return answer;
  }
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
const procs = new Map<string, NodeProcess>();
const proc = (node: TestNode) => procs.get(node.ns) as NodeProcess;
async function start(node: TestNode, tunnel = true): Promise<Answer> {
  await procs.get(node.ns)?.stop();
  const started = new NodeProcess(node, tunnel ? node.address : undefined);
  procs.set(node.ns, started);
  return started.next();
}

const ping = (from: string, to: string, waitS = 2) => {
  try {
    inNs(from, 'ping', '-c', '1', '-W', String(waitS), to);
    return true;
  } catch {
    return false;
  }
};
/** Records the sources of the pings a namespace receives, before any routing decision (nft set `seen`). */
const watchPings = (ns: string) =>
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
    input: [
      'add table ip seen',
      'add set ip seen from { type ipv4_addr; size 64; flags dynamic; }',
      'add chain ip seen in { type filter hook prerouting priority -300; policy accept; }',
      'add rule ip seen in icmp type echo-request add @from { ip saddr }',
    ].join('\n'),
  });
/** The sources of the pings `ns` received since the last call. */
const pingsFrom = (ns: string): string[] => {
  const listed = JSON.parse(inNs(ns, 'nft', '-j', 'list', 'set', 'ip', 'seen', 'from')) as {
    nftables: { set?: { elem?: string[] } }[];
  };
  inNs(ns, 'nft', 'flush', 'set', 'ip', 'seen', 'from');
  return (listed.nftables.find((o) => o.set)?.set?.elem ?? []).sort();
};

const etcdHealthy = () => {
  try {
    inNs(LAN, 'curl', '-sf', '-m', '1', `${ETCD}/health`);
    return true;
  } catch {
    return false;
  }
};

describe('routers on the nodes: SNAT, floating IPs, extra routes, moves (real ip, nftables, VXLAN, etcd)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-router-'));
    await testNodeTls(join(dir, 'pki'), 'host');
    await testNodeTls(join(dir, 'pki'), 'caller');
    ip('netns', 'add', LAN);
    ip('-n', LAN, 'link', 'set', 'lo', 'up');
    for (const bridge of ['br0', 'br1']) {
      ip('-n', LAN, 'link', 'add', bridge, 'type', 'bridge');
      ip('-n', LAN, 'link', 'set', bridge, 'up');
    }
    ip('-n', LAN, 'addr', 'add', '10.251.8.254/24', 'dev', 'br0');
    const cable = (ns: string, i: string, bridge: string, inside: string) => {
      ip('-n', LAN, 'link', 'add', i, 'type', 'veth', 'peer', 'name', inside, 'netns', ns);
      ip('-n', LAN, 'link', 'set', i, 'master', bridge, 'up');
      ip('-n', ns, 'link', 'set', inside, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    };
    for (const [ns, address, behind, port] of [
      [OUT, '10.251.9.1', '198.51.100.7', 'o0'],
      [PEER, '10.251.9.2', '192.0.2.1', 'q0'],
    ] as const) {
      ip('netns', 'add', ns);
      cable(ns, port, 'br1', 'eth0');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', ns, 'addr', 'add', `${behind}/32`, 'dev', 'lo');
    }
    watchPings(OUT);
    etcd = spawn(
      'ip',
      [
        ...['netns', 'exec', LAN, 'etcd', '--data-dir', join(dir, 'etcd'), '--listen-client-urls', ETCD],
        ...['--advertise-client-urls', ETCD, '--listen-peer-urls', 'http://127.0.0.1:2380'],
      ],
      { stdio: 'ignore' },
    );
    for (let tries = 0; !etcdHealthy(); tries++) {
      if (tries > 100) throw new Error('etcd did not start in the LAN namespace');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const [i, node] of nodes.entries()) {
      ip('netns', 'add', node.ns);
      cable(node.ns, `t${i}`, 'br0', 'lan0');
      ip('-n', node.ns, 'addr', 'add', `${node.address}/24`, 'dev', 'lan0');
      cable(node.ns, `u${i}`, 'br1', 'up0');
      expect(await start(node)).toMatchObject({ ok: true });
    }
    for (const g of [a, b, p]) {
      ip('netns', 'add', g.ns);
      ip('-n', g.node.ns, 'link', 'add', `tap${g.nic.portId.slice(0, 11)}`, 'type', 'veth', 'peer', 'name', 'eth0');
      ip('-n', g.node.ns, 'link', 'set', 'eth0', 'netns', g.ns);
      ip('-n', g.ns, 'link', 'set', 'eth0', 'address', g.nic.mac, 'mtu', String(g.nic.mtu), 'up');
      ip('-n', g.ns, 'link', 'set', 'lo', 'up');
      ip('-n', g.ns, 'addr', 'add', `${g.nic.ip}/24`, 'dev', 'eth0');
      ip('-n', g.ns, 'route', 'add', 'default', 'via', g.gateway);
      expect(await proc(g.node).ask('plug', undefined, g.nic)).toMatchObject({ ok: true });
    }
    watchPings(a.ns);
  }, 60_000);

  afterAll(async () => {
    for (const node of procs.values()) await node.stop();
    if (etcd && etcd.exitCode === null) {
      const exited = new Promise((resolve) => etcd?.once('exit', resolve));
      etcd.kill('SIGTERM');
      await exited;
    }
    const names = [a.ns, b.ns, p.ns, OUT, PEER];
    for (const node of nodes) names.push(routerNs(node), `${servicesNetns(node)}-v100`, servicesNetns(node), node.ns);
    for (const name of [...names, LAN]) {
      try {
        ip('netns', 'delete', name);
      } catch {
        // not there
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes a project network’s guest on another node out with the router’s gateway address (SNAT), a floating IP’s with its own', async () => {
    const made = await proc(n1).ask('put', ROUTER, router());
    expect(made).toMatchObject({ ok: true, value: { id: ROUTER, node: 'n1', fault: null } });
    expect(links(routerNs(n1)).sort()).toEqual(
      ['lo', `qg-${GATEWAY_PORT.slice(0, 11)}`, `qr-${INTERFACE_PORT.slice(0, 11)}`].sort(),
    );
    expect(ping(b.ns, '198.51.100.7')).toBe(true); // node 2 → VXLAN → the router on node 1 → out
    expect(pingsFrom(OUT)).toEqual(['10.251.9.10']);
    expect(ping(a.ns, '198.51.100.7')).toBe(true);
    expect(pingsFrom(OUT)).toEqual(['10.251.9.50']);
  });

  it('lets the outside, a provider network’s guest and a project’s guest (hairpin) reach a guest by its floating IP', () => {
    pingsFrom(a.ns);
    expect(ping(OUT, '10.251.9.50')).toBe(true);
    expect(pingsFrom(a.ns)).toEqual(['10.251.9.1']); // the outside's own address
    expect(ping(p.ns, '10.251.9.50')).toBe(true);
    expect(pingsFrom(a.ns)).toEqual([p.nic.ip]);
    expect(ping(b.ns, '10.251.9.50')).toBe(true);
    expect(pingsFrom(a.ns)).toEqual(['10.251.9.10']); // through the router: its answer comes back there
  });

  it('honours an extra route, leaves the source as is without SNAT, and changes only what differs', async () => {
    const before = ip('-n', routerNs(n1), '-j', 'link', 'show');
    expect(ping(b.ns, '192.0.2.1', 1)).toBe(false); // the default route: OUT has no 192.0.2.1
    const routes = [{ destination: '192.0.2.0/24', nexthop: '10.251.9.2' }];
    expect(await proc(n1).ask('put', ROUTER, router({ routes }))).toMatchObject({ ok: true });
    expect(ping(b.ns, '192.0.2.1')).toBe(true);
    expect(await proc(n1).ask('put', ROUTER, router({ snat: false, routes }))).toMatchObject({ ok: true });
    pingsFrom(OUT);
    expect(ping(b.ns, '198.51.100.7', 1)).toBe(false); // OUT has no way back to 10.0.0.6
    expect(pingsFrom(OUT)).toEqual([b.nic.ip]);
    expect(ping(OUT, '10.251.9.50')).toBe(true); // floating IPs work without SNAT
    expect(await proc(n1).ask('put', ROUTER, router())).toMatchObject({ ok: true });
    expect(ip('-n', routerNs(n1), '-j', 'link', 'show')).toBe(before); // the same legs, not made anew
    expect(ip('-n', routerNs(n1), 'route', 'show', 'proto', 'static')).not.toContain('192.0.2.0');
  }, 30_000);

  it('gives a guest no way to the nodes’ own planes through the router', () => {
    expect(ip('-n', routerNs(n1), 'route', 'get', n1.address)).toContain('via 10.251.9.1 dev qg-');
    expect(ping(b.ns, n1.address, 1)).toBe(false);
    expect(ping(b.ns, n2.address, 1)).toBe(false);
  });

  it('refuses a malformed request with its code, keeping the router as it was', async () => {
    const good = router();
    const iface = good.interfaces[0] as RouterRequest['interfaces'][number];
    for (const bad of [
      { ...good, gateway: { ...good.gateway, ip: '10.251.9.300' } },
      { ...good, interfaces: [{ ...iface, mac: 'FA:16:3E:00:99:02' }] },
      { ...good, interfaces: [{ ...iface, segment: { type: 'vxlan', vni: 0 } }] },
      { ...good, interfaces: [iface, { ...iface, ip: '10.0.1.1' }] },
      { ...good, interfaces: [iface, { ...iface, portId: randomUUID(), ip: '10.0.0.200', prefixLength: 16 }] },
      { ...good, floatingIps: [{ id: 'x', floatingIp: '10.251.9.51', fixedIp: '10.9.9.9' }] },
      { ...good, routes: [{ destination: '192.0.2.1/24', nexthop: '10.251.9.2' }] },
      { ...good, routes: [{ destination: '192.0.2.0/24', nexthop: '172.16.0.1' }] },
      { ...good, gateway: null },
    ]) {
      const answer = await proc(n1).ask('put', ROUTER, bad);
      expect(answer, JSON.stringify(bad)).toMatchObject({ ok: false, code: 'HOST_ERR_BAD_ROUTER' });
    }
    expect(await proc(n1).ask('get', ROUTER)).toMatchObject({ ok: true, value: { request: good, fault: null } });
    expect(ping(OUT, '10.251.9.50')).toBe(true);
    expect(await proc(n2).ask('get', ROUTER)).toMatchObject({ ok: false, code: 'HOST_ERR_ROUTER_NOT_FOUND' });
  });

  it('keeps its router across a restart of the host service, and finds it again from its record', async () => {
    const before = ip('-n', routerNs(n1), '-j', 'link', 'show');
    expect(await start(n1)).toEqual({ ok: true, value: { adopted: 0, lost: 0, routers: 1, faultyRouters: 0 } });
    expect(ip('-n', routerNs(n1), '-j', 'link', 'show')).toBe(before);
    const listed = await proc(n1).ask('list');
    expect((listed.value as RouterState[]).map((r) => r.id)).toEqual([ROUTER]);
    expect(ping(OUT, '10.251.9.50')).toBe(true);
    expect(ping(b.ns, '198.51.100.7')).toBe(true);
  }, 30_000);

  it('moves: the floating IP answers from the new home at once, and nothing of the router is left on the old', async () => {
    expect(ping(OUT, '10.251.9.50')).toBe(true); // the LAN's switch knows the router's MAC on node 1
    expect(await proc(n1).ask('delete', ROUTER)).toEqual({ ok: true });
    expect(await proc(n2).ask('put', ROUTER, router())).toMatchObject({ ok: true, value: { node: 'n2' } });
    expect(ping(OUT, '10.251.9.50', 1)).toBe(true); // announced: not waiting for the switch to forget
    expect(ping(b.ns, '198.51.100.7', 1)).toBe(true); // and the project network's bridge learned its leg
    expect(existsSync(`/run/netns/${routerNs(n1)}`)).toBe(false);
    expect(existsSync(`/run/netns/${servicesNetns(n1)}-v100`)).toBe(false); // no guest on VNI 100 there
    const left = links(n1.ns).join(' ');
    for (const gone of ['brv100', 'vxl100', GATEWAY_PORT.slice(0, 11), INTERFACE_PORT.slice(0, 11)])
      expect(left).not.toContain(gone);
    expect(left).toContain(`tap${p.nic.portId.slice(0, 11)}`);
    expect(await proc(n1).ask('list')).toEqual({ ok: true, value: [] });
    // Gone twice: nothing to do.
    expect(await proc(n1).ask('delete', ROUTER)).toEqual({ ok: true });
  }, 30_000);

  it('removes a router’s legs and keeps the network while a guest port is on it; refuses a VXLAN leg without a tunnel address', async () => {
    expect(await proc(n2).ask('delete', ROUTER)).toEqual({ ok: true });
    expect(existsSync(`/run/netns/${routerNs(n2)}`)).toBe(false);
    const here = links(n2.ns).join(' ');
    expect(here).not.toContain(GATEWAY_PORT.slice(0, 11));
    expect(here).toContain('brv100'); // A and B are still on it
    expect(ping(a.ns, b.nic.ip)).toBe(true);
    expect(await start(n1, false)).toMatchObject({ ok: true, value: { routers: 0 } });
    expect(await proc(n1).ask('put', ROUTER, router())).toMatchObject({ ok: false, code: 'HOST_ERR_NO_TUNNEL' });
    expect(links(n1.ns).join(' ')).not.toMatch(/brv|vxl/);
  }, 30_000);
});
