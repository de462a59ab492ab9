/**
 * Netboot benchmark, rackseed against Debian's dnsmasq (dnsmasq-base + a static HTTP server for
 * the same files, config as in research rack-sim-feasibility §2.4) in the same lab network and
 * run, one server at a time:
 * - DHCP leases per second under bench/dhcp-load.ts (new clients, 32 in flight);
 * - TFTP throughput for a 10 MB file (atftp, blksize 1468; rackseed also with windowsize 8,
 *   which dnsmasq does not offer);
 * - QEMU (TCG, BIOS iPXE) boot-to-marker time for 1 node (median of 3) and for 4 nodes at once,
 *   both with IPv6 router advertisements; rackseed also once without them (--no-router-adverts).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { type Daemon, createNetworkLab, waitFor } from '../test/bed/index.js';
import { REPO, startQemuNode } from '../test/integration/netboot-lab.js';
import { median } from './stats.js';

const HTTP_PORT = 8080;
/** DHCP and TFTP measurements per server, taken in turns. */
const ROUNDS = 5;
/** Single-node boots per server (median). */
const BOOTS = 3;
const CMDLINE = 'console=ttyS0 quiet panic=-1';

interface Figures {
  leasesPerSecond?: number;
  tftpMBps?: number;
  tftpWindowMBps?: number;
  boot1?: number;
  boot4?: number;
}

