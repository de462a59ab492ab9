import { describe, expect, it } from 'vitest';
import { clientRequest, decodeDhcp, encodeDhcp, MSG, OPT } from '../../bootstrap/index.js';
import {
  classlessRoutes,
  type GuestLease,
  guestDhcpReply,
  type GuestMetadata,
  metadataAnswer,
} from '../../appliance/host/index.js';

const MAC = 'fa:16:3e:01:02:03';
const lease: GuestLease = {
  ip: '10.16.0.7',
  prefixLength: 16,
  gateway: '10.16.0.1',
  mtu: 1500,
  hostname: 'vm1',
  dns: [],
};
const lookup = (mac: string) => (mac === MAC ? lease : undefined);
const macBytes = (mac: string) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
const request = (type: number, options: Record<number, Buffer> = {}) =>
  decodeDhcp(
    clientRequest({
      mac: macBytes(MAC),
      xid: 0x1234,
      type,
      options: Object.entries(options).map(([code, value]) => [Number(code), value] as [number, Buffer]),
    }),
  );

describe('guest DHCP', () => {
  it('offers and acks the port’s fixed address with its options, from the metadata address', () => {
    const offer = guestDhcpReply(request(MSG.DISCOVER), lookup);
    if (!offer) throw new Error('no offer');
    const wire = decodeDhcp(encodeDhcp(offer));
    expect(wire.yiaddr).toBe('10.16.0.7');
    expect(wire.options.get(OPT.MESSAGE_TYPE)).toEqual(Buffer.from([MSG.OFFER]));
    expect(wire.options.get(OPT.SERVER_ID)).toEqual(Buffer.from([169, 254, 169, 254]));
    expect(wire.options.get(OPT.SUBNET_MASK)).toEqual(Buffer.from([255, 255, 0, 0]));
    expect(wire.options.get(OPT.ROUTER)).toEqual(Buffer.from([10, 16, 0, 1]));
    expect(wire.options.get(OPT.HOSTNAME)?.toString()).toBe('vm1');
    expect(wire.options.get(26)).toEqual(Buffer.from([0x05, 0xdc]));
    // RFC 3442: 169.254.169.254/32 on-link, then the default route through the gateway.
    expect(wire.options.get(121)).toEqual(Buffer.from([32, 169, 254, 169, 254, 0, 0, 0, 0, 0, 10, 16, 0, 1]));
    const ack = guestDhcpReply(request(MSG.REQUEST, { [OPT.REQUESTED_IP]: Buffer.from([10, 16, 0, 7]) }), lookup);
    expect(ack?.options.get(OPT.MESSAGE_TYPE)).toEqual(Buffer.from([MSG.ACK]));
    expect(ack?.yiaddr).toBe('10.16.0.7');
  });

  it('says nothing to a MAC that is not its guest’s, NAKs another address, ignores another server', () => {
    const stranger = decodeDhcp(clientRequest({ mac: macBytes('fa:16:3e:99:99:99'), xid: 1, type: MSG.DISCOVER }));
    expect(guestDhcpReply(stranger, lookup)).toBeUndefined();
    const nak = guestDhcpReply(request(MSG.REQUEST, { [OPT.REQUESTED_IP]: Buffer.from([10, 16, 0, 9]) }), lookup);
    expect(nak?.options.get(OPT.MESSAGE_TYPE)).toEqual(Buffer.from([MSG.NAK]));
    expect(nak?.yiaddr).toBe('0.0.0.0');
    const other = request(MSG.REQUEST, {
      [OPT.REQUESTED_IP]: Buffer.from([10, 16, 0, 7]),
      [OPT.SERVER_ID]: Buffer.from([10, 0, 0, 1]),
    });
    expect(guestDhcpReply(other, lookup)).toBeUndefined();
    expect(guestDhcpReply(request(MSG.RELEASE), lookup)).toBeUndefined();
  });

  it('encodes classless routes with only the significant octets (RFC 3442 §3)', () => {
    expect(classlessRoutes([{ destination: '10.17.0.0', prefixLength: 16, router: '10.16.0.1' }])).toEqual(
      Buffer.from([16, 10, 17, 10, 16, 0, 1]),
    );
  });
});

