import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { childEnv, RackseedError, votersOf } from '../../agent/index.js';
import { startLabGateway } from './gateway.js';
import { addLabServer, buildLabRack, type LabBoot } from './rack.js';
import { processRunning, Scope } from './scope.js';
import { waitFor } from './wait.js';

/**
 * The lab rack: a whole rack on this machine from real parts, in network namespaces. Its
 * hardware (provisioning and BMC networks, servers behind OpenIPMI BMCs, see rack.ts) plus the
 * seed, run as `rackseed seed` on the seed host when its own BMC powers it on (as an operator
 * presses the power button of the server with the USB key): the seed finds the BMCs (its own
 * among them, known by its GUID, which lets the cluster fence it), takes them over,
 * powers the servers on; each server's firmware netboots it (really: DHCP and HTTP boot) and
 * runs `rackseed node boot`, which enrolls it and starts its agent. `labUp` returns once every
 * server is a ready node; the lab stays up (a persistent scope in `dir`) until `labDown`.
 */

/** What `rackseed lab status` reads back: written next to the lab's scope. */
export interface LabInfo {
  readonly scopeDir: string;
  readonly bridgeNetns: string;
  readonly bmcSubnet: string;
  /** What a powered-on server runs after its firmware (`rackseed node boot`). */
  readonly bootCommand: readonly string[];
  readonly seedNetns: string;
  readonly seedIp: string;
  /** The seed server's BMC (it powered the seed on; the cluster fences the seed through it). */
  readonly seedBmc: string;
  /** The cluster's etcd as the seed serves it (reachable from the seed namespace). */
  readonly etcd: string;
  /** The seed's node certificate (its data dir's `tls`): what the operator's commands reach etcd with. */
  readonly tls: string;
  readonly servers: readonly {
    name: string;
    netns: string;
    mac: string;
    /** The SMBIOS GUID (32 hex digits) its BMC reports and its firmware boots with. */
    guid: string;
    bmc: string;
    boot: LabBoot;
  }[];
  readonly seedLog: string;
  /** The cloud's admin password (the seed's cluster identity; mode 0600). */
  readonly adminPasswordFile: string;
  /** The lab gateway: the API of the live nodes on the host (see gateway.ts), and the CA its certificates are from (a file). */
  readonly gateway: { url: string; port: number; ca: string };
  readonly createdAt: string;
}

export interface LabUpOptions {
  /** Where labs live (each in a scope directory of its own). */
  dir: string;
  servers: number;
  /** How to run rackseed (`[node, bin/rackseed.js]`); the seed and every node run this. */
  rackseed: readonly string[];
  /** The netboot image to serve (kernel + initrd, `make image`); netns servers fetch it but do not boot it. */
  image?: { dir: string; kernel: string; initrd: string };
  /** How many of the servers (the first ones) PXE-boot `image` in QEMU; the others boot in namespaces (default 0). */
  qemu?: number;
  /** The service catalog every node runs. */
  services?: readonly LabService[];
  /**
   * The seed and every server take part in Ceph and run the cloud over it (netns servers only:
   * the netboot image has no Ceph); the API advertises the lab gateway's URL.
   */
  ceph?: boolean;
  readyTimeoutMs?: number;
  /** The lab gateway's port on 127.0.0.1 (default: a free one). */
  gatewayPort?: number;
  onProgress?: (line: string) => void;
}

/** A service of the lab's catalog (seed.yaml `services`). */
export interface LabService {
  name: string;
  placement: 'everywhere' | 'singleton';
  command: string[];
}

const FACTORY_PASSWORD = 'lab-factory';

/**
 * What the lab adds to every node's ceph.conf (seed.yaml's `cephConfig`; the agent tests give
 * it too), and only what a lab on one machine needs: its monitors keep their data on this
 * machine's one disk, whose free space is the developer's, not the cluster's. With Ceph's
 * thresholds a disk 70 % full would hold the lab at HEALTH_WARN (MON_DISK_LOW) for a reason no
 * node can fix, and at 95 % its monitors would stop. A real node's monitor has a disk of its
 * own, and keeps Ceph's thresholds. Nothing else is muted: a lab of one server has pools of one
 * copy and says so (POOL_NO_REDUNDANCY), as a real one would.
 */
