import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCloud } from '../../appliance/api/index.js';
import { HostComputeDriver } from '../../appliance/compute/index.js';
import { type CloudDb, type Network, openSqliteDb, type Subnet } from '../../appliance/db/index.js';
import { cloudDbOver, sqlFunction } from '../../appliance/db/operations.js';
import { CLOUD_MIGRATIONS } from '../../appliance/db/schema-steps.js';
import { cloudSql } from '../../appliance/db/sqlite.js';
import type { NodeTls } from '../../agent/index.js';
import { newServer } from '../new-server.js';

// The `networks` group: a project's VXLAN networks (lowest free VNI), subnets and their pools,
// the one IPAM of ports and servers, a server's own ports against the ports the user made.
describe('networks, subnets and ports in the cloud database', () => {
  let dir: string;
  let db: CloudDb;
  const project = 'p-nets';
  const now = () => new Date().toISOString();
  const network = (over: Partial<Network> = {}): Network => ({
    ...{ id: randomUUID(), name: 'net', projectId: project, shared: false, external: false, mtu: 1450 },
    ...{ adminStateUp: true, networkType: 'vxlan', segmentationId: null, description: '' },
    ...{ createdAt: now(), updatedAt: now() },
    ...over,
  });
  const subnet = (networkId: string, cidr: string, over: Partial<Subnet> = {}): Subnet => ({
    ...{ id: randomUUID(), name: 'sub', networkId, projectId: project, cidr, gatewayIp: null, ipVersion: 4 },
    ...{ enableDhcp: true, allocationPools: [], dnsNameservers: [], hostRoutes: [], description: '' },
    ...{ createdAt: now(), updatedAt: now() },
    ...over,
  });
  const port = (networkId: string) => ({
    ...{ id: randomUUID(), name: '', networkId, projectId: project, deviceId: '', deviceOwner: '' },
    ...{
      macAddress: `fa:16:3e:${randomUUID()
        .slice(0, 8)
        .replace(/(..)(..)(..)(..)/, '$1:$2:$3')}`,
    },
    ...{ adminStateUp: true, description: '', serverMade: false, tag: null, createdAt: now(), updatedAt: now() },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-nets-'));
    db = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, 'pw');
    await db.flavors.create({
      ...{ id: 'f-nets', name: 'f.nets', ram: 256, vcpus: 1, disk: 1, swap: 0, ephemeral: 0, rxtxFactor: 1 },
      ...{ isPublic: true, disabled: false, description: null, extraSpecs: {}, createdAt: now() },
    });
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the provider network flat, and gives each project network the lowest free VNI', async () => {
    const [provider] = await db.networks.list({ name: 'provider' });
    expect(provider).toMatchObject({ networkType: 'flat', segmentationId: null, mtu: 1500 });
    const a = await db.networks.create(network(), -1);
    const b = await db.networks.create(network(), -1);
    expect([a.segmentationId, b.segmentationId]).toEqual([1, 2]);
    await db.networks.delete(a.id);
    expect((await db.networks.create(network(), -1)).segmentationId).toBe(1);
    await expect(db.networks.create(network({ segmentationId: 2 }), -1)).rejects.toThrow('tunnel ID 2 is in use');
  });

  it("refuses a network past the project's quota, and a subnet overlapping one of its network's", async () => {
    const quota = (await db.networks.list({ projectId: project })).filter((n) => n.projectId === project).length;
    await expect(db.networks.create(network(), quota)).rejects.toMatchObject({ code: 'DB_ERR_QUOTA_EXCEEDED' });
    const n = await db.networks.create(network(), -1);
    await db.networks.createSubnet(subnet(n.id, '10.1.0.0/24'), -1);
    await expect(db.networks.createSubnet(subnet(n.id, '10.1.0.128/25'), -1)).rejects.toThrow('overlaps');
    // Another network may have the same CIDR (Neutron's overlapping IPs).
    const other = await db.networks.create(network(), -1);
    await expect(db.networks.createSubnet(subnet(other.id, '10.1.0.0/24'), -1)).resolves.toBeTruthy();
  });

  it('hands out the lowest free address of the pools, an address asked for once only, and none outside', async () => {
    const n = await db.networks.create(network(), -1);
    const s = await db.networks.createSubnet(
      subnet(n.id, '10.2.0.0/29', { allocationPools: [{ start: '10.2.0.4', end: '10.2.0.5' }] }),
      -1,
    );
    const first = await db.networks.createPort(port(n.id), null, [], -1);
    expect(first.fixedIps).toEqual([{ subnetId: s.id, ipAddress: '10.2.0.4' }]);
    // Outside the pools but on the subnet: allowed when named.
    const named = await db.networks.createPort(port(n.id), [{ ipAddress: '10.2.0.2' }], [], -1);
    expect(named.fixedIps).toEqual([{ subnetId: s.id, ipAddress: '10.2.0.2' }]);
    await expect(db.networks.createPort(port(n.id), [{ ipAddress: '10.2.0.2' }], [], -1)).rejects.toThrow(
      'The IP address 10.2.0.2 is in use',
    );
    await expect(db.networks.createPort(port(n.id), [{ ipAddress: '10.3.0.2' }], [], -1)).rejects.toThrow(
      'not a valid IP for any of the subnets',
    );
    await db.networks.createPort(port(n.id), [{ subnetId: s.id }], [], -1);
    await expect(db.networks.createPort(port(n.id), null, [], -1)).rejects.toMatchObject({
      code: 'DB_ERR_EXHAUSTED',
    });
    await expect(db.networks.deleteSubnet(s.id)).rejects.toThrow('One or more ports have an IP allocation');
    await expect(db.networks.delete(n.id)).rejects.toThrow('ports still in use on the network');
  });

  it("deletes a server's own ports with it and unbinds the one the user gave it", async () => {
    const n = await db.networks.create(network(), -1);
    await db.networks.createSubnet(
      subnet(n.id, '10.4.0.0/24', { allocationPools: [{ start: '10.4.0.10', end: '10.4.0.20' }] }),
      -1,
    );
    const mine = await db.networks.createPort(port(n.id), null, [], -1);
    const serverId = randomUUID();
    const nic = { networkId: n.id, macAddress: 'fa:16:3e:aa:bb:cc', tag: null, securityGroupIds: [] };
    const server = await db.servers.create(
      {
        ...newServer({ id: serverId, projectId: project, userId: 'u', name: 'vm', flavorId: 'f-nets', imageId: 'i' }),
        ...{ state: 'building', host: '', machine: '{}', addresses: [] },
      },
      [
        { ...nic, portId: randomUUID(), existing: false, fixedIp: '10.4.0.30' },
        { ...nic, portId: mine.id, existing: true, fixedIp: null, macAddress: 'fa:16:3e:aa:bb:cd' },
      ],
      { instances: -1, cores: -1, ram: -1, serverGroupMembers: -1 },
    );
    expect(server.addresses.map((a) => a.addr)).toEqual(['10.4.0.30', '10.4.0.10']);
    expect(await db.networks.getPort(mine.id)).toMatchObject({ deviceId: serverId, deviceOwner: 'compute:nova' });
    await db.servers.transition(serverId, 'building', { state: 'deleted', machine: '{}' });
    expect((await db.networks.ports({ networkId: n.id })).map((p) => [p.id, p.deviceId, p.deviceOwner])).toEqual([
      [mine.id, '', ''],
    ]);
  });

  it("drops a deleted port's addresses from its server", async () => {
    const n = await db.networks.create(network(), -1);
    await db.networks.createSubnet(
      subnet(n.id, '10.6.0.0/24', { allocationPools: [{ start: '10.6.0.2', end: '10.6.0.9' }] }),
      -1,
    );
    const nic = { networkId: n.id, tag: null, securityGroupIds: [], existing: false, fixedIp: null };
    const [a, b] = [randomUUID(), randomUUID()];
    const server = await db.servers.create(
      {
        ...newServer({
          id: randomUUID(),
          projectId: project,
          userId: 'u',
          name: 'vm',
          flavorId: 'f-nets',
          imageId: 'i',
        }),
        ...{ state: 'building', host: '', machine: '{}', addresses: [] },
      },
      [
        { ...nic, portId: a, macAddress: 'fa:16:3e:00:01:01' },
        { ...nic, portId: b, macAddress: 'fa:16:3e:00:01:02' },
      ],
      { instances: -1, cores: -1, ram: -1, serverGroupMembers: -1 },
    );
    await db.networks.deletePort(a);
    expect((await db.servers.get(server.id))?.addresses.map((x) => [x.portId, x.addr])).toEqual([[b, '10.6.0.3']]);
  });

  it('sends each NIC its segment and MTU: flat on the provider network, vxlan with its VNI on a project one', async () => {
    const image = await db.images.create({
      ...{ id: randomUUID(), name: 'img', status: 'active', visibility: 'public', protected: false, osHidden: false },
      ...{ owner: project, checksum: null, osHashAlgo: null, osHashValue: null, size: 1, virtualSize: 1 },
      ...{ minRam: 0, minDisk: 0, diskFormat: 'raw', containerFormat: 'bare', tags: [], properties: {} },
      ...{ createdAt: now(), updatedAt: now() },
    });
    const [provider] = await db.networks.list({ name: 'provider' });
    const n = await db.networks.create(network({ segmentationId: 4242 }), -1);
    await db.networks.createSubnet(
      subnet(n.id, '10.5.0.0/24', {
        gatewayIp: '10.5.0.1',
        allocationPools: [{ start: '10.5.0.2', end: '10.5.0.254' }],
        dnsNameservers: ['10.5.0.53'],
      }),
      -1,
    );
    const nic = { macAddress: 'fa:16:3e:00:00:01', tag: null, securityGroupIds: [], existing: false, fixedIp: null };
    const server = await db.servers.create(
      {
        ...newServer({
          id: randomUUID(),
          projectId: project,
          userId: 'u',
          name: 'vm',
          flavorId: 'f-nets',
          imageId: image.id,
        }),
        ...{ state: 'building', host: '', machine: '{}', addresses: [] },
      },
      [
        { ...nic, networkId: provider?.id ?? '', portId: randomUUID() },
        { ...nic, networkId: n.id, portId: randomUUID(), macAddress: 'fa:16:3e:00:00:02' },
      ],
      { instances: -1, cores: -1, ram: -1, serverGroupMembers: -1 },
    );
    const driver = new HostComputeDriver(db, { inventories: () => [], routers: () => [] }, {} as NodeTls);
    const request = await driver.request(server, 'running');
    expect(request.nics.map((x) => [x.segment, x.mtu, x.ip, x.gateway, x.dns])).toEqual([
      [{ type: 'flat' }, 1500, '10.16.0.2', '10.16.0.1', []],
      [{ type: 'vxlan', vni: 4242 }, 1450, '10.5.0.2', '10.5.0.1', ['10.5.0.53']],
    ]);
  });

  // Regression: a port's PUT without fixed_ips passed `undefined`, which the DB master's RPC (JSON)
  // turned into null, and the update failed (a 500 on a cluster node only).
  it("keeps a port's addresses through an update whose arguments crossed the wire as JSON", async () => {
    const raw = new Database(join(dir, 'cloud.db'));
    raw.pragma('foreign_keys = ON');
    const sql = cloudSql(raw);
    const wire = cloudDbOver(
      async (call) => sqlFunction(sql, call)(...(JSON.parse(JSON.stringify(call.args)) as unknown[])),
      async () => {
        raw.close();
      },
    );
    const n = await db.networks.create(network(), -1);
    await db.networks.createSubnet(
      subnet(n.id, '10.7.0.0/24', { allocationPools: [{ start: '10.7.0.2', end: '10.7.0.9' }] }),
      -1,
    );
    const p = await wire.networks.createPort(port(n.id), null, [], -1);
    const updated = await wire.networks.updatePort(p.id, { name: 'renamed', adminStateUp: false }, null, now());
    expect(updated).toMatchObject({ name: 'renamed', adminStateUp: false, fixedIps: p.fixedIps });
    expect(p.fixedIps).toHaveLength(1);
    await wire.close();
  });

  it('moves an old database on: the provider network flat, pools and addresses kept, ports in their groups', () => {
    const file = join(dir, 'old.db');
    const old = new Database(file);
    old.pragma('foreign_keys = ON');
    for (const step of CLOUD_MIGRATIONS.filter((s) => s.version < 25))
      if (typeof step.up === 'string') old.exec(step.up);
    old.exec(`
      INSERT INTO networks VALUES ('n1', 'provider', 'p', 1, 0, 1500, 1, '2026-01-01T00:00:00Z');
      INSERT INTO subnets VALUES ('s1', 'provider-v4', 'n1', 'p', '10.16.0.0/16', '10.16.0.1', 4, 1,
        '10.16.0.2', '10.16.255.254', '2026-01-01T00:00:00Z');
      INSERT INTO ports (id, name, network_id, subnet_id, project_id, device_id, device_owner, mac_address,
        ip_address, ip_int, created_at) VALUES ('port1', '', 'n1', 's1', 'p', 'vm1', 'compute:nova',
        'fa:16:3e:00:00:09', '10.16.0.2', 168820738, '2026-01-01T00:00:00Z');
      INSERT INTO security_groups VALUES ('g1', 'p', 'default', '', 1, 1, 0, 'x', 'x');
      INSERT INTO port_security_groups VALUES ('port1', 'g1');
    `);
    const step = CLOUD_MIGRATIONS.find((s) => s.version === 25);
    old.transaction(() => {
      if (typeof step?.up === 'string') old.exec(step.up);
    })();
    expect(old.prepare('SELECT network_type, segmentation_id FROM networks').get()).toEqual({
      network_type: 'flat',
      segmentation_id: null,
    });
    expect(old.prepare('SELECT allocation_pools FROM subnets').get()).toEqual({
      allocation_pools: '[{"start":"10.16.0.2","end":"10.16.255.254"}]',
    });
    expect(old.prepare('SELECT port_id, subnet_id, ip_address FROM port_ips').all()).toEqual([
      { port_id: 'port1', subnet_id: 's1', ip_address: '10.16.0.2' },
    ]);
    expect(old.prepare('SELECT server_made FROM ports').get()).toEqual({ server_made: 1 });
    expect(old.prepare('SELECT * FROM port_security_groups').all()).toEqual([{ port_id: 'port1', group_id: 'g1' }]);
    expect(old.pragma('foreign_key_check')).toEqual([]);
    old.close();
  });
});
