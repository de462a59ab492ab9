import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DecodedRmcpPlus,
  PAYLOAD,
  decodeIpmiRequest,
  decodeIpmiResponse,
  decodeOpenSessionResponse,
  decodePacket,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
  encodeIpmiRequest,
} from '../../bootstrap/ipmi/codec.js';
import { decodeChassisStatus } from '../../bootstrap/ipmi/commands.js';
import {
  CIPHER_SUITES,
  type RakpContext,
  deriveKeys,
  passwordKey,
  rakp2Code,
  rakp3Code,
  rakp4Icv,
} from '../../bootstrap/ipmi/crypto.js';
import { IpmiError } from '../../bootstrap/ipmi/errors.js';
import { ClientHandshake, SecureSession, SequenceWindow } from '../../bootstrap/ipmi/session.js';
import { BmcModel, simulatedFru } from '../../bootstrap/ipmi/simulator.js';

interface Capture {
  user: string;
  password: string;
  packets: { dir: string; hex: string }[];
}
const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/ipmi/${name}`, import.meta.url), 'utf8')) as Capture;
const rmcpPlus = (hex: string) => decodePacket(new Uint8Array(Buffer.from(hex, 'hex'))) as DecodedRmcpPlus;

/** Replays a captured session: re-derive every code and key from the password and check them against the wire. */
function checkCapture(name: string, suiteId: 3 | 17) {
  const c = load(name);
  const p = c.packets.map((x) => x.hex);
  const open = decodeOpenSessionResponse(rmcpPlus(p[3] ?? '').payload);
  const rakp1 = decodeRakp1(rmcpPlus(p[4] ?? '').payload);
  const rakp2 = decodeRakp2(rmcpPlus(p[5] ?? '').payload);
  const rakp3 = decodeRakp3(rmcpPlus(p[6] ?? '').payload);
  const rakp4 = decodeRakp4(rmcpPlus(p[7] ?? '').payload);
  const ctx: RakpContext = {
    suite: CIPHER_SUITES[suiteId],
    consoleSessionId: open.consoleSessionId,
    bmcSessionId: open.bmcSessionId,
    consoleRandom: rakp1.consoleRandom,
    bmcRandom: rakp2.bmcRandom,
    bmcGuid: rakp2.bmcGuid,
    role: rakp1.role,
    userName: rakp1.userName,
    userKey: passwordKey(c.password),
  };
  expect(Buffer.from(rakp2Code(ctx)).toString('hex')).toBe(Buffer.from(rakp2.keyExchangeCode).toString('hex'));
  expect(Buffer.from(rakp3Code(ctx)).toString('hex')).toBe(Buffer.from(rakp3.keyExchangeCode).toString('hex'));
  const keys = deriveKeys(ctx);
  expect(Buffer.from(rakp4Icv(ctx, keys)).toString('hex')).toBe(Buffer.from(rakp4.integrityCheckValue).toString('hex'));
  // Every session packet verifies and decrypts with the derived keys, each side with its own session.
  const noRandom = () => new Uint8Array(16);
  const atBmc = new SecureSession(ctx.suite, keys, ctx.consoleSessionId, ctx.bmcSessionId, noRandom);
  const atConsole = new SecureSession(ctx.suite, keys, ctx.bmcSessionId, ctx.consoleSessionId, noRandom);
  const commands: number[] = [];
  let powerOn: boolean | undefined;
  c.packets.slice(8).forEach(({ dir, hex }) => {
    const { payloadType, payload } = (dir === 'console->bmc' ? atBmc : atConsole).open(rmcpPlus(hex));
    expect(payloadType).toBe(PAYLOAD.ipmi);
    if (dir === 'console->bmc') commands.push(decodeIpmiRequest(payload).cmd);
    else {
      const r = decodeIpmiResponse(payload);
      if (r.netFn === 1 && r.cmd === 1 && r.completionCode === 0) powerOn = decodeChassisStatus(r.data).powerOn;
    }
  });
  expect(commands).toContain(0x3b); // Set Session Privilege Level
  expect(commands).toContain(0x01); // Get Chassis Status
  expect(commands.at(-1)).toBe(0x3c); // Close Session
  expect(powerOn).toBe(true);
}

describe('IPMI session: keys and codes against captured sessions', () => {
  it('suite 3 (ipmitool ↔ ipmi_sim): RAKP 2/3/4, SIK, K1, K2, every AuthCode and payload', () => {
    checkCapture('ipmitool-ipmi_sim-suite3-power-status.json', 3);
  });
  it('suite 17 (ipmitool ↔ rackseed simulator): the same with HMAC-SHA256', () => {
    checkCapture('ipmitool-rackseed_sim-suite17-power-status.json', 17);
  });
});

describe('IPMI session: sequence window', () => {
  it('never accepts a number twice, nor 0', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 200 }), (seqs) => {
        const w = new SequenceWindow();
        const accepted = seqs.filter((s) => w.accept(s));
        expect(new Set(accepted).size).toBe(accepted.length);
        expect(accepted).not.toContain(0);
      }),
    );
  });
  it('accepts late packets inside the window and rejects those far behind or ahead', () => {
    const w = new SequenceWindow();
    expect([100, 98, 99, 100, 60, 140, 132].map((s) => w.accept(s))).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      true,
    ]);
  });
});

/** A client handshake run against the simulator's model, in memory. */
function handshake(model: BmcModel, password: string, suite: 3 | 17 = 3, userName = 'admin') {
  let counter = 0;
  const random = (n: number) => Uint8Array.from({ length: n }, () => counter++ & 0xff);
  const hs = new ClientHandshake({
    suite: CIPHER_SUITES[suite],
    userName,
    password,
    privilege: 4,
    consoleSessionId: 0x11223344,
    random,
  });
  const step = (bytes: Uint8Array) => rmcpPlus(Buffer.from(model.handle(bytes) ?? new Uint8Array(0)).toString('hex'));
  const rakp1 = hs.acceptOpenSessionResponse(step(hs.openSessionRequest()));
  const rakp3 = hs.acceptRakp2(step(rakp1 ?? expect.unreachable()));
  const session = hs.acceptRakp4(step(rakp3 ?? expect.unreachable())) ?? expect.unreachable();
  let rqSeq = 0;
  const call = (netFn: number, cmd: number, data: number[] = []) => {
    const rq = encodeIpmiRequest({
      rsAddr: 0x20,
      netFn,
      rsLun: 0,
      rqAddr: 0x81,
      rqSeq: ++rqSeq,
      rqLun: 0,
      cmd,
      data: Uint8Array.from(data),
    });
    const sealed = session.seal(PAYLOAD.ipmi, rq);
    const reply = model.handle(sealed);
    return {
      sealed,
      reply: reply && decodeIpmiResponse(session.open(rmcpPlus(Buffer.from(reply).toString('hex'))).payload),
    };
  };
  return { session, call };
}

const newModel = () =>
  new BmcModel({
    guid: '00112233445566778899aabbccddeeff',
    users: [{ id: 2, name: 'admin', password: 'pw', privilege: 4, enabled: true }],
    fru: simulatedFru(1),
  });

describe('IPMI session: client handshake against the simulator model', () => {
  for (const suite of [3, 17] as const) {
    it(`suite ${suite}: opens a session and powers on`, () => {
      const model = newModel();
      const { call } = handshake(model, 'pw', suite);
      expect(call(0x06, 0x3b, [4]).reply?.data).toEqual(Uint8Array.of(4));
      expect(call(0x00, 0x02, [1]).reply?.completionCode).toBe(0);
      expect(model.powerOn).toBe(true);
      expect(model.events).toEqual([{ type: 'bmc.power.on' }]);
    });
  }

  it('a wrong password is IPMI_ERR_RAKP2_HMAC_MISMATCH and an unknown user IPMI_ERR_UNAUTHORIZED_NAME', () => {
    expect(() => handshake(newModel(), 'wrong')).toThrow(
      expect.objectContaining({ code: 'IPMI_ERR_RAKP2_HMAC_MISMATCH' }),
    );
    expect(() => handshake(newModel(), 'pw', 3, 'eve')).toThrow(
      expect.objectContaining({ code: 'IPMI_ERR_UNAUTHORIZED_NAME' }),
    );
  });

  it('commands need the privilege: chassis control before Set Session Privilege Level is refused (0xD4)', () => {
    const { call } = handshake(newModel(), 'pw');
    expect(call(0x00, 0x02, [1]).reply?.completionCode).toBe(0xd4);
  });

  it('replayed, tampered and garbage packets are dropped and counted; the session goes on', () => {
    const model = newModel();
    const { call } = handshake(model, 'pw');
    const { sealed } = call(0x06, 0x3b, [4]);
    expect(model.handle(sealed)).toBeUndefined(); // replay
    const tampered = Uint8Array.from(sealed);
    tampered[20] = (tampered[20] ?? 0) ^ 0xff;
    expect(model.handle(tampered)).toBeUndefined();
    expect(model.handle(Uint8Array.of(6, 0, 0xff))).toBeUndefined();
    expect(model.handle(sealed.subarray(0, 30))).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(model.handle(b)).toBeUndefined();
      }),
    );
    expect(model.dropped['IPMI_ERR_REPLAY']).toBe(1);
    expect(model.dropped['IPMI_ERR_INTEGRITY']).toBe(1);
    expect(model.dropped['IPMI_ERR_TRUNCATED']).toBeGreaterThanOrEqual(2);
    expect(call(0x00, 0x01).reply?.completionCode).toBe(0);
  });

  it('the client side drops a replayed response with IPMI_ERR_REPLAY', () => {
    const model = newModel();
    const { session, call } = handshake(model, 'pw');
    const { sealed } = call(0x00, 0x01);
    const reply = model.handle(sealed); // BMC answers the (replayed) request? no: replay dropped
    expect(reply).toBeUndefined();
    const first = call(0x00, 0x01);
    expect(first.reply?.completionCode).toBe(0);
    const again = () =>
      session.open(rmcpPlus(Buffer.from(model.handle(call(0x00, 0x01).sealed) ?? new Uint8Array()).toString('hex')));
    expect(again).toThrow(IpmiError);
  });
});
