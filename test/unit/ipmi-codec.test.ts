import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type RmcpPacket,
  decodeIpmiRequest,
  decodeIpmiResponse,
  decodeOpenSessionRequest,
  decodeOpenSessionResponse,
  decodePacket,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
  encodeIpmiRequest,
  encodeIpmiResponse,
  encodeOpenSessionRequest,
  encodeOpenSessionResponse,
  encodePacket,
  encodeRakp1,
  encodeRakp2,
  encodeRakp3,
  encodeRakp4,
} from '../../bootstrap/ipmi/codec.js';
import {
  decodeBootFlags,
  decodeChannelAuthCapabilities,
  encodeBootFlags,
  BOOT_DEVICE,
} from '../../bootstrap/ipmi/commands.js';
import { IpmiError } from '../../bootstrap/ipmi/errors.js';
import { decodeFru, encodeFru } from '../../bootstrap/ipmi/fru.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/ipmi/${name}`, import.meta.url), 'utf8')) as {
    packets: { dir: string; hex: string }[];
  };
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Decode, then encode with the captured AuthCode: the bytes must come back identical. */
function reencode(bytes: Uint8Array): Uint8Array {
  const p = decodePacket(bytes);
  if (p.kind !== 'rmcp+') return encodePacket(p);
  const { covered: _covered, ...packet } = p as typeof p & { covered: Uint8Array };
  return encodePacket(packet, () => p.authCode);
}

describe('IPMI codec: golden packets from ipmitool and ipmi_sim', () => {
  for (const name of [
    'ipmitool-ipmi_sim-suite3-power-status.json',
    'ipmitool-rackseed_sim-suite17-power-status.json',
    'rmcp_ping-ipmi_sim-presence.json',
  ]) {
    it(`decodes and re-encodes every packet of ${name} byte for byte`, () => {
      for (const { hex: h } of fixture(name).packets) expect(toHex(reencode(hex(h)))).toBe(h);
    });
  }

  it('reads ipmi_sim presence pong and channel auth capabilities as sent', () => {
    const [, pong] = fixture('rmcp_ping-ipmi_sim-presence.json').packets;
    expect(decodePacket(hex(pong?.hex ?? ''))).toEqual({
      kind: 'asf-pong',
      tag: 0,
      iana: 4542,
      oem: 0,
      entities: 0x81,
      interactions: 0,
    });
    const [request, caps] = fixture('ipmitool-ipmi_sim-suite3-power-status.json').packets;
    const rq = decodePacket(hex(request?.hex ?? ''));
    expect(rq.kind === 'ipmi15' && decodeIpmiRequest(rq.message)).toMatchObject({
      netFn: 6,
      cmd: 0x38,
      rqSeq: 0,
    });
    const rs = decodePacket(hex(caps?.hex ?? ''));
    const r = rs.kind === 'ipmi15' ? decodeIpmiResponse(rs.message) : expect.unreachable();
    expect(r.completionCode).toBe(0);
    expect(decodeChannelAuthCapabilities(r.data)).toMatchObject({ channel: 1, ipmi20: true, nonNullUserNames: true });
  });

  it('reads ipmitool Open Session and RAKP 1 requests', () => {
    const p = fixture('ipmitool-ipmi_sim-suite3-power-status.json').packets;
    const open = decodePacket(hex(p[2]?.hex ?? ''));
    expect(open.kind === 'rmcp+' && decodeOpenSessionRequest(open.payload)).toMatchObject({
      authAlg: 1,
      integrityAlg: 1,
      confidentialityAlg: 1,
    });
    const rakp1 = decodePacket(hex(p[4]?.hex ?? ''));
    expect(rakp1.kind === 'rmcp+' && decodeRakp1(rakp1.payload)).toMatchObject({ userName: 'admin', role: 0x14 });
  });
});

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u32 = fc.nat({ max: 0xffffffff });
const u8 = fc.nat({ max: 255 });

const packetArb: fc.Arbitrary<RmcpPacket> = fc.oneof(
  fc.record({ kind: fc.constant('asf-ping' as const), tag: u8 }),
  fc.record({
    kind: fc.constant('asf-pong' as const),
    tag: u8,
    iana: u32,
    oem: u32,
    entities: u8,
    interactions: u8,
  }),
  fc.record({
    kind: fc.constant('ipmi15' as const),
    sessionSeq: u32,
    sessionId: u32,
    message: fc.uint8Array({ maxLength: 255 }),
  }),
  fc
    .record({
      kind: fc.constant('rmcp+' as const),
      payloadType: fc.constantFrom(0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15),
      encrypted: fc.boolean(),
      authenticated: fc.boolean(),
      sessionId: u32,
      sessionSeq: u32,
      payload: fc.uint8Array({ maxLength: 300 }),
      authCode: fc.uint8Array({ minLength: 12, maxLength: 32 }),
    })
    .map((p) => (p.authenticated ? p : { ...p, authCode: new Uint8Array(0) })),
);

/** Any decoder fed any bytes either returns or throws an IpmiError (never a TypeError, never half an object). */
function decodesOrThrowsTyped(decode: (b: Uint8Array) => unknown) {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
      try {
        decode(b);
      } catch (error) {
        expect(error).toBeInstanceOf(IpmiError);
      }
    }),
    { numRuns: 2000 },
  );
}

