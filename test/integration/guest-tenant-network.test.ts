import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { GuestState, NetworkSegment, NicRequest } from '../../appliance/host/index.js';

// Projects' own networks (VXLAN) as the host service plumbs them, with real ip, nftables, VXLAN
// and busybox udhcpc: two "node" namespaces on a test LAN (a bridge in a namespace of its own,
// 10.251.7.0/24), each running GuestNetwork in a long-lived process of its own (as the host
// service does: it serves its guests' DHCP and metadata itself), its tunnel address its LAN
// address. Guests are namespaces cabled to a node by a veth whose node end has the port's tap
// name. A, C and F have the same address on node 1, on two project networks and the provider
// network; B is A's neighbour on node 2.
const id = randomBytes(3).toString('hex');
const LAN = `rst-tn-${id}-lan`;
const nodes = [1, 2].map((n) => ({ ns: `rst-tn-${id}-n${n}`, address: `10.251.7.${n}` }));
const servicesNetns = (node: { ns: string }) => `${node.ns}-guests`;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const inNs = (ns: string, ...argv: string[]) =>
  execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const V100: NetworkSegment = { type: 'vxlan', vni: 100 };
const V200: NetworkSegment = { type: 'vxlan', vni: 200 };
const allow = {
  stateful: true,
  rules: [{ direction: 'egress', protocol: null, ports: null, icmp: null, remote: null }],
};
const allowPing = { direction: 'ingress', protocol: 1, ports: null, icmp: { type: 8, code: null }, remote: null };

interface TestGuest {
  readonly ns: string;
  readonly node: (typeof nodes)[number];
  readonly state: GuestState;
  readonly nic: NicRequest;
}
function guest(
  name: string,
  node: (typeof nodes)[number],
  segment: NetworkSegment | undefined,
  n: number,
  ipAddress: string,
) {
  const uuid = randomUUID();
  const nic: NicRequest = {
    portId: randomUUID(),
    networkId: `net-${segment?.type === 'vxlan' ? segment.vni : 0}`,
    ...(segment ? { segment } : {}),
    mac: `fa:16:3e:00:${n}:01`,
    ip: ipAddress,
    prefixLength: 24,
    gateway: null,
    mtu: segment ? 1450 : 1500,
    dns: [],
    firewall: { ...allow, rules: [...allow.rules, allowPing] } as NicRequest['firewall'],
  };
  const state = {
    id: uuid,
    node: node.ns,
    hostAddress: node.address,
    power: 'running',
    process: null,
    fault: null,
    updatedAt: '',
    request: {
      name,
      vcpus: 1,
      memoryMb: 128,
      image: { pool: 'images', name: 'guest' },
      diskGb: 1,
      nics: [nic],
      power: 'running',
      metadata: {
        uuid,
        name,
        hostname: name,
        availabilityZone: 'nova',
        projectId: 'p',
        launchIndex: 0,
        publicKeys: [],
        userData: null,
        meta: {},
      },
    },
  } as GuestState;
  return { ns: `rst-tn-${id}-${name}`, node, state, nic } satisfies TestGuest;
}
const [n1, n2] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
const a = guest('a', n1, V100, 11, '10.0.0.5');
const b = guest('b', n2, V100, 12, '10.0.0.6');
const c = guest('c', n1, V200, 13, '10.0.0.5'); // a's address, on another network
const f = guest('f', n1, undefined, 14, '10.0.0.5'); // and on the provider network (a record from before segments)
const d = guest('d', n1, V200, 15, '10.0.0.6'); // b's address, c's neighbour (plugged for the conntrack test)

