/**
 * Netboot benchmark, rackseed vs dnsmasq (Debian's dnsmasq-base) in the same lab network and run:
 * DHCP leases per second under bench/dhcp-load.ts, and TFTP throughput for a 10 MB file (atftp,
 * blksize 1468; rackseed also with windowsize 8, which dnsmasq does not offer).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetworkLab, waitFor } from '../test/bed/index.js';
import { REPO } from '../test/integration/netboot-lab.js';

export default async function netbootBench(): Promise<void> {
  // The bed unrefs its children: keep the loop alive while waiting on them outside vitest.
  const keepAlive = setInterval(() => {}, 1000);
  const lab = await createNetworkLab({ hosts: 1, addresses: false });
  try {
    const net = lab.gateway.split('.').slice(0, 3).join('.');
    const ns = lab.host('h1').netns;
    await lab.exec(ns, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
    await lab.exec(ns, ['ip', 'route', 'add', '255.255.255.255', 'dev', 'eth0']);
    const dir = join(REPO, '.cache', `netboot-bench-${lab.bridgeNetns}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ten.bin'), randomBytes(10 * 1024 * 1024));
    const range = [`${net}.10`, `${net}.250`];
    const servers = {
      rackseed: () =>
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
            '--interface',
            'br0',
            '--subnet',
            lab.subnet,
            '--range',
            range.join('-'),
            '--tftp-root',
            dir,
            '--files',
            dir,
            '--leases',
            join(dir, 'leases.json'),
          ],
          { cwd: REPO },
        ),
      dnsmasq: () =>
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
          `--pid-file=${join(dir, 'dnsmasq.pid')}`,
        ]),
    };
    const results: Record<string, { leasesPerSecond: number; tftpMBps: number; tftpWindowMBps?: number }> = {};
    for (const [name, start] of Object.entries(servers)) {
      const daemon = start();
      try {
        await waitFor(
          `${name} TFTP up`,
          async () => (await lab.exec(lab.bridgeNetns, ['ss', '-uln'])).stdout.includes(`${lab.gateway}:69`),
          20_000,
        );
        const load = await lab.exec(
          ns,
          [process.execPath, '--import', 'tsx', join(REPO, 'bench/dhcp-load.ts'), lab.gateway, '5', '240'],
          120_000,
        );
        const { perSecond } = JSON.parse(load.stdout) as { perSecond: number };
        const tftp = async (extra: string[]): Promise<number> => {
          const t = process.hrtime.bigint();
          await lab.exec(
            ns,
            [
              'atftp',
              '--option',
              'blksize 1468',
              ...extra,
              '-g',
              '-r',
              'ten.bin',
              '-l',
              join(dir, `${name}.out`),
              lab.gateway,
            ],
            120_000,
          );
          return 10 / (Number(process.hrtime.bigint() - t) / 1e9);
        };
        results[name] = { leasesPerSecond: perSecond, tftpMBps: await tftp([]) };
        if (name === 'rackseed') results[name].tftpWindowMBps = await tftp(['--option', 'windowsize 8']);
      } finally {
        await daemon.stop();
      }
    }
    const r = results.rackseed;
    const d = results.dnsmasq;
    const ratio = (a = 0, b = 1): string => (a / b).toFixed(2);
    console.log('netboot            rackseed   dnsmasq   ratio');
    console.log(
      `DHCP leases/s      ${String(r?.leasesPerSecond).padStart(8)}  ${String(d?.leasesPerSecond).padStart(8)}   ${ratio(r?.leasesPerSecond, d?.leasesPerSecond)}`,
    );
    console.log(
      `TFTP 10 MB, MB/s   ${r?.tftpMBps.toFixed(1).padStart(8)}  ${d?.tftpMBps.toFixed(1).padStart(8)}   ${ratio(r?.tftpMBps, d?.tftpMBps)}`,
    );
    console.log(`  rackseed windowsize 8: ${r?.tftpWindowMBps?.toFixed(1)} MB/s`);
  } finally {
    await lab.destroy();
    clearInterval(keepAlive);
  }
}