export const LAB_CEPH_CONFIG: Readonly<Record<string, string>> = {
  mon_data_avail_warn: '2',
  mon_data_avail_crit: '1',
};

/** Node lease TTL (s) in labs with QEMU servers. */
const QEMU_LEASE_TTL = 15;

export class LabError extends RackseedError {
  constructor(code: 'LAB_ERR_NO_IMAGE', message: string) {
    super(code, message);
  }
}

/**
 * The lab's etcd client URLs: the seed's, and the voters its agent last saw (it keeps them in
 * its data directory), so that the lab is reached after the seed's death too.
 */
export function labEtcd(info: LabInfo): string {
  let voters: readonly string[] = [];
  try {
    voters = votersOf(readFileSync(join(info.scopeDir, 'seed', 'agent', 'etcd-endpoints.json'), 'utf8'));
  } catch {
    // Not written before etcd has a second member.
  }
  return [...new Set([info.etcd, ...voters])].join(',');
}

/** Runs rackseed inside the seed's namespace (the lab's etcd in RACKSEED_ETCD) and returns its stdout. */
export async function inSeed(info: LabInfo, rackseed: readonly string[], args: readonly string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', info.seedNetns, ...rackseed, ...args],
      { timeout: 30_000, env: childEnv({ RACKSEED_ETCD: labEtcd(info), RACKSEED_TLS: info.tls }) },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${args.join(' ')}: ${stderr || error.message}`)) : resolvePromise(stdout),
    );
  });
}

/** How much of each log {@link labLogTails} gives: enough for the last steps, not a flood. */
const TAIL_LINES = 40;

/**
 * The tails of a lab's logs: each machine's (the seed's is bmc0's node.log, a server's its
 * node.log and QEMU console), each DB master candidate's, and the gateway relay's. `lab up` adds them to its error when the
 * rack does not come up (it removes the rack), and tests print them when they fail.
 */
export function labLogTails(scopeDir: string): string {
  if (!existsSync(scopeDir)) return '';
  const files = [
    ...readdirSync(scopeDir)
      .filter((d) => /^bmc\d+$/.test(d))
      .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
      .flatMap((d) => ['node.log', 'console.log'].map((f) => join(scopeDir, d, 'chassis', f))),
    join(scopeDir, 'seed', 'agent', 'services', 'db-master.log'),
    ...readdirSync(scopeDir)
      .filter((d) => /^bmc\d+$/.test(d))
      .map((d) => join(scopeDir, d, 'chassis', 'data', 'agent', 'services', 'db-master.log')),
    join(scopeDir, 'gateway-relay.log'),
  ];
  return files
    .filter((file) => existsSync(file))
    .map((file) => {
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      const shown = Math.min(TAIL_LINES, lines.length);
      return `--- ${file} (last ${shown} of ${lines.length} lines)\n${lines.slice(-TAIL_LINES).join('\n')}`;
    })
    .join('\n');
}

/** Builds a lab rack, starts its seed and waits until every server is a ready node. */
export async function labUp(options: LabUpOptions): Promise<LabInfo> {
  mkdirSync(options.dir, { recursive: true });
  const progress = options.onProgress ?? (() => {});
  const bootCommand = [...options.rackseed, '--json', 'node', 'boot'];
  if ((options.qemu ?? 0) > 0 && !options.image)
    throw new LabError('LAB_ERR_NO_IMAGE', 'QEMU servers boot the netboot image: give one (`make image` builds it)');
  const hardware = await buildLabRack({
    servers: options.servers,
    factoryPassword: FACTORY_PASSWORD,
    bootCommand,
    seedCommand: (scopeDir) => [...options.rackseed, '--json', 'seed', '--config', join(scopeDir, 'seed.yaml')],
    qemu: options.qemu ?? 0,
    persistent: { root: resolve(options.dir) },
  });
  try {
    const qemu = hardware.servers.filter((s) => s.boot === 'qemu').length;
    progress(
      `rack: ${options.servers} servers (powered off; ${qemu} boot in QEMU) on ${hardware.network.subnet}, BMCs on ${hardware.network.bmc?.subnet}`,
    );
    const dir = hardware.scope.dir;
    let image = options.image;
    if (!image) {
      // Netns servers fetch the kernel and initrd over HTTP but run rackseed from this file system.
      const placeholder = join(dir, 'netns-image');
      mkdirSync(placeholder, { recursive: true });
      writeFileSync(join(placeholder, 'vmlinuz'), 'netns lab: the firmware fetches this file, it does not boot it\n');
      writeFileSync(
        join(placeholder, 'initrd.img'),
        'netns lab: the firmware fetches this file, it does not boot it\n',
      );
      image = { dir: placeholder, kernel: 'vmlinuz', initrd: 'initrd.img' };
    }
    // The gateway's URL is known before the nodes start: their API advertises it.
    const gatewayPort = options.gatewayPort ?? (await hardware.scope.port());
    const publicUrl = `https://127.0.0.1:${gatewayPort}`;
    const net = hardware.network.subnet.replace(/\.0\/24$/, '');
    const config = {
      cluster: 'lab',
      name: 'seed',
      dataDir: join(dir, 'seed'),
      provisioning: { interface: 'eth0', subnet: hardware.network.subnet, range: `${net}.100-${net}.199` },
      image: { ...image, cmdline: 'console=ttyS0' },
      bmc: {
        cidr: hardware.network.bmc?.subnet ?? '',
        factory: [{ user: 'admin', password: FACTORY_PASSWORD }],
        rescanSeconds: 10,
      },
      enrollment: { autoAccept: true },
      // TCG guests on a shared 2-core machine stall for seconds: the 3 s default lease would
      // have their nodes fenced as dead while they are only slow.
      ...(qemu > 0 ? { leaseTtl: QEMU_LEASE_TTL } : {}),
      services: options.services ?? [],
      ...(options.ceph ? { ceph: true, cephConfig: LAB_CEPH_CONFIG, publicUrl } : {}),
    };
    writeFileSync(join(dir, 'seed.yaml'), stringify(config), { mode: 0o600 });
    const info: LabInfo = {
      scopeDir: dir,
      bridgeNetns: hardware.network.bridgeNetns,
      bmcSubnet: hardware.network.bmc?.subnet ?? '',
      bootCommand,
      seedNetns: hardware.seedNetns,
      seedIp: hardware.seedIp,
      seedBmc: hardware.seedBmc.host,
      etcd: `https://${hardware.seedIp}:2379`,
      tls: join(dir, 'seed', 'tls'),
      servers: hardware.servers.map((s) => ({
        name: `node-${s.index}`,
        netns: s.netns,
        mac: s.mac,
        guid: s.guid,
        bmc: s.bmc.host,
        boot: s.boot,
      })),
      seedLog: join(hardware.seedBmc.stateDir, 'node.log'),
      // Where the seed's ensureIdentity keeps it (dataDir/cluster).
      adminPasswordFile: join(dir, 'seed', 'cluster', 'admin-password'),
      // The seed's copy of the cluster CA (NodeTls's ca.crt).
      gateway: { url: publicUrl, port: gatewayPort, ca: join(dir, 'seed', 'tls', 'ca.crt') },
      createdAt: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'lab.json'), `${JSON.stringify(info, null, 2)}\n`);
    // The operator powers the seed's server on: its BMC runs the seed in the seed's namespace.
    await hardware.seedBmc.ipmitool(['chassis', 'power', 'on']);
    const seedAlive = () => {
      const [pid] = readFileSync(join(hardware.seedBmc.stateDir, 'node.pid'), 'utf8').split(' ');
      return processRunning(Number(pid));
    };
    progress(`seed powered on through its BMC ${hardware.seedBmc.host}, on ${hardware.seedIp} (log: ${info.seedLog})`);
    // Up from the start: it finds the nodes in etcd as they register.
    const gateway = await startLabGateway({
      scope: hardware.scope,
      netns: info.bridgeNetns,
      rackseed: options.rackseed,
      backends: { etcd: [info.etcd], tlsDir: info.tls },
      port: gatewayPort,
    });
    progress(`gateway: the nodes' API on ${gateway.url} (relay log: ${gateway.relay.logFile})`);
    const names = new Set(info.servers.map((s) => s.name));
    let last = '';
    await waitFor(
      `every server of the lab to be a ready node (seed log: ${info.seedLog})`,
      async () => {
        if (!seedAlive()) throw new Error(`the seed exited: ${readFileSync(info.seedLog, 'utf8').slice(-2000)}`);
        const status = JSON.parse(await inSeed(info, options.rackseed, ['--json', 'status'])) as {
          nodes: { name: string; state: string }[];
        };
        const line = status.nodes.map((n) => `${n.name}=${n.state}`).join(' ');
        if (line !== last) progress(`nodes: ${line}`);
        last = line;
        return [...names].every((name) => status.nodes.some((n) => n.name === name && n.state === 'ready'));
      },
      options.readyTimeoutMs ?? 180_000,
      1_000,
    );
    return info;
  } catch (error) {
    const tails = labLogTails(hardware.scope.dir);
    await hardware.destroy();
    if (error instanceof Error && tails) error.message += `\nthe lab's logs, before it was removed:\n${tails}`;
    throw error;
  }
}

