import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  computeCaller,
  projectIdOf,
  publicImage,
  startTestApi,
  tenant,
  tokenFor,
} from './api-helpers.js';

// Neutron's routers and floating IPs through the API: who may do what (Neutron's policy), and
// Neutron's conflicts, codes and messages.
describe('Neutron v2.0 routers and floating IPs', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let other: string;
  let project: string;
  let provider: string;
  const call = async (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) => {
    const r = await t.api.app.inject({
      method,
      url: `/network/v2.0${url}`,
      headers: { 'x-auth-token': token },
      ...(payload ? { payload } : {}),
    });
    return { status: r.statusCode, body: r.body ? r.json() : undefined };
  };
  const subnetOf = async (token: string, cidr: string) => {
    const n = await call(token, 'POST', '/networks', { network: { name: 'inner' } });
    const s = await call(token, 'POST', '/subnets', { subnet: { network_id: n.body.network.id, cidr, ip_version: 4 } });
    expect(s.status).toBe(201);
    return s.body.subnet as { id: string; network_id: string };
  };
  const routerOf = async (token: string, gateway = true) => {
    const r = await call(token, 'POST', '/routers', {
      router: { name: 'r', ...(gateway ? { external_gateway_info: { network_id: provider } } : {}) },
    });
    expect(r.status).toBe(201);
    return r.body.router as { id: string; external_gateway_info: { external_fixed_ips: { ip_address: string }[] } };
  };

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'l3-a', 'member');
    other = await tenant(t.api, admin, 'l3-b', 'member');
    project = await projectIdOf(t.api, admin, 'l3-a');
    provider = (await call(member, 'GET', '/networks?router:external=True')).body.networks[0].id;
  });
  afterAll(async () => t.stop());

  it('lets only the cloud admin make a network external, and shows external networks to every project', async () => {
    const refused = await call(member, 'POST', '/networks', { network: { 'router:external': true } });
    expect(refused.status).toBe(403);
    expect(refused.body.NeutronError.message).toBe(
      '(rule:create_network and rule:create_network:router:external) is disallowed by policy',
    );
    const ext = (await call(admin, 'POST', '/networks', { network: { name: 'ext', 'router:external': true } })).body
      .network;
    expect(ext['router:external']).toBe(true);
    expect((await call(other, 'GET', `/networks/${ext.id}`)).status).toBe(200);
    // Not a place for a member's own ports: routers and floating IPs take addresses there.
    expect((await call(other, 'POST', '/ports', { port: { network_id: ext.id } })).status).toBe(403);
    const { id } = (await call(member, 'POST', '/networks', { network: { name: 'mine' } })).body.network;
    expect((await call(member, 'PUT', `/networks/${id}`, { network: { 'router:external': true } })).status).toBe(403);
    expect(
      (await call(admin, 'PUT', `/networks/${id}`, { network: { 'router:external': true } })).body.network,
    ).toMatchObject({
      'router:external': true,
    });
  });

  it("makes a project's router with a gateway its members do not see, SNAT the admin's to choose", async () => {
    const r = await routerOf(member);
    expect(r).toMatchObject({ status: 'ACTIVE', project_id: project, routes: [], admin_state_up: true });
    expect(r.external_gateway_info).toMatchObject({ network_id: provider, enable_snat: true });
    expect(r.external_gateway_info.external_fixed_ips[0]?.ip_address).toMatch(/^10\.16\./);
    expect((await call(member, 'GET', `/ports?device_id=${r.id}`)).body.ports).toEqual([]);
    const gw = (await call(admin, 'GET', `/ports?device_id=${r.id}&device_owner=network:router_gateway`)).body.ports;
    expect(gw).toHaveLength(1);
    expect(gw[0].project_id).toBe('');
    const snat = await call(member, 'PUT', `/routers/${r.id}`, {
      router: { external_gateway_info: { network_id: provider, enable_snat: false } },
    });
    expect(snat.status).toBe(403);
    expect(snat.body.NeutronError.message).toBe(
      '(rule:update_router and (rule:update_router:external_gateway_info and (rule:update_router:external_gateway_info:network_id and rule:update_router:external_gateway_info:enable_snat))) is disallowed by policy',
    );
    const byAdmin = await call(admin, 'PUT', `/routers/${r.id}`, {
      router: { external_gateway_info: { network_id: provider, enable_snat: false } },
    });
    expect(byAdmin.body.router.external_gateway_info.enable_snat).toBe(false);
    // The gateway kept its port (same network): same address.
    expect(byAdmin.body.router.external_gateway_info.external_fixed_ips).toEqual(
      r.external_gateway_info.external_fixed_ips,
    );
    // The router's gateway port goes with the router only.
    const port = await call(admin, 'DELETE', `/ports/${gw[0].id}`);
    expect(port.status).toBe(409);
    expect(port.body.NeutronError.message).toBe(
      `Port ${gw[0].id} cannot be deleted directly via the port API: has device owner network:router_gateway.`,
    );
    expect((await call(other, 'GET', `/routers/${r.id}`)).status).toBe(404);
    expect((await call(member, 'DELETE', `/routers/${r.id}`)).status).toBe(204);
    expect((await call(admin, 'GET', `/ports/${gw[0].id}`)).status).toBe(404);
  });

  it('attaches its own subnets and ports only, and keeps what an interface holds', async () => {
    const r = await routerOf(member, false);
    const mine = await subnetOf(member, '10.60.0.0/24');
    const theirs = await subnetOf(other, '10.61.0.0/24');
    const foreign = await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: theirs.id });
    expect(foreign.status).toBe(404);
    const shared = (await call(member, 'GET', `/subnets?network_id=${provider}`)).body.subnets[0];
    const notOwned = await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: shared.id });
    expect(notOwned.status).toBe(400);
    expect(notOwned.body.NeutronError.message).toBe(
      `Bad router request: Cannot add interface to router because subnet ${shared.id} is not owned by project making the request.`,
    );
    const theirPort = (await call(other, 'POST', '/ports', { port: { network_id: theirs.network_id } })).body.port;
    expect((await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { port_id: theirPort.id })).status).toBe(
      404,
    );
    const added = await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: mine.id });
    expect(added.body).toMatchObject({
      id: r.id,
      project_id: project,
      subnet_id: mine.id,
      subnet_ids: [mine.id],
      network_id: mine.network_id,
    });
    const twice = await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: mine.id });
    expect(twice.status).toBe(400);
    expect(twice.body.NeutronError.message).toBe(`Bad router request: Router already has a port on subnet ${mine.id}.`);
    const port = (await call(member, 'GET', `/ports/${added.body.port_id}`)).body.port;
    expect(port).toMatchObject({ device_id: r.id, device_owner: 'network:router_interface' });
    expect(port.fixed_ips[0].ip_address).toBe('10.60.0.1');
    expect((await call(member, 'DELETE', `/ports/${port.id}`)).status).toBe(409);
    expect((await call(member, 'DELETE', `/subnets/${mine.id}`)).status).toBe(409);
    expect((await call(member, 'DELETE', `/networks/${mine.network_id}`)).status).toBe(409);
    const inUse = await call(member, 'DELETE', `/routers/${r.id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError.message).toBe(`Router ${r.id} has ports still attached: ${port.id}`);
    const routes = await call(member, 'PUT', `/routers/${r.id}`, {
      router: { routes: [{ destination: '10.62.0.0/24', nexthop: '10.60.0.7' }] },
    });
    expect(routes.body.router.routes).toEqual([{ destination: '10.62.0.0/24', nexthop: '10.60.0.7' }]);
    const away = await call(member, 'PUT', `/routers/${r.id}`, {
      router: { routes: [{ destination: '10.62.0.0/24', nexthop: '10.63.0.7' }] },
    });
    expect(away.status).toBe(400);
    expect((await call(member, 'PUT', `/routers/${r.id}`, { router: { routes: null } })).body.router.routes).toEqual(
      [],
    );
    const removed = await call(member, 'PUT', `/routers/${r.id}/remove_router_interface`, { subnet_id: mine.id });
    expect(removed.body).toMatchObject({ port_id: port.id, subnet_id: mine.id });
    expect((await call(member, 'DELETE', `/routers/${r.id}`)).status).toBe(204);
  });

  it("binds a floating IP to the project's own port behind a router, unbinds it when the port goes", async () => {
    const r = await routerOf(member);
    const mine = await subnetOf(member, '10.64.0.0/24');
    await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: mine.id });
    const target = (await call(member, 'POST', '/ports', { port: { network_id: mine.network_id } })).body.port;
    const theirs = await subnetOf(other, '10.65.0.0/24');
    const theirPort = (await call(other, 'POST', '/ports', { port: { network_id: theirs.network_id } })).body.port;
    const chosen = await call(member, 'POST', '/floatingips', {
      floatingip: { floating_network_id: provider, floating_ip_address: '10.16.9.9' },
    });
    expect(chosen.status).toBe(403);
    const foreign = await call(member, 'POST', '/floatingips', {
      floatingip: { floating_network_id: provider, port_id: theirPort.id },
    });
    expect(foreign.status).toBe(404);
    const made = await call(member, 'POST', '/floatingips', {
      floatingip: { floating_network_id: provider, port_id: target.id },
    });
    expect(made.status).toBe(201);
    const fip = made.body.floatingip;
    expect(fip).toMatchObject({
      ...{ project_id: project, router_id: r.id, port_id: target.id, status: 'ACTIVE' },
      ...{ fixed_ip_address: target.fixed_ips[0].ip_address, floating_network_id: provider },
    });
    expect(fip.port_details).toMatchObject({ network_id: mine.network_id, mac_address: target.mac_address });
    const moved = await call(member, 'PUT', `/floatingips/${fip.id}`, { floatingip: { port_id: theirPort.id } });
    expect(moved.status).toBe(404);
    expect((await call(other, 'GET', '/floatingips')).body.floatingips).toEqual([]);
    expect((await call(other, 'GET', `/floatingips/${fip.id}`)).status).toBe(404);
    expect((await call(admin, 'GET', '/floatingips')).body.floatingips.map((f: { id: string }) => f.id)).toContain(
      fip.id,
    );
    // The interface and the gateway it goes through stay while it is bound.
    expect((await call(member, 'PUT', `/routers/${r.id}/remove_router_interface`, { subnet_id: mine.id })).status).toBe(
      409,
    );
    expect((await call(member, 'PUT', `/routers/${r.id}`, { router: { external_gateway_info: {} } })).status).toBe(409);
    expect((await call(member, 'DELETE', `/ports/${target.id}`)).status).toBe(204);
    expect((await call(member, 'GET', `/floatingips/${fip.id}`)).body.floatingip).toMatchObject({
      port_id: null,
      fixed_ip_address: null,
      router_id: null,
      status: 'DOWN',
    });
    expect((await call(member, 'DELETE', `/floatingips/${fip.id}`)).status).toBe(204);
  });

  it("shows a server's floating IP after its fixed address in Nova's view, and unbinds it when the server goes", async () => {
    const compute = computeCaller(t.api);
    const r = await routerOf(member);
    const mine = await subnetOf(member, '10.66.0.0/24');
    await call(member, 'PUT', `/routers/${r.id}/add_router_interface`, { subnet_id: mine.id });
    const imageRef = await publicImage(t.api, admin);
    const made = await compute(member, '2.37', 'POST', '/servers', {
      server: { name: 'fip', imageRef, flavorRef: '1', networks: [{ uuid: mine.network_id }] },
    });
    const id = made.body.server.id as string;
    await t.api.servers.idle();
    const [port] = (await call(member, 'GET', `/ports?device_id=${id}`)).body.ports;
    const fip = (
      await call(member, 'POST', '/floatingips', { floatingip: { floating_network_id: provider, port_id: port.id } })
    ).body.floatingip;
    const server = (await compute(member, '2.37', 'GET', `/servers/${id}`)).body.server;
    expect(Object.values(server.addresses)).toEqual([
      [
        {
          version: 4,
          addr: port.fixed_ips[0].ip_address,
          'OS-EXT-IPS:type': 'fixed',
          'OS-EXT-IPS-MAC:mac_addr': port.mac_address,
        },
        {
          version: 4,
          addr: fip.floating_ip_address,
          'OS-EXT-IPS:type': 'floating',
          'OS-EXT-IPS-MAC:mac_addr': port.mac_address,
        },
      ],
    ]);
    expect((await compute(member, '2.37', 'DELETE', `/servers/${id}`)).status).toBe(204);
    await t.api.servers.idle();
    expect((await call(member, 'GET', `/floatingips/${fip.id}`)).body.floatingip).toMatchObject({
      port_id: null,
      router_id: null,
    });
  });

  it("counts routers and floating IPs against the project's quotas (409 past them)", async () => {
    const limited = await tenant(t.api, admin, 'l3-q', 'member');
    const id = await projectIdOf(t.api, admin, 'l3-q');
    await call(admin, 'PUT', `/quotas/${id}`, { quota: { router: 0, floatingip: 0 } });
    const router = await call(limited, 'POST', '/routers', { router: {} });
    expect(router.status).toBe(409);
    expect(router.body.NeutronError.message).toBe("Quota exceeded for resources: ['router'].");
    const fip = await call(limited, 'POST', '/floatingips', { floatingip: { floating_network_id: provider } });
    expect(fip.status).toBe(409);
    expect(fip.body.NeutronError.message).toBe("Quota exceeded for resources: ['floatingip'].");
  });
});
