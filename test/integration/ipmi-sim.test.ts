import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpmiClient, IpmiError } from '../../bootstrap/index.js';
import { type SimulatedRack, startSimulatedBmcs } from '../bed/index.js';

// Our client against OpenIPMI's ipmi_sim (cipher suite 3: ipmi_sim 2.0.33 has no SHA-256).
describe('IPMI client against ipmi_sim', () => {
  let rack: SimulatedRack;
  beforeAll(async () => {
    rack = await startSimulatedBmcs({ count: 1 });
  });
  afterAll(async () => {
    await rack?.stop();
  });
  const bmc = () => rack.bmcs[0] ?? expect.unreachable('no BMC');
  const connect = (password = bmc().password, userName = bmc().user) =>
    IpmiClient.connect({ host: bmc().host, port: bmc().port, userName, password, cipherSuite: 3, timeoutMs: 3000 });

  it('reads device ID, GUID, chassis status, cipher suites and FRU', async () => {
    const client = await connect();
    try {
      expect(client.capabilities.ipmi20).toBe(true);
      const id = await client.deviceId();
      expect({ manufacturerId: id.manufacturerId, productId: id.productId, ipmiVersion: id.ipmiVersion }).toEqual({
        manufacturerId: 0x1291,
        productId: 0x0f02,
        ipmiVersion: '2.0',
      });
      expect(await client.systemGuid()).toBe(bmc().guid);
      expect((await client.chassisStatus()).powerOn).toBe((await bmc().power()) === 'on');
      expect(
        (await client.cipherSuites()).some((s) => s.id === 3 && s.authAlg === 1 && s.confidentialityAlg === 1),
      ).toBe(true);
      const fru = await client.fru();
      expect(fru).toEqual(bmc().fru);
    } finally {
      await client.close();
    }
  });

  it('powers on, off, cycles, resets and soft-stops the chassis', async () => {
    const client = await connect();
    try {
      await client.chassisControl('on');
      expect(await bmc().power()).toBe('on');
      expect((await client.chassisStatus()).powerOn).toBe(true);
      await client.chassisControl('reset');
      await client.chassisControl('soft');
      expect(await bmc().power()).toBe('off');
      await client.chassisControl('on');
      await client.chassisControl('off');
      expect(await bmc().power()).toBe('off');
      expect((await client.chassisStatus()).powerOn).toBe(false);
      await client.chassisControl('cycle');
      const events = await bmc().events();
      expect(events).toContain('power on');
      expect(events).toContain('power off');
    } finally {
      await client.close();
    }
  });

  it('sets the boot device and reads it back (pxe, disk, bios)', async () => {
    const client = await connect();
    try {
      expect((await client.setBootDevice('pxe')).readBack.device).toBe('pxe');
      expect(await bmc().bootDevice()).toBe('pxe');
      expect((await client.setBootDevice('bios', { persistent: true, efi: true })).readBack.device).toBe('bios');
      expect(await bmc().bootDevice()).toBe('bios');
      expect((await client.setBootDevice('disk')).readBack.device).toBe('disk');
      expect(await bmc().bootDevice()).toBe('default'); // ipmi_sim's word for "force hard disk"
    } finally {
      await client.close();
    }
  });

  it('finds the id of a user by name (Get User Name), as password rotation needs', async () => {
    const client = await connect();
    try {
      expect(await client.userName(2)).toBe('admin');
      expect(await client.userId('admin')).toBe(2);
      expect(await client.userId('no-such-user')).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('changes the password: the new one works, the old one fails with RAKP2 HMAC mismatch', async () => {
    const client = await connect();
    const fresh = 'n3w-Pa55word';
    try {
      await client.setUserAccess({
        channel: 1,
        userId: 2,
        privilege: 4,
        ipmiMessaging: true,
        linkAuth: true,
        callbackOnly: false,
      });
      await client.setUserPassword(2, fresh);
    } finally {
      await client.close();
    }
    const again = await connect(fresh);
    await again.close();
    await expect(connect()).rejects.toMatchObject({ code: 'IPMI_ERR_RAKP2_HMAC_MISMATCH' });
    expect(await bmc().ipmitool(['chassis', 'power', 'status'], fresh)).toMatch(/Chassis Power is/);
    // put the original back for the other tests
    const back = await connect(fresh);
    await back.setUserPassword(2, bmc().password);
    await back.close();
  });

  it('names the cause of a wrong password or user within a second', async () => {
    for (const [password, user, code] of [
      ['wrong-password', bmc().user, 'IPMI_ERR_RAKP2_HMAC_MISMATCH'],
      [bmc().password, 'nobody', 'IPMI_ERR_UNAUTHORIZED_NAME'],
    ] as const) {
      const error: unknown = await connect(password, user).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IpmiError);
      expect((error as IpmiError).code).toBe(code);
      expect((error as Error).message).not.toContain(password);
    }
  });

  it('refuses cipher suite 0 before sending anything', async () => {
    await expect(
      IpmiClient.connect({ host: bmc().host, port: bmc().port, userName: 'admin', password: 'x', cipherSuite: 0 }),
    ).rejects.toMatchObject({ code: 'IPMI_ERR_CIPHER_SUITE' });
  });
});
