import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  clientRequest,
  type DhcpPacket,
  decodeDhcp,
  encodeDhcp,
  MSG,
  OPT,
} from '../../../bootstrap/netboot/dhcp-codec.js';
import { DhcpDecodeError } from '../../../bootstrap/netboot/errors.js';

function discover(extra: Array<[number, Buffer]> = []): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x12345678,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.from('525400213001' + '00'.repeat(10), 'hex'),
    sname: '',
    file: '',
    options: new Map<number, Buffer>([[OPT.MESSAGE_TYPE, Buffer.from([MSG.DISCOVER])], ...extra]),
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof DhcpDecodeError) return error.code;
    throw error;
  }
  return undefined;
}

describe('DHCP codec', () => {
  it('round-trips a message and pads it to 300 bytes (RFC 1542)', () => {
    const bytes = encodeDhcp(discover());
    expect(bytes.length).toBe(300);
    expect(decodeDhcp(bytes)).toEqual(discover());
  });

  it('splits long options and joins them again (RFC 3396)', () => {
    const long = Buffer.alloc(600, 7);
    const bytes = encodeDhcp(discover([[OPT.VENDOR_SPECIFIC, long]]));
    expect(decodeDhcp(bytes).options.get(OPT.VENDOR_SPECIFIC)).toEqual(long);
  });

  it('reads options from file and sname when overloaded (RFC 2132 §9.3)', () => {
    const bytes = encodeDhcp(discover([[OPT.HOSTNAME, Buffer.from('n1')]]));
    // Move option 12 into `file`, declare overload 1 in the options field.
    bytes.fill(0, 240);
    Buffer.from([OPT.MESSAGE_TYPE, 1, 1, OPT.OVERLOAD, 1, 1, 255]).copy(bytes, 240);
    Buffer.from([OPT.HOSTNAME, 2, 0x6e, 0x31, 255]).copy(bytes, 108);
    const decoded = decodeDhcp(bytes);
    expect(decoded.options.get(OPT.HOSTNAME)?.toString()).toBe('n1');
    expect(decoded.file).toBe('');
  });

  it('rejects an overload option inside the overloaded field (loop)', () => {
    const bytes = encodeDhcp(discover());
    bytes.fill(0, 240);
    Buffer.from([OPT.OVERLOAD, 1, 1, 255]).copy(bytes, 240);
    Buffer.from([OPT.OVERLOAD, 1, 1, 255]).copy(bytes, 108);
    expect(codeOf(() => decodeDhcp(bytes))).toBe('DHCP_ERR_OPTION_OVERLOAD_LOOP');
  });

  it('rejects a repeated overload option', () => {
    const bytes = encodeDhcp(discover());
    bytes.fill(0, 240);
    Buffer.from([OPT.OVERLOAD, 1, 3, OPT.OVERLOAD, 1, 3, 255]).copy(bytes, 240);
    expect(codeOf(() => decodeDhcp(bytes))).toBe('DHCP_ERR_OPTION_OVERLOAD_LOOP');
  });

  it('rejects a truncated option, a wrong cookie and a short packet with their codes', () => {
    const bytes = encodeDhcp(discover());
    const truncated = Buffer.concat([bytes.subarray(0, 240), Buffer.from([OPT.HOSTNAME, 10, 0x61])]);
    expect(codeOf(() => decodeDhcp(truncated))).toBe('DHCP_ERR_TRUNCATED_OPTION');
    const noLength = Buffer.concat([bytes.subarray(0, 240), Buffer.from([OPT.HOSTNAME])]);
    expect(codeOf(() => decodeDhcp(noLength))).toBe('DHCP_ERR_TRUNCATED_OPTION');
    const cookie = Buffer.from(bytes);
    cookie.writeUInt32BE(0xdeadbeef, 236);
    expect(codeOf(() => decodeDhcp(cookie))).toBe('DHCP_ERR_BAD_COOKIE');
    expect(codeOf(() => decodeDhcp(bytes.subarray(0, 239)))).toBe('DHCP_ERR_SHORT_PACKET');
  });

  const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const optionCode = fc.integer({ min: 1, max: 254 }).filter((c) => c !== OPT.OVERLOAD);
  const packet: fc.Arbitrary<DhcpPacket> = fc.record({
    op: fc.constantFrom(1, 2),
    htype: fc.nat(255),
    hlen: fc.integer({ min: 0, max: 16 }),
    hops: fc.nat(255),
    xid: fc.nat(0xffffffff),
    secs: fc.nat(0xffff),
    flags: fc.nat(0xffff),
    ciaddr: ip,
    yiaddr: ip,
    siaddr: ip,
    giaddr: ip,
    chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
    sname: fc.stringMatching(/^[a-z0-9.]{0,63}$/),
    file: fc.stringMatching(/^[a-z0-9./]{0,127}$/),
    options: fc
      .uniqueArray(fc.tuple(optionCode, fc.uint8Array({ maxLength: 600 })), { selector: ([c]) => c, maxLength: 12 })
      .map((list) => new Map(list.map(([c, d]) => [c, Buffer.from(d)] as [number, Buffer]))),
  });

  it('property: decode(encode(x)) equals x', () => {
    fc.assert(
      fc.property(packet, (p) => {
        expect(decodeDhcp(encodeDhcp(p))).toEqual(p);
      }),
    );
  });

  it('property: random bytes decode or throw the typed error, never anything else', () => {
    const withCookie = fc.uint8Array({ minLength: 240, maxLength: 600 }).map((a) => {
      const b = Buffer.from(a);
      b.writeUInt32BE(0x63825363, 236);
      b[0] = 1;
      b[2] = 6;
      return b;
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
          withCookie,
        ),
        (bytes) => {
          try {
            const decoded = decodeDhcp(bytes);
            expect(decoded.options).toBeInstanceOf(Map);
          } catch (error) {
            expect(error).toBeInstanceOf(DhcpDecodeError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('makes a client request that asks for a broadcast reply, with its MAC, type and options', () => {
    const bytes = clientRequest({
      xid: 0xcafe0001,
      mac: Buffer.from('525400aabbcc', 'hex'),
      type: MSG.REQUEST,
      options: [[OPT.REQUESTED_IP, Buffer.from([10, 0, 0, 7])]],
      ciaddr: '10.0.0.7',
    });
    const p = decodeDhcp(bytes);
    expect(p).toMatchObject({ op: 1, htype: 1, hlen: 6, xid: 0xcafe0001, flags: 0x8000, ciaddr: '10.0.0.7' });
    expect(p.chaddr.subarray(0, 6).toString('hex')).toBe('525400aabbcc');
    expect(p.chaddr.subarray(6).equals(Buffer.alloc(10))).toBe(true);
    expect(p.options.get(OPT.MESSAGE_TYPE)).toEqual(Buffer.from([MSG.REQUEST]));
    expect(p.options.get(OPT.REQUESTED_IP)).toEqual(Buffer.from([10, 0, 0, 7]));
  });
});
