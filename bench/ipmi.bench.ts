/**
 * IPMI figures: per-command latency of `rackseed bmc status` (spawned, as a user runs it)
 * next to `ipmitool -I lanplus -C 3 chassis power status` against the same ipmi_sim; time
 * to scan a /22 holding 256 simulated BMCs; time to power on 256 simulated BMCs at once.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IpmiClient, scanBmcs, simulatedFru, startBmcSimulators } from '../bootstrap/index.js';
import { startSimulatedBmcs } from '../test/bed/index.js';

const run = promisify(execFile);
const RUNS = 15;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function statusLatency(): Promise<void> {
  const rack = await startSimulatedBmcs({ count: 1 });
  const dir = await mkdtemp(join(tmpdir(), 'rackseed-bench-'));
  try {
    const bmc = rack.bmcs[0];
    if (bmc === undefined) throw new Error('no BMC');
    const pwFile = join(dir, 'pw');
    await writeFile(pwFile, `${bmc.password}\n`, { mode: 0o600 });
    const bin = new URL('../bin/rackseed.js', import.meta.url).pathname;
    const ours = [
      'bmc',
      'status',
      '--host',
      bmc.host,
      '--port',
      String(bmc.port),
      '--user',
      bmc.user,
      '--password-file',
      pwFile,
    ];
    const theirs = ['-I', 'lanplus', '-C', '3', '-H', bmc.host, '-p', String(bmc.port), '-U', bmc.user, '-E'];
    // ipmitool's -E: the password from the environment, as rackseed's own client takes a file, never argv.
    const ipmitoolEnv = { PATH: process.env.PATH, IPMI_PASSWORD: bmc.password };
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(await timed(() => run(process.execPath, [bin, ...ours])));
      b.push(await timed(() => run('ipmitool', [...theirs, 'chassis', 'power', 'status'], { env: ipmitoolEnv })));
    }
    const client = await IpmiClient.connect({
      host: bmc.host,
      port: bmc.port,
      userName: bmc.user,
      password: bmc.password,
    });
    const inProcess: number[] = [];
    for (let i = 0; i < RUNS; i++) inProcess.push(await timed(() => client.chassisStatus()));
    await client.close();
    const ma = median(a);
    const mb = median(b);
    console.log(`ipmi: rackseed bmc status (spawned CLI)      median ${ma.toFixed(1)} ms over ${RUNS} runs`);
    console.log(`ipmi: ipmitool -C 3 chassis power status      median ${mb.toFixed(1)} ms over ${RUNS} runs`);
    console.log(`ipmi: ratio rackseed/ipmitool                 ${(ma / mb).toFixed(2)} (target <= 1)`);
    console.log(`ipmi: Get Chassis Status in an open session   median ${median(inProcess).toFixed(2)} ms`);
  } finally {
    await rack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function scaleFigures(): Promise<void> {
  // 256 simulated BMCs spread over 127.78.0.0/22 (every 4th address), one process.
  const hosts = Array.from({ length: 256 }, (_, i) => `127.78.${Math.floor((i * 4 + 1) / 256)}.${(i * 4 + 1) % 256}`);
  const port = 10624;
  const sims = await startBmcSimulators(
    hosts.map((host, i) => ({
      host,
      port,
      guid: (i + 1).toString(16).padStart(32, '0'),
      users: [{ id: 2, name: 'admin', password: `pw-${i}`, privilege: 4, enabled: true }],
      fru: simulatedFru(i + 1),
    })),
  );
  try {
    let found = 0;
    const scanMs = await timed(async () => {
      found = (await scanBmcs({ cidr: '127.78.0.0/22', port, concurrency: 512, timeoutMs: 500 })).length;
    });
    console.log(
      `ipmi: scan 127.78.0.0/22 (1022 addresses, concurrency 512, timeout 500 ms): ${found} BMCs in ${(scanMs / 1000).toFixed(2)} s (target < 5 s)`,
    );
    const onMs = await timed(() =>
      Promise.all(
        hosts.map(async (host, i) => {
          const c = await IpmiClient.connect({ host, port, userName: 'admin', password: `pw-${i}` });
          await c.chassisControl('on');
          await c.close();
        }),
      ),
    );
    const on = sims.bmcs.filter((b) => b.model.powerOn).length;
    console.log(
      `ipmi: power on 256 simulated BMCs in parallel (session + command + close each): ${on} on in ${(onMs / 1000).toFixed(2)} s (target < 5 s)`,
    );
  } finally {
    await sims.stop();
  }
}

export default async function ipmiBench(): Promise<void> {
  await scaleFigures();
  await statusLatency();
}
