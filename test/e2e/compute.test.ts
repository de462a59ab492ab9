import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fetch } from 'undici';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PORT, type ClusterStatus } from '../../agent/index.js';
import { HOST_SERVICE_PORT } from '../../appliance/cli/cloud-services.js';
import { type LabInfo, labPower, waitFor } from '../../bootstrap/index.js';
import { curlNodeCert, trusting } from '../bed/index.js';
import { cspViolations, logIn, shoot, startBrowser } from '../bed/browser.js';
import { computeLabUp } from '../compute-lab.js';
import { guestImage } from '../guest-image.js';
import { removeLabAfterAll } from './lab-hooks.js';

const run = promisify(execFile);
/** The pids of the processes whose command line matches `pattern` (pgrep -f). */
const pidsOf = (pattern: string): number[] => {
  const found = spawnSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' }).stdout;
  return found.split('\n').filter(Boolean).map(Number).sort();
};
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The project's own network of the lab (a VXLAN segment), beside the provider network. */
const LAB_NET_CIDR = '10.30.7.0/24';
const labAddressOf = (server: { addresses: unknown }): string =>
  new RegExp(`${LAB_NET_CIDR.slice(0, -4).replaceAll('.', '\\.')}[0-9]+`).exec(JSON.stringify(server.addresses))?.[0] ??
  '';
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];

interface ServerView {
  id: string;
  name: string;
  status: string;
  addresses: Record<string, string[]> | string;
  'OS-EXT-SRV-ATTR:host': string;
  'OS-EXT-STS:power_state': string | number;
}

