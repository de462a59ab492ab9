import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';

function capture(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env: {},
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

// Refused before the agent touches etcd: these need no etcd running.
describe('rackseed agent: options checked before it starts', () => {
  const base = ['agent', '--name', 'n1', '--etcd', 'http://127.0.0.1:1', '--data-dir', tmpdir()];

  it('needs a cluster key file', async () => {
    const io = capture();
    expect(await runCli(base, io)).toBe(2);
    expect(io.err).toMatch(/CLI_ERR_USAGE: no cluster key/);
  });

  it('refuses a cluster key file that does not hold 32 bytes with SECRET_ERR_BAD_KEY', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rackseed-key-'));
    const file = join(dir, 'cluster.key');
    await writeFile(file, 'not a key\n');
    const io = capture();
    try {
      expect(await runCli([...base, '--cluster-key-file', file], io)).toBe(1);
      expect(io.err).toMatch(/SECRET_ERR_BAD_KEY/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('needs --etcd-listen for --etcd-bootstrap', async () => {
    const io = capture();
    expect(await runCli([...base, '--cluster-key-file', '/nonexistent', '--etcd-bootstrap'], io)).toBe(2);
    expect(io.err).toMatch(/--etcd-bootstrap needs --etcd-listen/);
  });
});