export default async function netbootBench(): Promise<void> {
  const fixtures = execFileSync(join(REPO, 'scripts/netboot-fixtures.sh'), { encoding: 'utf8' }).trim();
  const lab = await createNetworkLab({ hosts: 1, addresses: false });
  const dir = join(REPO, '.cache', `netboot-bench-${lab.bridgeNetns}`);
  try {
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    const ns = lab.host('h1').netns;
    await lab.exec(ns, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
    await lab.exec(ns, ['ip', 'route', 'add', '255.255.255.255', 'dev', 'eth0']);
    // dnsmasq's ra-only mode advertises br0's prefix, so br0 needs one (research §2.3).
    await lab.exec(lab.bridgeNetns, ['ip', '-6', 'addr', 'add', 'fd72:73::1/64', 'dev', 'br0']);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ten.bin'), randomBytes(10 * 1024 * 1024));
    for (const f of ['vmlinuz', 'initrd.gz']) writeFileSync(join(dir, f), readFileSync(join(fixtures, f)));
    const base = `http://${lab.gateway}:${HTTP_PORT}`;
    // The script dnsmasq's clients get: what rackseed renders, without the per-node token.
    writeFileSync(
      join(dir, 'boot.ipxe'),
      `#!ipxe\nkernel ${base}/vmlinuz initrd=initrd.gz ${CMDLINE}\ninitrd ${base}/initrd.gz\nboot\n`,
    );
    const range = [`${net}.10`, `${net}.250`];
    const rackseed = (extra: string[] = []): Daemon[] => [
      lab.spawn(
        lab.bridgeNetns,
        'rackseed',
        [
          process.execPath,
          '--import',
          'tsx',
          join(REPO, 'appliance/cli/main.ts'),
          '--json',
          'netboot',
          'serve',
          ...['--interface', 'br0', '--subnet', lab.subnet, '--range', range.join('-')],
          ...['--tftp-root', dir, '--files', dir, '--leases', join(dir, 'leases.jsonl'), '--cmdline', CMDLINE],
          ...extra,
        ],
        { cwd: REPO },
      ),
    ];
    const dnsmasq = (): Daemon[] => [
      lab.spawn(lab.bridgeNetns, 'dnsmasq', [
        'dnsmasq',
        '--keep-in-foreground',
        '--port=0',
        '--interface=br0',
        '--bind-interfaces',
        '--user=root',
        `--dhcp-range=${range[0]},${range[1]},255.255.255.0,1h`,
        `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
        '--dhcp-authoritative',
        '--no-ping',
        '--enable-tftp',
        `--tftp-root=${dir}`,
        '--dhcp-match=set:ipxe,175',
        '--dhcp-userclass=set:ipxe,iPXE',
        `--dhcp-boot=tag:ipxe,${base}/boot.ipxe`,
        '--dhcp-option=tag:ipxe,encap:175,176,1b',
        '--enable-ra',
        '--dhcp-range=::,constructor:br0,ra-only',
        `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      ]),
      lab.spawn(lab.bridgeNetns, 'http-server', [
        'python3',
        '-m',
        'http.server',
        String(HTTP_PORT),
        '--bind',
        lab.gateway,
        '--directory',
        dir,
      ]),
    ];

    let nextTap = 1;
    /** Seconds from starting `count` guests at once until every one printed the marker. */
    const boot = async (count: number): Promise<number> => {
      const started = performance.now();
      const nodes = await Promise.all(Array.from({ length: count }, () => startQemuNode(lab, dir, nextTap++)));
      try {
        await Promise.all(nodes.map((n) => n.ready(180_000)));
        return (performance.now() - started) / 1000;
      } finally {
        await Promise.all(nodes.map((n) => n.daemon.stop(0)));
      }
    };
    const tftp = async (extra: string[]): Promise<number> => {
      const started = performance.now();
      const argv = ['atftp', '--option', 'blksize 1468', ...extra, '-g', '-r', 'ten.bin', '-l', join(dir, 'out.bin')];
      await lab.exec(ns, [...argv, lab.gateway], 120_000);
      return 10 / ((performance.now() - started) / 1000);
    };

    /** Starts a server, waits until it listens, runs `work`, stops it. */
    const withServer = async <T>(name: string, start: () => Daemon[], work: () => Promise<T>): Promise<T> => {
      const daemons = start();
      try {
        await waitFor(
          `${name} listening on TFTP and HTTP`,
          async () => {
            for (const d of daemons) if (!d.alive()) throw new Error(readFileSync(d.logFile, 'utf8').slice(-800));
            const ss = (await lab.exec(lab.bridgeNetns, ['ss', '-ulnt'])).stdout;
            return ss.includes(`${lab.gateway}:69 `) && ss.includes(`${lab.gateway}:${HTTP_PORT} `);
          },
          30_000,
        );
        return await work();
      } finally {
        await Promise.all(daemons.map((d) => d.stop(3000)));
      }
    };
    const leasesPerSecond = async (name: string): Promise<number> => {
      const argv = [process.execPath, '--import', 'tsx', join(REPO, 'bench/dhcp-load.ts'), lab.gateway, '20', '100'];
      const { stdout } = await lab.exec(ns, argv, 180_000);
      console.log(`  ${name.padEnd(8)} DHCP load: ${stdout.trim()}`);
      return (JSON.parse(stdout) as { perSecond: number }).perSecond;
    };
    const servers = { rackseed: () => rackseed(), dnsmasq } as const;
    const figures = { rackseed: {} as Figures, dnsmasq: {} as Figures };

    console.log(
      `load average before: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (2 cores, shared)`,
    );
    // DHCP and TFTP: the servers take turns, ROUNDS times, so that both see the same machine load.
    const samples = { rackseed: [] as number[][], dnsmasq: [] as number[][] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of ['rackseed', 'dnsmasq'] as const) {
        samples[name].push(
          await withServer(name, servers[name], async () => [
            await leasesPerSecond(name),
            await tftp([]),
            name === 'rackseed' ? await tftp(['--option', 'windowsize 8']) : NaN,
          ]),
        );
      }
    }
    for (const name of ['rackseed', 'dnsmasq'] as const) {
      const column = (i: number): number[] => samples[name].map((s) => s[i] ?? NaN);
      figures[name].leasesPerSecond = median(column(0));
      figures[name].tftpMBps = median(column(1));
      figures[name].tftpWindowMBps = median(column(2));
    }
    // QEMU boots: 1 node, then 4 at once, per server.
    for (const name of ['rackseed', 'dnsmasq'] as const) {
      await withServer(name, servers[name], async () => {
        const one: number[] = [];
        for (let i = 0; i < BOOTS; i++) one.push(await boot(1));
        figures[name].boot1 = median(one);
        figures[name].boot4 = await boot(4);
      });
    }
    const noRa = await withServer(
      'rackseed --no-router-adverts',
      () => rackseed(['--no-router-adverts']),
      () => boot(1),
    );

    const ours = figures.rackseed;
    const ref = figures.dnsmasq;
    const fmt = (v: number | undefined, digits = 1): string =>
      (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits)).padStart(9);
    const ratio = (a?: number, b?: number): string => (a && b ? (a / b).toFixed(2) : '-').padStart(7);
    console.log(`netboot (DHCP/TFTP: median of ${ROUNDS})  rackseed   dnsmasq   ratio`);
    console.log(
      `DHCP leases/s (higher better) ${fmt(ours.leasesPerSecond, 0)} ${fmt(ref.leasesPerSecond, 0)} ${ratio(ours.leasesPerSecond, ref.leasesPerSecond)}`,
    );
    console.log(
      `TFTP 10 MB, MB/s              ${fmt(ours.tftpMBps)} ${fmt(ref.tftpMBps)} ${ratio(ours.tftpMBps, ref.tftpMBps)}`,
    );
    console.log(`  rackseed TFTP windowsize 8  ${fmt(ours.tftpWindowMBps)}`);
    console.log(`QEMU boot to marker, 1 node, s ${fmt(ours.boot1)} ${fmt(ref.boot1)} ${ratio(ours.boot1, ref.boot1)}`);
    console.log(`QEMU boot to marker, 4 nodes, s${fmt(ours.boot4)} ${fmt(ref.boot4)} ${ratio(ours.boot4, ref.boot4)}`);
    console.log(`  rackseed 1 node without RA, s ${fmt(noRa)}`);
    console.log(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