// Real compute in the lab rack with Ceph: a server is a QEMU guest on an RBD clone of a Glance
// image, on the provider network, and survives its node's power loss.
describe('servers are QEMU guests on RBD disks, and survive their node (lab rack, Ceph)', () => {
  let dir: string;
  let lab: LabInfo;
  let key: string;
  let server: ServerView;
  let address: string;
  let status: () => Promise<ClusterStatus>;
  /** The node whose power the failover test cuts (it stays off), and the server it was building then. */
  let victim: string;
  let caught: string[];
  /** lab-net's router to the provider network, and the node it was made on (vm1's node, which dies). */
  let router: { id: string; home: string };
  /** The admin's dashboard, through the lab gateway: opened on the rack, it stays open to see the power loss. */
  let browser: Browser | undefined;
  let page: Page;
  let violations: string[];

  /** Debian's `openstack` CLI on this machine, as the admin, through the lab gateway. */
  const openstack = async <T>(args: readonly string[], json = true): Promise<T> => {
    const env = {
      ...process.env,
      OS_AUTH_URL: `${lab.gateway.url}/identity`,
      OS_CACERT: lab.gateway.ca,
      OS_IDENTITY_API_VERSION: '3',
      OS_USERNAME: 'admin',
      OS_PASSWORD: readFileSync(lab.adminPasswordFile, 'utf8').trim(),
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
    };
    const { stdout } = await run('openstack', [...args, ...(json ? ['-f', 'json'] : [])], {
      env,
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return (json ? JSON.parse(stdout) : stdout) as T;
  };
  /** `ssh` to the guest from the lab's provider network (the bridge namespace holds its gateway). */
  const ssh = async (command: string, timeoutMs = 20_000, to = address) =>
    (
      await run(
        'ip',
        [
          ...['netns', 'exec', lab.bridgeNetns, 'ssh', '-i', key, '-o', 'StrictHostKeyChecking=no'],
          ...['-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=3', '-o', 'LogLevel=ERROR'],
          `cloud@${to}`,
          command,
        ],
        { timeout: timeoutMs },
      )
    ).stdout;
  /** Waits until `ssh … true` to the guest (or `to`) succeeds (a boot, a move, a rebuild). */
  const sshAnswers = (what: string, timeoutMs = 180_000, to = address) =>
    waitFor(
      what,
      () =>
        ssh('true', 20_000, to).then(
          () => true,
          () => false,
        ),
      timeoutMs,
      500,
    );
  const tool = async (argv: readonly string[]) => {
    const conf = join(lab.scopeDir, 'seed', 'agent', 'ceph', 'ceph.conf');
    const [command = 'rbd', ...args] = argv;
    // From a live machine: a dead node's address is blocklisted on Ceph (the seed's, if it died).
    const netns = victim === 'seed' ? (lab.servers[0]?.netns ?? '') : lab.seedNetns;
    return (await run('ip', ['netns', 'exec', netns, command, '-c', conf, ...args], { timeout: 60_000 })).stdout;
  };

  /** The live nodes whose host service holds the router (asked over its API, with a node's certificate). */
  const routerHolders = async (id: string): Promise<string[]> => {
    const hosts = await openstack<{ 'Hypervisor Hostname': string; 'Host IP': string }[]>(['hypervisor', 'list']);
    const holders: string[] = [];
    for (const host of hosts) {
      const { stdout } = await run('ip', [
        ...['netns', 'exec', lab.seedNetns, 'curl', '-sS', '-m', '10', ...curlNodeCert(lab.tls)],
        `https://${host['Host IP']}:${HOST_SERVICE_PORT}/v1/routers`,
      ]).catch(() => ({ stdout: '{"routers":[]}' })); // a dead node's
      const { routers } = JSON.parse(stdout) as { routers: { id: string }[] };
      if (routers.some((r) => r.id === id)) holders.push(host['Hypervisor Hostname']);
    }
    return holders;
  };

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
    const image = guestImage();
    dir = mkdtempSync(join(tmpdir(), 'rackseed-e2e-compute-'));
    key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    ({ lab, status } = await computeLabUp(dir, RACKSEED));
    await waitFor(
      'four hypervisors with their real inventory',
      async () => (await openstack<{ 'Hypervisor Type': string }[]>(['hypervisor', 'list'])).length === 4,
      180_000,
      2_000,
    );
    await openstack(
      ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare'].concat([
        '--file',
        image.path,
        '--public',
        'guest',
      ]),
    );
    await openstack(['keypair', 'create', '--public-key', `${key}.pub`, 'lab-key']);
    await openstack(['flavor', 'create', '--ram', '192', '--disk', '1', '--vcpus', '1', 'lab.guest']);
  }, 900_000);
  removeLabAfterAll(() => ({ dir, lab }));
  afterAll(async () => {
    await browser?.close();
  });

  it('boots a server: ACTIVE, its console shows the boot, ssh with the keypair reaches it and the metadata names it and its tagged NIC', async () => {
    const userData = '#!/bin/sh\necho user-data-ran > /tmp/user-data-ran\n';
    // A network of the project's own (a VXLAN segment between the nodes), beside the provider one.
    const labNet = await openstack<{ id: string; mtu: number }>(['network', 'create', 'lab-net']);
    expect(labNet.mtu).toBe(1450);
    await openstack(['subnet', 'create', '--network', 'lab-net', '--subnet-range', LAB_NET_CIDR, 'lab-subnet']);
    // Its router to the provider network (the external one), made on one node: vm1 goes there,
    // so that the power loss below takes the router's home too.
    const { id: routerId } = await openstack<{ id: string }>(['router', 'create', 'lab-router']);
    await openstack(['router', 'set', '--external-gateway', 'provider', 'lab-router'], false);
    await openstack(['router', 'add', 'subnet', 'lab-router', 'lab-subnet'], false);
    const [home] = await waitFor(
      'lab-router made on one node',
      async () => ((await routerHolders(routerId)).length === 1 ? routerHolders(routerId) : undefined),
      60_000,
      500,
    );
    router = { id: routerId, home: home ?? '' };
    const [token, flavor, image, provider] = await Promise.all([
      openstack<{ id: string }>(['token', 'issue']),
      openstack<{ id: string }>(['flavor', 'show', 'lab.guest']),
      openstack<{ id: string }>(['image', 'show', 'guest']),
      openstack<{ id: string }>(['network', 'show', 'provider']),
    ]);
    const t0 = Date.now();
    // Made at microversion 2.32 (Debian's CLI asks 2.43 for a NIC's tag): its NIC carries a
    // device tag, which the metadata names with the NIC's PCI address.
    const response = await fetch(`${lab.gateway.url}/compute/v2.1/servers`, {
      method: 'POST',
      dispatcher: trusting(lab.gateway.ca),
      headers: {
        'x-auth-token': token.id,
        'content-type': 'application/json',
        'openstack-api-version': 'compute 2.32',
      },
      body: JSON.stringify({
        server: {
          ...{ name: 'vm1', flavorRef: flavor.id, imageRef: image.id, key_name: 'lab-key' },
          user_data: Buffer.from(userData).toString('base64'),
          networks: [{ uuid: provider.id, tag: 'web' }, { uuid: labNet.id }],
          availability_zone: `nova:${router.home}`,
        },
      }),
    });
    expect(response.status).toBe(202);
    const created = ((await response.json()) as { server: ServerView }).server;
    server = await waitFor(
      'vm1 out of BUILD',
      async () => {
        const s = await openstack<ServerView & { fault?: unknown }>(['server', 'show', created.id]);
        if (s.status === 'ERROR') throw new Error(`vm1 went to ERROR: ${JSON.stringify(s.fault)}`);
        return s.status === 'ACTIVE' ? s : undefined;
      },
      120_000,
      250,
    );
    const active = Date.now() - t0;
    expect(server.status).toBe('ACTIVE');
    address = /10\.16\.[0-9.]+/.exec(JSON.stringify(server.addresses))?.[0] ?? '';
    expect(address).toMatch(/^10\.16\./);
    // Its project's default security group lets in only its own members: ssh from the provider
    // network is dropped (a timeout, not a refusal) while the guest's sshd is up, until a rule
    // lets TCP 22 in; then it answers, with no restart of anything.
    await waitFor(
      'the guest’s sshd up (its console)',
      async () =>
        (await openstack<string>(['console', 'log', 'show', 'vm1'], false)).includes('rackseed-guest: ssh up'),
      120_000,
      500,
    );
    await expect(ssh('true', 10_000)).rejects.toThrow(/timed out|Connection timed out/);
    const [group] = await openstack<{ ID: string; Name: string }[]>([
      ...['security', 'group', 'list', '--project', 'admin'],
    ]).then((groups) => groups.filter((g) => g.Name === 'default'));
    await openstack([
      'security',
      'group',
      'rule',
      'create',
      '--protocol',
      'tcp',
      '--dst-port',
      '22',
      group?.ID ?? 'default',
    ]);
    await sshAnswers('ssh to the guest, once TCP 22 is allowed', 60_000);
    console.log(
      `compute e2e: create → ACTIVE ${active} ms, create → ssh ${Date.now() - t0} ms (a rule added on the way)`,
    );
    const metadata = JSON.parse(await ssh('curl -s http://169.254.169.254/openstack/latest/meta_data.json')) as {
      uuid: string;
      devices: { type: string; bus: string; address: string; mac: string; tags: string[] }[];
    };
    expect(metadata.uuid).toBe(server.id);
    const [nic] = metadata.devices;
    expect(metadata.devices).toEqual([
      { type: 'nic', bus: 'pci', address: '0000:00:03.0', mac: nic?.mac, tags: ['web'] },
    ]);
    // The guest finds the NIC with that MAC at that PCI address.
    const pci = await ssh(
      `for i in /sys/class/net/*; do [ "$(cat $i/address)" = "${nic?.mac}" ] && basename "$(dirname "$(readlink -f $i/device)")"; done; true`,
    );
    expect(pci.trim()).toBe('0000:00:03.0');
    expect((await ssh('cat /tmp/user-data-ran')).trim()).toBe('user-data-ran');
    // Its second NIC has its lab-net port's address, from its network's own DHCP, at the VXLAN's MTU.
    const labAddress = labAddressOf(server);
    expect(labAddress.startsWith(LAB_NET_CIDR.slice(0, -4))).toBe(true);
    expect(await ssh('ip -o -4 addr show dev eth1; cat /sys/class/net/eth1/mtu')).toMatch(
      new RegExp(`inet ${labAddress.replaceAll('.', '\\.')}/24[\\s\\S]*\\n1450\\s*$`),
    );
    const console_ = await openstack<string>(['console', 'log', 'show', 'vm1'], false);
    expect(console_).toContain('rackseed-guest: ssh up');
    expect(console_).toContain(server.id);
    // Its root disk is a clone of the image in the vms pool.
    expect(await tool(['rbd', 'info', `vms/${server.id}_disk`])).toContain(`parent: images/`);
    // What it used to get here, as its host service reads QEMU (QMP, /proc) and its tap
    // (os-server-diagnostics, 2.48): vCPU time, its flavor's memory, disk reads, and the DHCP,
    // metadata and ssh traffic of its one port, each way.
    const diagnosed = await fetch(`${lab.gateway.url}/compute/v2.1/servers/${server.id}/diagnostics`, {
      dispatcher: trusting(lab.gateway.ca),
      headers: { 'x-auth-token': token.id, 'openstack-api-version': 'compute 2.48' },
    });
    expect(diagnosed.status).toBe(200);
    const used = (await diagnosed.json()) as {
      state: string;
      memory_details: { maximum: number; used: number };
      cpu_details: { time: number }[];
      disk_details: { read_bytes: number }[];
      nic_details: { mac_address: string; rx_octets: number; tx_octets: number }[];
    };
    expect(used).toMatchObject({ state: 'running', memory_details: { maximum: 192 } });
    expect(used.cpu_details[0]?.time).toBeGreaterThan(0);
    expect(used.disk_details[0]?.read_bytes).toBeGreaterThan(1024 * 1024);
    expect(used.nic_details).toHaveLength(2);
    expect(used.nic_details[0]?.rx_octets).toBeGreaterThan(0);
    expect(used.nic_details[0]?.tx_octets).toBeGreaterThan(0);
    // The agents' metrics count it: one running guest, on one host, with its flavor's vCPUs.
    const metrics = (
      await run('ip', [
        ...['netns', 'exec', lab.seedNetns, 'curl', '-sSf', '-m', '10'],
        ...curlNodeCert(lab.tls),
        `https://${lab.seedIp}:${AGENT_PORT}/metrics`,
      ])
    ).stdout;
    const running = [...metrics.matchAll(/^rackseed_host_guests\{node="([^"]+)",power="running"\} (\d+)$/gm)];
    expect(running.map((m) => Number(m[2])).reduce((a, b) => a + b, 0)).toBe(1);
    const host = running[0]?.[1] ?? '';
    expect(metrics).toMatch(new RegExp(`^rackseed_host_vcpus\\{node="${host}",kind="allocated"\\} [1-9]`, 'm'));
    // Guest traffic never meets a node's own planes: the seed's provisioning DHCP server (on
    // the same machines as the provider bridges) never heard this guest ask for an address.
    const ports = await openstack<{ 'MAC Address': string }[]>(['port', 'list', '--server', server.id]);
    expect(ports).toHaveLength(2);
    const macs = ports.map((p) => p['MAC Address']);
    for (const mac of macs) expect(mac).toMatch(/^fa:16:3e:/);
    expect(used.nic_details.map((n) => n.mac_address).sort()).toEqual([...macs].sort());
    const provisioningLog = readFileSync(join(lab.scopeDir, 'bmc0', 'chassis', 'node.log'), 'utf8');
    for (const mac of macs) expect(provisioningLog).not.toContain(mac);
  }, 600_000);

  it("shows the rack in the admin's dashboard through the gateway (every node ready, the pools' use, vm1 on its node); a server from its form reaches ACTIVE and goes", async () => {
    browser = await startBrowser();
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    const password = readFileSync(lab.adminPasswordFile, 'utf8').trim();
    page = await logIn(context, lab.gateway.url, 'admin', password);
    violations = cspViolations(page);
    const s = await status();
    await page.waitForFunction((count) => document.querySelectorAll('.tile.ready').length === count, s.nodes.length, {
      timeout: 20_000,
    });
    const tiles = await page.$$eval('.tile', (all) =>
      all.map(
        (t) =>
          `${(t as HTMLElement).dataset.node} ${(t as HTMLElement).dataset.phase} ${(t as HTMLElement).dataset.power}`,
      ),
    );
    expect(tiles.sort()).toEqual(s.nodes.map((n) => `${n.name} ready on`).sort());
    expect(await page.getAttribute('#singletons [data-singleton="db-master"]', 'data-holder')).toBe(
      s.singletons['db-master'],
    );
    // vm1 on its node's tile; Ceph's panel with what the pools hold: the image, vm1's disk.
    const host = server['OS-EXT-SRV-ATTR:host'];
    await page.waitForSelector(`.tile[data-node="${host}"] [data-server="${server.id}"]`, { timeout: 10_000 });
    const stored = (pool: string) =>
      page.getAttribute(`#ceph tr[data-pool="${pool}"] [data-stored]`, 'data-stored').then(Number);
    await page.waitForFunction(
      () =>
        ['images', 'vms'].every(
          (pool) =>
            Number(document.querySelector(`#ceph tr[data-pool="${pool}"] [data-stored]`)?.getAttribute('data-stored')) >
            0,
        ),
      null,
      { timeout: 60_000 },
    );
    // One copy's bytes (not the replicas'), without the zeroes Glance's upload does not write.
    expect(await stored('images')).toBeGreaterThan(1024 * 1024);
    expect(await stored('images')).toBeLessThanOrEqual(statSync(guestImage().path).size);
    expect(await page.textContent('#ceph-capacity')).toMatch(/^[\d.]+ [KMGT]?i?B used of [\d.]+ [KMGT]?i?B$/);
    await shoot(page, dir, 'lab-dashboard-rack.png');

    // The project tab's form: a real guest, with the key pair, ACTIVE; then its delete button.
    await page.click('.tabs a[href="#project"]');
    await page.waitForFunction(
      () =>
        (document.querySelector('#create-server select[name=key]') as HTMLSelectElement | null)?.options.length === 2,
      null,
      { timeout: 20_000 },
    );
    await page.fill('#create-server input[name=name]', 'from-dashboard');
    await page.selectOption('#create-server select[name=flavor]', { label: 'lab.guest' });
    await page.selectOption('#create-server select[name=image]', { label: 'guest' });
    await page.selectOption('#create-server select[name=network]', { label: 'provider' });
    await page.selectOption('#create-server select[name=key]', { label: 'lab-key' });
    await page.click('#create-server button[type=submit]');
    const row = page.locator('#servers tr[data-server-name="from-dashboard"]');
    await row.locator('.status-active').waitFor({ timeout: 120_000 });
    const id = (await row.getAttribute('data-server')) ?? '';
    const shown = await openstack<ServerView & { key_name: string }>(['server', 'show', id]);
    expect([shown.status, shown.key_name]).toEqual(['ACTIVE', 'lab-key']);
    expect(pidsOf(`qemu-system-x86_64 .*-uuid ${id}`)).toHaveLength(1);
    expect(await row.locator('td').nth(2).textContent()).toMatch(/^provider: 10\.16\.\d+\.\d+$/);
    await shoot(page, dir, 'lab-dashboard-project.png');
    await row.locator('button[data-action=delete]').click();
    await row.waitFor({ state: 'detached', timeout: 60_000 });
    await waitFor('its QEMU gone', () => pidsOf(`qemu-system-x86_64 .*-uuid ${id}`).length === 0, 30_000, 500);
    expect((await openstack<{ ID: string }[]>(['server', 'list'])).map((s) => s.ID)).not.toContain(id);
    // Back on the rack, which the power-loss test below watches.
    await page.click('.tabs a[href="#rack"]');
    await page.waitForSelector('.tile.ready');
    await page.evaluate(() => ((window as unknown as { noReload: boolean }).noReload = true));
  }, 400_000);

  it('restarts the servers and the router of a node that loses power on other nodes: one server running (same id, address and disk), two it was building, one reached by its floating IP', async () => {
    await ssh('echo survived | sudo tee /root/marker > /dev/null && sync');
    victim = server['OS-EXT-SRV-ATTR:host'];
    expect(victim).toBe(router.home);
    // Two more servers forced onto the same node (an admin's "nova:HOST"), whose power goes as soon
    // as the API has taken them: the node dies while it builds them. One was asked of another
    // node's API (its spawn call fails), the other of the dying node's own (the process driving
    // its spawn dies with it).
    const token = (await openstack<{ id: string }>(['token', 'issue'])).id;
    const idOf = async (kind: string, name: string) => (await openstack<{ id: string }>([kind, 'show', name])).id;
    const request = {
      imageRef: await idOf('image', 'guest'),
      flavorRef: await idOf('flavor', 'lab.guest'),
      // On lab-net only: reached from outside through lab-router (vm2 by a floating IP).
      networks: [{ uuid: await idOf('network', 'lab-net') }],
      key_name: 'lab-key',
      availability_zone: `nova:${victim}`,
    };
    const hosts = await openstack<{ 'Hypervisor Hostname': string; 'Host IP': string }[]>(['hypervisor', 'list']);
    const headers = join(dir, 'headers');
    writeFileSync(headers, `x-auth-token: ${token}\ncontent-type: application/json\n`, { mode: 0o600 });
    const createOn = async (node: string, name: string) => {
      const address = hosts.find((h) => h['Hypervisor Hostname'] === node)?.['Host IP'];
      const { stdout } = await run('ip', [
        ...['netns', 'exec', lab.bridgeNetns, 'curl', '-sS', '--fail-with-body', '--cacert', lab.gateway.ca],
        ...['-X', 'POST', '-H', `@${headers}`],
        // The node's own API certificate names its address too.
        ...['-d', JSON.stringify({ server: { ...request, name } }), `https://${address}:5000/compute/v2.1/servers`],
      ]);
      return (JSON.parse(stdout) as { server: { id: string } }).server.id;
    };
    const other = hosts.find((h) => h['Hypervisor Hostname'] !== victim)?.['Hypervisor Hostname'] ?? '';
    caught = [await createOn(other, 'vm2'), await createOn(victim, 'vm3')];
    // vm2's floating IP, on the provider network, answered by lab-router.
    const [vm2Port] = await openstack<{ ID: string }[]>(['port', 'list', '--server', caught[0] ?? '']);
    const floating = (
      await openstack<{ floating_ip_address: string }>([
        'floating',
        'ip',
        'create',
        '--port',
        vm2Port?.ID ?? '',
        'provider',
      ])
    ).floating_ip_address;
    expect(floating).toMatch(/^10\.16\./);
    const heldBefore = (await status()).singletons;
    const died = Date.now();
    labPower(lab, victim, 'off');
    await waitFor(
      `${victim} fenced`,
      async () => (await status()).nodes.find((n) => n.name === victim)?.state === 'fenced',
      90_000,
      1_000,
    );
    const moved = await waitFor(
      'the server ACTIVE on another node',
      async () => {
        const s = await openstack<ServerView>(['server', 'show', server.id]);
        return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] !== victim ? s : undefined;
      },
      180_000,
      1_000,
    );
    // The dashboard opened before the power loss shows it, with no reload: the tile fenced, the
    // node's singletons held elsewhere, as status says.
    await page.waitForSelector(`.tile[data-node="${victim}"][data-phase="fenced"][data-power="off"]`, {
      timeout: 10_000,
    });
    await waitFor(
      "the dashboard's singletons to be those of status, none on the dead node",
      async () => {
        const shown = await page.$$eval('#singletons [data-singleton]', (all) =>
          all.map((e) => [e.getAttribute('data-singleton'), e.getAttribute('data-holder')]),
        );
        const now = (await status()).singletons;
        return (
          shown.length > 0 &&
          shown.every(([service, holder]) => !!holder && holder !== victim && holder === now[service ?? ''])
        );
      },
      60_000,
      1_000,
    );
    // Only the dead node's singletons moved: the others' holders kept them through etcd's new
    // election and the leases' waver (suspended at most, never given up).
    const heldAfter = (await status()).singletons;
    const kept = Object.fromEntries(Object.entries(heldBefore).filter(([, holder]) => holder !== victim));
    expect(Object.fromEntries(Object.keys(kept).map((service) => [service, heldAfter[service]]))).toEqual(kept);
    expect(await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload)).toBe(true);
    await shoot(page, dir, 'lab-dashboard-rack-fenced.png');
    expect(violations).toEqual([]);
    await sshAnswers('ssh to the guest again');
    console.log(
      `compute e2e: power lost → ssh answering on ${moved['OS-EXT-SRV-ATTR:host']} in ${Date.now() - died} ms`,
    );
    expect(JSON.stringify(moved.addresses)).toBe(JSON.stringify(server.addresses));
    expect((await ssh('sudo cat /root/marker')).trim()).toBe('survived');
    const metadata = JSON.parse(await ssh('curl -s http://169.254.169.254/openstack/latest/meta_data.json')) as {
      uuid: string;
    };
    expect(metadata.uuid).toBe(server.id);
    // The ones being built: made again from the database on live nodes, running there, and
    // reached from vm1 over lab-net (the VXLAN between the nodes, where they are on another).
    const crossings: string[] = [];
    for (const id of caught) {
      let seen: unknown;
      const elsewhere = await waitFor(
        'a server caught building ACTIVE on another node',
        async () => {
          const s = await openstack<ServerView>(['server', 'show', id]);
          seen = s;
          return s.status === 'ACTIVE' && s['OS-EXT-SRV-ATTR:host'] !== victim ? s : undefined;
        },
        120_000,
        1_000,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; last seen: ${JSON.stringify(seen)}`);
      });
      expect(pidsOf(`qemu-system-x86_64 .*-uuid ${id}`)).toHaveLength(1);
      const actions = await openstack<{ Action: string }[]>(['server', 'event', 'list', id]);
      expect(actions.map((a) => a.Action)).toEqual(['evacuate', 'create']);
      // And its migration record, as Nova lists an evacuation.
      const moves = await openstack<Record<string, unknown>[]>([
        '--os-compute-api-version',
        '2.59',
        'server',
        'migration',
        'list',
        '--server',
        id,
      ]);
      expect(moves).toEqual([
        expect.objectContaining({ 'Source Node': victim, 'Dest Host': elsewhere['OS-EXT-SRV-ATTR:host'] }),
      ]);
      expect(moves[0]).toMatchObject({ Status: 'done', Type: 'evacuation' });
      console.log(
        `compute e2e: a server caught building runs on ${elsewhere['OS-EXT-SRV-ATTR:host']} ${Date.now() - died} ms after the power loss`,
      );
      const to = labAddressOf(elsewhere);
      await waitFor(
        `vm1 pinging ${to} over lab-net`,
        () =>
          ssh(`sudo ping -c 1 -W 2 ${to}`).then(
            () => true,
            () => false,
          ),
        90_000,
        2_000,
      );
      if (elsewhere['OS-EXT-SRV-ATTR:host'] !== moved['OS-EXT-SRV-ATTR:host'])
        crossings.push(`${moved['OS-EXT-SRV-ATTR:host']} → ${elsewhere['OS-EXT-SRV-ATTR:host']}`);
    }
    // Evacuated servers go where memory is freest: at least one is on another node than vm1.
    expect(crossings.length).toBeGreaterThan(0);
    console.log(`compute e2e: lab-net reached across nodes ${crossings.join(', ')}`);
    // lab-router made again on a live node (its home was fenced): vm2 answers ssh at its floating
    // IP from the provider network, and is the server Nova shows with it.
    const [home] = await waitFor(
      'lab-router on a live node',
      async () => {
        const holders = await routerHolders(router.id);
        return holders.length === 1 && holders[0] !== victim ? holders : undefined;
      },
      60_000,
      1_000,
    );
    await sshAnswers(`ssh to vm2 at its floating IP ${floating}`, 60_000, floating);
    console.log(
      `compute e2e: power lost → lab-router on ${home}, vm2's floating IP answering in ${Date.now() - died} ms`,
    );
    const vm2 = JSON.parse(
      await ssh('curl -s http://169.254.169.254/openstack/latest/meta_data.json', 20_000, floating),
    ) as { uuid: string };
    expect(vm2.uuid).toBe(caught[0]);
    const shown = await openstack<ServerView>(['server', 'show', caught[0] ?? '']);
    expect(JSON.stringify(shown.addresses)).toContain(floating);
    // Its way out leaves with the floating IP: the provider network's gateway answers it.
    expect(await ssh('sudo ping -c 1 -W 2 10.16.0.1 > /dev/null && echo out', 20_000, floating)).toContain('out');
  }, 600_000);

  it('keeps the guest running when its agent and host service are killed (-9): both restart, the service adopts it, and a reboot through the API still works', async () => {
    const holder = (await openstack<ServerView>(['server', 'show', server.id]))['OS-EXT-SRV-ATTR:host'];
    const qemu = pidsOf(`qemu-system-x86_64 .*-uuid ${server.id}`);
    expect(qemu).toHaveLength(1);
    const [hostService] = pidsOf(`host serve .*--node ${holder} --port`);
    // The agent is the host service's parent (`rackseed node boot`, or `rackseed seed` on the seed).
    const agent = Number(readFileSync(`/proc/${hostService}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
    expect(readFileSync(`/proc/${agent}/cmdline`, 'utf8')).toMatch(/rackseed\.js\0--json\0(node\0boot|seed)/);
    const log = join(
      lab.scopeDir,
      ...(holder === 'seed' ? ['seed'] : [`bmc${holder.replace('node-', '')}`, 'chassis', 'data']),
      ...['agent', 'services', 'host.log'],
    );
    const guests = (await openstack<unknown[]>(['server', 'list', '--host', holder])).length;
    const before = readFileSync(log, 'utf8').length;
    process.kill(agent, 'SIGKILL');
    process.kill(hostService ?? 0, 'SIGKILL');
    await waitFor(
      'the agent run again by its node, its host service adopting the guest',
      () =>
        readFileSync(log, 'utf8')
          .slice(before)
          .includes('"event":"host.guests.adopted","node":' + `"${holder}","adopted":${guests}`),
      60_000,
      500,
    ).catch((error: unknown) => {
      // What the restarted host service said, to see why.
      console.log(`--- ${log} since the kill\n${readFileSync(log, 'utf8').slice(before).slice(-4000)}`);
      throw error;
    });
    expect(pidsOf(`qemu-system-x86_64 .*-uuid ${server.id}`)).toEqual(qemu);
    // Back before its lease ran out: not fenced, the server still there.
    expect((await status()).nodes.find((n) => n.name === holder)?.state).toBe('ready');
    expect((await ssh('sudo cat /root/marker')).trim()).toBe('survived');
    // Through the adopted guest's QMP socket: an ACPI reboot, a second boot on its console.
    const boots = async () =>
      (await openstack<string>(['console', 'log', 'show', server.id], false)).split('rackseed-guest: booting').length;
    const booted = await waitFor('the API answering again', () => boots().catch(() => undefined), 60_000, 1_000);
    await openstack(['server', 'reboot', '--wait', server.id], false);
    await waitFor('a second boot on the console', async () => (await boots()) > booted, 120_000, 1_000);
    await sshAnswers('ssh to the rebooted guest');
    const rebooted = await openstack<ServerView>(['server', 'show', server.id]);
    expect(rebooted).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': holder });
    expect((await ssh('sudo cat /root/marker')).trim()).toBe('survived');
  }, 600_000);

  it('suspends the server (its memory and devices kept on Ceph, no QEMU left) and resumes it where it was: its tmpfs kept', async () => {
    // /dev/shm is memory: a boot would empty it.
    await ssh('echo in-memory | sudo tee /dev/shm/marker > /dev/null');
    const statusIs = (wanted: string) => async () =>
      (await openstack<ServerView>(['server', 'show', server.id])).status === wanted;
    await openstack(['server', 'suspend', server.id], false);
    await waitFor('the server SUSPENDED', statusIs('SUSPENDED'), 120_000, 1_000);
    expect(pidsOf(`qemu-system-x86_64 .*-uuid ${server.id}`)).toEqual([]);
    expect(await tool(['rbd', 'ls', 'vms'])).toContain(`${server.id}_state`);
    await openstack(['server', 'resume', server.id], false);
    await waitFor('the server ACTIVE again', statusIs('ACTIVE'), 120_000, 1_000);
    expect((await ssh('cat /dev/shm/marker')).trim()).toBe('in-memory');
    expect(await tool(['rbd', 'ls', 'vms'])).not.toContain(`${server.id}_state`);
  }, 300_000);

  it('snapshots the server into an image (createImage) and rebuilds the server from it: the disk is the snapshot', async () => {
    // Through Nova's API itself, to see the server while its disk is copied.
    const token = (await openstack<{ id: string }>(['token', 'issue'])).id;
    const dispatcher = trusting(lab.gateway.ca);
    const nova = (method: string, path: string, body?: unknown) =>
      fetch(`${lab.gateway.url}/compute/v2.1/servers/${server.id}${path}`, {
        dispatcher,
        method,
        headers: { 'x-auth-token': token, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const created = await nova('POST', '/action', { createImage: { name: 'vm1-snap' } });
    expect(created.status).toBe(202);
    const snapshot = { id: /images\/([0-9a-f-]{36})$/.exec(created.headers.get('location') ?? '')?.[1] ?? '' };
    const during = ((await (await nova('GET', '')).json()) as { server: Record<string, unknown> }).server;
    expect(during).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': 'image_uploading' });
    expect((await nova('POST', '/action', { 'os-stop': null })).status).toBe(409); // Nova: not while uploading
    await waitFor(
      'the snapshot active',
      async () => (await openstack<{ status: string }>(['image', 'show', snapshot.id])).status === 'active',
      300_000,
      1_000,
    );
    expect((await openstack<Record<string, unknown>>(['server', 'show', server.id]))['OS-EXT-STS:task_state']).toBe(
      null,
    );
    const image = await openstack<{ size: number; properties: Record<string, string> }>(['image', 'show', snapshot.id]);
    expect(image.properties).toMatchObject({ image_type: 'snapshot', instance_uuid: server.id });
    expect(image.size).toBe(1024 ** 3); // the flavor's 1 GB disk, flattened into its own RBD image
    await ssh('echo after-snapshot | sudo tee /root/later > /dev/null && sync');
    const t0 = Date.now();
    await openstack(['server', 'rebuild', '--image', snapshot.id, '--wait', server.id], false);
    const rebuilt = await openstack<ServerView & { image: string }>(['server', 'show', server.id]);
    expect(rebuilt.status).toBe('ACTIVE');
    expect(JSON.stringify(rebuilt.image)).toContain(snapshot.id);
    await sshAnswers('ssh to the rebuilt guest');
    console.log(`compute e2e: rebuild → ssh answering in ${Date.now() - t0} ms`);
    // The snapshot's content (the marker written before it), not what came after.
    expect((await ssh('sudo cat /root/marker')).trim()).toBe('survived');
    expect((await ssh('sudo ls /root')).split(/\s+/)).not.toContain('later');
    expect(await tool(['rbd', 'info', `vms/${server.id}_disk`])).toContain(`parent: images/${snapshot.id}@snap`);
    // Each step is an instance action, the evacuation the cloud's own.
    const events = await openstack<{ Action: string }[]>(['server', 'event', 'list', server.id]);
    expect(events.map((e) => e.Action)).toEqual([
      ...['rebuild', 'createImage', 'resume', 'suspend', 'reboot', 'evacuate', 'create'],
    ]);
    await dispatcher.close();
  }, 600_000);

  it('resizes the server to a larger flavor (its vCPUs, memory and disk seen inside, its disk kept) and confirms; cold-migrates it to another node (ssh answering there) and reverts it back, its disk rolled back', async () => {
    await openstack(['flavor', 'create', '--ram', '256', '--disk', '2', '--vcpus', '2', 'lab.guest.large']);
    const show = () => openstack<ServerView & { flavor: unknown }>(['server', 'show', server.id]);
    const statusIs = (wanted: string) => async () => (await show()).status === wanted;
    const diskBytes = async () => 512 * Number((await ssh('cat /sys/block/vda/size')).trim());
    await ssh('echo before-resize | sudo tee /root/resized > /dev/null && sync');
    const t0 = Date.now();
    await openstack(['server', 'resize', '--flavor', 'lab.guest.large', server.id], false);
    await waitFor('the server VERIFY_RESIZE', statusIs('VERIFY_RESIZE'), 180_000, 1_000);
    await sshAnswers('ssh to the resized guest');
    console.log(`compute e2e: resize → ssh answering in ${Date.now() - t0} ms`);
    expect((await ssh('nproc')).trim()).toBe('2');
    expect(Number(/MemTotal:\s+(\d+)/.exec(await ssh('cat /proc/meminfo'))?.[1])).toBeGreaterThan(192 * 1024);
    expect(await diskBytes()).toBe(2 * 1024 ** 3);
    expect((await ssh('sudo cat /root/resized')).trim()).toBe('before-resize');
    expect(await tool(['rbd', 'snap', 'ls', `vms/${server.id}_disk`])).toContain('resize');
    await openstack(['server', 'resize', 'confirm', server.id], false);
    await waitFor('the server ACTIVE with its new flavor', statusIs('ACTIVE'), 60_000, 1_000);
    expect(JSON.stringify((await show()).flavor)).toContain('lab.guest.large');
    expect(await tool(['rbd', 'snap', 'ls', `vms/${server.id}_disk`])).not.toContain('resize');

    // A cold migration (the admin's): to another node, the same flavor; reverted, back where it was.
    const source = (await show())['OS-EXT-SRV-ATTR:host'];
    await openstack(['server', 'migrate', server.id], false);
    await waitFor('the migrated server VERIFY_RESIZE', statusIs('VERIFY_RESIZE'), 180_000, 1_000);
    const moved = await show();
    expect(moved['OS-EXT-SRV-ATTR:host']).not.toBe(source);
    await sshAnswers('ssh to the migrated guest');
    expect(pidsOf(`qemu-system-x86_64 .*-uuid ${server.id}`)).toHaveLength(1); // none left on the source
    expect(await tool(['rbd', 'snap', 'ls', `vms/${server.id}_disk`])).toContain('resize');
    await openstack(['server', 'resize', 'revert', server.id], false);
    await waitFor('the reverted server ACTIVE', statusIs('ACTIVE'), 180_000, 1_000);
    // Back on its node, its disk rolled back to the snapshot, which is gone (the host service
    // test reads a rolled-back disk; no second wait for this guest's ssh here).
    expect((await show())['OS-EXT-SRV-ATTR:host']).toBe(source);
    expect(pidsOf(`qemu-system-x86_64 .*-uuid ${server.id}`)).toHaveLength(1);
    expect(await tool(['rbd', 'snap', 'ls', `vms/${server.id}_disk`])).not.toContain('resize');
    // Newest first: the two of this step (its evacuation before them).
    const migrations = await openstack<{ Status: string }[]>(['server', 'migration', 'list', '--server', server.id]);
    expect(migrations.slice(0, 2).map((m) => m.Status)).toEqual(['reverted', 'confirmed']);
    const events = await openstack<{ Action: string }[]>(['server', 'event', 'list', server.id]);
    expect(events.slice(0, 4).map((e) => e.Action)).toEqual(['revertResize', 'migrate', 'confirmResize', 'resize']);
  }, 900_000);

  it('shelves the server (its disk kept as an image, nothing of it left on any node) and unshelves it: ssh answers, its disk as it was, the image gone', async () => {
    const show = () => openstack<ServerView>(['server', 'show', server.id]);
    const statusIs = (wanted: string) => async () => (await show()).status === wanted;
    const shelvedImage = async () =>
      openstack<{ ID: string; Status: string }[]>(['image', 'list', '--name', `${server.name}-shelved`]);
    // Up first (the revert above started it): its ACPI power-down is answered, not timed out.
    await sshAnswers('ssh to the reverted guest');
    const t0 = Date.now();
    await openstack(['server', 'shelve', server.id], false);
    await waitFor('the server SHELVED_OFFLOADED', statusIs('SHELVED_OFFLOADED'), 180_000, 1_000);
    const t1 = Date.now();
    expect((await show())['OS-EXT-SRV-ATTR:host']).toBeNull(); // on no host
    expect(pidsOf(`qemu-system-x86_64 .*-uuid ${server.id}`)).toEqual([]);
    expect(await tool(['rbd', 'ls', 'vms'])).not.toContain(server.id);
    const [image] = await shelvedImage();
    expect(image?.Status).toBe('active');
    expect(await tool(['rbd', 'ls', 'images'])).toContain(image?.ID);

    await openstack(['server', 'unshelve', server.id], false);
    await waitFor('the unshelved server ACTIVE', statusIs('ACTIVE'), 180_000, 1_000);
    await sshAnswers('ssh to the unshelved guest');
    console.log(`compute e2e: shelve → offloaded ${t1 - t0} ms, unshelve → ssh answering in ${Date.now() - t1} ms`);
    // Written and synced before the resize above, whose revert kept it.
    expect((await ssh('sudo cat /root/resized')).trim()).toBe('before-resize');
    // Its disk a whole copy of the shelved image, which is gone (from Glance and from RBD).
    expect(await tool(['rbd', 'info', `vms/${server.id}_disk`])).not.toContain('parent:');
    expect(await shelvedImage()).toEqual([]);
    expect(await tool(['rbd', 'ls', 'images'])).not.toContain(image?.ID);
    const events = await openstack<{ Action: string }[]>(['server', 'event', 'list', server.id]);
    expect(events.slice(0, 2).map((e) => e.Action)).toEqual(['unshelve', 'shelve']);
  }, 600_000);

  it('deletes the servers and the router: nothing of theirs is left (RBD disk, QEMU, tap and its nftables chains, the router on any live node), then the images go', async () => {
    const ports = await Promise.all(
      [server.id, ...caught].map(async (id) => openstack<{ ID: string }[]>(['port', 'list', '--server', id])),
    );
    const taps = ports.flat().map((p) => `tap${p.ID.slice(0, 11)}`);
    expect(taps).toHaveLength(4);
    await openstack(['server', 'delete', '--wait', server.id, ...caught], false);
    // The floating IP (unbound with vm2's port), then lab-router.
    for (const fip of await openstack<{ ID: string }[]>(['floating', 'ip', 'list']))
      await openstack(['floating', 'ip', 'delete', fip.ID], false);
    await openstack(['router', 'remove', 'subnet', 'lab-router', 'lab-subnet'], false);
    await openstack(['router', 'delete', 'lab-router'], false);
    await waitFor(
      'lab-router gone from every node',
      async () => (await routerHolders(router.id)).length === 0,
      30_000,
      500,
    );
    const disks = await tool(['rbd', 'ls', 'vms']);
    for (const id of [server.id, ...caught]) {
      expect(disks).not.toContain(id);
      expect(pidsOf(`qemu-system-x86_64 .*-uuid ${id}`)).toEqual([]);
    }
    // Every live machine's namespace (the powered-off one keeps its devices, as a dead box would its RAM).
    const machines = [{ name: 'seed', netns: lab.seedNetns }, ...lab.servers];
    const live = machines.filter((m) => m.name !== victim);
    expect(live).toHaveLength(3);
    for (const { netns } of live) {
      const links = (await run('ip', ['-n', netns, '-o', 'link', 'show'])).stdout;
      // Nor their firewall and anti-spoofing chains.
      const rules = (await run('ip', ['netns', 'exec', netns, 'nft', 'list', 'ruleset'])).stdout;
      for (const tap of taps) {
        expect(links).not.toContain(tap);
        expect(rules).not.toContain(tap);
      }
      // Nor lab-net's bridge and VXLAN device, once its last port on the node is gone (lab-router's too).
      expect(links).not.toMatch(/: (brv|vxl)\d+[:@]/);
    }
    // Nor lab-router's namespace on a live node (the dead node's is there until lab down, as the
    // rest of its devices).
    const dead = machines.find((m) => m.name === victim)?.netns ?? '';
    const namespaces = (await run('ip', ['netns', 'list'])).stdout.split('\n');
    expect(namespaces.filter((ns) => ns.includes('-guests')).length).toBeGreaterThan(3);
    expect(namespaces.filter((ns) => ns.includes(router.id) && !ns.startsWith(`${dead}-`))).toEqual([]);
    await openstack(['network', 'delete', 'lab-net'], false);
    await openstack(['image', 'delete', 'vm1-snap'], false);
    await openstack(['image', 'delete', 'guest'], false);
    expect((await tool(['rbd', 'ls', 'images'])).trim()).toBe('');
  }, 300_000);
});
