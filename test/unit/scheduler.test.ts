import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCloud } from '../../appliance/api/index.js';
import {
  DEFAULT_PLACEMENT,
  FakeDriver,
  type HostInfo,
  hostCapacities,
  machineOf,
  mergePlacement,
  type PlacementConfig,
  ServerService,
} from '../../appliance/compute/index.js';
import { type CloudDb, openSqliteDb, type Server } from '../../appliance/db/index.js';

/** A fake driver whose hosts are the given inventory (a small cloud). */
class SmallCloud extends FakeDriver {
  constructor(private readonly inventory: HostInfo[]) {
    super();
  }
  override hosts(): HostInfo[] {
    return this.inventory;
  }
}
const host = (name: string, vcpus: number, memoryMb: number, az = 'nova'): HostInfo => ({
  hostname: name,
  hypervisorType: 'QEMU',
  hypervisorVersion: 7002000,
  hostIp: '10.0.0.1',
  vcpus,
  memoryMb,
  localGb: 100,
  availabilityZone: az,
});

describe('the scheduler: real inventory, atomic claims', () => {
  let dir: string;
  let db: CloudDb;
  let flavorId: string;
  let projectId: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-sched-'));
    db = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, 'pw');
    const flavor = await db.flavors.create({
      ...{ id: 'f-256', name: 'f.256', ram: 256, vcpus: 1, disk: 1, swap: 0, ephemeral: 0, rxtxFactor: 1 },
      ...{ isPublic: true, disabled: false, description: null, extraSpecs: {}, createdAt: new Date().toISOString() },
    });
    flavorId = flavor.id;
    projectId = (await db.projects.list({ name: 'admin' }))[0]?.id ?? '';
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const by = { requestId: 'req-test', userId: 'u', projectId: 'p' };
  const create = (service: ServerService, name: string, az = 'nova', forcedHost?: string) =>
    service.create(
      {
        ...{ id: crypto.randomUUID(), projectId, userId: 'u', name, flavorId, imageId: 'i', keyName: null },
        ...{ availabilityZone: az, accessIPv4: '', accessIPv6: '', metadata: {}, userData: null },
        ...{ createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), launchedAt: null },
      },
      [],
      { instances: -1, cores: -1, ram: -1 },
      by,
      forcedHost,
    );
  const settle = async (service: ServerService, servers: Server[]) => {
    await service.idle();
    return Promise.all(servers.map(async (s) => (await db.servers.get(s.id)) as Server));
  };

  it('packs a small host with parallel creates and never over-commits it; the rest get NoValidHost', async () => {
    // 512 MB reserved for the host: 512 + 4 × 256 MB holds four f.256 servers, not five.
    const service = new ServerService(db, new SmallCloud([host('small', 8, 512 + 4 * 256)]), console);
    const servers = await Promise.all(Array.from({ length: 7 }, (_, i) => create(service, `pack-${i}`)));
    const done = await settle(service, servers);
    const active = done.filter((s) => s.state === 'active');
    const failed = done.filter((s) => s.state === 'error');
    expect(active).toHaveLength(4);
    expect(failed).toHaveLength(3);
    expect(active.every((s) => s.host === 'small')).toBe(true);
    for (const s of failed) {
      expect(s.host).toBe('');
      expect(machineOf(s).context.fault?.message).toMatch(
        /^No valid host was found\. There are not enough hosts available\./,
      );
    }
    const usage = await db.servers.hostUsage();
    const [capacity] = hostCapacities(service.driver.hosts());
    expect(usage.small?.memoryMb).toBe(4 * 256);
    expect(usage.small?.memoryMb).toBeLessThanOrEqual(capacity?.memoryMb ?? 0);
    for (const s of done) await service.send(s, { type: 'delete' }, by);
    await service.idle();
    expect((await db.servers.hostUsage()).small).toBeUndefined();
  });

  it('schedules with the placement setting in force when each server is placed (ratios and reserves)', async () => {
    let placement: PlacementConfig = DEFAULT_PLACEMENT;
    // 2 real CPUs: 8 vCPUs at Nova's 4.0; plenty of memory.
    const service = new ServerService(db, new SmallCloud([host('ratio', 2, 8192)]), console, () => placement);
    placement = mergePlacement(DEFAULT_PLACEMENT, { cpuAllocationRatio: 1 });
    const two = await settle(service, [await create(service, 'r-1'), await create(service, 'r-2')]);
    expect(two.map((s) => s.state)).toEqual(['active', 'active']);
    const [third] = await settle(service, [await create(service, 'r-3')]);
    expect(third?.state).toBe('error'); // 2 vCPUs at 1.0: full
    placement = mergePlacement(placement, { cpuAllocationRatio: 2 });
    const [fourth] = await settle(service, [await create(service, 'r-4')]);
    expect(fourth?.host).toBe('ratio');
    placement = mergePlacement(placement, { reservedHostMemoryMb: 8192 - 256 * 3 });
    const [fifth] = await settle(service, [await create(service, 'r-5')]);
    expect(fifth?.state).toBe('error'); // memory left for servers: 3 × 256 MB, all used
    for (const s of [...two, fourth, fifth, third]) if (s) await service.send(s, { type: 'delete' }, by);
    await service.idle();
  });

  it('refuses placement settings out of range or unknown, naming the field', () => {
    expect(() => mergePlacement(DEFAULT_PLACEMENT, { cpuAllocationRatio: 0 })).toThrow(/cpuAllocationRatio must be/);
    expect(() => mergePlacement(DEFAULT_PLACEMENT, { ramAllocationRatio: '2' })).toThrow(/ramAllocationRatio/);
    expect(() => mergePlacement(DEFAULT_PLACEMENT, { reservedHostMemoryMb: -1 })).toThrow(/reservedHostMemoryMb/);
    expect(() => mergePlacement(DEFAULT_PLACEMENT, { cpu: 2 })).toThrow(
      expect.objectContaining({ code: 'COMPUTE_ERR_PLACEMENT_CONFIG' }),
    );
    expect(mergePlacement(DEFAULT_PLACEMENT, { diskAllocationRatio: 1.5 })).toEqual({
      ...DEFAULT_PLACEMENT,
      diskAllocationRatio: 1.5,
    });
  });

  it('spreads by free memory, honours the availability zone and a forced host, and answers NoValidHost for a full cloud', async () => {
    const service = new ServerService(
      db,
      new SmallCloud([host('a', 4, 512 + 1024), host('b', 4, 512 + 2048), host('c', 4, 512 + 512, 'other')]),
      console,
    );
    const first = await settle(service, [await create(service, 'spread-1')]);
    expect(first[0]?.host).toBe('b'); // the most free memory (no zone asked: any host)
    const second = await settle(service, [await create(service, 'spread-2')]);
    expect(second[0]?.host).toBe('b'); // b has 1792 free, a 1024
    const zoned = await settle(service, [await create(service, 'zoned', 'other')]);
    expect(zoned[0]?.host).toBe('c');
    // An admin's "nova:a" forces the host (not b, which has more room), still claimed: a full one is NoValidHost.
    const forced = await settle(service, [await create(service, 'forced', 'nova', 'a')]);
    expect(forced[0]?.host).toBe('a');
    const [last] = await settle(service, [await create(service, 'forced-last', 'nova', 'c')]);
    expect(last?.host).toBe('c'); // its last 256 MB (zoned has the rest)
    const [overfull] = await settle(service, [await create(service, 'forced-full', 'nova', 'c')]);
    expect(overfull?.state).toBe('error');
    expect(machineOf(overfull as Server).context.fault?.message).toMatch(/^No valid host was found/);
    const full = new ServerService(db, new SmallCloud([]), console);
    const [none] = await settle(full, [await create(full, 'nowhere')]);
    expect(none?.state).toBe('error');
    expect(machineOf(none as Server).context.fault?.message).toContain('no compute host is up');
  });
});
