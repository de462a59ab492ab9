import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NETNS_FIRMWARE_SCRIPT } from './firmware.js';
import { type SimulatedBmc, startSimulatedBmcs } from './ipmi-sim.js';
import { addNamespace, createNetworkLab, type NetworkLab, plug } from './netns.js';
import { Scope } from './scope.js';

const run = promisify(execFile);

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
}

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
  /** Keep the rack after this process exits, in a scope under `root` (`rackseed lab up`). */
  persistent?: { root: string };
}

const shellQuote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** The SMBIOS GUID of server `index` of the rack whose scope id is `scopeId`. */
const guidOf = (scopeId: string, index: number) =>
  `5a17ab00${scopeId.padStart(8, '0')}0000${index.toString(16).padStart(12, '0')}`;

/** What a server's BMC runs at power-on: its firmware, inside the server's namespace. */
function powerOnCommand(
  scope: Scope,
  serverNetns: string,
  index: number,
  stateDir: string,
  bootCommand: readonly string[],
): string {
  const argv = [
    'ip',
    'netns',
    'exec',
    serverNetns,
    'sh',
    join(scope.dir, 'firmware.sh'),
    stateDir,
    guidOf(scope.id, index),
    ...bootCommand,
  ];
  return `exec ${argv.map(shellQuote).join(' ')}`;
}

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
      scope,
    });
    const bmcAddresses = network.bmc?.addresses ?? [];
    const firmware = join(scope.dir, 'firmware.sh');
    writeFileSync(firmware, NETNS_FIRMWARE_SCRIPT, { mode: 0o755 });
    const guidOf = (index: number) => `5a17ab00${scope.id.padStart(8, '0')}0000${index.toString(16).padStart(12, '0')}`;
    const rack = await startSimulatedBmcs({
      count: options.servers,
      netns: network.bridgeNetns,
      addresses: bmcAddresses,
      password: options.factoryPassword,
      guid: guidOf,
      scope,
      onPowerOn: ({ index, stateDir }) => {
        const server = network.host(`n${index}`);
        const argv = [
          'ip',
          'netns',
          'exec',
          server.netns,
          'sh',
          firmware,
          stateDir,
          guidOf(index),
          ...options.bootCommand,
        ];
        return `exec ${argv.map(shellQuote).join(' ')}`;
      },
    });
    const servers = rack.bmcs.map((bmc, i) => {
      const host = network.host(`n${i + 1}`);
      return { index: i + 1, netns: host.netns, mac: host.mac, guid: bmc.guid, bmc, stateDir: bmc.stateDir };
    });
    const seed = network.host('seed');
    return {
      scope,
      network,
      seedNetns: seed.netns,
      seedIp: seed.ip ?? '',
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
    address: `${bmcNet}.${200 + index}/24`,
  });
  await run('ip', ['-n', rack.bridgeNetns, 'addr', 'add', `${bmcAddress}/24`, 'dev', 'br1'], { timeout: 10_000 });
  const { bmcs } = await startSimulatedBmcs({
    count: 1,
    firstIndex: index,
    netns: rack.bridgeNetns,
    addresses: [bmcAddress],
    password: rack.factoryPassword,
    guid: (i) => guidOf(scope.id, i),
    scope,
    onPowerOn: ({ stateDir }) => powerOnCommand(scope, netns, index, stateDir, rack.bootCommand),
  });
  const bmc = bmcs[0];
  if (!bmc) throw new Error('the new BMC did not start');
  return { index, netns, mac, guid: bmc.guid, bmc, stateDir: bmc.stateDir };
}
