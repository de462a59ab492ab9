import { describe, expect, it } from 'vitest';
import { seedConfigOf } from '../../appliance/cli/commands/seed.js';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';
import type { SeedConfig } from '../../bootstrap/seed/index.js';

// Operator approval (issue #14): one flag on the seed holds every unannounced server for
// `rackseed node accept`, whatever its configuration file says.
describe('rackseed seed --approve-nodes', () => {
  const config = {
    cluster: 'lab',
    dataDir: '/var/lib/rackseed',
    enrollment: { autoAccept: true },
  } as SeedConfig;

  it('turns automatic acceptance off over the file, and leaves the file alone without it', () => {
    expect(seedConfigOf(config, { approveNodes: true }).enrollment).toEqual({ autoAccept: false });
    expect(seedConfigOf({ ...config, enrollment: undefined }, { approveNodes: true }).enrollment).toEqual({
      autoAccept: false,
    });
    expect(seedConfigOf(config, {})).toBe(config);
    expect(config.enrollment).toEqual({ autoAccept: true });
  });

  it('is in the seed command help', async () => {
    let out = '';
    const io: CliIo = { env: {}, stdout: (t) => void (out += t), stderr: (t) => void (out += t) };
    expect(await runCli(['seed', '--help'], io)).toBe(0);
    expect(out).toMatch(/--approve-nodes\s+operator approval: a server not found behind a BMC waits for/);
  });
});
