import { describe, expect, it } from 'vitest';
import { type DhcpPacket, MSG, OPT, ipOption, messageTypeOf } from '../../../bootstrap/netboot/dhcp-codec.js';
import { DEFAULT_BOOT_FILES, type DhcpConfig, DhcpResponder } from '../../../bootstrap/netboot/dhcp-server.js';
import { ipToInt, parseCidr } from '../../../bootstrap/netboot/ipv4.js';
import { classifyClient, smbiosGuid } from '../../../bootstrap/netboot/pxe.js';

const config = (over: Partial<DhcpConfig> = {}): DhcpConfig => ({
  mode: 'dhcp',
  serverIp: '10.9.0.1',
  subnet: parseCidr('10.9.0.0/24'),
  rangeFirst: ipToInt('10.9.0.100'),
  rangeLast: ipToInt('10.9.0.102'),
  leaseSeconds: 600,
  reservations: new Map([['52:54:00:00:00:99', '10.9.0.50']]),
  bootFiles: DEFAULT_BOOT_FILES,
  scriptUrl: (mac) => `http://10.9.0.1:8080/boot/${mac.replaceAll(':', '-')}.ipxe`,
  ...over,
});

function req(
  mac: string,
  type: number,
  options: Array<[number, Buffer]> = [],
  over: Partial<DhcpPacket> = {},
): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 42,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.concat([Buffer.from(mac.replaceAll(':', ''), 'hex'), Buffer.alloc(10)]),
    sname: '',
    file: '',
    options: new Map([[OPT.MESSAGE_TYPE, Buffer.from([type])], ...options]),
    ...over,
  };
}

const ip = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const arch = (n: number): Buffer => Buffer.from([0, n]);
const MAC = '52:54:00:00:00:01';