/** The labs under `dir`. */
export function labs(dir: string): LabInfo[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((d) => join(resolve(dir), d, 'lab.json'))
    .filter((f) => existsSync(f))
    .map((f) => JSON.parse(readFileSync(f, 'utf8')) as LabInfo);
}

/**
 * Cables one more server into the lab (namespace and BMC, powered off); the provisioner's
 * rescan finds it, powers it on, and it joins. Resolves with its expected node name and the lab
 * as it is now (also written to lab.json).
 */
export async function labAdd(info: LabInfo): Promise<{ name: string; lab: LabInfo }> {
  const server = await addLabServer({
    scopeDir: info.scopeDir,
    bridgeNetns: info.bridgeNetns,
    bmcSubnet: info.bmcSubnet,
    servers: info.servers.length,
    factoryPassword: FACTORY_PASSWORD,
    bootCommand: info.bootCommand,
  });
  const name = `node-${server.index}`;
  const updated: LabInfo = {
    ...info,
    servers: [
      ...info.servers,
      { name, netns: server.netns, mac: server.mac, guid: server.guid, bmc: server.bmc.host, boot: server.boot },
    ],
  };
  writeFileSync(join(info.scopeDir, 'lab.json'), `${JSON.stringify(updated, null, 2)}\n`);
  return { name, lab: updated };
}

