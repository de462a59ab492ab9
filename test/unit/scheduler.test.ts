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
import { type CloudDb, openSqliteDb, type Server, type ServerGroupPolicy } from '../../appliance/db/index.js';
import { newServer } from '../new-server.js';

/** A fake driver whose hosts are the given inventory (a small cloud). */
class SmallCloud extends FakeDriver {
  constructor(private readonly inventory: HostInfo[]) {
    super();
  }
  override hosts(): HostInfo[] {
    return this.inventory;
  }
}
const host = (name: string, vcpus: number, memoryMb: number): HostInfo => ({
  hostname: name,
  hypervisorType: 'QEMU',
  hypervisorVersion: 7002000,
  hostIp: '10.0.0.1',
  vcpus,
  memoryMb,
  localGb: 100,
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
  const create = (
    service: ServerService,
    name: string,
    az = '',
    forcedHost?: string,
    group: { id: string; members: number } | null = null,
  ) =>
    service.create(
      newServer({
        ...{ id: crypto.randomUUID(), projectId, userId: 'u', name, flavorId, imageId: 'i' },
        ...{ availabilityZone: az, serverGroupId: group?.id ?? null },
      }),
      [],
      { instances: -1, cores: -1, ram: -1, serverGroupMembers: group?.members ?? -1 },
      by,
      forcedHost === undefined ? undefined : { host: forcedHost, forced: true },
    );
  const serverGroup = (policy: ServerGroupPolicy) =>
    db.serverGroups.create(
      {
        id: crypto.randomUUID(),
        name: policy,
        projectId,
        userId: 'u',
        policy,
        rules: {},
        createdAt: new Date().toISOString(),
      },
      10,
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

  it('server groups: anti-affinity puts each server on a host of its own, affinity all on one; NoValidHost says why', async () => {
    const hosts = [host('g1', 8, 512 + 4096), host('g2', 8, 512 + 4096), host('g3', 8, 512 + 2048)];
    const service = new ServerService(db, new SmallCloud(hosts), console);
    const anti = await serverGroup('anti-affinity');
    const spread: Server[] = [];
    for (let i = 0; i < 3; i++)
      spread.push(
        ...(await settle(service, [
          await create(service, `anti-${i}`, 'nova', undefined, { id: anti.id, members: 10 }),
        ])),
      );
    expect(new Set(spread.map((s) => s.host))).toEqual(new Set(['g1', 'g2', 'g3']));
    const [fourth] = await settle(service, [
      await create(service, 'anti-3', 'nova', undefined, { id: anti.id, members: 10 }),
    ]);
    expect(fourth?.state).toBe('error');
    expect(machineOf(fourth as Server).context.fault?.message).toContain(
      `holds a server of server group ${anti.id} (anti-affinity)`,
    );
    expect((await db.serverGroups.get(anti.id))?.members).toEqual([...spread, fourth].map((s) => s?.id));

    // Affinity: all on the first one's host, where the RAM weigher alone would spread them.
    const affine = await serverGroup('affinity');
    const together: Server[] = [];
    for (let i = 0; i < 3; i++)
      together.push(
        ...(await settle(service, [
          await create(service, `aff-${i}`, 'nova', undefined, { id: affine.id, members: 10 }),
        ])),
      );
    expect(together.map((s) => s.state)).toEqual(['active', 'active', 'active']);
    expect(new Set(together.map((s) => s.host)).size).toBe(1);

    // An evacuation away from the group's host (excluded, as a dead one is): the first to move
    // chooses a host, the next follows it.
    const from = together[0]?.host ?? '';
    const candidates = hostCapacities(hosts);
    const { host: moved } = await db.servers.place(together[0]?.id ?? '', candidates, { exclude: [from] });
    expect(moved).not.toBe(from);
    expect((await db.servers.place(together[1]?.id ?? '', candidates, { exclude: [from] })).host).toBe(moved);

    // The member quota is checked in the create's transaction.
    await expect(create(service, 'aff-over', 'nova', undefined, { id: affine.id, members: 3 })).rejects.toMatchObject({
      code: 'DB_ERR_QUOTA_EXCEEDED',
      message: 'Quota exceeded, too many servers in group',
    });
    // Deleted servers leave their group; a deleted group leaves its servers in none.
    for (const s of [...spread, fourth]) if (s) await service.send(s, { type: 'delete' }, by);
    await service.idle();
    expect((await db.serverGroups.get(anti.id))?.members).toEqual([]);
    await db.serverGroups.delete(affine.id);
    expect((await db.servers.get(together[2]?.id ?? ''))?.serverGroupId).toBeNull();
    for (const s of together) await service.send(s, { type: 'delete' }, by);
    await service.idle();
  });

  it('soft policies prefer, never refuse: soft-affinity piles on the group’s host, soft-anti-affinity spreads then doubles up', async () => {
    // g1 has the most free memory: the RAM weigher alone would put every server there.
    const hosts = [host('s1', 8, 512 + 8192), host('s2', 8, 512 + 4096), host('s3', 8, 512 + 2048)];
    const service = new ServerService(db, new SmallCloud(hosts), console);
    const soft = await serverGroup('soft-anti-affinity');
    const spread: Server[] = [];
    for (let i = 0; i < 4; i++)
      spread.push(
        ...(await settle(service, [
          await create(service, `soft-anti-${i}`, 'nova', undefined, { id: soft.id, members: 10 }),
        ])),
      );
    expect(spread.map((s) => s.state)).toEqual(['active', 'active', 'active', 'active']);
    expect(new Set(spread.slice(0, 3).map((s) => s.host))).toEqual(new Set(['s1', 's2', 's3']));
    expect(spread[3]?.host).toBe('s1'); // all hold one: the most free memory wins, not a refusal

    const close = await serverGroup('soft-affinity');
    // Its first server forced onto the host with the least free memory: the next follow it there.
    const first = await settle(service, [
      await create(service, 'soft-aff-0', 'nova', 's3', { id: close.id, members: 10 }),
    ]);
    expect(first[0]?.host).toBe('s3');
    const next = await settle(service, [
      await create(service, 'soft-aff-1', 'nova', undefined, { id: close.id, members: 10 }),
    ]);
    expect(next[0]?.host).toBe('s3');
    for (const s of [...spread, ...first, ...next]) await service.send(s, { type: 'delete' }, by);
    await service.idle();
  });

  it('places no server on a host whose nova-compute is disabled or forced down, unless an admin forces the host', async () => {
    const hosts = [host('d1', 8, 512 + 8192), host('d2', 8, 512 + 2048)];
    const service = new ServerService(db, new SmallCloud(hosts), console);
    await db.computeServices.set('d1', 'nova-compute', { disabled: true, disabledReason: 'maintenance' });
    const [a] = await settle(service, [await create(service, 'dis-a')]);
    expect(a?.host).toBe('d2');
    await db.computeServices.set('d2', 'nova-compute', { forcedDown: true });
    const [b] = await settle(service, [await create(service, 'dis-b')]);
    expect(b?.state).toBe('error');
    const [c] = await settle(service, [await create(service, 'dis-c', 'nova', 'd1')]);
    expect(c?.host).toBe('d1');
    await db.computeServices.set('d1', 'nova-compute', { disabled: false, disabledReason: null });
    await db.computeServices.set('d2', 'nova-compute', { forcedDown: false });
    expect((await db.computeServices.list()).map((x) => [x.host, x.disabled, x.forcedDown])).toEqual([
      ['d1', false, false],
      ['d2', false, false],
    ]);
    for (const s of [a, b, c]) if (s) await service.send(s, { type: 'delete' }, by);
    await service.idle();
  });

  it('spreads by free memory, honours the availability zone and a forced host, and answers NoValidHost for a full cloud', async () => {
    const service = new ServerService(
      db,
      new SmallCloud([host('a', 4, 512 + 1024), host('b', 4, 512 + 2048), host('c', 4, 512 + 512)]),
      console,
    );
    const other = await db.aggregates.create({
      ...{ uuid: crypto.randomUUID(), name: 'other-zone', metadata: { availability_zone: 'other' } },
      createdAt: new Date().toISOString(),
    });
    await db.aggregates.addHost(other.id, 'c');
    const first = await settle(service, [await create(service, 'spread-1')]);
    expect(first[0]?.host).toBe('b'); // the most free memory (no zone asked: any host)
    expect(first[0]?.availabilityZone).toBe('nova'); // its host's zone, which it keeps
    const second = await settle(service, [await create(service, 'spread-2')]);
    expect(second[0]?.host).toBe('b'); // b has 1792 free, a 1024
    const zoned = await settle(service, [await create(service, 'zoned', 'other')]);
    expect(zoned[0]?.host).toBe('c');
    // Nova's default zone holds the hosts no aggregate puts in one: not c.
    const [inNova] = await settle(service, [await create(service, 'in-nova', 'nova', 'c')]);
    expect(inNova?.state).toBe('error');
    expect(machineOf(inNova as Server).context.fault?.message).toContain('c: not in zone nova');
    // An admin's "nova:a" forces the host (not b, which has more room), still claimed: a full one is NoValidHost.
    const forced = await settle(service, [await create(service, 'forced', 'nova', 'a')]);
    expect(forced[0]?.host).toBe('a');
    const [last] = await settle(service, [await create(service, 'forced-last', 'other', 'c')]);
    expect(last?.host).toBe('c'); // its last 256 MB (zoned has the rest)
    const [overfull] = await settle(service, [await create(service, 'forced-full', '', 'c')]);
    expect(overfull?.state).toBe('error');
    expect(machineOf(overfull as Server).context.fault?.message).toMatch(/^No valid host was found/);
    const full = new ServerService(db, new SmallCloud([]), console);
    const [none] = await settle(full, [await create(full, 'nowhere')]);
    expect(none?.state).toBe('error');
    expect(machineOf(none as Server).context.fault?.message).toContain('no compute host is up');
  });
});
