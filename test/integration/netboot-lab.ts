/**
 * The netboot integration fixture: a lab network whose bridge namespace runs
 * `rackseed netboot serve` on br0 (the server side), and client namespaces without addresses.
 * Boot events are read from the server's --json output.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Daemon, type NetworkLab, createNetworkLab, waitFor } from '../bed/index.js';

/**
 * The marker the fixture initramfs (scripts/netboot-fixtures.sh) prints once it has an address, once the
 * line is whole: the console file grows as the guest prints, a character at a time under TCG.
 */
export const NODE_READY = /RACKSEED-NODE-READY [^\r\n]*(?=\r?\n)/;

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface NetbootEventLine {
  time: string;
  type: string;
  mac: string;
  ip?: string;
  detail?: string;
}

export interface NetbootLab {
  lab: NetworkLab;
  /** The server process running now (a new one after `crashAndRestart`). */
  readonly server: Daemon;
  serverIp: string;
  dir: string;
  events(): NetbootEventLine[];
  waitEvent(what: string, match: (e: NetbootEventLine) => boolean, timeoutMs?: number): Promise<NetbootEventLine>;
  /** Kills the server with SIGKILL and starts it again on the same lease file; events() then reads the new one. */
  crashAndRestart(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Starts a lab with `hosts` DHCP clients and the netboot server on the bridge, serving the lab's
 * subnet, or `subnet` (a.b.c.0/24: the bridge gets .2 on it; for a client whose network is fixed).
 */
export async function startNetbootLab(options: {
  hosts: number;
  subnet?: string;
  extraArgs?: string[];
  files?: Record<string, Buffer>;
  filesDir?: string;
}): Promise<NetbootLab> {
  const lab = await createNetworkLab({ hosts: options.hosts, addresses: false });
  try {
    const subnet = options.subnet ?? lab.subnet;
    const net = subnet.replace(/\.0\/24$/, '');
    const serverIp = options.subnet ? `${net}.2` : lab.gateway;
    if (options.subnet) await lab.exec(lab.bridgeNetns, ['ip', 'addr', 'add', `${serverIp}/24`, 'dev', 'br0']);
    const dir = join(REPO, '.cache', `netboot-lab-${lab.bridgeNetns}`);
    const tftpRoot = join(dir, 'tftp');
    mkdirSync(tftpRoot, { recursive: true });
    for (const [name, data] of Object.entries(options.files ?? {})) writeFileSync(join(tftpRoot, name), data);
    const argv = [
      process.execPath,
      '--import',
      'tsx',
      join(REPO, 'appliance/cli/main.ts'),
      '--json',
      'netboot',
      'serve',
      ...['--interface', 'br0', '--subnet', subnet, '--range', `${net}.100-${net}.199`],
      ...['--tftp-root', tftpRoot, '--files', options.filesDir ?? tftpRoot, '--leases', join(dir, 'leases.jsonl')],
      ...(options.extraArgs ?? []),
    ];
    let runs = 0;
    const spawnServer = (): Daemon => lab.spawn(lab.bridgeNetns, `rackseed-netboot-${++runs}`, argv, { cwd: REPO });
    let server = spawnServer();
    const events = (): NetbootEventLine[] =>
      readFileSync(server.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as NetbootEventLine);
    const waitEvent = (what: string, match: (e: NetbootEventLine) => boolean, timeoutMs = 30_000) =>
      waitFor(
        what,
        () => {
          if (!server.alive()) throw new Error(`server exited: ${readFileSync(server.logFile, 'utf8')}`);
          return events().find(match);
        },
        timeoutMs,
      );
    await waitEvent('netboot.ready', (e) => e.type === 'netboot.ready');
    return {
      lab,
      get server() {
        return server;
      },
      serverIp,
      dir,
      events,
      waitEvent,
      crashAndRestart: async () => {
        await server.stop(0); // SIGKILL: no shutdown code runs
        server = spawnServer();
        await waitEvent('netboot.ready after restart', (e) => e.type === 'netboot.ready');
      },
      destroy: async () => {
        await server.stop(3000); // SIGTERM first: the server stops radvd and closes its sockets
        await lab.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}

/** Debian's `ovmf`: x64 UEFI firmware for QEMU (4 MB flash layout). */
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';

/** A QEMU guest (TCG, built-in iPXE) on a tap of the lab bridge, serial console in a file. */
export interface QemuNode {
  mac: string;
  daemon: Daemon;
  serial: string;
  /** Resolves with the marker line once the guest printed it; rejects if QEMU exits first. */
  ready(timeoutMs?: number): Promise<string>;
}

/**
 * Boots guest `index` (1…): adds `tap<index>` to br0 and PXE-boots QEMU on it, with SeaBIOS or,
 * for `uefi`, Debian's OVMF (q35; the NIC's option ROM then runs iPXE as a UEFI driver); with
 * `uuid` (8-4-4-4-12) as its SMBIOS UUID, which iPXE sends as DHCP option 97 (else all zeros).
 */
export async function startQemuNode(
  lab: NetworkLab,
  dir: string,
  index: number,
  firmware: 'bios' | 'uefi' = 'bios',
  uuid?: string,
): Promise<QemuNode> {
  const br = lab.bridgeNetns;
  const tap = `tap${index}`;
  await lab.exec(br, ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await lab.exec(br, ['ip', 'link', 'set', tap, 'master', 'br0', 'up']);
  const mac = `52:54:00:6e:62:${index.toString(16).padStart(2, '0')}`;
  const serial = join(dir, `node${index}.serial`);
  writeFileSync(serial, '');
  const uefi: string[] = [];
  if (firmware === 'uefi') {
    const vars = join(dir, `node${index}-vars.fd`);
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars); // writable UEFI variables, per guest
    uefi.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`);
    uefi.push('-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  const daemon = lab.spawn(br, `qemu-node${index}`, [
    'qemu-system-x86_64',
    '-machine',
    firmware === 'uefi' ? 'q35,accel=tcg' : 'pc,accel=tcg',
    ...uefi,
    '-m',
    firmware === 'uefi' ? '512' : '256',
    '-smp',
    '1',
    '-nographic',
    '-monitor',
    'none',
    '-serial',
    `file:${serial}`,
    '-no-reboot',
    '-boot',
    'n',
    ...(uuid ? ['-uuid', uuid] : []),
    '-netdev',
    `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=n0,mac=${mac}`,
  ]);
  const ready = (timeoutMs = 110_000): Promise<string> =>
    waitFor(
      `${NODE_READY.source} on node${index}'s serial console`,
      () => {
        const found = NODE_READY.exec(readFileSync(serial, 'utf8'))?.[0];
        if (!found && !daemon.alive()) throw new Error(`QEMU exited: ${readFileSync(serial, 'utf8').slice(-500)}`);
        return found;
      },
      timeoutMs,
      200,
    );
  return { mac, daemon, serial, ready };
}
