import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { childEnv } from '../../agent/process/index.js';
import { NETNS_FIRMWARE_SCRIPT, rerunOnFailure } from './firmware.js';
import { type SimulatedBmc, startSimulatedBmcs } from './ipmi-sim.js';
import { addNamespace, createNetworkLab, type NetworkLab, plug } from './netns.js';
import { Scope } from './scope.js';
import { sparseFile } from './sparse-file.js';

const execFileAsync = promisify(execFile);
const run = (command: string, args: readonly string[], options: { timeout: number }) =>
  execFileAsync(command, args, { ...options, env: childEnv() });

/** One server of the lab rack: its own namespace (powered off until its BMC powers it on) and its BMC. */
export interface LabServer {
  readonly index: number;
  readonly netns: string;
  readonly mac: string;
  /** The SMBIOS GUID its firmware sends in DHCP option 97, the same its BMC reports. */
  readonly guid: string;
  readonly bmc: SimulatedBmc;
  /** Where its BMC's chassis program and firmware keep their state and `node.log`. */
  readonly stateDir: string;
  /**
   * How it boots at power-on: the netns firmware, or QEMU PXE-booting the image (console in
   * `console.log`, its disk `/dev/vda` in `disk.img`).
   */
  readonly boot: LabBoot;
}

/**
 * How a lab server boots when its BMC powers it on. `netns`: the firmware script runs in the
 * server's namespace (DHCP and HTTP as iPXE would) and then `rackseed node boot` on this file
 * system. `qemu`: a QEMU guest (TCG, 2 GiB) on a tap of the provisioning bridge PXE-boots (its
 * built-in iPXE ROM) the image the seed serves, whose /init runs `rackseed node boot`; it has
 * a blank disk (virtio, `/dev/vda`) for its OSD.
 */
export type LabBoot = 'netns' | 'qemu';

/** The lab rack's hardware: networks, servers and BMCs. The seed is started by the caller. */
export interface LabRackHardware {
  readonly scope: Scope;
  readonly network: NetworkLab;
  /**
   * The host the seed runs on: `eth0` on the provisioning network, `eth1` on the BMC network.
   * Every server has an `eth1` on the BMC network too: whichever node holds the fencer must
   * reach every BMC.
   */
  readonly seedNetns: string;
  readonly seedIp: string;
  /**
   * The seed host's BMC (index 0, on the BMC network at .10): powering it on runs `seedCommand`
   * in the seed's namespace, powering it off kills it; the seed knows it as its own by its GUID.
   */
  readonly seedBmc: SimulatedBmc;
  readonly servers: readonly LabServer[];
  /** Stops everything and removes every namespace. */
  destroy(): Promise<void>;
}

export interface LabRackOptions {
  /** How many servers besides the seed. */
  servers: number;
  /** The BMCs' factory admin password (the seed replaces it on each BMC it finds). */
  factoryPassword: string;
  /**
   * What a powered-on server runs after its firmware booted: argv, run with the kernel command
   * line in RACKSEED_CMDLINE (in the lab, `rackseed node boot`).
   */
  bootCommand: readonly string[];
  /**
   * What the seed host runs when its BMC powers it on (given the lab's scope directory), with its
   * GUID in RACKSEED_GUID; none: the seed host stays empty and the caller uses its namespace.
   */
  seedCommand?: (scopeDir: string) => readonly string[];
  /** How many servers (the first ones: n1, n2…) boot the image in QEMU instead of in a namespace (default 0). */
  qemu?: number;
  /** Keep the rack after this process exits, in a scope under `root` (`rackseed lab up`). */
  persistent?: { root: string };
}

const shellQuote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** The SMBIOS GUID of server `index` of the rack whose scope id is `scopeId`. */
const guidOf = (scopeId: string, index: number) =>
  `5a17ab00${scopeId.padStart(8, '0')}0000${index.toString(16).padStart(12, '0')}`;

