import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const IO = fileURLToPath(new URL('../../appliance/cli/io.ts', import.meta.url));

/** Runs a Node process that rejects a promise nobody handles, with or without the CLI's handler. */
function strayRejection(withHandler: boolean) {
  const script = `
    import { logStrayRejections } from ${JSON.stringify(IO)};
    if (${withHandler}) logStrayRejections({ stdout: () => {}, stderr: (t) => process.stderr.write(t), env: {} });
    void Promise.reject(new Error('nobody caught this'));
    setTimeout(() => process.stdout.write('still running\\n'), 200);
  `;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('long-running verbs survive a promise rejection nobody handled', () => {
  it('logs it with its code and stack, and the process goes on', () => {
    const run = strayRejection(true);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('still running\n');
    expect(run.stderr).toMatch(/ error CLI_ERR_UNHANDLED_REJECTION: Error: nobody caught this\n\s+at /);
  });

  it('(without the handler, Node ends the process: what an agent must not do)', () => {
    const run = strayRejection(false);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
  });
});
