import { execFile } from 'node:child_process';
import { type Socket, createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../appliance/cli/program.js';
import { type BmcSimulators, IpmiClient, scanBmcs, simulatedFru, startBmcSimulators } from '../../bootstrap/index.js';

const run = promisify(execFile);
const GUID = '0123456789abcdef0011223344556677';
const users = () => [{ id: 2, name: 'admin', password: 'sim-secret', privilege: 4, enabled: true }];

/** A UDP relay on 127.0.0.1 that can drop or add datagrams on the way back from the BMC. */
async function relay(target: number, onReply: (reply: Buffer, send: (b: Uint8Array) => void) => void) {
  const front: Socket = createSocket('udp4');
  const back: Socket = createSocket('udp4');
  let client: { port: number; address: string } | undefined;
  front.on('message', (m, from) => {
    client = from;
    back.send(m, target, '127.0.0.1');
  });
  back.on('message', (m) => {
    const c = client;
    if (c) onReply(m, (b) => front.send(b, c.port, c.address));
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', r));
  return {
    port: front.address().port,
    close: () => Promise.all([front, back].map((s) => new Promise<void>((r) => s.close(() => r())))),
  };
}

describe('the BMC simulator', () => {
  let sims: BmcSimulators;
  const sim = () => sims.bmcs[0] ?? expect.unreachable();
  beforeAll(async () => {
    sims = await startBmcSimulators([
      { host: '127.0.0.1', port: 0, guid: GUID, users: users(), fru: simulatedFru(7) },
      ...[2, 5, 9].map((last) => ({
        host: `127.77.0.${last}`,
        port: 10623,
        guid: GUID,
        users: users(),
        fru: simulatedFru(last),
      })),
    ]);
  });
  afterAll(async () => {
    await sims?.stop();
  });

  for (const suite of ['3', '17']) {
    it(`serves ipmitool -I lanplus -C ${suite}: power, GUID, boot device, FRU`, async () => {
      const ipmitool = async (...args: string[]) =>
        (
          await run(
            'ipmitool',
            ['-I', 'lanplus', '-C', suite, '-H', '127.0.0.1', '-p', String(sim().port), '-U', 'admin', '-E', ...args],
            // -E: the password from the environment, not argv (any user can read /proc/PID/cmdline).
            { env: { PATH: process.env.PATH, IPMI_PASSWORD: 'sim-secret' } },
          )
        ).stdout;
      await ipmitool('chassis', 'power', 'off');
      expect(await ipmitool('chassis', 'power', 'status')).toMatch(/Chassis Power is off/);
      expect(await ipmitool('chassis', 'power', 'on')).toMatch(/Up\/On/);
      expect(sim().model.powerOn).toBe(true);
      expect(await ipmitool('chassis', 'power', 'status')).toMatch(/Chassis Power is on/);
      expect(await ipmitool('mc', 'guid')).toMatch(/77665544-3322-1100-efcd-ab8967452301/);
      await ipmitool('chassis', 'bootdev', 'pxe');
      expect(sim().model.bootFlags.device).toBe('pxe');
      expect(await ipmitool('fru', 'print', '0')).toMatch(/Product Asset Tag\s+: node7/);
      await expect(
        run(
          'ipmitool',
          [
            '-I',
            'lanplus',
            '-C',
            suite,
            '-H',
            '127.0.0.1',
            '-p',
            String(sim().port),
            '-U',
            'admin',
            '-E',
            'chassis',
            'power',
            'status',
          ],
          { env: { PATH: process.env.PATH, IPMI_PASSWORD: 'nope' } },
        ),
      ).rejects.toThrow();
    });
  }

  it('serves our client on suite 17: every command, and a password change takes effect', async () => {
    const connect = (password: string) =>
      IpmiClient.connect({
        host: '127.0.0.1',
        port: sim().port,
        userName: 'admin',
        password,
        cipherSuite: 17,
        timeoutMs: 2000,
      });
    const c = await connect('sim-secret');
    expect(await c.systemGuid()).toBe(GUID);
    expect((await c.deviceId()).ipmiVersion).toBe('2.0');
    expect((await c.cipherSuites()).map((s) => s.id)).toEqual([3, 17]);
    await c.chassisControl('off');
    expect((await c.chassisStatus()).powerOn).toBe(false);
    expect((await c.setBootDevice('bios', { persistent: true, efi: true })).readBack).toEqual({
      valid: true,
      persistent: true,
      efi: true,
      device: 'bios',
    });
    expect((await c.fru()).product?.serial).toBe('SN7');
    expect(await c.userId('admin')).toBe(2);
    expect(await c.userName(3)).toBe('');
    await c.setUserAccess({
      channel: 1,
      userId: 2,
      privilege: 4,
      ipmiMessaging: true,
      linkAuth: true,
      callbackOnly: false,
    });
    await c.setUserPassword(2, 'a-much-longer-pass20');
    await c.close();
    await expect(connect('sim-secret')).rejects.toMatchObject({ code: 'IPMI_ERR_RAKP2_HMAC_MISMATCH' });
    const d = await connect('a-much-longer-pass20');
    await d.setUserPassword(2, 'sim-secret');
    await d.close();
  });

  it('scan finds exactly the BMCs of a range, with their capabilities', async () => {
    const found = await scanBmcs({ cidr: '127.77.0.0/28', port: 10623, timeoutMs: 300 });
    expect(found.map((b) => b.address)).toEqual(['127.77.0.2', '127.77.0.5', '127.77.0.9']);
    expect(found.every((b) => b.ipmi && b.capabilities?.ipmi20 === true)).toBe(true);
  });

  it('retries through packet loss to success', async () => {
    let n = 0;
    const lossy = await relay(sim().port, (reply, send) => {
      if (n++ % 3 !== 1) send(reply); // every third answer is lost
    });
    try {
      const c = await IpmiClient.connect({
        host: '127.0.0.1',
        port: lossy.port,
        userName: 'admin',
        password: 'sim-secret',
        timeoutMs: 5000,
      });
      await c.chassisControl('on');
      expect((await c.chassisStatus()).powerOn).toBe(true);
      await c.close();
    } finally {
      await lossy.close();
    }
  });

  it('keeps an idle session alive only when asked to', async () => {
    const idleTraffic = async (keepaliveMs: number | undefined) => {
      let replies = 0;
      const counting = await relay(sim().port, (reply, send) => {
        replies++;
        send(reply);
      });
      try {
        const c = await IpmiClient.connect({
          host: '127.0.0.1',
          port: counting.port,
          userName: 'admin',
          password: 'sim-secret',
          ...(keepaliveMs === undefined ? {} : { keepaliveMs }),
        });
        const afterSetup = replies;
        await new Promise((r) => setTimeout(r, 1500)); // idle: no command from us
        const idle = replies - afterSetup;
        expect((await c.chassisStatus()).powerOn).toBeTypeOf('boolean'); // the session still works
        await c.close();
        return idle;
      } finally {
        await counting.close();
      }
    };
    expect(await idleTraffic(undefined)).toBe(0);
    expect(await idleTraffic(300)).toBeGreaterThanOrEqual(2);
  });

  it('drops garbage, truncated and replayed answers, counts them, and the session goes on', async () => {
    let previous: Buffer | undefined;
    const noisy = await relay(sim().port, (reply, send) => {
      send(Uint8Array.from([6, 0, 0xff, 7, 6, 0xc0, 1, 2]));
      send(reply.subarray(0, reply.length - 3));
      if (previous) send(previous);
      send(reply);
      previous = reply;
    });
    try {
      const c = await IpmiClient.connect({
        host: '127.0.0.1',
        port: noisy.port,
        userName: 'admin',
        password: 'sim-secret',
        timeoutMs: 3000,
      });
      for (let i = 0; i < 3; i++) expect(typeof (await c.chassisStatus()).powerOn).toBe('boolean');
      expect(c.dropped['IPMI_ERR_TRUNCATED'] ?? 0).toBeGreaterThan(0);
      expect((c.dropped['IPMI_ERR_REPLAY'] ?? 0) + (c.dropped['IPMI_ERR_MALFORMED'] ?? 0)).toBeGreaterThan(0);
      await c.close();
    } finally {
      await noisy.close();
    }
  });

  it('a silent host is IPMI_ERR_TIMEOUT within the bound', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    try {
      const started = Date.now();
      await expect(
        IpmiClient.connect({
          host: '127.0.0.1',
          port: silent.address().port,
          userName: 'admin',
          password: 'x',
          timeoutMs: 800,
        }),
      ).rejects.toMatchObject({ code: 'IPMI_ERR_TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(800 + 500);
    } finally {
      silent.close();
    }
  });

  it('the CLI drives it, and the password never shows, not even in errors', async () => {
    const out: string[] = [];
    const io = {
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => out.push(t),
      env: { RACKSEED_BMC_PASSWORD: 'sim-secret' },
    };
    const args = ['--host', '127.0.0.1', '--port', String(sim().port), '--user', 'admin'];
    expect(await runCli(['bmc', 'on', ...args], io)).toBe(0);
    expect(await runCli(['bmc', 'status', ...args, '--cipher', '17', '--json'], io)).toBe(0);
    expect(JSON.parse(out.at(-1) ?? '{}')).toMatchObject({ power: 'on' });
    expect(await runCli(['bmc', 'bootdev', 'disk', '--persistent', ...args], io)).toBe(0);
    expect(sim().model.bootFlags).toMatchObject({ device: 'disk', persistent: true, efi: false });
    const bad = { ...io, env: { RACKSEED_BMC_PASSWORD: 'wrong-password-xyz' } };
    expect(await runCli(['bmc', 'status', ...args, '--json'], bad)).toBe(1);
    expect(JSON.parse(out.at(-1) ?? '{}')).toMatchObject({ error: { code: 'IPMI_ERR_RAKP2_HMAC_MISMATCH' } });
    expect(await runCli(['bmc', 'bootdev', 'floppy', ...args], io)).toBe(2);
    expect(out.join('')).not.toMatch(/sim-secret|wrong-password-xyz/);
  });
});