/** The SMBIOS UUID QEMU is given (`-uuid`): the GUID's 32 hex digits as 8-4-4-4-12. */
export const qemuUuid = (guid: string) =>
  [guid.slice(0, 8), guid.slice(8, 12), guid.slice(12, 16), guid.slice(16, 20), guid.slice(20)].join('-');

/** Size of a QEMU server's disk: a sparse file, so it takes only what the OSD writes. */
const LAB_DISK_BYTES = 8 * 1024 ** 3;

/**
 * A QEMU server's disk, `disk.img` in its state dir (removed with the lab): made blank and sparse
 * the first time, kept across power cycles as a real disk is.
 */
function labDisk(stateDir: string): string {
  const file = join(stateDir, 'disk.img');
  return existsSync(file) ? file : sparseFile(file, LAB_DISK_BYTES);
}

/** What a server's BMC runs at power-on: its firmware in its namespace, or its QEMU guest. */
function powerOnCommand(
  scope: Scope,
  server: {
    netns: string;
    index: number;
    mac: string;
    stateDir: string;
    boot: LabBoot;
    bridgeNetns: string;
    /** Its address on the BMC network (`a.b.c.d/24`). */
    mgmt: string;
  },
  bootCommand: readonly string[],
): string {
  const guid = guidOf(scope.id, server.index);
  const argv =
    server.boot === 'netns'
      ? [
          'ip',
          'netns',
          'exec',
          server.netns,
          'env',
          `${PROVIDER_UPLINK_ENV}=eth2`,
          'sh',
          join(scope.dir, 'firmware.sh'),
          server.stateDir,
          guid,
          ...bootCommand,
        ]
      : [
          'ip',
          'netns',
          'exec',
          server.bridgeNetns,
          'qemu-system-x86_64',
          // 2 GiB: the unpacked initramfs (~230 MB of tmpfs), the agent, and an OSD (memory target 896 MiB).
          // `-cpu max`: TCG's default qemu64 lacks instructions Debian's ceph-mon and ceph-osd use
          // (both died of SIGILL on it).
          ...['-machine', 'pc,accel=tcg', '-cpu', 'max', '-m', '2048', '-smp', '2', '-uuid', qemuUuid(guid)],
          ...['-nographic', '-monitor', 'none', '-serial', `file:${join(server.stateDir, 'console.log')}`],
          ...['-boot', 'n', '-netdev', `tap,id=n0,ifname=${qemuTap(server.index)},script=no,downscript=no`],
          ...['-device', `virtio-net-pci,netdev=n0,mac=${server.mac}`],
          // The management NIC (eth1) on the BMC network, without a boot ROM; the image's /init
          // reads its address from fw_cfg.
          ...['-netdev', `tap,id=n1,ifname=${mgmtTap(server.index)},script=no,downscript=no`],
          ...['-device', `virtio-net-pci,netdev=n1,mac=${mgmtMac(server.mac)},romfile=`],
          ...['-fw_cfg', `name=opt/rackseed/mgmt,string=${server.mgmt}`],
          // cache=unsafe: the disk is the lab's scratch; no flush reaches this machine's disk.
          ...['-drive', `file=${labDisk(server.stateDir)},if=virtio,format=raw,cache=unsafe,discard=unmap`],
        ];
  return `exec ${argv.map(shellQuote).join(' ')}`;
}

/** The taps of server `index`'s QEMU guest, on br0 and br1 in the bridge namespace (deleted with it). */
const qemuTap = (index: number) => `q${index}`;
const mgmtTap = (index: number) => `m${index}`;
/** The management NIC's MAC: the provisioning NIC's, locally administered one further (52:54:00 → 52:54:01). */
const mgmtMac = (mac: string) => mac.replace(/^52:54:00:/, '52:54:01:');
/** A server's address on the BMC network, as createNetworkLab and addLabServer give it (.200 is the seed's). */
const mgmtAddress = (bmcSubnet: string, index: number) => `${bmcSubnet.replace(/\.0\/24$/, '')}.${200 + index}/24`;

/**
 * Rewires a server for QEMU boot: its namespace gives up its NICs (their MAC and address move to
 * the guest's virtio NICs) and the guest's taps join br0 and br1. All of it lives in namespaces
 * of the lab's scope, so removing the lab removes it.
 */