describe('DHCP responder', () => {
  it('runs DISCOVER → OFFER → REQUEST → ACK and binds the lease', () => {
    const r = new DhcpResponder(config());
    const offer = r.handle(req(MAC, MSG.DISCOVER), 0);
    expect(offer.reply && messageTypeOf(offer.reply)).toBe(MSG.OFFER);
    expect(offer.reply?.yiaddr).toBe('10.9.0.100');
    expect(offer.to).toEqual({ kind: 'broadcast' });
    const ack = r.handle(
      req(MAC, MSG.REQUEST, [
        [OPT.SERVER_ID, ip('10.9.0.1')],
        [OPT.REQUESTED_IP, ip('10.9.0.100')],
      ]),
      1,
    );
    expect(ack.reply && messageTypeOf(ack.reply)).toBe(MSG.ACK);
    expect(ack.bind).toEqual({ mac: MAC, ip: '10.9.0.100', expiresAt: 600_001 });
    expect(ack.reply && ipOption(ack.reply, OPT.SERVER_ID)).toBe('10.9.0.1');
    expect(r.leases(2)).toHaveLength(1);
  });

  it('offers the same address to a retransmitted DISCOVER (same xid) and different ones to other MACs with that xid', () => {
    const r = new DhcpResponder(config());
    const a = r.handle(req(MAC, MSG.DISCOVER), 0).reply?.yiaddr;
    expect(r.handle(req(MAC, MSG.DISCOVER), 1).reply?.yiaddr).toBe(a);
    const b = r.handle(req('52:54:00:00:00:02', MSG.DISCOVER), 2).reply?.yiaddr;
    expect(b).not.toBe(a);
  });

  it('hands a reservation its fixed address and NAKs it any other', () => {
    const r = new DhcpResponder(config());
    expect(r.handle(req('52:54:00:00:00:99', MSG.DISCOVER), 0).reply?.yiaddr).toBe('10.9.0.50');
    const nak = r.handle(req('52:54:00:00:00:99', MSG.REQUEST, [[OPT.REQUESTED_IP, ip('10.9.0.100')]]), 0);
    expect(nak.reply && messageTypeOf(nak.reply)).toBe(MSG.NAK);
  });

  it('stays silent when the pool is exhausted, and logs it', () => {
    const r = new DhcpResponder(config());
    for (let i = 1; i <= 3; i++) expect(r.handle(req(`52:54:00:00:01:0${i}`, MSG.DISCOVER), 0).reply).toBeDefined();
    const d = r.handle(req('52:54:00:00:01:09', MSG.DISCOVER), 0);
    expect(d.reply).toBeUndefined();
    expect(d.event.type).toBe('dhcp.pool-exhausted');
    // Offers expire: after the hold time the pool has room again.
    expect(r.handle(req('52:54:00:00:01:09', MSG.DISCOVER), 120_000).reply?.yiaddr).toBeDefined();
  });

  it('NAKs a request for another subnet and for an address bound to someone else', () => {
    const r = new DhcpResponder(config());
    const other = r.handle(req(MAC, MSG.REQUEST, [[OPT.REQUESTED_IP, ip('192.168.1.5')]]), 0);
    expect(other.reply && messageTypeOf(other.reply)).toBe(MSG.NAK);
    r.handle(req(MAC, MSG.REQUEST, [[OPT.REQUESTED_IP, ip('10.9.0.101')]]), 0);
    const taken = r.handle(req('52:54:00:00:00:02', MSG.REQUEST, [[OPT.REQUESTED_IP, ip('10.9.0.101')]]), 1);
    expect(taken.reply && messageTypeOf(taken.reply)).toBe(MSG.NAK);
  });

  it('renews by unicast (ciaddr), forgets on RELEASE, keeps declined addresses out of the pool', () => {
    const r = new DhcpResponder(config());
    r.handle(req(MAC, MSG.REQUEST, [[OPT.REQUESTED_IP, ip('10.9.0.100')]]), 0);
    const renew = r.handle(req(MAC, MSG.REQUEST, [], { ciaddr: '10.9.0.100' }), 1000);
    expect(renew.to).toEqual({ kind: 'unicast', ip: '10.9.0.100', port: 68 });
    expect(renew.bind?.expiresAt).toBe(601_000);
    expect(r.handle(req(MAC, MSG.RELEASE, [], { ciaddr: '10.9.0.100' }), 2000).unbind).toBe(MAC);
    expect(r.leases(2000)).toHaveLength(0);
    r.handle(req(MAC, MSG.DECLINE, [[OPT.REQUESTED_IP, ip('10.9.0.100')]]), 3000);
    expect(r.handle(req(MAC, MSG.DISCOVER, [[OPT.REQUESTED_IP, ip('10.9.0.100')]]), 3000).reply?.yiaddr).not.toBe(
      '10.9.0.100',
    );
  });

  it('tells which address a MAC holds: bound and unexpired only (HTTP boot checks it before a token)', () => {
    const r = new DhcpResponder(config());
    r.handle(req(MAC, MSG.DISCOVER), 0);
    expect(r.leaseOf(MAC, 1)).toBeUndefined(); // offered, not bound
    r.handle(req(MAC, MSG.REQUEST, [[OPT.REQUESTED_IP, ip('10.9.0.100')]]), 0);
    expect(r.leaseOf(MAC, 1)).toEqual({ mac: MAC, ip: '10.9.0.100', expiresAt: 600_000 });
    expect(r.leaseOf('52:54:00:00:00:02', 1)).toBeUndefined();
    expect(r.leaseOf(MAC, 600_000)).toBeUndefined(); // expired
    r.restore([{ mac: '52:54:00:00:00:03', ip: '10.9.0.101', expiresAt: 5000 }]); // from the store
    expect(r.leaseOf('52:54:00:00:00:03', 1)?.ip).toBe('10.9.0.101');
    r.handle(req(MAC, MSG.RELEASE, [], { ciaddr: '10.9.0.100' }), 2);
    expect(r.leaseOf(MAC, 3)).toBeUndefined();
  });

  it("records the client's SMBIOS GUID (option 97) with its lease, to bind its token to", () => {
    const r = new DhcpResponder(config());
    // 5a17ab00-0000-0001-… as iPXE sends it: the first three fields little-endian.
    const wire = Buffer.from(['00', '00ab175a', '0000', '0100', '0000000000000001'].join(''), 'hex');
    const ack = r.handle(
      req(MAC, MSG.REQUEST, [
        [OPT.REQUESTED_IP, ip('10.9.0.100')],
        [OPT.CLIENT_UUID, wire],
      ]),
      0,
    );
    expect(ack.bind?.guid).toBe('5a17ab00000000010000000000000001');
    expect(r.leaseOf(MAC, 1)?.guid).toBe('5a17ab00000000010000000000000001');
    r.restore([{ mac: '52:54:00:00:00:03', ip: '10.9.0.101', expiresAt: 5000, guid: 'ab'.repeat(16) }]);
    expect(r.leaseOf('52:54:00:00:00:03', 1)?.guid).toBe('ab'.repeat(16));
    // The booted OS's DHCP client sends none: its lease has none.
    expect(r.handle(req(MAC, MSG.REQUEST, [], { ciaddr: '10.9.0.100' }), 2).bind).not.toHaveProperty('guid');
  });

  it('ignores a REQUEST for another server and frees its offer', () => {
    const r = new DhcpResponder(config());
    r.handle(req(MAC, MSG.DISCOVER), 0);
    expect(r.handle(req(MAC, MSG.REQUEST, [[OPT.SERVER_ID, ip('10.9.0.2')]]), 0).reply).toBeUndefined();
  });

  it('gives BIOS PXE undionly.kpxe, UEFI ipxe.efi, and iPXE its per-MAC script with 175.176=1', () => {
    const r = new DhcpResponder(config());
    const pxe = (a: number): DhcpPacket =>
      req(MAC, MSG.DISCOVER, [
        [OPT.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
        [OPT.CLIENT_ARCH, arch(a)],
      ]);
    const bios = r.handle(pxe(0), 0).reply;
    expect(bios?.file).toBe('undionly.kpxe');
    expect(bios?.siaddr).toBe('10.9.0.1');
    expect(r.handle(pxe(7), 0).reply?.file).toBe('ipxe.efi');
    const ipxe = r.handle(
      req(MAC, MSG.DISCOVER, [
        [OPT.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
        [OPT.USER_CLASS, Buffer.from('iPXE')],
        [OPT.IPXE_ENCAP, Buffer.from([19, 1, 1])],
      ]),
      0,
    ).reply;
    expect(ipxe?.file).toBe('http://10.9.0.1:8080/boot/52-54-00-00-00-01.ipxe');
    expect(ipxe?.options.get(OPT.IPXE_ENCAP)).toEqual(Buffer.from([176, 1, 1]));
    // A plain OS client gets an address and no boot file.
    expect(r.handle(req('52:54:00:00:00:05', MSG.DISCOVER), 0).reply?.file).toBe('');
  });

  it('ProxyDHCP: answers PXE clients without an address on 67 and 4011, ignores others', () => {
    const r = new DhcpResponder(config({ mode: 'proxy' }));
    const guid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0xab)]);
    const options: Array<[number, Buffer]> = [
      [OPT.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [OPT.CLIENT_ARCH, arch(0)],
      [OPT.CLIENT_UUID, guid],
    ];
    const offer = r.handle(req(MAC, MSG.DISCOVER, options), 0);
    expect(offer.reply?.yiaddr).toBe('0.0.0.0');
    expect(offer.reply?.file).toBe('undionly.kpxe');
    expect(offer.reply?.options.get(OPT.CLIENT_UUID)).toEqual(guid);
    expect(offer.reply?.options.get(OPT.VENDOR_SPECIFIC)).toEqual(Buffer.from([6, 1, 8, 255]));
    expect(offer.reply?.options.has(OPT.LEASE_TIME)).toBe(false);
    const ack = r.handle(req(MAC, MSG.REQUEST, options, { ciaddr: '192.168.5.7' }), 0, true);
    expect(ack.reply && messageTypeOf(ack.reply)).toBe(MSG.ACK);
    expect(ack.to).toEqual({ kind: 'sender' }); // PXE 2.1 §2.2.5: back to the client's source port
    expect(ack.reply?.file).toBe('undionly.kpxe');
    expect(r.handle(req(MAC, MSG.DISCOVER), 0).reply).toBeUndefined();
  });
});

