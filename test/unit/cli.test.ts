import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';
import { readSecret } from '../../appliance/cli/secrets.js';

function capture(env: NodeJS.ProcessEnv = {}): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env,
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

describe('rackseed CLI conventions', () => {
  it('lists its commands with --help and exits 0', async () => {
    const io = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.out).toMatch(/Usage: rackseed/);
    expect(io.out).toMatch(/version/);
    expect(io.out).toMatch(/doctor/);
  });

  it('exits 2 with a one-line coded error on an unknown command', async () => {
    const io = capture();
    expect(await runCli(['frobnicate'], io)).toBe(2);
    expect(io.err.trim().split('\n')).toHaveLength(1);
    expect(io.err).toMatch(/^error CLI_ERR_USAGE: unknown command 'frobnicate'/);
  });

  it('exits 2 on an unknown option and reports it as JSON under --json', async () => {
    const io = capture();
    expect(await runCli(['version', '--frob', '--json'], io)).toBe(2);
    const body = JSON.parse(io.err) as { error: { code: string; retryable: boolean } };
    expect(body.error.code).toBe('CLI_ERR_USAGE');
    expect(body.error.retryable).toBe(false);
  });

  it('prints one JSON document for a report under --json', async () => {
    const io = capture();
    expect(await runCli(['version', '--json'], io)).toBe(0);
    const value = JSON.parse(io.out) as { rackseed: string; node: string };
    expect(value.rackseed).toMatch(/^\d+\.\d+\.\d+/);
    expect(value.node).toBe(process.versions.node);
  });
});

describe('secrets', () => {
  it('reads the first line of a file and prefers it over the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rackseed-secret-'));
    const file = join(dir, 'pw');
    await writeFile(file, 'hunter2\nignored\n');
    const io = capture({ RACKSEED_TEST_SECRET: 'from-env' });
    expect(await readSecret(io, { file, env: 'RACKSEED_TEST_SECRET', what: 'password' })).toBe('hunter2');
    expect(await readSecret(io, { env: 'RACKSEED_TEST_SECRET', what: 'password' })).toBe('from-env');
  });

  it('names the missing source without ever showing a secret', async () => {
    const io = capture({});
    await expect(readSecret(io, { env: 'RACKSEED_TEST_SECRET', what: 'password' })).rejects.toMatchObject({
      code: 'CLI_ERR_USAGE',
    });
    await expect(readSecret(io, { file: '/nonexistent/pw', env: 'X', what: 'password' })).rejects.toMatchObject({
      code: 'CLI_ERR_SECRET_UNREADABLE',
      message: expect.stringContaining('ENOENT'),
    });
  });
});