/** A node's GuestNetwork, in a process inside its namespace, driven by JSON lines. */
class NodeProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #replies: ((line: string) => void)[] = [];
  constructor(node: (typeof nodes)[number], tunnelAddress?: string) {
    const script = `import { createInterface } from 'node:readline';
      import { GuestNetwork } from './appliance/host/index.js';
      const guests = [];
      const net = new GuestNetwork({ servicesNetns: '${servicesNetns(node)}', tunnelAddress: ${JSON.stringify(tunnelAddress)} });
      const answer = (o) => console.log(JSON.stringify(o));
      try {
        await net.setup();
        await net.serveGuests({ list: () => guests, setPassword: async () => undefined });
        answer({ ok: true });
      } catch (error) {
        answer({ ok: false, code: error.code, message: error.message });
      }
      for await (const line of createInterface({ input: process.stdin })) {
        const { op, guest } = JSON.parse(line);
        try {
          if (op === 'know') {
            guests.push(guest); // a guest whose ports this node plugged before it restarted
          } else if (op === 'plug') {
            guests.push(guest);
            for (const nic of guest.request.nics) await net.plug(nic);
          } else {
            for (const nic of guest.request.nics) await net.unplug(nic);
            guests.splice(guests.findIndex((g) => g.id === guest.id), 1);
          }
          answer({ ok: true });
        } catch (error) {
          answer({ ok: false, code: error.code, message: error.message });
        }
      }
      await net.stopServing();`;
    this.#child = spawn('ip', [
      ...['netns', 'exec', node.ns, process.execPath],
      ...['--import', 'tsx', '--input-type=module', '-e', script],
    ]);
    this.#child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#replies.shift()?.(line));
  }
  /** The next answer: setup's first, then each request's. */
  next(): Promise<{ ok: boolean; code?: string; message?: string }> {
    return new Promise((resolve) => this.#replies.push((line) => resolve(JSON.parse(line))));
  }
  ask(op: 'know' | 'plug' | 'unplug', g: TestGuest) {
    const answer = this.next();
    this.#child.stdin.write(`${JSON.stringify({ op, guest: g.state })}\n`);
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

const ping = (from: TestGuest, to: string) => {
  try {
    inNs(from.ns, 'ping', '-c', '1', '-W', '1', to);
    return true;
  } catch {
    return false;
  }
};
/** One UDP datagram from the guest's address and `port`. */
const udp = (from: TestGuest, port: number, to: string, toPort: number) =>
  inNs(
    from.ns,
    'python3',
    '-c',
    `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('${from.nic.ip}',${port}));s.sendto(b'hello',('${to}',${toPort}))`,
  );
/**
 * Listens on the guest's `port` (after sending from it to `first`, if given); resolves once it
 * does, with whether a datagram comes within 2 s.
 */
async function listen(g: TestGuest, port: number, first?: [string, number]): Promise<{ received: Promise<boolean> }> {
  const send = first ? `s.sendto(b'hello',('${first[0]}',${first[1]}));` : '';
  const listener = spawn('ip', [
    ...['netns', 'exec', g.ns, 'python3', '-c'],
    `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('${g.nic.ip}',${port}));${send}s.settimeout(2);print('listening',flush=True)
try: print(s.recv(100).decode())
except OSError: pass`,
  ]);
  const got: string[] = [];
  const exited = new Promise((resolve) => listener.once('exit', resolve));
  await new Promise<void>((resolve) =>
    createInterface({ input: listener.stdout }).on('line', (line) => {
      got.push(line);
      if (line === 'listening') resolve();
    }),
  );
  return { received: exited.then(() => got.includes('hello')) };
}
/** What the guest's DHCP client (busybox udhcpc with the guest image's hook) sets up. */
function dhcp(g: TestGuest): { address: string; mtu: number } {
  inNs(g.ns, 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', 'images/guest/udhcpc.script');
  const [link] = JSON.parse(inNs(g.ns, 'ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0')) as {
    mtu: number;
    addr_info: { local: string; prefixlen: number }[];
  }[];
  return { address: `${link?.addr_info[0]?.local}/${link?.addr_info[0]?.prefixlen}`, mtu: link?.mtu ?? 0 };
}

const procs = new Map<string, NodeProcess>();
const proc = (node: (typeof nodes)[number]) => procs.get(node.ns) as NodeProcess;

describe('guest tenant networks: VXLAN between nodes, DHCP and metadata per network (real ip, nftables, udhcpc)', () => {
  beforeAll(async () => {
    ip('netns', 'add', LAN);
    ip('-n', LAN, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', LAN, 'link', 'set', 'br0', 'up');
    for (const [i, node] of nodes.entries()) {
      ip('netns', 'add', node.ns);
      ip('-n', LAN, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', node.ns);
      ip('-n', LAN, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
      ip('-n', node.ns, 'addr', 'add', `${node.address}/24`, 'dev', 'lan0');
      ip('-n', node.ns, 'link', 'set', 'lan0', 'up');
      ip('-n', node.ns, 'link', 'set', 'lo', 'up');
      const p = new NodeProcess(node, node.address);
      procs.set(node.ns, p);
      expect(await p.next()).toEqual({ ok: true });
    }
    for (const g of [a, b, c, f, d]) {
      ip('netns', 'add', g.ns);
      const tap = `tap${g.nic.portId.slice(0, 11)}`;
      ip('-n', g.node.ns, 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g.ns);
      ip('-n', g.ns, 'link', 'set', 'eth0', 'address', g.nic.mac);
      ip('-n', g.ns, 'link', 'set', 'lo', 'up');
    }
  }, 60_000);
  afterAll(async () => {
    for (const p of procs.values()) await p.stop();
    const names = [a, b, c, f, d].map((g) => g.ns);
    for (const node of nodes) names.push(...['', '-v100', '-v200'].map((s) => `${servicesNetns(node)}${s}`), node.ns);
    for (const name of [...names, LAN]) {
      try {
        ip('netns', 'delete', name);
      } catch {
        // not there
      }
    }
  });

  it('gives each guest its own port’s address and its network’s MTU by DHCP, the same address on two networks', async () => {
    for (const g of [a, b, c, f]) expect(await proc(g.node).ask('plug', g)).toEqual({ ok: true });
    for (const g of [a, b, c, f]) expect(dhcp(g)).toEqual({ address: `${g.nic.ip}/24`, mtu: g.nic.mtu });
    // Each network's connections have a conntrack zone of their own (the same addresses may be in both).
    const zones = JSON.parse(inNs(n1.ns, 'nft', '-j', 'list', 'map', 'ip', 'rackseed_guests', 'zones')) as {
      nftables: { map?: { elem?: [string, number][] } }[];
    };
    const elements = new Map(zones.nftables.find((o) => o.map)?.map?.elem);
    expect([...elements.keys()].sort()).toEqual(['brv100', 'brv200']);
    expect(new Set(elements.values()).size).toBe(2);
    expect(ip('-n', n1.ns, '-d', 'link', 'show', 'dev', 'vxl100')).toMatch(
      /vxlan id 100 group 224\.0\.0\.1 local 10\.251\.7\.1 dev lan0 .*dstport 4789/,
    );
  }, 60_000);

  it('carries a network between nodes, and keeps the same address on another network apart', () => {
    expect(ping(a, b.nic.ip)).toBe(true); // across the VXLAN, node 1 to node 2
    expect(ping(b, a.nic.ip)).toBe(true); // reaches a, not c, who has the same address on VNI 200
    expect(ping(c, b.nic.ip)).toBe(false); // c's network has no 10.0.0.6
    const neighbours = inNs(b.ns, 'ip', 'neigh', 'show', a.nic.ip);
    expect(neighbours).toContain(a.nic.mac);
  });

  it('keeps each network’s connections apart: the twin of a reply, on another network, is not let in', async () => {
    expect(await proc(n1).ask('plug', d)).toEqual({ ok: true });
    onTestFinished(async () => void (await proc(n1).ask('unplug', d)));
    expect(dhcp(d)).toEqual({ address: `${d.nic.ip}/24`, mtu: 1450 });
    // a (10.0.0.5:5000) sends to b (10.0.0.6:7000); b's answer comes back (a lets in what answers it).
    const toA = await listen(a, 5000, [b.nic.ip, 7000]);
    udp(b, 7000, a.nic.ip, 5000);
    expect(await toA.received).toBe(true);
    // d sends c the same packet from the same addresses, on VNI 200: node 1 has seen that flow on
    // VNI 100 only, so it is new here, and c lets in nothing new but pings.
    const toC = await listen(c, 5000);
    udp(d, 7000, c.nic.ip, 5000);
    expect(await toC.received).toBe(false);
  }, 30_000);

  it('answers each guest’s metadata by its network and address (a, c and f share 10.0.0.5 on one node), from its own node', () => {
    const name = (g: TestGuest) =>
      (
        JSON.parse(inNs(g.ns, 'curl', '-sf', '-m', '5', 'http://169.254.169.254/openstack/latest/meta_data.json')) as {
          uuid: string;
        }
      ).uuid;
    expect(name(a)).toBe(a.state.id);
    expect(name(c)).toBe(c.state.id);
    expect(name(f)).toBe(f.state.id);
    expect(name(b)).toBe(b.state.id);
    // Nothing of the guests' DHCP or metadata crossed to the other node: b knows its own
    // node's 169.254.169.254 (learned on the services veth there), and neither bridge learned
    // the other node's services namespace across the VXLAN.
    const metadataMac = (
      JSON.parse(inNs(b.ns, 'ip', '-j', 'neigh', 'show', '169.254.169.254')) as { lladdr: string }[]
    )[0]?.lladdr;
    type Fdb = { mac: string; ifname: string; state?: string }[];
    const [fdb1, fdb2] = [n1, n2].map(
      (node) => JSON.parse(inNs(node.ns, 'bridge', '-j', 'fdb', 'show', 'br', 'brv100')) as Fdb,
    ) as [Fdb, Fdb];
    const learned = (fdb: Fdb, port: string) =>
      fdb.filter((e) => e.ifname === port && e.state !== 'permanent').map((e) => e.mac);
    expect(learned(fdb2, 'rsv100')).toContain(metadataMac);
    expect(learned(fdb2, 'vxl100')).toContain(a.nic.mac);
    const node1Services = learned(fdb1, 'rsv100');
    expect(node1Services).toHaveLength(1); // node 1's gw0, which answered a
    expect(learned(fdb2, 'vxl100')).not.toContain(node1Services[0]);
    expect(learned(fdb1, 'vxl100')).not.toContain(metadataMac);
  });

  it('finds its networks again when restarted, serves their DHCP and metadata, and removes one left with no port', async () => {
    await proc(n2).stop();
    ip('-n', n2.ns, 'link', 'add', 'brv999', 'type', 'bridge'); // a network whose last port went while it was down
    const again = new NodeProcess(n2, n2.address);
    procs.set(n2.ns, again);
    expect(await again.next()).toEqual({ ok: true });
    expect(ip('-n', n2.ns, 'link', 'show')).not.toContain('brv999');
    expect(await again.ask('know', b)).toEqual({ ok: true });
    expect(dhcp(b)).toEqual({ address: `${b.nic.ip}/24`, mtu: 1450 });
    const meta = inNs(b.ns, 'curl', '-sf', '-m', '5', 'http://169.254.169.254/openstack/latest/meta_data.json');
    expect((JSON.parse(meta) as { uuid: string }).uuid).toBe(b.state.id);
    expect(ping(b, a.nic.ip)).toBe(true);
  }, 30_000);

  it('refuses a malformed segment, and a VXLAN port on a node without a tunnel address', async () => {
    for (const segment of [
      { type: 'vxlan', vni: 0 },
      { type: 'vxlan', vni: 2 ** 24 },
      { type: 'vxlan', vni: '7' },
      { type: 'gre' },
    ]) {
      const bad = { ...a, state: { ...a.state, request: { ...a.state.request, nics: [{ ...a.nic, segment }] } } };
      expect(await proc(n1).ask('plug', bad as TestGuest)).toMatchObject({ ok: false, code: 'HOST_ERR_BAD_SEGMENT' });
    }
  });

  it('removes a network’s bridge, VXLAN device, namespace and rules with its last port on the node', async () => {
    expect(await proc(n1).ask('unplug', c)).toEqual({ ok: true });
    expect(ip('-n', n1.ns, 'link', 'show')).not.toMatch(/brv200|vxl200|rsv200/);
    expect(ip('-n', n1.ns, 'link', 'show')).toMatch(/brv100/); // a is still there
    expect(ping(a, b.nic.ip)).toBe(true);
    expect(await proc(n1).ask('unplug', a)).toEqual({ ok: true });
    expect(await proc(n1).ask('unplug', f)).toEqual({ ok: true });
    expect(await proc(n2).ask('unplug', b)).toEqual({ ok: true });
    for (const node of nodes) {
      expect(ip('-n', node.ns, 'link', 'show')).not.toMatch(/brv|vxl|rsv|tap/);
      for (const vni of [100, 200]) expect(existsSync(`/run/netns/${servicesNetns(node)}-v${vni}`)).toBe(false);
      const ruleset = inNs(node.ns, 'nft', 'list', 'ruleset');
      expect(ruleset).not.toMatch(/"brv\d|tap[0-9a-f]/);
      expect(ruleset).toContain('map zones'); // the tables stay, empty
    }
    // A node started with no tunnel address refuses a VXLAN port, and makes nothing for it.
    await proc(n1).stop();
    const lone = new NodeProcess(n1);
    procs.set(n1.ns, lone);
    expect(await lone.next()).toEqual({ ok: true });
    expect(await lone.ask('plug', a)).toMatchObject({ ok: false, code: 'HOST_ERR_NO_TUNNEL' });
    expect(ip('-n', n1.ns, 'link', 'show')).not.toMatch(/brv|vxl/);
  }, 60_000);
});
