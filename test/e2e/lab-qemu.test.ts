import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { inSeed, type LabInfo, labDown, labUp, processRunning, qemuUuid, waitFor } from '../../bootstrap/index.js';
import { removeLabAfterAll } from './lab-hooks.js';
import { netbootImage } from './netboot-image.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];

interface SeedLine {
  type: string;
  node?: string;
  detail?: string;
}

// A lab server whose BMC power-on starts a QEMU guest (TCG, built-in iPXE) that PXE-boots the
// real netboot image from the seed; the image's /init runs `rackseed node boot`, which enrolls
// with the SMBIOS GUID the guest reads from its firmware, the one the seed read from the BMC.
describe('lab rack with a QEMU server booting the real image beside a netns server', () => {
  let dir: string;
  let lab: LabInfo;
  let bootSeconds = 0;

  beforeAll(async () => {
    const image = netbootImage();
    dir = mkdtempSync(join(tmpdir(), 'rackseed-e2e-qemu-'));
    const started = Date.now();
    lab = await labUp({
      dir,
      servers: 2, // n1 boots the image in QEMU, n2 in a namespace
      qemu: 1,
      rackseed: RACKSEED,
      image: { dir: image, kernel: 'vmlinuz', initrd: 'initrd.img' },
      ceph: true,
      readyTimeoutMs: 300_000,
    });
    bootSeconds = (Date.now() - started) / 1000;
  });
  removeLabAfterAll(() => ({ dir, lab }));

  it('PXE-boots the QEMU server into a ready node, enrolled under the GUID its BMC reports', async () => {
    const [server] = lab.servers;
    if (!server) throw new Error('no server');
    expect(server.boot).toBe('qemu');
    const seedLog = readFileSync(lab.seedLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as SeedLine);
    expect(seedLog).toContainEqual(expect.objectContaining({ type: 'enroll.granted', detail: `${server.mac} node-1` }));
    // iPXE asked for the kernel and the initrd over HTTP: the guest booted the image the seed serves.
    const fetched = seedLog.filter((l) => l.node === server.mac && l.type === 'http.file').map((l) => l.detail);
    expect(fetched).toEqual(
      expect.arrayContaining([expect.stringMatching(/vmlinuz/), expect.stringMatching(/initrd/)]),
    );
    const status = JSON.parse(await inSeed(lab, RACKSEED, ['--json', 'status'])) as {
      nodes: { name: string; state: string }[];
    };
    expect(status.nodes.map((n) => [n.name, n.state]).sort()).toEqual([
      ['node-1', 'ready'],
      ['node-2', 'ready'],
      ['seed', 'ready'],
    ]);
    expect(lab.servers.map((s) => s.boot)).toEqual(['qemu', 'netns']);
    // The guest's product_uuid, as QEMU's SMBIOS table gives it to Linux, is the BMC's GUID.
    const console = readFileSync(join(lab.scopeDir, 'bmc1', 'chassis', 'console.log'), 'utf8');
    const uuid = /SMBIOS UUID (\S+)/.exec(console)?.[1];
    expect(uuid).toBe(qemuUuid(server.guid));
    expect(uuid?.replaceAll('-', '')).toBe(server.guid);
    // Its management NIC is on the BMC network (whichever node runs the fencer must reach every BMC).
    const mgmt = `${lab.bmcSubnet.replace(/\.0\/24$/, '')}.201`;
    expect(console).toContain(`rackseed-image: eth1 has ${mgmt}/24`);
    // It stepped its clock to the boot server's (its RTC gave whole seconds; Ceph warns past 50 ms).
    const clock = /clock: (-?\d+) ms off \S+\/time, (-?\d+) ms after the step \(round trip (\d+) ms\)/.exec(console);
    expect(clock, 'the clock line on the console').not.toBeNull();
    expect(Math.abs(Number(clock?.[2]))).toBeLessThan(50);
    // Its disk (the lab's sparse disk.img, virtio), blank for an OSD.
    expect(console).toContain('rackseed-image: disks: vda(8 GiB)');
    execFileSync('ip', ['netns', 'exec', lab.bridgeNetns, 'ping', '-c', '1', '-W', '5', mgmt]);
    process.stdout.write(`lab with one QEMU and one netns server ready in ${bootSeconds.toFixed(1)} s\n`);
  });

  it('joins Ceph with an OSD on its virtio disk and a monitor, and serves the API: HEALTH_OK with 3 OSDs', async () => {
    type Ceph = { health: string; quorum: string[]; mons: number; osds: number; up: number; in: number };
    const status = async () =>
      JSON.parse(await inSeed(lab, RACKSEED, ['--json', 'status'])) as {
        nodes: { name: string; state: string }[];
        ceph: Ceph | null;
      };
    const ceph = await waitFor(
      'Ceph HEALTH_OK with the OSDs of the seed, the netns server and the QEMU server',
      async () => {
        const c = (await status()).ceph;
        return c?.health === 'HEALTH_OK' && c.up === 3 && c.in === 3 && c.quorum.length === 3 ? c : undefined;
      },
      360_000,
      2_000,
    );
    expect(ceph).toMatchObject({ mons: 3, osds: 3 });
    // Monitors go to the first three nodes that can host one: the image has ceph-mon.
    expect([...ceph.quorum].sort()).toEqual(['node-1', 'node-2', 'seed']);
    const console = readFileSync(join(lab.scopeDir, 'bmc1', 'chassis', 'console.log'), 'utf8');
    // The agent found the guest's blank virtio disk and made bluestore on it, from inside the image.
    expect(console).toMatch(/ceph: made osd\.\d+ \(bluestore on \/dev\/vda, 8\.0 GiB, blank\)/);
    expect(console).not.toContain('not taking part in Ceph');
    expect(console).toContain('not a provisioner candidate');
    // The cloud's services run there too; its API answers on the guest's own address.
    const ip = /rackseed-image: eth0 \S+ has (\S+),/.exec(console)?.[1];
    if (!ip) throw new Error('no address on the guest console');
    const version = await waitFor(
      `the API on node-1 (${ip})`,
      () => {
        try {
          const out = execFileSync('ip', [
            'netns',
            'exec',
            lab.seedNetns,
            'curl',
            '-sf',
            '-m',
            '5',
            '--cacert',
            lab.gateway.ca,
            `https://${ip}:5000/identity/v3`,
          ]);
          return JSON.parse(out.toString()) as { version: { id: string } };
        } catch {
          return undefined;
        }
      },
      180_000,
      2_000,
    );
    expect(version.version.id).toMatch(/^v3\./);
  }, 600_000);

  it('lab down kills QEMU and removes the namespaces', async () => {
    const pid = Number(readFileSync(join(lab.scopeDir, 'bmc1', 'chassis', 'node.pid'), 'utf8').split(' ')[0]);
    expect(processRunning(pid)).toBe(true);
    const id = lab.scopeDir.split('-').at(-1) ?? '';
    expect(await labDown(dir)).toBe(1);
    await waitFor('QEMU to be gone', () => !processRunning(pid), 10_000, 100); // SIGKILLed; reaped by init
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`rsb-${id}-`);
  });
});
