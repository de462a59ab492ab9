/**
 * The netboot integration fixture: a lab network whose bridge namespace runs
 * `rackseed netboot serve` on br0 (the server side), and client namespaces without addresses.
 * Boot events are read from the server's --json output.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Daemon, type NetworkLab, createNetworkLab, waitFor } from '../bed/index.js';

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
  server: Daemon;
  serverIp: string;
  dir: string;
  events(): NetbootEventLine[];
  waitEvent(what: string, match: (e: NetbootEventLine) => boolean, timeoutMs?: number): Promise<NetbootEventLine>;
  destroy(): Promise<void>;
}

/** Starts a lab with `hosts` DHCP clients and the netboot server on the bridge. */
export async function startNetbootLab(options: {
  hosts: number;
  extraArgs?: string[];
  files?: Record<string, Buffer>;
  filesDir?: string;
}): Promise<NetbootLab> {
  const lab = await createNetworkLab({ hosts: options.hosts, addresses: false });
  try {
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    const dir = join(REPO, '.cache', `netboot-lab-${lab.bridgeNetns}`);
    const tftpRoot = join(dir, 'tftp');
    mkdirSync(tftpRoot, { recursive: true });
    for (const [name, data] of Object.entries(options.files ?? {})) writeFileSync(join(tftpRoot, name), data);
    const server = lab.spawn(
      lab.bridgeNetns,
      'rackseed-netboot',
      [
        process.execPath,
        '--import',
        'tsx',
        join(REPO, 'appliance/cli/main.ts'),
        '--json',
        'netboot',
        'serve',
        '--interface',
        'br0',
        '--subnet',
        lab.subnet,
        '--range',
        `${net}.100-${net}.199`,
        '--tftp-root',
        tftpRoot,
        '--files',
        options.filesDir ?? tftpRoot,
        '--leases',
        join(dir, 'leases.json'),
        ...(options.extraArgs ?? []),
      ],
      { cwd: REPO },
    );
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
    return { lab, server, serverIp: lab.gateway, dir, events, waitEvent, destroy: () => lab.destroy() };
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}
