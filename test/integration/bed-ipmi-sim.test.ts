import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processRunning as alive, type SimulatedRack, startSimulatedBmcs, waitFor } from '../bed/index.js';

describe('test bed: simulated BMCs (OpenIPMI ipmi_sim)', () => {
  let rack: SimulatedRack;

  beforeAll(async () => {
    rack = await startSimulatedBmcs({ count: 2, onPowerOn: () => 'exec sleep 600' });
  });
  afterAll(async () => {
    await rack?.stop();
  });

  it('runs each BMC on its own port with its own password', () => {
    const [a, b] = rack.bmcs;
    expect(a?.port).not.toBe(b?.port);
    expect(a?.password).not.toBe(b?.password);
  });

  it('is powered on by ipmitool -I lanplus -C 3 and says so, and runs the node command', async () => {
    const bmc = rack.bmcs[0];
    if (!bmc) throw new Error('no BMC');
    expect(await bmc.ipmitool(['chassis', 'power', 'status'])).toMatch(/Chassis Power is off/);
    expect(await bmc.ipmitool(['chassis', 'power', 'on'])).toMatch(/Up\/On/);
    expect(await bmc.power()).toBe('on');
    expect(await bmc.ipmitool(['chassis', 'power', 'status'])).toMatch(/Chassis Power is on/);
    const [pid] = readFileSync(`${bmc.stateDir}/node.pid`, 'utf8').split(' ').map(Number);
    expect(alive(pid ?? -1)).toBe(true);
    await bmc.ipmitool(['chassis', 'power', 'off']);
    expect(await bmc.power()).toBe('off');
    await waitFor('the node process to die at power-off', () => !alive(pid ?? -1), 5_000);
    expect(await bmc.events()).toEqual(['power on', 'power off']);
    // The other BMC was not touched.
    expect(await rack.bmcs[1]?.power()).toBe('off');
  });

  it('records the boot device set over IPMI', async () => {
    const bmc = rack.bmcs[1];
    if (!bmc) throw new Error('no BMC');
    await bmc.ipmitool(['chassis', 'bootdev', 'pxe']);
    expect(await bmc.bootDevice()).toBe('pxe');
    expect(await bmc.ipmitool(['chassis', 'bootparam', 'get', '5'])).toMatch(/Force PXE/);
  });

  it('serves its GUID and FRU', async () => {
    const bmc = rack.bmcs[0];
    if (!bmc) throw new Error('no BMC');
    const fru = await bmc.ipmitool(['fru', 'print', '0']);
    expect(fru).toContain(`Board Serial          : ${bmc.fru.board.serial}`);
    expect(fru).toContain(`Product Asset Tag     : ${bmc.fru.product.assetTag}`);
    const guid = await bmc.ipmitool(['mc', 'guid']);
    // ipmitool 1.8.19 prints the configured bytes in SMBIOS order: the first three fields byte-swapped.
    const g = Buffer.from(bmc.guid, 'hex');
    const smbios = [g.subarray(0, 4).reverse(), g.subarray(4, 6).reverse(), g.subarray(6, 8).reverse(), g.subarray(8)];
    expect(guid.replace(/-/g, '')).toContain(Buffer.concat(smbios).toString('hex'));
  });

  it('refuses a wrong password', async () => {
    const bmc = rack.bmcs[0];
    if (!bmc) throw new Error('no BMC');
    await expect(bmc.ipmitool(['chassis', 'power', 'status'], 'wrong-password')).rejects.toThrow(/RMCP\+ session/);
  });

  it('leaves nothing behind when stopped', async () => {
    const other = await startSimulatedBmcs({ count: 1, onPowerOn: () => 'exec sleep 600' });
    const bmc = other.bmcs[0];
    if (!bmc) throw new Error('no BMC');
    await bmc.ipmitool(['chassis', 'power', 'on']);
    const [nodePid] = readFileSync(`${bmc.stateDir}/node.pid`, 'utf8').split(' ').map(Number);
    const simPid = bmc.daemon.pid;
    await other.stop();
    expect(alive(simPid)).toBe(false);
    await waitFor('the powered-on node process to be killed', () => !alive(nodePid ?? -1), 5_000);
    expect(existsSync(bmc.stateDir)).toBe(false);
  });
});
