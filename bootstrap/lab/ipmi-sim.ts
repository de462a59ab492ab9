import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { childEnv } from '../../agent/process/index.js';
import { type FruInventory, encodeFru } from '../ipmi/index.js';
import { CHASSIS_CONTROL_SCRIPT } from './chassis-control.js';
import { type Daemon, Scope } from './scope.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** What Get Device ID answers for every lab BMC (the `mc_add` line of its .emu file). */
export const LAB_BMC_DEVICE = {
  deviceId: 0x00,
  deviceRevision: 0x03, // low nibble of 0x23; bit 7 "provides device SDRs" is off
  firmwareMajor: 9,
  firmwareMinor: 0x08,
  ipmiVersion: 0x02, // ipmi_sim always reports IPMI 2.0 (0x02 = v2.0 in BCD)
  manufacturerId: 0x1291,
  productId: 0x0f02,
} as const;

/** One OpenIPMI `ipmi_sim` BMC of the lab, reachable over IPMI v2.0 RMCP+ (cipher suite 3). */
export interface SimulatedBmc {
  /** 1-based position in the rack. */
  readonly index: number;
  readonly host: string;
  readonly port: number;
  /** The network namespace it listens in, or undefined for the host's loopback. */
  readonly netns: string | undefined;
  /** An administrator (user id 2). There is no anonymous user 1 (it escalates in ipmi_sim). */
  readonly user: string;
  readonly password: string;
  /** The GUID as configured (`guid` in lan.conf), 32 hex digits; ipmitool prints it byte-reversed. */
  readonly guid: string;
  /** What its FRU device 0 holds. */
  readonly fru: Required<FruInventory>;
  /** Where the chassis program keeps `power`, `bootdev`, `events` and the node's `node.log`. */
  readonly stateDir: string;
  readonly daemon: Daemon;
  /** The chassis power state as recorded by the chassis-control program. */
  power(): Promise<'on' | 'off'>;
  /** The boot device last set over IPMI: none, pxe, default, cdrom or bios. */
  bootDevice(): Promise<string>;
  /** What the chassis program did, in order: "power on", "power off", "boot pxe", "reset"… */
  events(): Promise<string[]>;
  /** Runs ipmitool (lanplus, suite 3) against this BMC, inside its namespace if it has one. */
  ipmitool(args: readonly string[], password?: string): Promise<string>;
}

export interface SimulatedBmcOptions {
  count: number;
  /** Run the BMCs inside this namespace, each on `addresses[i]` port 623. Default: 127.0.0.1, distinct ports. */
  netns?: string;
  addresses?: readonly string[];
  /** A shell command run (in its own session) when BMC `index` powers its node on ('': nothing); killed at power-off. */
  onPowerOn?: (bmc: { index: number; stateDir: string }) => string;
  /** Record into this scope (a lab's) instead of a new one; `stop()` then closes that scope. */
  scope?: Scope;
  /** One "factory" admin password for every BMC (at most 16 characters); default: random per BMC. */
  password?: string;
  /** The GUID (32 hex digits) of BMC `index`; default: unique per BMC. */
  guid?: (index: number) => string;
  /** The index of the first BMC (default 1): a rack that grows numbers its new BMCs on. */
  firstIndex?: number;
}

export interface SimulatedRack {
  readonly bmcs: readonly SimulatedBmc[];
  /** Kills every BMC and whatever their power-on commands started, and removes their state. */
  stop(): Promise<void>;
}

function labFru(index: number): Required<FruInventory> {
  const n = String(index).padStart(4, '0');
  return {
    board: {
      manufacturedAt: '2027-01-01T00:00:00.000Z',
      manufacturer: 'rackseed-lab',
      product: 'lab-board',
      serial: `BRD-${n}`,
      partNumber: 'RS-BRD-1',
    },
    product: {
      manufacturer: 'rackseed-lab',
      name: 'lab-node',
      partNumber: 'RS-LN-1',
      version: '1.0',
      serial: `SN-${n}`,
      assetTag: `node-${index}`,
    },
  };
}

/**
 * Starts `count` OpenIPMI `ipmi_sim` BMCs, one process each, with distinct ports (on
 * 127.0.0.1) or distinct addresses (inside a namespace), a random admin password each, a
 * known GUID and FRU, and a chassis-control program that records power state and boot
 * device and can run a command on power-on. Resolves once every BMC answers ipmitool.
 */
