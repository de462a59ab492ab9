import { describe, expect, it } from 'vitest';
import { checkRouter, type RouterRequest, routerScript } from '../../appliance/host/index.js';

// A router's request as the host service checks it, and its NAT as nftables gets it (the rules
// run for real in test/integration/guest-router.test.ts).
const ID = '7d871d79-6ea7-4e64-acd1-809715f486b4';
const GW = '11111111-2222-4333-8444-555555555555';
const IF = '66666666-7777-4888-8999-aaaaaaaaaaaa';
const request: RouterRequest = {
  name: 'r1',
  gateway: {
    ...{ portId: GW, networkId: 'ext', segment: { type: 'flat' }, mac: 'fa:16:3e:00:99:01', ip: '203.0.113.10' },
    ...{ prefixLength: 24, gateway: '203.0.113.1', mtu: 1500, snat: true },
  },
  interfaces: [
    {
      ...{ portId: IF, networkId: 'n1', segment: { type: 'vxlan', vni: 100 }, mac: 'fa:16:3e:00:99:02' },
      ...{ ip: '10.0.0.1', prefixLength: 24, mtu: 1450 },
    },
  ],
  floatingIps: [{ id: 'f1', floatingIp: '203.0.113.50', fixedIp: '10.0.0.5' }],
  routes: [{ destination: '192.0.2.0/24', nexthop: '203.0.113.2' }],
};
const iface = request.interfaces[0] as RouterRequest['interfaces'][number];
const gateway = request.gateway as NonNullable<RouterRequest['gateway']>;

describe('a router’s NAT rules', () => {
  it('DNATs and SNATs each floating IP before the general SNAT, and SNATs what went to a floating IP from inside', () => {
    expect(routerScript(request).split('\n')).toEqual([
      'add table ip rackseed_router',
      'delete table ip rackseed_router',
      'add table ip rackseed_router',
      'add chain ip rackseed_router prerouting { type nat hook prerouting priority -100; policy accept; }',
      'add chain ip rackseed_router postrouting { type nat hook postrouting priority 100; policy accept; }',
      'add rule ip rackseed_router prerouting ip daddr 203.0.113.50 dnat to 10.0.0.5',
      'add rule ip rackseed_router postrouting iifname != "qg-11111111-22" ct status dnat snat to 203.0.113.10',
      'add rule ip rackseed_router postrouting oifname "qg-11111111-22" ip saddr 10.0.0.5 snat to 203.0.113.50',
      'add rule ip rackseed_router postrouting oifname "qg-11111111-22" snat to 203.0.113.10',
    ]);
  });

  it('leaves the source of the rest as is without SNAT, and has no rule without a gateway', () => {
    const noSnat = routerScript({ ...request, gateway: { ...gateway, snat: false } });
    expect(noSnat).toContain('snat to 203.0.113.50');
    expect(noSnat).not.toContain('oifname "qg-11111111-22" snat to');
    expect(routerScript({ ...request, gateway: null, floatingIps: [] }).split('\n')).toHaveLength(3);
  });
});

describe('a router’s request', () => {
  it('is taken as the contract says', () => {
    expect(() => checkRouter(ID, request)).not.toThrow();
    expect(() => checkRouter(ID, { ...request, gateway: { ...gateway, gateway: null } })).not.toThrow();
    expect(() => checkRouter(ID, { ...request, gateway: null, floatingIps: [], routes: [] })).not.toThrow();
  });

  it.each([
    ['a body that is not an object', null, /JSON object/],
    ['an address with a leading zero', { ...request, gateway: { ...gateway, ip: '203.0.113.010' } }, /not an IPv4/],
    ['an upper-case MAC', { ...request, interfaces: [{ ...iface, mac: 'FA:16:3E:00:99:02' }] }, /MAC/],
    ['a prefix of 33', { ...request, interfaces: [{ ...iface, prefixLength: 33 }] }, /prefixLength/],
    ['an MTU of 67', { ...request, interfaces: [{ ...iface, mtu: 67 }] }, /mtu/],
    ['a missing segment', { ...request, interfaces: [{ ...iface, segment: undefined }] }, /segment is required/],
    ['a VNI of 0', { ...request, interfaces: [{ ...iface, segment: { type: 'vxlan', vni: 0 } }] }, /segment must be/],
    ['two legs on one port', { ...request, interfaces: [iface, { ...iface, ip: '10.0.1.1' }] }, /two legs/],
    [
      'overlapping subnets',
      { ...request, interfaces: [iface, { ...iface, portId: GW.replace('1', '9'), ip: '10.0.5.1', prefixLength: 16 }] },
      /overlaps/,
    ],
    [
      'a gateway off its subnet',
      { ...request, gateway: { ...gateway, gateway: '198.51.100.1' } },
      /not another address/,
    ],
    ['snat that is not a boolean', { ...request, gateway: { ...gateway, snat: 'yes' } }, /snat/],
    ['floating IPs without a gateway', { ...request, gateway: null }, /need a gateway/],
    [
      'a fixed address on no interface',
      { ...request, floatingIps: [{ id: 'f', floatingIp: '203.0.113.51', fixedIp: '203.0.113.77' }] },
      /none of the router's interfaces/,
    ],
    [
      'the gateway address as a floating IP',
      { ...request, floatingIps: [{ id: 'f', floatingIp: '203.0.113.10', fixedIp: '10.0.0.5' }] },
      /gateway's or another/,
    ],
    [
      'two floating IPs on one fixed address',
      {
        ...request,
        floatingIps: [...request.floatingIps, { id: 'f2', floatingIp: '203.0.113.51', fixedIp: '10.0.0.5' }],
      },
      /has another floating IP/,
    ],
    [
      'a route with host bits',
      { ...request, routes: [{ destination: '192.0.2.1/24', nexthop: '203.0.113.2' }] },
      /no host bits/,
    ],
    [
      'a second default route',
      { ...request, routes: [{ destination: '0.0.0.0/0', nexthop: '10.0.0.9' }] },
      /second route/,
    ],
    [
      'a next hop on no leg',
      { ...request, routes: [{ destination: '192.0.2.0/24', nexthop: '172.16.0.1' }] },
      /next hop/,
    ],
    [
      'the router itself as next hop',
      { ...request, routes: [{ destination: '192.0.2.0/24', nexthop: '10.0.0.1' }] },
      /next hop/,
    ],
  ])('refuses %s (HOST_ERR_BAD_ROUTER)', (_what, bad, message) => {
    expect(() => checkRouter(ID, bad)).toThrow(message);
    try {
      checkRouter(ID, bad);
    } catch (error) {
      expect(error).toMatchObject({ code: 'HOST_ERR_BAD_ROUTER' });
    }
  });
});
