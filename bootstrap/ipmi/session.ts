/**
 * Pure RMCP+ session logic: the client side of the RAKP handshake (IPMI v2.0 §13.15–§13.23),
 * the secure session both ends run afterwards (sequence numbers, integrity §13.28.4,
 * confidentiality §13.29) and the replay window. No sockets, no clocks; randomness is a
 * parameter.
 */
import {
  type CipherSuite,
  type RakpContext,
  type SessionKeys,
  decryptPayload,
  deriveKeys,
  encryptPayload,
  packetAuthCode,
  passwordKey,
  rakp2Code,
  rakp3Code,
  rakp4Icv,
  sameBytes,
} from './crypto.js';
import {
  type DecodedRmcpPlus,
  PAYLOAD,
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodePacket,
  encodeSessionless,
  encodeRakp1,
  encodeRakp3,
} from './codec.js';
import { IPMI_ERRORS, IpmiError } from './errors.js';

/** Source of random bytes (crypto.randomBytes in production, a fixed stream in tests). */
export type RandomSource = (length: number) => Uint8Array;

/** RMCP+ status codes, §13.24 table 13-15. */
export const RMCP_STATUS: Readonly<Record<number, string>> = {
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

/** The error a client raises for a non-zero RMCP+ status in a session setup step. */
export function sessionStatusError(step: string, status: number, userName: string): IpmiError {
  const what = RMCP_STATUS[status] ?? 'unknown status';
  if (status === 0x0d) {
    return new IpmiError(
      IPMI_ERRORS.unknownUser,
      `the BMC does not know user "${userName}" (${step}: RMCP+ status 0x0d ${what}); check the user name`,
    );
  }
  if (status === 0x04 || status === 0x05 || status === 0x10 || status === 0x11) {
    return new IpmiError(
      IPMI_ERRORS.cipherSuite,
      `the BMC refused the cipher suite (${step}: RMCP+ status 0x${status.toString(16).padStart(2, '0')} ${what}); try --cipher 3`,
    );
  }
  return new IpmiError(
    IPMI_ERRORS.sessionRejected,
    `the BMC refused the session (${step}: RMCP+ status 0x${status.toString(16).padStart(2, '0')} ${what})`,
  );
}

/**
 * Accepts each sequence number at most once, within a window of {@link SequenceWindow.SIZE}
 * around the highest seen (IPMI v2.0 §6.12.13 / §13.28: session sequence numbers guard
 * against replay; 0 never occurs inside a session).
 */
export class SequenceWindow {
  static readonly SIZE = 32;
  private highest = 0;
  /** Bit i set: highest - i was seen. */
  private seen = 0;

  /** True (and recorded) when `seq` is new and inside the window. */
  accept(seq: number): boolean {
    if (seq === 0) return false;
    if (this.highest === 0) {
      this.highest = seq;
      this.seen = 1;
      return true;
    }
    const ahead = (seq - this.highest) | 0; // signed, wraps at 2^32
    if (ahead > 0) {
      if (ahead > SequenceWindow.SIZE) return false;
      this.seen = ahead >= 32 ? 1 : ((this.seen << ahead) | 1) >>> 0;
      this.highest = seq >>> 0;
      return true;
    }
    const behind = -ahead;
    if (behind >= SequenceWindow.SIZE) return false;
    const bit = (1 << behind) >>> 0;
    if ((this.seen & bit) !== 0) return false;
    this.seen = (this.seen | bit) >>> 0;
    return true;
  }
}

/** An established RMCP+ session, the same on both ends. */
export class SecureSession {
  private outboundSeq = 0;
  private readonly window = new SequenceWindow();

  constructor(
    readonly suite: CipherSuite,
    readonly keys: SessionKeys,
    /** The peer's session ID: written in every packet we send. */
    readonly remoteSessionId: number,
    /** Our session ID: every packet we accept must carry it. */
    readonly localSessionId: number,
    private readonly random: RandomSource,
  ) {}

  /** Wraps a payload: encrypted (AES-CBC-128) and authenticated, next sequence number. */
  seal(payloadType: number, payload: Uint8Array): Uint8Array {
    this.outboundSeq = (this.outboundSeq + 1) >>> 0 || 1;
    return encodePacket(
      {
        kind: 'rmcp+',
        payloadType,
        encrypted: true,
        authenticated: true,
        sessionId: this.remoteSessionId,
        sessionSeq: this.outboundSeq,
        payload: encryptPayload(this.keys, this.random(16), payload),
        authCode: new Uint8Array(0),
      },
      (covered) => packetAuthCode(this.suite, this.keys, covered),
    );
  }

  /**
   * Unwraps a packet of this session: checks ID, AuthCode and sequence window, decrypts.
   * Throws IPMI_ERR_INTEGRITY / IPMI_ERR_REPLAY / IPMI_ERR_MALFORMED; the session is unchanged then.
   */
  open(packet: DecodedRmcpPlus): { payloadType: number; payload: Uint8Array } {
    if (packet.sessionId !== this.localSessionId) {
      throw new IpmiError(IPMI_ERRORS.integrity, `packet for session 0x${packet.sessionId.toString(16)}, not ours`);
    }
    if (!packet.authenticated || !packet.encrypted) {
      throw new IpmiError(IPMI_ERRORS.integrity, 'session packet without integrity or confidentiality');
    }
    const expected = packetAuthCode(this.suite, this.keys, packet.covered);
    if (!sameBytes(expected, packet.authCode)) throw new IpmiError(IPMI_ERRORS.integrity, 'packet AuthCode mismatch');
    const payload = decryptPayload(this.keys, packet.payload);
    if (!this.window.accept(packet.sessionSeq)) {
      throw new IpmiError(IPMI_ERRORS.replay, `session sequence number ${packet.sessionSeq} replayed or out of window`);
    }
    return { payloadType: packet.payloadType, payload };
  }
}

export interface HandshakeOptions {
  suite: CipherSuite;
  userName: string;
  password: string;
  /** Requested maximum privilege (§6.8), 4 = administrator. */
  privilege: number;
  consoleSessionId: number;
  random: RandomSource;
}

/**
 * The client side of RMCP+ session setup: Open Session, RAKP 1–4. Each `accept*` step takes
 * a decoded packet and returns the next packet to send (or the session); it returns
 * `undefined` for a packet that is not the awaited answer, and throws a typed error when the
 * BMC refuses or fails authentication.
 */
export class ClientHandshake {
  private readonly tag: number;
  private readonly role: number;
  private bmcSessionId = 0;
  private consoleRandom: Uint8Array = new Uint8Array(16);
  private context: RakpContext | undefined;

  constructor(private readonly options: HandshakeOptions) {
    this.tag = options.random(1)[0] ?? 0;
    // §13.20: bit 4 set = name-only lookup; bits 3:0 the requested maximum privilege.
    this.role = 0x10 | (options.privilege & 0x0f);
    passwordKey(options.password); // validate length early
  }

  openSessionRequest(): Uint8Array {
    const s = this.options.suite;
    return encodePacket({
      kind: 'rmcp+',
      payloadType: PAYLOAD.openSessionRequest,
      encrypted: false,
      authenticated: false,
      sessionId: 0,
      sessionSeq: 0,
      payload: encodeOpenSessionRequest({
        tag: this.tag,
        maxPrivilege: this.options.privilege,
        consoleSessionId: this.options.consoleSessionId,
        authAlg: s.authAlg,
        integrityAlg: s.integrityAlg,
        confidentialityAlg: s.confidentialityAlg,
      }),
      authCode: new Uint8Array(0),
    });
  }

  /** Open Session Response → RAKP 1. */
  acceptOpenSessionResponse(packet: DecodedRmcpPlus): Uint8Array | undefined {
    if (packet.payloadType !== PAYLOAD.openSessionResponse) return undefined;
    const r = decodeOpenSessionResponse(packet.payload);
    if (r.tag !== this.tag || r.consoleSessionId !== this.options.consoleSessionId) return undefined;
    if (r.status !== 0) throw sessionStatusError('Open Session', r.status, this.options.userName);
    const s = this.options.suite;
    if (r.authAlg !== s.authAlg || r.integrityAlg !== s.integrityAlg || r.confidentialityAlg !== s.confidentialityAlg) {
      throw new IpmiError(IPMI_ERRORS.cipherSuite, `the BMC answered with other algorithms than cipher suite ${s.id}`);
    }
    if (r.bmcSessionId === 0) throw new IpmiError(IPMI_ERRORS.malformed, 'the BMC assigned session ID 0');
    this.bmcSessionId = r.bmcSessionId;
    this.consoleRandom = this.options.random(16);
    return encodeSessionless(
      PAYLOAD.rakp1,
      encodeRakp1({
        tag: this.tag,
        bmcSessionId: r.bmcSessionId,
        consoleRandom: this.consoleRandom,
        role: this.role,
        userName: this.options.userName,
      }),
    );
  }

  /** RAKP 2 → RAKP 3, after checking the BMC knows the password (§13.31). */
  acceptRakp2(packet: DecodedRmcpPlus): Uint8Array | undefined {
    if (packet.payloadType !== PAYLOAD.rakp2) return undefined;
    const r = decodeRakp2(packet.payload);
    if (r.tag !== this.tag || r.consoleSessionId !== this.options.consoleSessionId) return undefined;
    if (r.status !== 0) throw sessionStatusError('RAKP 2', r.status, this.options.userName);
    const context: RakpContext = {
      suite: this.options.suite,
      consoleSessionId: this.options.consoleSessionId,
      bmcSessionId: this.bmcSessionId,
      consoleRandom: this.consoleRandom,
      bmcRandom: r.bmcRandom,
      bmcGuid: r.bmcGuid,
      role: this.role,
      userName: this.options.userName,
      userKey: passwordKey(this.options.password),
    };
    if (!sameBytes(rakp2Code(context), r.keyExchangeCode)) {
      throw new IpmiError(
        IPMI_ERRORS.rakp2HmacMismatch,
        `RAKP 2 key exchange code does not verify: the password for user "${this.options.userName}" is most likely wrong`,
      );
    }
    this.context = context;
    return encodeSessionless(
      PAYLOAD.rakp3,
      encodeRakp3({ tag: this.tag, status: 0, bmcSessionId: this.bmcSessionId, keyExchangeCode: rakp3Code(context) }),
    );
  }

  /** RAKP 4 → the established session. */
  acceptRakp4(packet: DecodedRmcpPlus): SecureSession | undefined {
    if (packet.payloadType !== PAYLOAD.rakp4 || this.context === undefined) return undefined;
    const r = decodeRakp4(packet.payload);
    if (r.tag !== this.tag || r.consoleSessionId !== this.options.consoleSessionId) return undefined;
    if (r.status !== 0) throw sessionStatusError('RAKP 4', r.status, this.options.userName);
    const keys = deriveKeys(this.context);
    if (!sameBytes(rakp4Icv(this.context, keys), r.integrityCheckValue)) {
      throw new IpmiError(
        IPMI_ERRORS.rakp4IcvMismatch,
        'RAKP 4 integrity check value does not verify: the BMC derived other keys (is a BMC key Kg set?)',
      );
    }
    return new SecureSession(
      this.options.suite,
      keys,
      this.bmcSessionId,
      this.options.consoleSessionId,
      this.options.random,
    );
  }
}
