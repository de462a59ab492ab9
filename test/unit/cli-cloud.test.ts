import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';

function capture(): CliIo & { err: string } {
  const io = { err: '', env: {}, stdout: () => {}, stderr: (text: string) => void (io.err += text) };
  return io;
}

const CLUSTER = ['--etcd', 'http://127.0.0.1:1', '--ceph-conf', '/nonexistent/ceph.conf', '--image-pool', 'p'];
const keys = mkdtempSync(join(tmpdir(), 'rackseed-cli-cloud-'));
const keyFile = (name: string, text: string) => {
  writeFileSync(join(keys, name), text, { mode: 0o600 });
  return join(keys, name);
};
const KEYED = [...CLUSTER, '--credential-key-file', keyFile('good.key', `${randomBytes(32).toString('hex')}\n`)];

describe('rackseed cloud serve: embedded or a cluster node', () => {
  it.each([
    ['neither --data-dir nor --etcd', [], /either --data-dir DIR .* or --etcd URLS/],
    ['both --data-dir and --etcd', ['--data-dir', '/tmp/x', '--etcd', 'http://127.0.0.1:1'], /either --data-dir/],
    ['--etcd without RADOS for the image bytes', ['--etcd', 'http://127.0.0.1:1'], /--ceph-conf FILE and --image-pool/],
    ['--etcd without a credential key', CLUSTER, /no credential key given: pass --credential-key-file/],
    [
      '--etcd with a credential key that is not one',
      [...CLUSTER, '--credential-key-file', keyFile('short.key', 'abc123\n')],
      /credential key is not 64 hex characters/,
    ],
    ['--etcd without a node certificate', KEYED, /no node certificate: pass --tls DIR/],
    [
      '--api-cert without --api-key',
      ['--data-dir', '/tmp/x', '--api-cert', '/tmp/x.crt'],
      /--api-cert FILE and --api-key/,
    ],
  ])('refuses %s with a usage error (exit 2) before touching anything', async (_case, args, message) => {
    const io = capture();
    expect(await runCli(['cloud', 'serve', ...args], io)).toBe(2);
    expect(io.err).toMatch(/^error CLI_ERR_USAGE: /);
    expect(io.err).toMatch(message);
  });

  it('names an unreadable admin password file, and exits 1', async () => {
    const io = capture();
    const args = [...KEYED, '--admin-password-file', '/nonexistent/admin-password'];
    expect(await runCli(['cloud', 'serve', ...args], io)).toBe(1);
    expect(io.err).toMatch(/^error CLI_ERR_SECRET_UNREADABLE: cannot read the admin password file \/nonexistent/);
  });
});

describe('rackseed cloud serve --public-url', () => {
  it.each([
    ['not a URL', 'gateway:5000x'],
    ['not http(s)', 'ftp://127.0.0.1:21'],
    ['http (the API serves TLS only)', 'http://127.0.0.1:8000'],
    ['a URL with a query', 'https://127.0.0.1:8000/?x=1'],
    ['a URL with credentials', 'https://admin:pw@127.0.0.1:8000'],
  ])('refuses %s with a usage error (exit 2) before opening the database', async (_case, url) => {
    const io = capture();
    const dataDir = '/nonexistent/rackseed-public-url-test';
    expect(await runCli(['cloud', 'serve', '--data-dir', dataDir, '--public-url', url], io)).toBe(2);
    expect(io.err).toMatch(/^error CLI_ERR_USAGE: --public-url /);
  });
});
