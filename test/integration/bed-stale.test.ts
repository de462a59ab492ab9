import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processRunning, sweepStale, waitFor } from '../bed/index.js';

// A run that crashes (kill -9, no exit handler) leaves daemons and namespaces behind; the next
// run's sweep must find and remove them, and only them.
describe('test bed: leftovers of a crashed run', () => {
  it('are removed by the next sweep', async () => {
    const work = mkdtempSync(join(tmpdir(), 'rackseed-stale-'));
    const script = join(work, 'crashing-run.mts');
    const bed = new URL('../bed/index.js', import.meta.url).pathname.replace(/\.js$/, '.ts');
    writeFileSync(
      script,
      `import { writeFileSync } from 'node:fs';
       import { createNetworkLab, startSimulatedBmcs } from ${JSON.stringify(bed)};
       const lab = await createNetworkLab({ hosts: 1 });
       const sleeper = lab.spawn(lab.hosts[0].netns, 'sleeper', ['sleep', '600']);
       const rack = await startSimulatedBmcs({ count: 1 });
       writeFileSync(${JSON.stringify(join(work, 'state.json'))}, JSON.stringify({
         netns: [lab.bridgeNetns, lab.hosts[0].netns], pids: [sleeper.pid, rack.bmcs[0].daemon.pid] }));
       setInterval(() => {}, 1000);`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: 'ignore', cwd: process.cwd() });
    const state = await waitFor(
      'the crashing run to set up',
      () =>
        existsSync(join(work, 'state.json'))
          ? (JSON.parse(readFileSync(join(work, 'state.json'), 'utf8')) as { netns: string[]; pids: number[] })
          : undefined,
      60_000,
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // Killed without a chance to clean up: everything is still there.
    expect(state.pids.every(processRunning)).toBe(true);
    expect(state.netns.every((n) => existsSync(`/run/netns/${n}`))).toBe(true);

    sweepStale();

    expect(state.pids.filter(processRunning)).toEqual([]);
    expect(state.netns.filter((n) => existsSync(`/run/netns/${n}`))).toEqual([]);
  });
});
