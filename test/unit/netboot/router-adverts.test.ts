import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NetbootEvent } from '../../../bootstrap/netboot/dhcp-server.js';
import { NetbootConfigError } from '../../../bootstrap/netboot/errors.js';
import { radvdConfig, radvdStateDir, startRouterAdverts } from '../../../bootstrap/netboot/router-adverts.js';

// The radvd child that answers iPXE's router solicitations: its config, a missing radvd, and
// the supervision that restarts it. (Real radvd and iPXE meet in netboot-qemu.test.ts.)
describe('router advertisements (radvd)', () => {
  it('advertises on the interface as no default router and with no prefix', () => {
    const conf = radvdConfig('br0');
    expect(conf).toMatch(/^interface br0 \{\n/);
    expect(conf).toContain('AdvSendAdvert on;');
    expect(conf).toContain('AdvDefaultLifetime 0;');
    expect(conf).not.toMatch(/prefix|AdvManagedFlag on|AdvOtherConfigFlag on/);
  });

  it('reports a missing radvd as NETBOOT_ERR_NO_RADVD and a bad interface name as NETBOOT_ERR_NO_INTERFACE', async () => {
    const onEvent = (): void => undefined;
    const missing = startRouterAdverts({ iface: 'br0', onEvent, command: '/nonexistent/radvd' });
    await expect(missing).rejects.toBeInstanceOf(NetbootConfigError);
    await expect(missing).rejects.toMatchObject({ code: 'NETBOOT_ERR_NO_RADVD' });
    await expect(startRouterAdverts({ iface: 'br0 }; x', onEvent })).rejects.toMatchObject({
      code: 'NETBOOT_ERR_NO_INTERFACE',
    });
  });

  it('restarts radvd when it exits, and stops restarting once closed', async () => {
    const events: NetbootEvent[] = [];
    const adverts = await startRouterAdverts({ iface: 'br0', onEvent: (e) => events.push(e), command: '/bin/false' });
    await expect.poll(() => events.filter((e) => e.type === 'ra.started').length, { timeout: 5000 }).toBe(2);
    expect(events.find((e) => e.type === 'ra.exited')?.detail).toMatch(/^radvd exited \(1\), restarting/);
    await adverts.close();
    const count = events.length;
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(events.length).toBe(count);
  });

  it('stops a radvd left running by a server that was killed, before starting its own', async () => {
    // A stand-in for radvd that writes its pid file (argv: -n -m stderr -C conf -p pidfile) and waits.
    const bin = mkdtempSync(join(tmpdir(), 'rackseed-fake-radvd-'));
    const fake = join(bin, 'radvd');
    writeFileSync(fake, '#!/bin/sh\necho $$ > "$7"\nwhile :; do sleep 1; done\n');
    chmodSync(fake, 0o755);
    const iface = `rt${process.pid % 100000}`;
    const dir = radvdStateDir(iface);
    mkdirSync(dir, { recursive: true });
    const stale = spawn(fake, ['-n', '-m', 'stderr', '-C', join(dir, 'radvd.conf'), '-p', join(dir, 'radvd.pid')], {
      stdio: 'ignore',
    });
    const staleExit = new Promise((resolve) => stale.once('exit', (_code, signal) => resolve(signal)));
    await expect.poll(() => readPid(join(dir, 'radvd.pid'))).toBe(stale.pid);
    const adverts = await startRouterAdverts({ iface, onEvent: () => undefined, command: fake });
    try {
      expect(await staleExit).toBe('SIGTERM');
    } finally {
      await adverts.close();
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

function readPid(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}
