import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetbootEvent } from '../../../bootstrap/netboot/dhcp-server.js';
import { type BootClient, createHttpBoot } from '../../../bootstrap/netboot/http-boot.js';
import type { Lease } from '../../../bootstrap/netboot/leases.js';

// HTTP boot through fastify's inject: Range requests on the kernel (RFC 9110 §14) and the boot
// event log that names the MAC behind every fetch.
describe('HTTP boot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-httpboot-'));
  const kernel = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7) % 256));
  const events: NetbootEvent[] = [];
  const leases = new Map([['10.9.0.100', '52:54:00:00:00:01']]);
  const leaseOf = (mac: string) => (mac === '52:54:00:00:00:02' ? { mac, ip: '10.9.0.177', expiresAt: 1 } : undefined);
  const app = createHttpBoot({
    filesDir: dir,
    baseUrl: 'http://10.9.0.1:8080',
    kernel: 'vmlinuz',
    initrd: 'initrd.gz',
    cmdline: 'console=ttyS0',
    token: (mac) => `tok-${mac.replaceAll(':', '')}`,
    onEvent: (e) => events.push(e),
    macOfIp: (ip) => leases.get(ip),
    leaseOf,
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

// The bug: `GET /boot/<any-mac>.ipxe` handed a fresh enrollment token to whoever asked, from
// anywhere on the provisioning network. A script now goes only to the address leased to its MAC.
describe('HTTP boot: a boot script only for the lease holder', () => {
  const MAC = '52:54:00:00:00:07';
  const OTHER = '52:54:00:00:00:08';
  const leases = new Map<string, Lease>([
    [MAC, { mac: MAC, ip: '10.9.0.107', expiresAt: 1, guid: '5a17ab00000000010000000000000007' }],
    [OTHER, { mac: OTHER, ip: '10.9.0.108', expiresAt: 1 }],
  ]);
  const boot = (leaseOf: ((mac: string) => Lease | undefined) | null) => {
    const events: NetbootEvent[] = [];
    const asked: [string, BootClient][] = [];
    const app = createHttpBoot({
      filesDir: '/nonexistent',
      baseUrl: 'http://10.9.0.1:8080',
      kernel: 'vmlinuz',
      initrd: 'initrd.gz',
      cmdline: 'console=ttyS0',
      token: (mac, client) => {
        asked.push([mac, client]);
        return `tok-${mac.replaceAll(':', '')}`;
      },
      onEvent: (e) => events.push(e),
      leaseOf,
    });
    const script = (mac: string, remoteAddress: string) =>
      app.inject({ method: 'GET', url: `/boot/${mac.replaceAll(':', '-')}.ipxe`, remoteAddress });
    return { app, events, asked, script };
  };

  it("serves the script, with its token, to the address that holds the lease (the token bound to the lease's GUID)", async () => {
    const { app, events, asked, script } = boot((mac) => leases.get(mac));
    const res = await script(MAC, '10.9.0.107');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('rackseed.token=tok-525400000007');
    expect(asked).toEqual([[MAC, { ip: '10.9.0.107', guid: '5a17ab00000000010000000000000007' }]]);
    expect((await script(OTHER, '10.9.0.108')).statusCode).toBe(200);
    expect(asked[1]).toEqual([OTHER, { ip: '10.9.0.108' }]); // its DHCP request carried no GUID
    expect(events.map((e) => e.type)).toEqual(['http.script', 'http.script']);
    // A dual-stack socket names an IPv4 peer ::ffff:a.b.c.d: the same address.
    expect((await script(MAC, '::ffff:10.9.0.107')).statusCode).toBe(200);
    await app.close();
  });

  it.each([
    ['an address that holds no lease', MAC, '10.9.0.200', `NETBOOT_ERR_NOT_LEASE_HOLDER: ${MAC} is leased 10.9.0.107`],
    ["another MAC's lease holder", MAC, '10.9.0.108', `NETBOOT_ERR_NOT_LEASE_HOLDER: ${MAC} is leased 10.9.0.107`],
    [
      'anyone, for a MAC that holds no lease',
      '52:54:00:00:00:09',
      '10.9.0.107',
      'NETBOOT_ERR_NOT_LEASE_HOLDER: 52:54:00:00:00:09 holds no lease',
    ],
  ])(
    'refuses %s with 403 and its code, logs the MAC and the asker, and makes no token',
    async (_, mac, from, detail) => {
      const { app, events, asked, script } = boot((m) => leases.get(m));
      const res = await script(mac, from);
      expect(res.statusCode).toBe(403);
      expect(res.body).toMatch(/^NETBOOT_ERR_NOT_LEASE_HOLDER: /);
      expect(res.body).not.toContain('token');
      expect(asked).toEqual([]);
      expect(events).toEqual([{ type: 'http.rejected', mac, ip: from, detail }]);
      await app.close();
    },
  );

  it('checks nothing in ProxyDHCP mode, where the site DHCP server holds the leases', async () => {
    const { app, asked, script } = boot(null);
    expect((await script(MAC, '10.9.0.200')).statusCode).toBe(200);
    expect(asked).toEqual([[MAC, { ip: '10.9.0.200' }]]);
    await app.close();
  });
});
