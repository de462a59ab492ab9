import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NetbootLab, startNetbootLab } from './netboot-lab.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// Real TFTP clients (atftp with blksize/windowsize, tftp-hpa, curl) against the server on the lab bridge.
describe('netboot TFTP with real clients', () => {
  let nb: NetbootLab;
  const big = randomBytes(3 * 1024 * 1024 + 123);
  const small = randomBytes(70_001);
  let ns = '';

  beforeAll(async () => {
    nb = await startNetbootLab({ hosts: 1, files: { 'big.bin': big, 'small.bin': small } });
    ns = nb.lab.host('h1').netns;
    const net = nb.serverIp.split('.').slice(0, 3).join('.');
    await nb.lab.exec(ns, ['ip', 'addr', 'add', `${net}.50/24`, 'dev', 'eth0']);
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('atftp fetches 3 MB with blksize 1468, windowsize 8 and tsize; the hash matches', async () => {
    const out = join(nb.dir, 'big.out');
    const opts = ['--option', 'blksize 1468', '--option', 'windowsize 8', '--option', 'tsize 0'];
    await nb.lab.exec(ns, ['atftp', ...opts, '-g', '-r', 'big.bin', '-l', out, nb.serverIp], 60_000);
    expect(sha(readFileSync(out))).toBe(sha(big));
    await nb.waitEvent('tftp.sent', (e) => e.type === 'tftp.sent' && /big\.bin/.test(e.detail ?? ''));
  });

  it('tftp-hpa (512-byte blocks, no options) and curl (blksize) fetch concurrently; hashes match', async () => {
    const a = join(nb.dir, 'hpa.out');
    const b = join(nb.dir, 'curl.out');
    await Promise.all([
      nb.lab.exec(ns, ['tftp', '-m', 'binary', nb.serverIp, '-c', 'get', 'small.bin', a], 60_000),
      nb.lab.exec(ns, ['curl', '-sS', '--tftp-blksize', '1024', '-o', b, `tftp://${nb.serverIp}/big.bin`], 60_000),
    ]);
    expect(sha(readFileSync(a))).toBe(sha(small));
    expect(sha(readFileSync(b))).toBe(sha(big));
  });

  it('answers path traversal and unknown files with error packets, and logs each', async () => {
    // curl exits 69 on a TFTP access violation, 68 on file not found.
    const exitOf = (name: string): Promise<number> =>
      nb.lab
        .exec(ns, ['curl', '-sS', '--path-as-is', '-o', '/dev/null', `tftp://${nb.serverIp}/${name}`], 20_000)
        .then(() => 0)
        .catch((error: { code?: number }) => error.code ?? -1);
    expect(await exitOf('../leases.jsonl')).toBe(69);
    expect(await exitOf('nope.bin')).toBe(68);
    await nb.waitEvent(
      'traversal logged',
      (e) => e.type === 'tftp.rejected' && /TFTP_ERR_PATH_TRAVERSAL/.test(e.detail ?? ''),
    );
    await nb.waitEvent(
      'not found logged',
      (e) => e.type === 'tftp.rejected' && /TFTP_ERR_NOT_FOUND/.test(e.detail ?? ''),
    );
  });

  it('gives up on a client that abandons a transfer, and keeps serving', async () => {
    // An RRQ then silence: the server retransmits, then logs tftp.abandoned.
    const script = `
      const s = require('node:dgram').createSocket('udp4');
      const rrq = Buffer.from('\\x00\\x01small.bin\\x00octet\\x00', 'latin1');
      s.send(rrq, 69, '${nb.serverIp}', () => setTimeout(() => s.close(), 200));`;
    await nb.lab.exec(ns, [process.execPath, '-e', script]);
    await nb.waitEvent('abandoned', (e) => e.type === 'tftp.abandoned', 20_000);
    const out = join(nb.dir, 'after.out');
    await nb.lab.exec(ns, ['atftp', '-g', '-r', 'small.bin', '-l', out, nb.serverIp], 20_000);
    expect(sha(readFileSync(out))).toBe(sha(small));
  });
});
