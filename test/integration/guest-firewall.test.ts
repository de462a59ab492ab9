import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FirewallRule, NicRequest, PortFirewall } from '../../appliance/host/index.js';

// Ports' firewalls (security groups) as the host service's plumbing enforces them, with real
// ip and nftables: a node namespace with the provider bridge, and two guests, each a namespace
// cabled to it by a veth whose node end has the name of the port's tap (plug takes the link it
// finds). Each step runs GuestNetwork in a process of its own inside the node namespace, as a
// restarted host service would: what it made before is read back from nftables.
const id = randomBytes(3).toString('hex');
const NODE = `rst-fw-${id}`;
const GUESTS = `${NODE}-guests`;
const guestNs = (name: string) => `${NODE}-${name}`;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

const guest = (name: string, n: number): NicRequest & { ns: string } => ({
  ns: guestNs(name),
  portId: randomUUID(),
  networkId: 'provider',
  mac: `fa:16:3e:00:${n}:01`,
  ip: `10.77.0.${n}`,
  prefixLength: 24,
  gateway: null,
  mtu: 1500,
  dns: [],
  firewall: { stateful: true, rules: [] },
});
const a = guest('a', 11);
const b = guest('b', 12);
const anyOut: FirewallRule = { direction: 'egress', protocol: null, ports: null, icmp: null, remote: null };

/** Runs `code` (with `net`, a GuestNetwork set up afresh) in the node namespace. */
function inNode(code: string): string {
  const script = `import { GuestNetwork } from './appliance/host/index.js';
    const net = new GuestNetwork({ servicesNetns: '${GUESTS}' });
    await net.setup();
    ${code}`;
  return execFileSync(
    'ip',
    ['netns', 'exec', NODE, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
}
const plug = (nic: NicRequest, firewall: PortFirewall) =>
  inNode(`await net.plug(${JSON.stringify({ ...nic, firewall })});`);

/** Whether a TCP connection from `from` to `to`:`port` gets the listener's greeting (a drop times out). */
async function tcp(from: NicRequest & { ns: string }, to: NicRequest & { ns: string }, port: number): Promise<boolean> {
  const server = spawn('ip', [
    'netns',
    'exec',
    to.ns,
    'python3',
    '-c',
    `import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('${to.ip}',${port}));s.listen();s.settimeout(4)
try:
  c,_=s.accept();c.send(b'hello');c.close()
except OSError: pass`,
  ]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  try {
    const got = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        from.ns,
        'python3',
        '-c',
        `import socket;s=socket.create_connection(('${to.ip}',${port}),timeout=1.5);print(s.recv(5).decode())`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return got.trim() === 'hello';
  } catch {
    return false;
  } finally {
    server.kill();
  }
}
const ping = (from: NicRequest & { ns: string }, to: NicRequest) => {
  try {
    execFileSync('ip', ['netns', 'exec', from.ns, 'ping', '-c', '1', '-W', '1', to.ip], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describe('guest firewall: security groups on the provider bridge (real ip, nftables, conntrack)', () => {
  beforeAll(() => {
    ip('netns', 'add', NODE);
    inNode(''); // the bridge, the services namespace, the tables
    for (const g of [a, b]) {
      ip('netns', 'add', g.ns);
      const tap = `tap${g.portId.slice(0, 11)}`;
      ip('-n', NODE, 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g.ns);
      ip('-n', g.ns, 'link', 'set', 'eth0', 'address', g.mac);
      ip('-n', g.ns, 'addr', 'add', `${g.ip}/24`, 'dev', 'eth0');
      ip('-n', g.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', g.ns, 'link', 'set', 'lo', 'up');
    }
  });
  afterAll(() => {
    for (const name of [a.ns, b.ns, GUESTS, NODE]) {
      try {
        ip('netns', 'delete', name);
      } catch {
        // not there
      }
    }
  });

  it('lets in only what the ingress rules allow, from where they allow, and the answers back', async () => {
    plug(a, { stateful: true, rules: [anyOut] });
    plug(b, {
      stateful: true,
      rules: [anyOut, { direction: 'ingress', protocol: 6, ports: [8022, 8022], icmp: null, remote: [`${a.ip}/32`] }],
    });
    expect(await tcp(a, b, 8022)).toBe(true); // allowed, and its answers come back (stateful)
    expect(await tcp(a, b, 8023)).toBe(false); // another port: dropped
    expect(ping(a, b)).toBe(false); // ICMP: no rule
    expect(ping(b, a)).toBe(false); // a lets nothing in
    expect(await tcp(b, a, 8022)).toBe(false);
  });

  it('applies a changed firewall at once to a plugged port', async () => {
    inNode(
      `await net.applyFirewall('${b.portId}', ${JSON.stringify({
        stateful: true,
        rules: [
          anyOut,
          { direction: 'ingress', protocol: 1, ports: null, icmp: { type: 8, code: null }, remote: null },
        ],
      })});`,
    );
    expect(ping(a, b)).toBe(true);
    expect(await tcp(a, b, 8022)).toBe(false);
  });

  it('holds egress to its rules too, and a stateless port to its rules both ways', async () => {
    // b may send to a's port 8022 only; a (stateless) lets in 8022 and sends answers from it.
    plug(b, {
      stateful: true,
      rules: [{ direction: 'egress', protocol: 6, ports: [8022, 8022], icmp: null, remote: null }],
    });
    plug(a, {
      stateful: false,
      rules: [
        { direction: 'ingress', protocol: 6, ports: [8022, 8022], icmp: null, remote: null },
        { direction: 'egress', protocol: 6, ports: null, icmp: null, remote: [`${b.ip}/32`] },
      ],
    });
    expect(await tcp(b, a, 8022)).toBe(true);
    expect(ping(b, a)).toBe(false); // b's egress allows TCP 8022 only
    expect(await tcp(a, b, 8022)).toBe(false); // b lets nothing in (no ingress rule)
  });

  it('removes a port’s chains and map entries when it is unplugged, and keeps the other’s', () => {
    inNode(`await net.unplug(${JSON.stringify(b)});`);
    const ruleset = ip('netns', 'exec', NODE, 'nft', 'list', 'ruleset');
    const tapOf = (g: NicRequest) => `tap${g.portId.slice(0, 11)}`;
    expect(ruleset).not.toContain(tapOf(b));
    expect(ruleset).toContain(`${tapOf(a)}-in`);
    expect(ruleset).toContain(`"${tapOf(a)}" : 0x00000001`); // its number, kept across the processes
  });

  it('refuses a firewall that is not well formed, before any nft script is written', () => {
    const bad = { stateful: true, rules: [{ ...anyOut, remote: ['10.0.0.0/8 } drop; add rule'] }] };
    expect(() => inNode(`await net.applyFirewall('${a.portId}', ${JSON.stringify(bad)});`)).toThrow(
      /HOST_ERR_BAD_REQUEST|remote holds IPv4 networks/,
    );
  });
});
