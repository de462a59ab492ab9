import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';

function capture(): CliIo & { err: string } {
  const io = { err: '', env: {}, stdout: () => {}, stderr: (text: string) => void (io.err += text) };
  return io;
}

describe('rackseed lab gateway relay|listen (started by lab up)', () => {
  it.each([
    ['neither --etcd nor --backend', ['relay', '--socket', '/tmp/x.sock'], /either --etcd URLS or --backend/],
    [
      'both --etcd and --backend',
      ['relay', '--socket', '/tmp/x.sock', '--etcd', 'http://10.0.0.1:2379', '--backend', '10.0.0.2'],
      /either --etcd URLS or --backend/,
    ],
    ['an empty --etcd', ['relay', '--socket', '/tmp/x.sock', '--etcd', ','], /--etcd needs at least one URL/],
    ['a bad --backend', ['relay', '--socket', '/tmp/x.sock', '--backend', '10.0.0.2:99999'], /--backend: .*host:port/],
    [
      'a bad --api-port',
      ['relay', '--socket', '/tmp/x.sock', '--backend', '10.0.0.2', '--api-port', '5e3'],
      /not a TCP port/,
    ],
    ['a --listen without a port', ['listen', '--listen', '127.0.0.1', '--socket', '/tmp/x.sock'], /--listen: /],
  ])('refuses %s with a usage error (exit 2)', async (_case, args, message) => {
    const io = capture();
    expect(await runCli(['lab', 'gateway', ...args], io)).toBe(2);
    expect(io.err).toMatch(/^error CLI_ERR_USAGE: /);
    expect(io.err).toMatch(message);
  });

  it('says so when its port is taken (GATEWAY_ERR_NOT_LISTENING, exit 1)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    if (typeof address !== 'object' || !address) throw new Error('no address');
    try {
      const io = capture();
      const args = ['listen', '--listen', `127.0.0.1:${address.port}`, '--socket', '/tmp/x.sock'];
      expect(await runCli(['lab', 'gateway', ...args], io)).toBe(1);
      expect(io.err).toMatch(
        /^error GATEWAY_ERR_NOT_LISTENING: cannot listen on 127\.0\.0\.1:\d+: .*pick another port/,
      );
    } finally {
      taken.close();
    }
  });

  it('is not listed in lab --help (an internal verb)', async () => {
    let out = '';
    const io = { ...capture(), stdout: (text: string) => void (out += text) };
    expect(await runCli(['lab', '--help'], io)).toBe(0);
    expect(out).toMatch(/up/);
    expect(out).not.toMatch(/gateway/);
  });
});
