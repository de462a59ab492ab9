import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudProcess, startCloud } from '../bed/index.js';

const run = promisify(execFile);

/** Tempest's own API tests (include-list.txt) against a real `rackseed cloud serve`. */
describe('tempest', () => {
  let cloud: CloudProcess;
  beforeAll(async () => {
    cloud = await startCloud();
  });
  afterAll(async () => cloud?.stop());

  it('passes every test of the include list', { timeout: 480_000 }, async () => {
    const listed = readFileSync('test/tempest/include-list.txt', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('^')).length;
    let output = '';
    let failedRun = false;
    try {
      const r = await run('test/tempest/run.sh', [cloud.url, cloud.passwordFile, join(cloud.dir, 'tempest')], {
        env: { ...process.env, OS_CACERT: cloud.ca },
        timeout: 460_000,
        maxBuffer: 256 * 1024 * 1024,
      });
      output = r.stdout + r.stderr;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
      failedRun = true;
    }
    const failures = output.split('\n').filter((l) => /\.\.\. FAILED$/.test(l));
    expect(failures).toEqual([]);
    expect(failedRun).toBe(false);
    const passed = Number(/ - Passed: (\d+)/.exec(output)?.[1] ?? 0);
    expect(passed).toBe(listed);
  });
});