describe('client classification', () => {
  it('reads the architecture from option 93, else from the PXE vendor class', () => {
    expect(classifyClient(req(MAC, 1, [[OPT.CLIENT_ARCH, arch(11)]])).arch).toBe('arm64');
    expect(
      classifyClient(req(MAC, 1, [[OPT.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00009:UNDI:003016')]])).arch,
    ).toBe('uefi-x64');
    expect(classifyClient(req(MAC, 1)).pxe).toBe(false);
  });

  it('reads the SMBIOS GUID of option 97 in product_uuid order; none for all-zero, all-one or malformed', () => {
    const uuid = (hex: string) => req(MAC, 1, [[OPT.CLIENT_UUID, Buffer.from(hex, 'hex')]]);
    // RFC 4578 §2.3 as iPXE sends it: 33221100-5544-7766-8899-aabbccddeeff on the wire is
    // 00112233-4455-6677-8899-aabbccddeeff in /sys/class/dmi/id/product_uuid.
    expect(smbiosGuid(uuid('00' + '33221100' + '5544' + '7766' + '8899aabbccddeeff'))).toBe(
      '00112233445566778899aabbccddeeff',
    );
    expect(smbiosGuid(uuid('00' + '00'.repeat(16)))).toBeUndefined();
    expect(smbiosGuid(uuid('00' + 'ff'.repeat(16)))).toBeUndefined();
    expect(smbiosGuid(uuid('01' + '11'.repeat(16)))).toBeUndefined(); // type 1 is not a GUID
    expect(smbiosGuid(uuid('00' + '11'.repeat(15)))).toBeUndefined();
    expect(smbiosGuid(req(MAC, 1))).toBeUndefined();
  });
});