async function cableQemu(bridgeNetns: string, server: { netns: string; index: number }): Promise<void> {
  const ip = (...args: string[]) => run('ip', args, { timeout: 10_000 });
  for (const [nic, tap, bridge] of [
    ['eth0', qemuTap(server.index), 'br0'],
    ['eth1', mgmtTap(server.index), 'br1'],
  ] as const) {
    await ip('-n', server.netns, 'link', 'del', nic); // and its peer on the bridge
    await ip('-n', bridgeNetns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    await ip('-n', bridgeNetns, 'link', 'set', tap, 'master', bridge, 'up');
  }
}

/**
 * The lab's provider network: what the cloud's `provider` network is (appliance/api/bootstrap.ts),
 * on br2; each lab machine's `eth2` is its guests' uplink, and the bridge namespace holds the
 * gateway, from where tests reach the guests.
 */
export const LAB_PROVIDER_NETWORK = { cidr: '10.16.0.0/16', gateway: '10.16.0.1' } as const;

/** The environment variable that names a machine's provider-network uplink to its host service (the lab sets `eth2`). */
export const PROVIDER_UPLINK_ENV = 'RACKSEED_PROVIDER_UPLINK';

/**
 * Builds the lab rack's hardware in network namespaces: a provisioning bridge with the seed
 * host (addressed) and one namespace per server (no address: it gets one by DHCP), and a BMC
 * bridge with one OpenIPMI `ipmi_sim` per server, reachable from the seed host only. Powering a
 * server on (over IPMI) runs its firmware in its namespace; powering it off kills all of it.
 */
export async function buildLabRack(options: LabRackOptions): Promise<LabRackHardware> {
  const scope = options.persistent
    ? Scope.open('lab', { root: options.persistent.root, persistent: true })
    : Scope.open('lab');
  try {
    const names = Array.from({ length: options.servers }, (_, i) => `n${i + 1}`);
    const network = await createNetworkLab({
      hosts: ['seed', ...names],
      addresses: ['seed'],
      bmcNetwork: { count: options.servers, access: ['seed', ...names] },
      providerNetwork: { ...LAB_PROVIDER_NETWORK, access: ['seed', ...names] },
      scope,
    });
    const bmcAddresses = network.bmc?.addresses ?? [];
    writeFileSync(join(scope.dir, 'firmware.sh'), NETNS_FIRMWARE_SCRIPT, { mode: 0o755 });
    const boot = (index: number): LabBoot => (index <= (options.qemu ?? 0) ? 'qemu' : 'netns');
    for (let index = 1; index <= (options.qemu ?? 0) && index <= options.servers; index++)
      await cableQemu(network.bridgeNetns, { netns: network.host(`n${index}`).netns, index });
    // The seed host's BMC at .10, before the servers' .11, .12, …
    const seedBmcAddress = `${(network.bmc?.subnet ?? '').replace(/\.0\/24$/, '')}.10`;
    await run('ip', ['-n', network.bridgeNetns, 'addr', 'add', `${seedBmcAddress}/24`, 'dev', 'br1'], {
      timeout: 10_000,
    });
    const seedCommand = options.seedCommand?.(scope.dir);
    const rack = await startSimulatedBmcs({
      count: options.servers + 1,
      firstIndex: 0,
      netns: network.bridgeNetns,
      addresses: [seedBmcAddress, ...bmcAddresses],
      password: options.factoryPassword,
      guid: (index) => guidOf(scope.id, index),
      scope,
      onPowerOn: ({ index, stateDir }) => {
        if (index === 0) {
          writeFileSync(join(stateDir, 'machine-netns'), network.host('seed').netns);
          const argv = [
            'ip',
            'netns',
            'exec',
            network.host('seed').netns,
            'env',
            `RACKSEED_GUID=${guidOf(scope.id, 0)}`,
            `${PROVIDER_UPLINK_ENV}=eth2`,
          ];
          return seedCommand ? rerunOnFailure([...argv, ...seedCommand].map(shellQuote).join(' ')) : '';
        }
        const { netns, mac } = network.host(`n${index}`);
        if (boot(index) === 'netns') writeFileSync(join(stateDir, 'machine-netns'), netns);
        const server = {
          ...{ netns, index, mac, stateDir, boot: boot(index), bridgeNetns: network.bridgeNetns },
          mgmt: mgmtAddress(network.bmc?.subnet ?? '', index),
        };
        return powerOnCommand(scope, server, options.bootCommand);
      },
    });
    const [seedBmc, ...serverBmcs] = rack.bmcs;
    if (!seedBmc) throw new Error("the seed host's BMC did not start");
    const servers = serverBmcs.map((bmc) => {
      const host = network.host(`n${bmc.index}`);
      return {
        index: bmc.index,
        netns: host.netns,
        mac: host.mac,
        guid: bmc.guid,
        bmc,
        stateDir: bmc.stateDir,
        boot: boot(bmc.index),
      };
    });
    const seed = network.host('seed');
    return {
      scope,
      network,
      seedNetns: seed.netns,
      seedIp: seed.ip ?? '',
      seedBmc,
      servers,
      destroy: () => scope.close(),
    };
  } catch (error) {
    await scope.close();
    throw error;
  }
}

/**
 * Cables one more server into a running lab rack (reopened from its scope directory): its
 * namespace on the provisioning bridge and its BMC on the BMC network, powered off, with the
 * rack's factory password. The seed's next scan finds it.
 */
export async function addLabServer(rack: {
  scopeDir: string;
  bridgeNetns: string;
  bmcSubnet: string;
  servers: number;
  factoryPassword: string;
  bootCommand: readonly string[];
}): Promise<LabServer> {
  const scope = Scope.reopen(rack.scopeDir);
  const index = rack.servers + 1;
  const port = rack.servers + 2; // p1 is the seed's, p2… the servers'
  const netns = `rsb-${scope.id}-n${index}`;
  const mac = `52:54:00:${scope.id.slice(0, 2)}:${scope.id.slice(2, 4)}:${port.toString(16).padStart(2, '0')}`;
  const bmcNet = rack.bmcSubnet.replace(/\.0\/24$/, '');
  const bmcAddress = `${bmcNet}.${10 + index}`;
  await addNamespace(scope, netns);
  await plug({ bridgeNetns: rack.bridgeNetns, bridge: 'br0', port: `p${port}`, netns, iface: 'eth0', mac });
  // Its management NIC on the BMC network, as every server has (see buildLabRack).
  await plug({
    bridgeNetns: rack.bridgeNetns,
    bridge: 'br1',
    port: `b${index + 1}`,
    netns,
    iface: 'eth1',
    address: mgmtAddress(rack.bmcSubnet, index),
  });
  await run('ip', ['-n', rack.bridgeNetns, 'addr', 'add', `${bmcAddress}/24`, 'dev', 'br1'], { timeout: 10_000 });
  // And its guests' uplink on the provider network.
  await plug({ bridgeNetns: rack.bridgeNetns, bridge: 'br2', port: `g${port}`, netns, iface: 'eth2' });
  const { bmcs } = await startSimulatedBmcs({
    count: 1,
    firstIndex: index,
    netns: rack.bridgeNetns,
    addresses: [bmcAddress],
    password: rack.factoryPassword,
    guid: (i) => guidOf(scope.id, i),
    scope,
    onPowerOn: ({ stateDir }) => {
      writeFileSync(join(stateDir, 'machine-netns'), netns);
      return powerOnCommand(
        scope,
        {
          ...{ netns, index, mac, stateDir, boot: 'netns', bridgeNetns: rack.bridgeNetns },
          mgmt: mgmtAddress(rack.bmcSubnet, index),
        },
        rack.bootCommand,
      );
    },
  });
  const bmc = bmcs[0];
  if (!bmc) throw new Error('the new BMC did not start');
  return { index, netns, mac, guid: bmc.guid, bmc, stateDir: bmc.stateDir, boot: 'netns' };
}