describe('IPMI codec: properties', () => {
  it('decode(encode(packet)) is packet', () => {
    fc.assert(
      fc.property(packetArb, (packet) => {
        const decoded = decodePacket(
          encodePacket(packet, () => (packet.kind === 'rmcp+' ? packet.authCode : new Uint8Array(0))),
        );
        const { covered: _c, ...rest } = decoded as typeof decoded & { covered?: Uint8Array };
        expect(rest).toEqual(packet);
      }),
    );
  });

  it('session setup payloads and IPMI messages round trip', () => {
    fc.assert(
      fc.property(
        fc.record({
          tag: u8,
          maxPrivilege: fc.nat(15),
          consoleSessionId: u32,
          authAlg: fc.nat(63),
          integrityAlg: fc.nat(63),
          confidentialityAlg: fc.nat(63),
        }),
        (m) => {
          expect(decodeOpenSessionRequest(encodeOpenSessionRequest(m))).toEqual(m);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.record({
          tag: u8,
          status: fc.constant(0),
          maxPrivilege: fc.nat(15),
          consoleSessionId: u32,
          bmcSessionId: u32,
          authAlg: fc.nat(63),
          integrityAlg: fc.nat(63),
          confidentialityAlg: fc.nat(63),
        }),
        (m) => {
          expect(decodeOpenSessionResponse(encodeOpenSessionResponse(m))).toEqual(m);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.record({
          tag: u8,
          bmcSessionId: u32,
          consoleRandom: bytes(16),
          role: u8,
          userName: fc.stringMatching(/^[a-z0-9]{0,16}$/),
        }),
        (m) => {
          expect(decodeRakp1(encodeRakp1(m))).toEqual(m);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.record({
          tag: u8,
          status: fc.constant(0),
          consoleSessionId: u32,
          bmcRandom: bytes(16),
          bmcGuid: bytes(16),
          keyExchangeCode: fc.uint8Array({ maxLength: 32 }),
        }),
        (m) => {
          expect(decodeRakp2(encodeRakp2(m))).toEqual(m);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.record({ tag: u8, status: u8, bmcSessionId: u32, keyExchangeCode: fc.uint8Array({ maxLength: 32 }) }),
        (m) => {
          expect(decodeRakp3(encodeRakp3(m))).toEqual(m);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.record({
          tag: u8,
          status: u8,
          consoleSessionId: u32,
          integrityCheckValue: fc.uint8Array({ maxLength: 16 }),
        }),
        (m) => {
          expect(decodeRakp4(encodeRakp4(m))).toEqual(m);
        },
      ),
    );
    const msg = {
      netFn: fc.nat(63),
      rqSeq: fc.nat(63),
      cmd: u8,
      data: fc.uint8Array({ maxLength: 40 }),
      rsAddr: u8,
      rqAddr: u8,
      rsLun: fc.nat(3),
      rqLun: fc.nat(3),
    };
    fc.assert(
      fc.property(fc.record(msg), (m) => {
        expect(decodeIpmiRequest(encodeIpmiRequest(m))).toEqual(m);
      }),
    );
    fc.assert(
      fc.property(fc.record({ ...msg, completionCode: u8 }), (m) => {
        expect(decodeIpmiResponse(encodeIpmiResponse(m))).toEqual(m);
      }),
    );
    fc.assert(
      fc.property(
        fc.record({
          valid: fc.boolean(),
          persistent: fc.boolean(),
          efi: fc.boolean(),
          device: fc.constantFrom(...(Object.keys(BOOT_DEVICE) as (keyof typeof BOOT_DEVICE)[])),
        }),
        (f) => {
          expect(decodeBootFlags(encodeBootFlags(f))).toEqual(f);
        },
      ),
    );
  });

  it('random bytes decode or throw the typed error', () => {
    for (const decode of [
      decodePacket,
      decodeIpmiRequest,
      decodeIpmiResponse,
      decodeOpenSessionRequest,
      decodeOpenSessionResponse,
      decodeRakp1,
      decodeRakp2,
      decodeRakp3,
      decodeRakp4,
      decodeFru,
      decodeBootFlags,
    ]) {
      decodesOrThrowsTyped(decode);
    }
  });

  it('a one-byte change to an IPMI message fails its checksum', () => {
    const good = encodeIpmiRequest({
      rsAddr: 0x20,
      netFn: 0,
      rsLun: 0,
      rqAddr: 0x81,
      rqSeq: 1,
      rqLun: 0,
      cmd: 1,
      data: Uint8Array.of(1, 2),
    });
    good[6] = (good[6] ?? 0) ^ 1;
    expect(() => decodeIpmiRequest(good)).toThrow(expect.objectContaining({ code: 'IPMI_ERR_CHECKSUM' }));
  });

  it('FRU board and product areas round trip', () => {
    const text = fc.stringMatching(/^[A-Za-z0-9 ._-]{0,20}$/).map((s) => s.trimEnd());
    fc.assert(
      fc.property(
        fc.record({ manufacturer: text, product: text, serial: text, partNumber: text }),
        fc.record({ manufacturer: text, name: text, partNumber: text, version: text, serial: text, assetTag: text }),
        (board, product) => {
          expect(decodeFru(encodeFru({ board, product }))).toEqual({ board, product });
        },
      ),
    );
  });
});