export async function startSimulatedBmcs(options: SimulatedBmcOptions): Promise<SimulatedRack> {
  const scope = options.scope ?? Scope.open('bmc');
  try {
    const chassisControl = join(scope.dir, 'chassis-control.sh');
    writeFileSync(chassisControl, CHASSIS_CONTROL_SCRIPT, { mode: 0o755 });
    const bmcs: SimulatedBmc[] = [];
    const first = options.firstIndex ?? 1;
    for (let index = first; index < first + options.count; index++) {
      const host = options.netns ? options.addresses?.[index - first] : '127.0.0.1';
      if (host === undefined) throw new Error(`no address given for BMC ${index} in namespace ${options.netns}`);
      const port = options.netns ? 623 : await scope.port();
      const dir = join(scope.dir, `bmc${index}`);
      const stateDir = join(dir, 'chassis');
      // The BMC's own storage (its users' passwords, rotated by the seed): its owner's only.
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      mkdirSync(join(dir, 'sim-state'), { recursive: true });
      mkdirSync(stateDir, { recursive: true });
      const password = options.password ?? randomBytes(8).toString('hex'); // ipmi_sim keeps the IPMI 1.5 limit: 16
      const guid =
        options.guid?.(index) ?? `a1b2c3d4e5f60718${scope.id.padStart(8, '0')}${index.toString(16).padStart(8, '0')}`;
      const fru = labFru(index);
      writeFileSync(join(dir, 'fru.bin'), Buffer.concat([encodeFru(fru), Buffer.alloc(256)]).subarray(0, 256));
      writeFileSync(join(stateDir, 'resources-file'), scope.resourcesFile);
      const onCommand = options.onPowerOn?.({ index, stateDir });
      if (onCommand) writeFileSync(join(stateDir, 'on-command'), `${onCommand}\n`);
      writeFileSync(
        join(dir, 'lan.conf'),
        [
          `name "lab${index}"`,
          'set_working_mc 0x20',
          '  startlan 1',
          `    addr ${host} ${port}`,
          '    priv_limit admin',
          ...['callback', 'user', 'operator', 'admin'].map((p) => `    allowed_auths_${p} none md2 md5 straight`),
          `    guid ${guid}`,
          '  endlan',
          `  chassis_control "${chassisControl} ${stateDir}"`,
          `  user 2 true "admin" "${password}" admin 10 none md2 md5 straight`,
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'node.emu'),
        [
          'mc_setbmc 0x20',
          'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr',
          'sel_enable 0x20 1000 0x0a',
          `mc_add_fru_data 0x20 0 256 file 0 "${join(dir, 'fru.bin')}"`,
          'mc_enable 0x20',
          '',
        ].join('\n'),
      );
      const spawnOptions = options.netns ? { cwd: dir, netns: options.netns } : { cwd: dir };
      const daemon = scope.spawn(
        `ipmi_sim-${index}`,
        ['ipmi_sim', '-c', 'lan.conf', '-f', 'node.emu', '-s', 'sim-state', '-n'],
        spawnOptions,
      );
      const ipmitool = async (args: readonly string[], pw = password): Promise<string> => {
        // -E: the password from IPMI_PASSWORD in this one child's environment, never in its argv
        // (which every user of this machine can read in /proc/PID/cmdline).
        const argv = ['-I', 'lanplus', '-C', '3', '-H', host, '-p', String(port), '-U', 'admin', '-E', ...args];
        const [command, full] = options.netns
          ? ['ip', ['netns', 'exec', options.netns, 'ipmitool', ...argv]]
          : ['ipmitool', argv];
        const { stdout } = await run(command, full, { timeout: 30_000, env: childEnv({ IPMI_PASSWORD: pw }) });
        return stdout;
      };
      const readState = async (file: string, fallback: string) =>
        (await readFile(join(stateDir, file), 'utf8').catch(() => fallback)).trim();
      bmcs.push({
        index,
        host,
        port,
        netns: options.netns,
        user: 'admin',
        password,
        guid,
        fru,
        stateDir,
        daemon,
        power: async () => ((await readState('power', '0')) === '1' ? 'on' : 'off'),
        bootDevice: () => readState('bootdev', 'default'),
        events: async () => (await readState('events', '')).split('\n').filter(Boolean),
        ipmitool,
      });
    }
    await Promise.all(
      bmcs.map((bmc) =>
        waitFor(
          `ipmi_sim BMC ${bmc.index} on ${bmc.host}:${bmc.port} (log: ${bmc.daemon.logFile})`,
          async () => {
            if (!bmc.daemon.alive()) throw new Error('ipmi_sim exited');
            return (await bmc.ipmitool(['mc', 'guid'])).includes('System GUID');
          },
          20_000,
          200,
        ),
      ),
    );
    return { bmcs, stop: () => scope.close() };
  } catch (error) {
    await scope.close();
    throw error;
  }
}
