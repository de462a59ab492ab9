import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetbootEvent } from '../../../bootstrap/netboot/dhcp-server.js';
import { createHttpBoot } from '../../../bootstrap/netboot/http-boot.js';

// HTTP boot through fastify's inject: Range requests on the kernel (RFC 9110 §14) and the boot
// event log that names the MAC behind every fetch.
describe('HTTP boot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-httpboot-'));
  const kernel = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) % 256));
  const events: NetbootEvent[] = [];
  const leases = new Map([['10.9.0.100', '52:54:00:00:00:01']]);
  const app = createHttpBoot({
    filesDir: dir,
    baseUrl: 'http://10.9.0.1:8080',
    kernel: 'vmlinuz',
    initrd: 'initrd.gz',
    cmdline: 'console=ttyS0',
    token: (mac) => `tok-${mac.replaceAll(':', '')}`,
    onEvent: (e) => events.push(e),
    macOfIp: (ip) => leases.get(ip),
  });
  const get = (url: string, headers: Record<string, string> = {}, remoteAddress = '10.9.0.100') =>
    app.inject({ method: 'GET', url, headers, remoteAddress });

  beforeAll(() => writeFileSync(join(dir, 'vmlinuz'), kernel));
  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the whole file with Accept-Ranges when no Range is asked', async () => {
    const res = await get('/files/vmlinuz');
    expect(res.statusCode).toBe(200);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.rawPayload.equals(kernel)).toBe(true);
  });

  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=9990-', 9990, 9999],
    ['bytes=-16', 9984, 9999], // suffix: the last 16 bytes
    ['bytes=-20000', 0, 9999], // a suffix longer than the file is the whole file
    ['bytes=5000-999999', 5000, 9999], // an end past the file is clamped
  ])('answers %s with 206 and exactly those bytes', async (range, start, end) => {
    const res = await get('/files/vmlinuz', { range });
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/10000`);
    expect(Number(res.headers['content-length'])).toBe(end - start + 1);
    expect(res.rawPayload.equals(kernel.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=10000-', 'bytes=500-100', 'bytes=-0', 'bytes=-', 'items=0-1', 'bytes=0-1,5-6'])(
    'answers the unsatisfiable or malformed range %s with 416 and the size',
    async (range) => {
      const res = await get('/files/vmlinuz', { range });
      expect(res.statusCode).toBe(416);
      expect(res.headers['content-range']).toBe('bytes */10000');
    },
  );

  it('logs which MAC fetched what: the script by its URL, files by the leased address', async () => {
    events.length = 0;
    const script = await get('/boot/52-54-00-00-00-02.ipxe', {}, '10.9.0.177');
    expect(script.statusCode).toBe(200);
    expect(script.body).toContain('rackseed.token=tok-525400000002');
    await get('/files/vmlinuz', { range: 'bytes=0-9' });
    await get('/files/vmlinuz', {}, '10.9.0.200'); // no lease known for this address
    await get('/files/missing.img');
    await get('/files/..%2fetc%2fpasswd');
    expect(events).toEqual([
      { type: 'http.script', mac: '52:54:00:00:00:02', ip: '10.9.0.177', detail: '/boot/52-54-00-00-00-02.ipxe' },
      { type: 'http.file', mac: '52:54:00:00:00:01', ip: '10.9.0.100', detail: 'vmlinuz 0-9' },
      { type: 'http.file', mac: '', ip: '10.9.0.200', detail: 'vmlinuz' },
      { type: 'http.not-found', mac: '52:54:00:00:00:01', ip: '10.9.0.100', detail: 'missing.img' },
      {
        type: 'http.rejected',
        mac: '52:54:00:00:00:01',
        ip: '10.9.0.100',
        detail: 'HTTPBOOT_ERR_BAD_PATH ../etc/passwd',
      },
    ]);
  });
});
