import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCloud } from '../../appliance/api/index.js';
import { routerRequest } from '../../appliance/compute/router-request.js';
import {
  type CloudDb,
  FLOATING_IP_OWNER,
  type Network,
  openSqliteDb,
  type Port,
  ROUTER_GATEWAY_OWNER,
  ROUTER_INTERFACE_OWNER,
  type Router,
  type Subnet,
} from '../../appliance/db/index.js';
import { cloudDbOver, sqlFunction } from '../../appliance/db/operations.js';
import { CLOUD_MIGRATIONS } from '../../appliance/db/schema-steps.js';
import { cloudSql } from '../../appliance/db/sqlite.js';

// The `routers` group: routers with their gateway and interface ports from the one IPAM,
// Neutron's checks of l3_db.py and extraroute_db.py, floating IPs bound through a router and
// unbound when their port goes, and the router as its home node should make it (routerRequest).
describe('routers and floating IPs in the cloud database', () => {
  let dir: string;
  let db: CloudDb;
  let provider: Network;
  const project = 'p-l3';
  const now = () => new Date().toISOString();
  let macs = 0;
  const mac = () => `fa:16:3e:10:00:${(++macs).toString(16).padStart(2, '0')}`;
  const port = (networkId: string, over: Partial<Port> = {}): Omit<Port, 'fixedIps'> => ({
    ...{ id: randomUUID(), name: '', networkId, projectId: project, deviceId: '', deviceOwner: '' },
    ...{ macAddress: mac(), adminStateUp: true, description: '', serverMade: false, tag: null },
    ...{ createdAt: now(), updatedAt: now() },
    ...over,
  });
  const router = (over: Partial<Router> = {}) => ({
    ...{ id: randomUUID(), projectId: project, name: 'r', description: '', adminStateUp: true, enableSnat: true },
    ...{ routes: [], createdAt: now(), updatedAt: now() },
    ...over,
  });
  const gateway = (routerId: string, networkId = provider.id) => ({
    port: port(networkId, { projectId: '', deviceId: routerId, deviceOwner: ROUTER_GATEWAY_OWNER }),
    fixedIps: null,
    enableSnat: true,
  });
  const network = async (cidr: string, over: Partial<Network> = {}) => {
    const n = await db.networks.create(
      {
        ...{ id: randomUUID(), name: 'n', projectId: project, shared: false, external: false, mtu: 1450 },
        ...{ adminStateUp: true, networkType: 'vxlan', segmentationId: null, description: '' },
        ...{ createdAt: now(), updatedAt: now(), ...over },
      },
      -1,
    );
    const [a, b, c] = cidr.split('.');
    const s: Subnet = await db.networks.createSubnet(
      {
        ...{ id: randomUUID(), name: 's', networkId: n.id, projectId: project, cidr, ipVersion: 4 },
        ...{ gatewayIp: `${a}.${b}.${c}.1`, enableDhcp: true, dnsNameservers: [], hostRoutes: [], description: '' },
        ...{ allocationPools: [{ start: `${a}.${b}.${c}.2`, end: `${a}.${b}.${c}.200` }] },
        ...{ createdAt: now(), updatedAt: now() },
      },
      -1,
    );
    return { network: n, subnet: s };
  };
  const bySubnet = (routerId: string, subnetId: string, networkId: string) =>
    db.routers.addInterface(
      routerId,
      {
        kind: 'subnet',
        subnetId,
        port: port(networkId, { deviceId: routerId, deviceOwner: ROUTER_INTERFACE_OWNER }),
      },
      now(),
    );
  const fip = () => ({ id: randomUUID(), projectId: project, floatingNetworkId: provider.id, description: '' });
  const fipPort = () => port(provider.id);
  const stamped = <T extends object>(o: T) => ({ ...o, createdAt: now(), updatedAt: now() });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-l3-'));
    db = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, 'pw');
    [provider] = (await db.networks.list({ name: 'provider' })) as [Network];
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the provider network external, and every project sees it', async () => {
    expect(provider.external).toBe(true);
    expect((await db.networks.list({ projectId: 'someone' })).map((n) => n.id)).toContain(provider.id);
  });

  it("gives a router its gateway port on the external network, hidden from the project, within the project's quota", async () => {
    const id = randomUUID();
    const r = await db.routers.create(router({ id }), gateway(id), 1);
    const gw = await db.networks.getPort(r.gatewayPortId ?? '');
    expect(gw).toMatchObject({
      projectId: '',
      deviceId: id,
      deviceOwner: ROUTER_GATEWAY_OWNER,
      networkId: provider.id,
    });
    expect(gw?.fixedIps[0]?.ipAddress).toMatch(/^10\.16\./);
    await expect(db.routers.create(router(), null, 1)).rejects.toMatchObject({ code: 'DB_ERR_QUOTA_EXCEEDED' });
    // Not on a network that is not external; not at the external subnet's gateway address.
    const { network: inner } = await network('10.40.0.0/24');
    await expect(db.routers.setGateway(id, gateway(id, inner.id), now())).rejects.toThrow(
      `Bad router request: Network ${inner.id} is not an external network.`,
    );
    await expect(
      db.routers.setGateway(id, { ...gateway(id), fixedIps: [{ ipAddress: '10.16.0.1' }] }, now()),
    ).rejects.toThrow('External IP 10.16.0.1 is the same as the gateway IP');
    // Cleared: its port goes; deleted: the router goes.
    expect((await db.routers.setGateway(id, null, now())).gatewayPortId).toBeNull();
    expect(await db.networks.getPort(gw?.id ?? '')).toBeNull();
    await db.routers.delete(id);
    expect(await db.routers.get(id)).toBeNull();
  });

  it("adds interfaces as Neutron does: the subnet's gateway address, one port a subnet, no overlap, an unbound port", async () => {
    const r = await db.routers.create(router(), null, -1);
    const a = await network('10.41.0.0/24');
    const made = await bySubnet(r.id, a.subnet.id, a.network.id);
    expect(made.port.fixedIps).toEqual([{ subnetId: a.subnet.id, ipAddress: '10.41.0.1' }]);
    expect(made.subnetIds).toEqual([a.subnet.id]);
    await expect(bySubnet(r.id, a.subnet.id, a.network.id)).rejects.toThrow(
      `Bad router request: Router already has a port on subnet ${a.subnet.id}.`,
    );
    const overlapping = await network('10.41.0.0/24');
    await expect(bySubnet(r.id, overlapping.subnet.id, overlapping.network.id)).rejects.toThrow(
      `Bad router request: Cidr 10.41.0.0/24 of subnet ${overlapping.subnet.id} overlaps with cidr 10.41.0.0/24 of subnet ${a.subnet.id}.`,
    );
    const b = await network('10.42.0.0/24');
    const bound = await db.networks.createPort(port(b.network.id, { deviceId: 'vm' }), null, [], -1);
    await expect(db.routers.addInterface(r.id, { kind: 'port', portId: bound.id }, now())).rejects.toMatchObject({
      code: 'DB_ERR_CONFLICT',
    });
    const free = await db.networks.createPort(port(b.network.id), null, [], -1);
    const byPort = await db.routers.addInterface(r.id, { kind: 'port', portId: free.id }, now());
    expect(byPort.port).toMatchObject({ deviceId: r.id, deviceOwner: ROUTER_INTERFACE_OWNER });
    expect((await db.routers.get(r.id))?.interfacePortIds).toEqual([made.port.id, free.id]);
    await expect(db.routers.delete(r.id)).rejects.toThrow(
      `Router ${r.id} has ports still attached: ${made.port.id}, ${free.id}`,
    );
    // Routes through its interfaces only, and not to its own address; an interface a route uses stays.
    await expect(
      db.routers.update(r.id, { routes: [{ destination: '10.9.0.0/16', nexthop: '10.43.0.5' }] }, now()),
    ).rejects.toThrow(
      "Invalid format for routes: [{'destination': '10.9.0.0/16', 'nexthop': '10.43.0.5'}], the nexthop is not connected with router",
    );
    await expect(
      db.routers.update(r.id, { routes: [{ destination: '10.9.0.0/16', nexthop: '10.41.0.1' }] }, now()),
    ).rejects.toThrow('the nexthop is used by router');
    await db.routers.update(r.id, { routes: [{ destination: '10.9.0.0/16', nexthop: '10.41.0.9' }] }, now());
    await expect(db.routers.removeInterface(r.id, null, a.subnet.id)).rejects.toThrow(
      'cannot be deleted, as it is required by one or more routes.',
    );
    await db.routers.update(r.id, { routes: [] }, now());
    expect((await db.routers.removeInterface(r.id, null, a.subnet.id)).port.id).toBe(made.port.id);
    expect(await db.networks.getPort(made.port.id)).toBeNull();
    await expect(db.routers.removeInterface(r.id, made.port.id, null)).rejects.toThrow(
      `Router ${r.id} does not have an interface with id ${made.port.id}`,
    );
    await db.routers.removeInterface(r.id, free.id, null);
    await db.routers.delete(r.id);
  });

  it('binds a floating IP through a router whose gateway is on its network, one to a fixed address, unbound when its port goes', async () => {
    const inner = await network('10.44.0.0/24');
    const target = await db.networks.createPort(port(inner.network.id), null, [], -1);
    const association = { portId: target.id, fixedIpAddress: null };
    // No router joins the subnet to the provider network yet.
    await expect(db.routers.createFloatingIp(stamped(fip()), fipPort(), null, association, -1)).rejects.toThrow(
      `External network ${provider.id} is not reachable from subnet ${inner.subnet.id}.  Therefore, cannot associate Port ${target.id} with a Floating IP.`,
    );
    const id = randomUUID();
    await db.routers.create(router({ id }), gateway(id), -1);
    await bySubnet(id, inner.subnet.id, inner.network.id);
    const bound = await db.routers.createFloatingIp(stamped(fip()), fipPort(), null, association, -1);
    expect(bound).toMatchObject({
      fixedPortId: target.id,
      fixedIpAddress: target.fixedIps[0]?.ipAddress,
      routerId: id,
    });
    const own = await db.networks.getPort(bound.floatingPortId);
    expect(own).toMatchObject({ projectId: '', deviceId: bound.id, deviceOwner: FLOATING_IP_OWNER });
    expect(own?.fixedIps[0]?.ipAddress).toBe(bound.floatingIpAddress);
    await expect(db.routers.createFloatingIp(stamped(fip()), fipPort(), null, association, -1)).rejects.toThrow(
      'as that fixed IP already has a floating IP on external network',
    );
    // While bound, neither the interface nor the gateway it goes through may go.
    await expect(db.routers.removeInterface(id, null, inner.subnet.id)).rejects.toThrow(
      'as it is required by one or more floating IPs.',
    );
    await expect(db.routers.setGateway(id, null, now())).rejects.toThrow(
      `Gateway cannot be updated for router ${id}, since a gateway to external network ${provider.id} is required by one or more floating IPs.`,
    );
    // The home node's view: both legs, the binding, the routes.
    const request = await routerRequest(db, id);
    expect(request?.gateway).toMatchObject({ networkId: provider.id, segment: { type: 'flat' }, mtu: 1500 });
    expect(request?.gateway).toMatchObject({ prefixLength: 16, gateway: '10.16.0.1', snat: true });
    expect(request?.interfaces).toEqual([
      expect.objectContaining({ networkId: inner.network.id, ip: '10.44.0.1', prefixLength: 24, mtu: 1450 }),
    ]);
    expect(request?.interfaces[0]?.segment).toEqual({ type: 'vxlan', vni: inner.network.segmentationId });
    expect(request?.floatingIps).toEqual([
      { id: bound.id, floatingIp: bound.floatingIpAddress, fixedIp: target.fixedIps[0]?.ipAddress },
    ]);
    // The bound port deleted: the floating IP is unbound (the schema's trigger), its router free.
    await db.networks.deletePort(target.id);
    expect(await db.routers.getFloatingIp(bound.id)).toMatchObject({
      fixedPortId: null,
      fixedIpAddress: null,
      routerId: null,
    });
    expect((await routerRequest(db, id))?.floatingIps).toEqual([]);
    await db.routers.removeInterface(id, null, inner.subnet.id);
    await db.routers.setGateway(id, null, now());
    await db.routers.delete(id);
    expect(await routerRequest(db, id)).toBeNull();
    await db.routers.deleteFloatingIp(bound.id);
    expect(await db.networks.getPort(bound.floatingPortId)).toBeNull();
  });

  it("deletes an external network's unbound floating IPs with it; keeps it external while a gateway is on it", async () => {
    const { network: ext } = await network('10.45.0.0/24', { external: true });
    const loose = await db.routers.createFloatingIp(
      stamped({ ...fip(), floatingNetworkId: ext.id }),
      port(ext.id),
      null,
      null,
      -1,
    );
    const id = randomUUID();
    await db.routers.create(router({ id }), gateway(id, ext.id), -1);
    await expect(db.networks.update(ext.id, { external: false }, now())).rejects.toThrow(
      `External network ${ext.id} cannot be updated to be made non-external, since it has existing gateway ports.`,
    );
    await expect(db.networks.delete(ext.id)).rejects.toMatchObject({ code: 'DB_ERR_CONFLICT' });
    await db.routers.delete(id);
    await db.networks.delete(ext.id);
    expect(await db.routers.getFloatingIp(loose.id)).toBeNull();
  });

  // Arguments cross the DB master's RPC as JSON: a missing one arrives as null (a past bug of ports).
  it('takes its calls through JSON as the DB master does, nulls for what is not given', async () => {
    const raw = new Database(join(dir, 'cloud.db'));
    raw.pragma('foreign_keys = ON');
    const sql = cloudSql(raw);
    const wire = cloudDbOver(
      async (call) => sqlFunction(sql, call)(...(JSON.parse(JSON.stringify(call.args)) as unknown[])),
      async () => {
        raw.close();
      },
    );
    const inner = await network('10.46.0.0/24');
    const id = randomUUID();
    await wire.routers.create(router({ id }), gateway(id), -1);
    await bySubnet(id, inner.subnet.id, inner.network.id);
    const target = await wire.networks.createPort(port(inner.network.id), null, [], -1);
    const f = await wire.routers.createFloatingIp(stamped(fip()), fipPort(), null, null, -1);
    const bound = await wire.routers.updateFloatingIp(
      f.id,
      { portId: target.id, fixedIpAddress: null },
      false,
      null,
      now(),
    );
    expect(bound.routerId).toBe(id);
    const described = await wire.routers.updateFloatingIp(f.id, null, true, 'kept', now());
    expect(described).toMatchObject({ routerId: id, description: 'kept' });
    expect((await wire.routers.updateFloatingIp(f.id, null, false, null, now())).fixedPortId).toBeNull();
    expect((await wire.routers.floatingIps({ routerId: id })).length).toBe(0);
    expect((await wire.routers.removeInterface(id, null, inner.subnet.id)).subnetIds).toEqual([inner.subnet.id]);
    await wire.close();
  });

  it('moves an old database on: its flat provider network becomes external', () => {
    const old = new Database(join(dir, 'old.db'));
    old.pragma('foreign_keys = ON');
    for (const step of CLOUD_MIGRATIONS.filter((s) => s.version < 26))
      if (typeof step.up === 'string') old.exec(step.up);
    old.exec(`INSERT INTO networks (id, name, project_id, shared, external, mtu, admin_state_up, created_at)
      VALUES ('n1', 'provider', 'p', 1, 0, 1500, 1, 'x')`);
    const step = CLOUD_MIGRATIONS.find((s) => s.version === 26);
    if (typeof step?.up === 'string') old.exec(step.up);
    expect(old.prepare('SELECT external FROM networks').get()).toEqual({ external: 1 });
    old.close();
  });
});
