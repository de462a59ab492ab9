import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverPorts } from '../../appliance/compute/index.js';
import {
  ADMIN_PASSWORD,
  computeCaller,
  projectIdOf,
  publicImage,
  startTestApi,
  tenant,
  tokenFor,
} from './api-helpers.js';

// Neutron's networks, subnets and ports of a project's own, and Nova's servers of several NICs
// on them: what a member and the cloud admin see and may change, Neutron's checks and codes.
describe('Neutron v2.0 networks, subnets and ports', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let project: string;
  let imageRef: string;
  const call = async (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) => {
    const r = await t.api.app.inject({
      method,
      url: `/network/v2.0${url}`,
      headers: { 'x-auth-token': token },
      ...(payload ? { payload } : {}),
    });
    return { status: r.statusCode, body: r.body ? r.json() : undefined };
  };
  const compute = (...args: Parameters<ReturnType<typeof computeCaller>>) => computeCaller(t.api)(...args);
  const network = async (token: string, name: string, cidr?: string) => {
    const n = await call(token, 'POST', '/networks', { network: { name } });
    expect(n.status).toBe(201);
    if (cidr) {
      const s = await call(token, 'POST', '/subnets', {
        subnet: { network_id: n.body.network.id, cidr, ip_version: 4 },
      });
      expect(s.status).toBe(201);
      return { network: n.body.network, subnet: s.body.subnet };
    }
    return { network: n.body.network, subnet: undefined };
  };

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'nr-a', 'member');
    other = await tenant(t.api, admin, 'nr-b', 'member');
    project = await projectIdOf(t.api, admin, 'nr-a');
    imageRef = await publicImage(t.api, admin);
  });
  afterAll(async () => t.stop());

  it("makes a project's network a VXLAN segment of MTU 1450, its segment shown to the admin only", async () => {
    const { network: n } = await network(member, 'seg');
    expect(n).toMatchObject({ project_id: project, shared: false, mtu: 1450, status: 'ACTIVE', subnets: [] });
    expect(n).not.toHaveProperty('provider:network_type');
    const seen = (await call(admin, 'GET', `/networks/${n.id}`)).body.network;
    expect(seen['provider:network_type']).toBe('vxlan');
    expect(seen['provider:segmentation_id']).toBeGreaterThanOrEqual(1);
    const provider = (await call(admin, 'GET', '/networks?name=provider')).body.networks[0];
    expect(provider).toMatchObject({ 'provider:network_type': 'flat', 'provider:segmentation_id': null, mtu: 1500 });
    // Another project sees neither the network nor may it name it.
    expect((await call(other, 'GET', `/networks/${n.id}`)).status).toBe(404);
    expect((await call(other, 'GET', '/networks')).body.networks.map((x: { name: string }) => x.name)).toEqual([
      'provider',
    ]);
    // The shared provider network is read only to a member; a member may not share its own.
    expect((await call(member, 'PUT', `/networks/${provider.id}`, { network: { name: 'x' } })).status).toBe(403);
    expect((await call(member, 'DELETE', `/networks/${provider.id}`)).status).toBe(403);
    expect((await call(member, 'POST', '/networks', { network: { shared: true } })).status).toBe(403);
    const renamed = await call(member, 'PUT', `/networks/${n.id}`, { network: { name: 'seg2', description: 'd' } });
    expect(renamed.body.network).toMatchObject({ name: 'seg2', description: 'd' });
  });

  it('gives a subnet its first address as gateway and the rest as its pool; refuses IPv6, bad and overlapping CIDRs', async () => {
    const { network: n, subnet: s } = await network(member, 'sub', '10.8.0.0/24');
    expect(s).toMatchObject({
      gateway_ip: '10.8.0.1',
      allocation_pools: [{ start: '10.8.0.2', end: '10.8.0.254' }],
      enable_dhcp: true,
      ip_version: 4,
    });
    const post = (subnet: object) => call(member, 'POST', '/subnets', { subnet: { network_id: n.id, ...subnet } });
    expect((await post({ cidr: '2001:db8::/64', ip_version: 6 })).status).toBe(400);
    const notCanonical = await post({ cidr: '10.9.0.1/24', ip_version: 4 });
    expect(notCanonical.status).toBe(400);
    expect(JSON.stringify(notCanonical.body)).toContain("'10.9.0.0/24' is recommended");
    const overlap = await post({ cidr: '10.8.0.128/25', ip_version: 4 });
    expect(overlap.status).toBe(400);
    expect(JSON.stringify(overlap.body)).toContain('overlaps with another subnet');
    const noGateway = await post({
      cidr: '10.10.0.0/29',
      ip_version: 4,
      gateway_ip: null,
      dns_nameservers: ['1.1.1.1'],
    });
    expect(noGateway.body.subnet).toMatchObject({
      gateway_ip: null,
      allocation_pools: [{ start: '10.10.0.1', end: '10.10.0.6' }],
      dns_nameservers: ['1.1.1.1'],
    });
    const conflicting = await post({
      cidr: '10.11.0.0/24',
      ip_version: 4,
      gateway_ip: '10.11.0.5',
      allocation_pools: [{ start: '10.11.0.2', end: '10.11.0.9' }],
    });
    expect(conflicting.status).toBe(409);
    // A network's delete takes its subnets with it.
    expect((await call(member, 'DELETE', `/networks/${n.id}`)).status).toBe(204);
    expect((await call(member, 'GET', `/subnets/${s.id}`)).status).toBe(404);
  });

  it("updates a subnet's gateway, DNS servers and routes, its CIDR read only", async () => {
    const { subnet: s } = await network(member, 'upd', '10.14.0.0/24');
    const put = (subnet: object) => call(member, 'PUT', `/subnets/${s.id}`, { subnet });
    const updated = await put({
      gateway_ip: null,
      dns_nameservers: ['8.8.8.8', '8.8.4.4'],
      host_routes: [{ destination: '10.20.0.0/32', nexthop: '10.14.0.7' }],
      enable_dhcp: false,
    });
    expect(updated.body.subnet).toMatchObject({
      gateway_ip: null,
      dns_nameservers: ['8.8.8.8', '8.8.4.4'],
      host_routes: [{ destination: '10.20.0.0/32', nexthop: '10.14.0.7' }],
      enable_dhcp: false,
    });
    // The default pool starts at .2: a gateway there conflicts with it.
    expect((await put({ gateway_ip: '10.14.0.9' })).status).toBe(409);
    expect((await put({ cidr: '10.15.0.0/24' })).status).toBe(400);
    expect((await put({ dns_nameservers: ['8.8.8.8', '8.8.8.8'] })).status).toBe(400);
    expect((await call(other, 'PUT', `/subnets/${s.id}`, { subnet: { name: 'x' } })).status).toBe(404);
  });

  it("checks a port's fixed IPs and MAC as Neutron does", async () => {
    const { network: n, subnet: s } = await network(member, 'ports', '10.12.0.0/28');
    const port = (body: object) => call(member, 'POST', '/ports', { port: { network_id: n.id, ...body } });
    const a = await port({
      fixed_ips: [{ subnet_id: s.id, ip_address: '10.12.0.7' }],
      mac_address: 'fa:16:3e:11:22:33',
    });
    expect(a.status).toBe(201);
    expect(a.body.port).toMatchObject({
      fixed_ips: [{ subnet_id: s.id, ip_address: '10.12.0.7' }],
      status: 'DOWN',
      device_owner: '',
    });
    expect(a.body.port.security_groups).toHaveLength(1);
    expect((await port({ fixed_ips: [{ ip_address: '10.12.0.7' }] })).status).toBe(409);
    expect((await port({ mac_address: 'fa:16:3e:11:22:33' })).status).toBe(409);
    expect((await port({ fixed_ips: [{ subnet_id: s.id, ip_address: '10.13.0.7' }] })).status).toBe(400);
    expect((await port({ mac_address: 'not-a-mac' })).status).toBe(400);
    const listed = await call(member, 'GET', '/ports?fixed_ips=ip_address%3D10.12.0.7');
    expect(listed.body.ports.map((p: { id: string }) => p.id)).toEqual([a.body.port.id]);
    const moved = await call(member, 'PUT', `/ports/${a.body.port.id}`, {
      port: { name: 'renamed', fixed_ips: [{ ip_address: '10.12.0.9' }] },
    });
    expect(moved.body.port).toMatchObject({
      name: 'renamed',
      fixed_ips: [{ subnet_id: s.id, ip_address: '10.12.0.9' }],
    });
    expect((await call(other, 'GET', `/ports/${a.body.port.id}`)).status).toBe(404);
    const inUse = await call(member, 'DELETE', `/networks/${n.id}`);
    expect(inUse.status).toBe(409);
    expect(JSON.stringify(inUse.body)).toContain('There are one or more ports still in use on the network');
    expect((await call(member, 'DELETE', `/subnets/${s.id}`)).status).toBe(409);
  });

  it('lists the version’s resources, and the projects whose quotas are not the defaults to the admin', async () => {
    const root = await call(member, 'GET', '/');
    expect(root.body.resources.map((r: { name: string }) => r.name)).toEqual(
      expect.arrayContaining(['network', 'subnet', 'port']),
    );
    const listed = async () =>
      (await call(admin, 'GET', '/quotas')).body.quotas.map((q: { project_id: string }) => q.project_id);
    await call(admin, 'PUT', `/quotas/${project}`, { quota: { port: 7 } });
    expect(await listed()).toContain(project);
    expect((await call(member, 'GET', '/quotas')).status).toBe(403);
    expect((await call(admin, 'GET', `/quotas/${project}/details.json`)).body.quota.port.limit).toBe(7);
    await call(admin, 'DELETE', `/quotas/${project}`);
    expect(await listed()).not.toContain(project);
  });

  it("counts a project's networks against its quota, a 409 past it", async () => {
    const quota = await call(admin, 'PUT', `/quotas/${project}`, { quota: { network: -1 } });
    expect(quota.status).toBe(200);
    const count = (await call(member, 'GET', `/quotas/${project}/details`)).body.quota.network.used;
    await call(admin, 'PUT', `/quotas/${project}`, { quota: { network: count } });
    const over = await call(member, 'POST', '/networks', { network: { name: 'one-too-many' } });
    expect(over.status).toBe(409);
    expect(JSON.stringify(over.body)).toContain("Quota exceeded for resources: ['network']");
    await call(admin, 'PUT', `/quotas/${project}`, { quota: { network: 100 } });
  });

  it('boots a server on several networks and a port of its own, deletes its ports and unbinds that one', async () => {
    const one = await network(member, 'multi-1', '19.80.0.0/24');
    const two = await network(member, 'multi-2', '19.86.0.0/24');
    const mine = (await call(member, 'POST', '/ports', { port: { network_id: two.network.id } })).body.port;
    const foreign = await network(other, 'foreign', '19.90.0.0/24');
    const create = (networks: object[]) =>
      compute(member, '2.37', 'POST', '/servers', { server: { name: 'multi', imageRef, flavorRef: '1', networks } });
    expect((await create([{ uuid: foreign.network.id }])).status).toBe(400);
    const bare = await network(member, 'no-subnet');
    const refused = await create([{ uuid: bare.network.id }]);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('requires a subnet in order to boot instances on');
    expect((await create([{ uuid: one.network.id, fixed_ip: '19.80.0.300' }])).status).toBe(400);
    const twice = await compute(member, '2.37', 'POST', '/servers', {
      server: { name: 'multi', imageRef, flavorRef: '1', max_count: 2, networks: [{ port: mine.id }] },
    });
    expect(twice.status).toBe(400);
    const created = await create([
      { uuid: one.network.id },
      { uuid: two.network.id, fixed_ip: '19.86.0.50' },
      { uuid: one.network.id },
      { port: mine.id },
    ]);
    expect(created.status).toBe(202);
    await t.api.servers.idle();
    const id = created.body.server.id as string;
    const addresses = (await compute(member, '2.37', 'GET', `/servers/${id}/ips`)).body.addresses;
    expect(Object.keys(addresses).sort()).toEqual(['multi-1', 'multi-2']);
    expect(addresses['multi-1'].map((a: { addr: string }) => a.addr)).toEqual(['19.80.0.2', '19.80.0.3']);
    expect(addresses['multi-2'].map((a: { addr: string }) => a.addr)).toEqual([
      '19.86.0.50',
      mine.fixed_ips[0].ip_address,
    ]);
    const interfaces = (await compute(member, '2.37', 'GET', `/servers/${id}/os-interface`)).body.interfaceAttachments;
    expect(interfaces).toHaveLength(4);
    expect((await call(member, 'GET', `/ports/${mine.id}`)).body.port).toMatchObject({
      device_id: id,
      device_owner: 'compute:nova',
      status: 'ACTIVE',
    });
    // A bound port is no second server's.
    expect((await create([{ port: mine.id }])).status).toBe(409);
    // While the server lives its NICs stay as they are (no NIC is unplugged from a built
    // server): not deleted, re-addressed nor given away; renamed, yes.
    const plugged = interfaces[0].port_id as string;
    for (const [method, payload] of [
      ['DELETE', undefined],
      ['PUT', { port: { fixed_ips: [{ ip_address: '19.80.0.77' }] } }],
      ['PUT', { port: { device_id: '' } }],
    ] as const) {
      const r = await call(member, method, `/ports/${plugged}`, payload);
      expect(r.status).toBe(409);
      expect(r.body.NeutronError.message).toContain(`is a network interface of server ${id}`);
    }
    expect((await call(member, 'PUT', `/ports/${plugged}`, { port: { name: 'eth0' } })).status).toBe(200);
    // A port naming the server as its device (anyone may write a device_id) is no NIC of it:
    // not among its interfaces, nor in what its host is asked to run.
    const intruder = await network(other, 'intruder', '19.91.0.0/24');
    const planted = await call(other, 'POST', '/ports', {
      port: { network_id: intruder.network.id, device_id: id, device_owner: 'compute:nova' },
    });
    expect(planted.status).toBe(201);
    const after = (await compute(member, '2.37', 'GET', `/servers/${id}/os-interface`)).body.interfaceAttachments;
    expect(after.map((i: { port_id: string }) => i.port_id)).toEqual(
      interfaces.map((i: { port_id: string }) => i.port_id),
    );
    const server = await t.db.servers.get(id);
    if (!server) throw new Error('no server');
    expect((await serverPorts(t.db, server)).map((p) => p.id)).not.toContain(planted.body.port.id);
    expect((await call(other, 'DELETE', `/ports/${planted.body.port.id}`)).status).toBe(204);
    const taken = await create([{ uuid: two.network.id, fixed_ip: '19.86.0.50' }]);
    expect(taken.status).toBe(400);
    expect(JSON.stringify(taken.body)).toContain(`Fixed IP address 19.86.0.50 is already in use on instance ${id}`);
    expect((await compute(member, '2.37', 'DELETE', `/servers/${id}`)).status).toBe(204);
    await t.api.servers.idle();
    const left = (await call(member, 'GET', `/ports?device_id=${id}`)).body.ports;
    expect(left).toEqual([]);
    expect((await call(member, 'GET', `/ports/${mine.id}`)).body.port).toMatchObject({
      device_id: '',
      device_owner: '',
    });
  });
});