describe('metadata', () => {
  const m: GuestMetadata = {
    uuid: '0b7c3f7e-5d0a-4f51-9d0e-2f1f0e6a1c01',
    name: 'vm 1',
    hostname: 'vm-1',
    availabilityZone: 'nova',
    projectId: 'p1',
    launchIndex: 0,
    publicKeys: [{ name: 'k1', data: 'ssh-ed25519 AAAA k1' }],
    userData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
    meta: { role: 'web' },
  };
  const port = {
    portId: 'c4ae1109-6000-4000-8000-000000000001',
    mac: 'fa:16:3e:01:02:03',
    ip: '10.16.0.7',
    prefixLength: 16,
    gateway: '10.16.0.1',
    mtu: 1500,
    networkId: 'n1',
    dns: [],
  };
  const get = (path: string, password = '') => metadataAnswer('GET', path, '', m, [port], password);

  it('answers the OpenStack tree as Nova does', () => {
    expect(get('/openstack').body.split('\n')).toContain('latest');
    const meta = JSON.parse(get('/openstack/latest/meta_data.json').body) as Record<string, unknown>;
    expect(meta).toMatchObject({
      uuid: m.uuid,
      hostname: 'vm-1',
      name: 'vm 1',
      availability_zone: 'nova',
      project_id: 'p1',
      meta: { role: 'web' },
      public_keys: { k1: 'ssh-ed25519 AAAA k1' },
      keys: [{ name: 'k1', type: 'ssh', data: 'ssh-ed25519 AAAA k1' }],
    });
    const network = JSON.parse(get('/openstack/2018-08-27/network_data.json').body) as {
      links: { ethernet_mac_address: string; mtu: number }[];
      networks: { ip_address: string; netmask: string; routes: unknown[] }[];
    };
    expect(network.links[0]).toMatchObject({ ethernet_mac_address: port.mac, mtu: 1500 });
    expect(network.networks[0]).toMatchObject({ ip_address: '10.16.0.7', netmask: '255.255.0.0' });
    expect(get('/openstack/latest/user_data').body).toBe('#!/bin/sh\necho hi\n');
    expect(get('/openstack/2099-01-01/meta_data.json').status).toBe(404);
  });

  it("lists every port of a guest on several networks in network_data.json, the first one's address as local-ipv4", () => {
    const second = { ...port, portId: 'd5bf2210-7000-4000-8000-000000000002', mac: 'fa:16:3e:04:05:06' };
    const other = { ...second, ip: '10.30.7.9', prefixLength: 24, gateway: null, mtu: 1450, networkId: 'n2' };
    const both = (path: string) => metadataAnswer('GET', path, '', m, [port, other], '').body;
    const network = JSON.parse(both('/openstack/latest/network_data.json')) as {
      links: { id: string; vif_id: string; mtu: number }[];
      networks: { id: string; link: string; ip_address: string; network_id: string; routes: unknown[] }[];
    };
    expect(network.links.map((l) => [l.vif_id, l.mtu])).toEqual([
      [port.portId, 1500],
      [other.portId, 1450],
    ]);
    expect(network.networks).toMatchObject([
      { id: 'network0', link: network.links[0]?.id, ip_address: '10.16.0.7', network_id: 'n1' },
      { id: 'network1', link: network.links[1]?.id, ip_address: '10.30.7.9', network_id: 'n2', routes: [] },
    ]);
    expect(both('/latest/meta-data/local-ipv4')).toBe('10.16.0.7');
  });

  it('answers the EC2 tree', () => {
    expect(get('/latest/meta-data/instance-id').body).toBe(m.uuid);
    expect(get('/latest/meta-data/local-ipv4').body).toBe('10.16.0.7');
    expect(get('/latest/meta-data/public-keys').body).toBe('0=k1');
    expect(get('/latest/meta-data/public-keys/0/openssh-key').body).toBe('ssh-ed25519 AAAA k1');
    expect(get('/latest/meta-data/placement/availability-zone').body).toBe('nova');
    expect(get('/latest/user-data').body).toBe('#!/bin/sh\necho hi\n');
    expect(get('/latest/meta-data/nothing').status).toBe(404);
  });

  it('takes a password once (409 after), at most 256 bytes, and gives it back', () => {
    const posted = metadataAnswer('POST', '/openstack/2013-10-17/password', 'secret', m, [port], '');
    expect(posted).toMatchObject({ status: 200, posted: 'secret' });
    expect(metadataAnswer('POST', '/openstack/latest/password', 'again', m, [port], 'secret').status).toBe(409);
    expect(metadataAnswer('POST', '/openstack/latest/password', 'x'.repeat(257), m, [port], '').status).toBe(400);
    expect(get('/openstack/latest/password', 'secret').body).toBe('secret');
  });
});