/**
 * Cuts or restores a lab machine's power at its BMC's chassis, as when its plug is pulled or put
 * back (no IPMI, no password): `seed` is bmc0's, `node-N` bmcN's. Powering on runs what the BMC
 * runs at power-on (the seed, or a server's firmware); powering off kills it.
 */
export function labPower(info: Pick<LabInfo, 'scopeDir'>, machine: string, power: 'on' | 'off'): void {
  const index = machine === 'seed' ? '0' : /^node-(\d+)$/.exec(machine)?.[1];
  if (index === undefined) throw new Error(`${machine} is not a machine of the lab (seed, node-N)`);
  const stateDir = join(info.scopeDir, `bmc${index}`, 'chassis');
  const argv = [join(info.scopeDir, 'chassis-control.sh'), stateDir, 'set', 'power', power === 'on' ? '1' : '0'];
  execFileSync('sh', argv, { env: childEnv() });
}

/** Removes every lab under `dir`: kills its processes by pid and deletes its namespaces. */
export async function labDown(dir: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  let removed = 0;
  for (const entry of readdirSync(dir)) {
    const scopeDir = join(resolve(dir), entry);
    if (!existsSync(join(scopeDir, 'owner'))) continue;
    await Scope.reopen(scopeDir).close();
    removed++;
  }
  return removed;
}
