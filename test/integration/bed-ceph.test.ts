import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { processRunning, startCeph } from '../bed/index.js';

const run = promisify(execFile);

describe('test bed: Ceph mini-cluster', () => {
  it('reads back a RADOS object written to it, and stops every daemon', async () => {
    const cluster = await startCeph();
    const scratch = await mkdtemp(join(tmpdir(), 'rackseed-rados-'));
    const pids = cluster.daemons.map((d) => d.pid);
    try {
      const payload = randomBytes(64 * 1024);
      await writeFile(join(scratch, 'in'), payload);
      await cluster.rados(['-p', cluster.pool, 'put', 'bed-object', join(scratch, 'in')]);
      await cluster.rados(['-p', cluster.pool, 'get', 'bed-object', join(scratch, 'out')]);
      expect((await readFile(join(scratch, 'out'))).equals(payload)).toBe(true);
      const health = JSON.parse(await cluster.ceph(['health', '-f', 'json'])) as { status: string };
      expect(health.status).toBe('HEALTH_OK');
    } finally {
      await cluster.stop();
      await rm(scratch, { recursive: true, force: true });
    }
    expect(pids.filter(processRunning)).toEqual([]);
  });

  it('with cephx, serves the admin keyring and refuses a client without one', async () => {
    const cluster = await startCeph({ auth: 'cephx' });
    try {
      expect(cluster.keyring).toBeDefined();
      expect(await cluster.rados(['lspools'])).toContain(cluster.pool);
      await expect(
        run('rados', ['-c', cluster.conf, '--keyring', '/dev/null', 'lspools'], { timeout: 30_000 }),
      ).rejects.toMatchObject({ stderr: expect.stringMatching(/handle_auth_bad_method/) });
    } finally {
      await cluster.stop();
    }
  });
});
