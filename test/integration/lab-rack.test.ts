import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLabRack, type LabRackHardware, processRunning, waitFor } from '../../bootstrap/index.js';
import { FileLeaseStore } from '../../bootstrap/netboot/index.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = [process.execPath, '--import', 'tsx', join(REPO, 'appliance/cli/main.ts')];
const FACTORY = 'factory-admin';

interface EventLine {
  type: string;
  mac: string;
  detail?: string;
}

// The lab rack's hardware with the real netboot server: a server powered on over IPMI (by the
// seed host, with rackseed's own client) runs its firmware, which does the DHCP and HTTP boot
// exchange a PXE ROM with iPXE does, and hands the kernel command line to its boot command.
describe('lab rack hardware (netns boot)', () => {
  let rack: LabRackHardware;
  let events: () => EventLine[];

  beforeAll(async () => {
    // Set where the lab runs (its BMCs inherit it): a node in a namespace must not get it.
    process.env.RACKSEED_OSD_DISK = 'auto';
    try {
      rack = await buildLabRack({
        servers: 2,
        factoryPassword: FACTORY,
        bootCommand: [
          'sh',
          '-c',
          'echo "OSD disk: ${RACKSEED_OSD_DISK:-none}"; echo "BOOTED $RACKSEED_CMDLINE"; exec sleep 600',
        ],
      });
    } finally {
      delete process.env.RACKSEED_OSD_DISK;
    }
    const files = join(rack.scope.dir, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'vmlinuz'), Buffer.alloc(300_000, 1));
    writeFileSync(join(files, 'initrd.gz'), Buffer.alloc(500_000, 2));
    const subnet = rack.network.subnet;
    const net = subnet.replace(/\.0\/24$/, '');
    const server = rack.network.spawn(
      rack.seedNetns,
      'netboot',
      [
        ...CLI,
        '--json',
        'netboot',
        'serve',
        '--interface',
        'eth0',
        '--subnet',
        subnet,
        '--range',
        `${net}.100-${net}.150`,
        '--files',
        files,
        '--http-port',
        '8080',
        '--leases',
        join(rack.scope.dir, 'leases.json'),
      ],
      { cwd: REPO },
    );
    events = () =>
      readFileSync(server.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as EventLine);
    await waitFor('netboot serve to be ready', () => events().some((e) => e.type === 'netboot.ready'), 30_000);
    writeFileSync(join(rack.scope.dir, 'factory'), `${FACTORY}\n`);
  });
  afterAll(async () => {
    await rack?.destroy();
  });

  const bmcCli = async (verb: string, index: number) => {
    const bmc = rack.servers[index]?.bmc;
    if (!bmc) throw new Error('no such server');
    const args = ['--host', bmc.host, '--user', 'admin', '--password-file', join(rack.scope.dir, 'factory')];
    return (await rack.network.exec(rack.seedNetns, [...CLI, 'bmc', verb, ...args])).stdout;
  };

  it('puts the BMCs on a network of their own, which hosts reach through their management NIC', async () => {
    const bmc = rack.servers[0]?.bmc;
    expect(await bmcCli('status', 0)).toMatch(/power off/);
    const server = rack.servers[1]?.netns ?? '';
    const { stdout } = await rack.network.exec(server, ['ip', 'route', 'get', bmc?.host ?? '']);
    expect(stdout).toMatch(/dev eth1/);
    expect(rack.network.bmc?.subnet).not.toBe(rack.network.subnet);
  });

  it('boots a server powered on over IPMI: DHCP as iPXE, script, kernel and initrd over HTTP', async () => {
    const server = rack.servers[0];
    if (!server) throw new Error('no server');
    await bmcCli('on', 0);
    const log = join(server.stateDir, 'node.log');
    const booted = await waitFor(
      'the firmware to hand over the kernel command line',
      () => /^BOOTED (.*)$/m.exec(readFileSync(log, 'utf8'))?.[1],
      60_000,
    );
    expect(booted).toContain(`rackseed.mac=${server.mac}`);
    expect(booted).toMatch(/rackseed\.token=[0-9a-f]{16,}/);
    // It shares this machine's disks: its OSD stays on a sparse file.
    expect(readFileSync(log, 'utf8')).toContain('OSD disk: none\n');
    const mine = events().filter((e) => e.mac === server.mac);
    expect(mine.map((e) => e.type)).toEqual(expect.arrayContaining(['dhcp.ack', 'http.script', 'http.file']));
    expect(mine.filter((e) => e.type === 'http.file').map((e) => e.detail)).toEqual(
      expect.arrayContaining([expect.stringContaining('vmlinuz'), expect.stringContaining('initrd.gz')]),
    );
    // Its lease has the GUID its firmware sent as iPXE does (option 97), read back as its BMC's.
    expect(await FileLeaseStore.read(join(rack.scope.dir, 'leases.json'))).toContainEqual(
      expect.objectContaining({ mac: server.mac, guid: server.guid }),
    );
    // The other server stayed off and silent.
    expect(events().some((e) => e.mac === rack.servers[1]?.mac)).toBe(false);
  });

  it('powers the server off over IPMI, which kills what it ran', async () => {
    const server = rack.servers[0];
    if (!server) throw new Error('no server');
    const [pid] = readFileSync(join(server.stateDir, 'node.pid'), 'utf8').split(' ').map(Number);
    await bmcCli('off', 0);
    await waitFor('the server to stop', () => !processRunning(pid ?? -1), 5_000);
    expect(await server.bmc.power()).toBe('off');
  });
});
