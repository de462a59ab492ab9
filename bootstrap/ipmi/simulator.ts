/**
 * A BMC simulator: the BMC side of IPMI v2.0 RMCP+ (cipher suites 3 and 17) on the shared
 * codec, holding power state, boot flags, GUID, FRU and users. {@link BmcModel} is the pure
 * protocol state (bytes in, bytes out); {@link startBmcSimulators} binds many of them to UDP
 * sockets in one process, for scale tests and the lab rack.
 */
import { randomBytes } from 'node:crypto';
import { type Socket, createSocket } from 'node:dgram';
import {
  type DecodedRmcpPlus,
  type IpmiRequest,
  PAYLOAD,
  decodeIpmiRequest,
  decodeOpenSessionRequest,
  decodePacket,
  decodeRakp1,
  decodeRakp3,
  encodeIpmiResponse,
  encodeOpenSessionResponse,
  encodePacket,
  encodeSessionless,
  encodeRakp2,
  encodeRakp4,
} from './codec.js';
import {
  BOOT_FLAGS_PARAMETER,
  type BootFlags,
  COMMANDS,
  type DeviceId,
  PRIVILEGE,
  decodeBootFlags,
  decodeChassisControl,
  decodeSetUserAccess,
  encodeBootFlags,
  encodeChannelAuthCapabilities,
  encodeChassisStatus,
  encodeCipherSuiteRecords,
  encodeUserName,
  encodeDeviceId,
  encodeGuid,
} from './commands.js';
import {
  CIPHER_SUITES,
  type CipherSuite,
  type RakpContext,
  deriveKeys,
  passwordKey,
  rakp2Code,
  rakp3Code,
  rakp4Icv,
  sameBytes,
  suiteForAlgorithms,
} from './crypto.js';
import { IPMI_ERRORS, IpmiError } from './errors.js';
import { type FruInventory, encodeFru } from './fru.js';
import { type RandomSource, SecureSession } from './session.js';
import { isRackseedError } from '../../agent/errors/index.js';

export interface SimulatedUser {
  id: number;
  name: string;
  password: string;
  /** Privilege limit, §6.8 (4 = administrator). */
  privilege: number;
  enabled: boolean;
}

/** What a simulated BMC records happening to its chassis, in order. */
export interface BmcEvent {
  /** `bmc.power.on`, `bmc.power.off`, `bmc.power.cycle`, `bmc.power.reset`, `bmc.power.soft`, `bmc.bootdev`, `bmc.user.password`. */
  type: string;
  detail?: string;
}

export interface BmcModelOptions {
  /** 32 hex digits, wire order. */
  guid: string;
  users: SimulatedUser[];
  fru: Required<FruInventory>;
  powerOn?: boolean;
  deviceId?: DeviceId;
  random?: RandomSource;
}

interface PendingSession {
  bmcSessionId: number;
  consoleSessionId: number;
  suite: CipherSuite;
  maxPrivilege: number;
  context?: RakpContext;
  user?: SimulatedUser;
  secure?: SecureSession;
  privilege: number;
}

const MAX_SESSIONS = 16;

const DEFAULT_DEVICE_ID: DeviceId = {
  deviceId: 0x20,
  deviceRevision: 1,
  deviceAvailable: true,
  firmwareMajor: 1,
  firmwareMinor: 0,
  ipmiVersion: '2.0',
  additionalSupport: 0x8f,
  manufacturerId: 0xbeef, // arbitrary, unregistered
  productId: 0x0001,
};

/** Minimum session privilege per command (§G, "Command Privilege Levels"). */
function requiredPrivilege(netFn: number, cmd: number): number {
  const admin = [COMMANDS.setUserAccess, COMMANDS.setUserPassword];
  const operator = [COMMANDS.chassisControl, COMMANDS.setSystemBootOptions, COMMANDS.getUserName];
  if (admin.some((c) => c.netFn === netFn && c.cmd === cmd)) return PRIVILEGE.administrator;
  if (operator.some((c) => c.netFn === netFn && c.cmd === cmd)) return PRIVILEGE.operator;
  return PRIVILEGE.user;
}

/** One simulated BMC's protocol state. `handle` never throws: bad packets are counted. */
export class BmcModel {
  powerOn: boolean;
  bootFlags: BootFlags = { valid: false, persistent: false, efi: false, device: 'none' };
  readonly events: BmcEvent[] = [];
  /** Packets dropped, by error code. */
  readonly dropped: Record<string, number> = {};
  private readonly sessions = new Map<number, PendingSession>();
  private readonly random: RandomSource;
  private readonly fruImage: Uint8Array;

  constructor(readonly options: BmcModelOptions) {
    this.powerOn = options.powerOn ?? false;
    this.random = options.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.fruImage = encodeFru(options.fru);
    encodeGuid(options.guid);
  }

  get users(): SimulatedUser[] {
    return this.options.users;
  }

  /** Answers one datagram (or not). */
  handle(bytes: Uint8Array): Uint8Array | undefined {
    try {
      const packet = decodePacket(bytes);
      switch (packet.kind) {
        case 'asf-ping':
          // DSP0136 §3.2.4.3: entities 0x81 = IPMI supported, ASF 1.0; no RMCP security extensions.
          return encodePacket({
            kind: 'asf-pong',
            tag: packet.tag,
            iana: 4542,
            oem: 0,
            entities: 0x81,
            interactions: 0,
          });
        case 'ipmi15':
          return this.outsideSession(packet.message);
        case 'rmcp+':
          return this.rmcpPlus(packet as DecodedRmcpPlus);
        default:
          throw new IpmiError(IPMI_ERRORS.malformed, 'not a request');
      }
    } catch (error) {
      const code = isRackseedError(error) ? error.code : 'IPMI_ERR_INTERNAL';
      this.dropped[code] = (this.dropped[code] ?? 0) + 1;
      return undefined;
    }
  }

  /** IPMI v1.5 framing, auth type none: only Get Channel Authentication Capabilities (§22.13). */
  private outsideSession(message: Uint8Array): Uint8Array {
    const rq = decodeIpmiRequest(message);
    const spec = COMMANDS.getChannelAuthCapabilities;
    const ok = rq.netFn === spec.netFn && rq.cmd === spec.cmd;
    const data = ok ? this.authCapabilities() : new Uint8Array(0);
    return encodePacket({
      kind: 'ipmi15',
      sessionSeq: 0,
      sessionId: 0,
      message: this.response(rq, ok ? 0 : 0xd4, data),
    });
  }

  private authCapabilities(): Uint8Array {
    return encodeChannelAuthCapabilities({
      channel: 1,
      authTypes: 0, // no IPMI v1.5 auth types: v1.5 sessions are refused
      kgSet: false,
      perMessageAuthDisabled: false,
      userLevelAuthDisabled: false,
      nonNullUserNames: true,
      nullUserNames: false,
      anonymousLogin: false,
      ipmi15: false,
      ipmi20: true,
      oemId: 0,
      oemAux: 0,
    });
  }

  private response(rq: IpmiRequest, completionCode: number, data: Uint8Array): Uint8Array {
    return encodeIpmiResponse({
      rqAddr: rq.rqAddr,
      netFn: rq.netFn + 1,
      rqLun: rq.rqLun,
      rsAddr: rq.rsAddr,
      rqSeq: rq.rqSeq,
      rsLun: rq.rsLun,
      cmd: rq.cmd,
      completionCode,
      data,
    });
  }

  private rmcpPlus(packet: DecodedRmcpPlus): Uint8Array | undefined {
    if (packet.sessionId !== 0) return this.inSession(packet);
    switch (packet.payloadType) {
      case PAYLOAD.openSessionRequest:
        return this.openSession(packet.payload);
      case PAYLOAD.rakp1:
        return this.rakp1(packet.payload);
      case PAYLOAD.rakp3:
        return this.rakp3(packet.payload);
      case PAYLOAD.ipmi:
        return encodeSessionless(PAYLOAD.ipmi, this.outsideSessionIpmi(packet.payload));
      default:
        throw new IpmiError(IPMI_ERRORS.malformed, `payload type ${packet.payloadType} outside a session`);
    }
  }

  private outsideSessionIpmi(message: Uint8Array): Uint8Array {
    const rq = decodeIpmiRequest(message);
    const spec = COMMANDS.getChannelAuthCapabilities;
    const ok = rq.netFn === spec.netFn && rq.cmd === spec.cmd;
    return this.response(rq, ok ? 0 : 0xd4, ok ? this.authCapabilities() : new Uint8Array(0));
  }

  /** §13.17/§13.18: only suites 3 and 17 are offered. */
  private openSession(payload: Uint8Array): Uint8Array {
    const rq = decodeOpenSessionRequest(payload);
    const suite = suiteForAlgorithms(rq.authAlg, rq.integrityAlg, rq.confidentialityAlg);
    const reply = (status: number, bmcSessionId = 0, maxPrivilege = 0) =>
      encodeSessionless(
        PAYLOAD.openSessionResponse,
        encodeOpenSessionResponse({
          tag: rq.tag,
          status,
          maxPrivilege,
          consoleSessionId: rq.consoleSessionId,
          bmcSessionId,
          authAlg: rq.authAlg,
          integrityAlg: rq.integrityAlg,
          confidentialityAlg: rq.confidentialityAlg,
        }),
      );
    if (suite === undefined) return reply(0x11); // no cipher suite match
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    let bmcSessionId = 0;
    while (bmcSessionId === 0 || this.sessions.has(bmcSessionId)) {
      const b = this.random(4);
      bmcSessionId = ((b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16) | ((b[3] ?? 0) << 24)) >>> 0;
    }
    const maxPrivilege = rq.maxPrivilege === 0 ? PRIVILEGE.administrator : rq.maxPrivilege;
    this.sessions.set(bmcSessionId, {
      bmcSessionId,
      consoleSessionId: rq.consoleSessionId,
      suite,
      maxPrivilege,
      privilege: PRIVILEGE.user,
    });
    return reply(0, bmcSessionId, maxPrivilege);
  }

  /** §13.20/§13.21: name-only lookup; an unknown name is status 0x0D. */
  private rakp1(payload: Uint8Array): Uint8Array | undefined {
    const rq = decodeRakp1(payload);
    const s = this.sessions.get(rq.bmcSessionId);
    if (s === undefined) throw new IpmiError(IPMI_ERRORS.malformed, 'RAKP 1 for an unknown session');
    const reply = (status: number, fields: { bmcRandom?: Uint8Array; code?: Uint8Array } = {}) =>
      encodeSessionless(
        PAYLOAD.rakp2,
        encodeRakp2({
          tag: rq.tag,
          status,
          consoleSessionId: s.consoleSessionId,
          bmcRandom: fields.bmcRandom ?? new Uint8Array(16),
          bmcGuid: encodeGuid(this.options.guid),
          keyExchangeCode: fields.code ?? new Uint8Array(0),
        }),
      );
    const user = this.options.users.find((u) => u.enabled && u.name === rq.userName && rq.userName !== '');
    if (user === undefined) {
      this.sessions.delete(s.bmcSessionId);
      return reply(0x0d);
    }
    const requested = rq.role & 0x0f;
    if (requested > user.privilege || requested > s.maxPrivilege) {
      this.sessions.delete(s.bmcSessionId);
      return reply(0x09);
    }
    const context: RakpContext = {
      suite: s.suite,
      consoleSessionId: s.consoleSessionId,
      bmcSessionId: s.bmcSessionId,
      consoleRandom: rq.consoleRandom,
      bmcRandom: this.random(16),
      bmcGuid: encodeGuid(this.options.guid),
      role: rq.role,
      userName: rq.userName,
      userKey: passwordKey(user.password),
    };
    s.context = context;
    s.user = user;
    s.maxPrivilege = requested === 0 ? Math.min(user.privilege, s.maxPrivilege) : requested;
    return reply(0, { bmcRandom: context.bmcRandom, code: rakp2Code(context) });
  }

  /** §13.22/§13.23: a wrong RAKP 3 code is status 0x0F and the session is dropped. */
  private rakp3(payload: Uint8Array): Uint8Array | undefined {
    const rq = decodeRakp3(payload);
    const s = this.sessions.get(rq.bmcSessionId);
    if (s?.context === undefined) throw new IpmiError(IPMI_ERRORS.malformed, 'RAKP 3 for an unknown session');
    const reply = (status: number, icv: Uint8Array) =>
      encodeSessionless(
        PAYLOAD.rakp4,
        encodeRakp4({ tag: rq.tag, status, consoleSessionId: s.consoleSessionId, integrityCheckValue: icv }),
      );
    if (rq.status !== 0 || !sameBytes(rakp3Code(s.context), rq.keyExchangeCode)) {
      this.sessions.delete(s.bmcSessionId);
      return reply(rq.status !== 0 ? rq.status : 0x0f, new Uint8Array(0));
    }
    const keys = deriveKeys(s.context);
    // A retransmitted RAKP 3 (its RAKP 4 was lost) gets the same answer; the session stays as it is.
    s.secure ??= new SecureSession(s.suite, keys, s.consoleSessionId, s.bmcSessionId, this.random);
    return reply(0, rakp4Icv(s.context, keys));
  }

  private inSession(packet: DecodedRmcpPlus): Uint8Array | undefined {
    const s = this.sessions.get(packet.sessionId);
    if (s?.secure === undefined) throw new IpmiError(IPMI_ERRORS.integrity, 'packet for an unknown session');
    const { payloadType, payload } = s.secure.open(packet);
    if (payloadType !== PAYLOAD.ipmi) throw new IpmiError(IPMI_ERRORS.malformed, `payload type ${payloadType}`);
    const rq = decodeIpmiRequest(payload);
    const [cc, data] = this.command(s, rq);
    const sealed = s.secure.seal(PAYLOAD.ipmi, this.response(rq, cc, data));
    if (rq.netFn === COMMANDS.closeSession.netFn && rq.cmd === COMMANDS.closeSession.cmd && cc === 0) {
      this.sessions.delete(s.bmcSessionId);
    }
    return sealed;
  }

  private event(type: string, detail?: string): void {
    this.events.push(detail === undefined ? { type } : { type, detail });
  }

  /** Runs one in-session command: [completion code, response data]. */
  private command(s: PendingSession, rq: IpmiRequest): [number, Uint8Array] {
    const none = new Uint8Array(0);
    const is = (c: { netFn: number; cmd: number }) => rq.netFn === c.netFn && rq.cmd === c.cmd;
    if (requiredPrivilege(rq.netFn, rq.cmd) > s.privilege) return [0xd4, none];
    const d = rq.data;
    if (is(COMMANDS.setSessionPrivilege)) {
      const wanted = (d[0] ?? 0) & 0x0f;
      if (wanted === 0) return [0, Uint8Array.of(s.privilege)];
      if (wanted > s.maxPrivilege) return [0x81, none]; // §22.18: exceeds the session's limit
      s.privilege = wanted;
      return [0, Uint8Array.of(wanted)];
    }
    if (is(COMMANDS.closeSession)) return [0, none];
    if (is(COMMANDS.getChannelAuthCapabilities)) return [0, this.authCapabilities()];
    if (is(COMMANDS.getDeviceId)) return [0, encodeDeviceId(this.options.deviceId ?? DEFAULT_DEVICE_ID)];
    if (is(COMMANDS.getSystemGuid)) return [0, encodeGuid(this.options.guid)];
    if (is(COMMANDS.getChannelCipherSuites)) {
      const records = encodeCipherSuiteRecords(
        Object.values(CIPHER_SUITES).map((c) => ({
          id: c.id,
          authAlg: c.authAlg,
          integrityAlg: c.integrityAlg,
          confidentialityAlg: c.confidentialityAlg,
        })),
      );
      const index = (d[2] ?? 0) & 0x3f;
      return [0, Uint8Array.of(1, ...records.subarray(index * 16, index * 16 + 16))];
    }
    if (is(COMMANDS.getChassisStatus)) {
      return [
        0,
        encodeChassisStatus({
          powerOn: this.powerOn,
          overload: false,
          interlock: false,
          powerFault: false,
          controlFault: false,
          restorePolicy: 'always-off',
          lastPowerEvent: 0x10, // §28.2: last power on was by command
          miscState: 0,
        }),
      ];
    }
    if (is(COMMANDS.chassisControl)) {
      const action = decodeChassisControl(d);
      if (action === 'on') this.powerOn = true;
      if (action === 'off' || action === 'soft') this.powerOn = false;
      if (action === 'cycle') this.powerOn = true;
      this.event(`bmc.power.${action}`);
      return [0, none];
    }
    if (is(COMMANDS.setSystemBootOptions)) {
      const parameter = (d[0] ?? 0) & 0x7f;
      if (parameter === BOOT_FLAGS_PARAMETER) {
        this.bootFlags = decodeBootFlags(d.subarray(1));
        const f = this.bootFlags;
        this.event('bmc.bootdev', `${f.device}${f.persistent ? ' persistent' : ''}${f.efi ? ' efi' : ''}`);
        return [0, none];
      }
      // Set in progress (0), service partition (1, 2), boot info acknowledge (4): accepted, not kept.
      return parameter <= 4 ? [0, none] : [0x80, none];
    }
    if (is(COMMANDS.getSystemBootOptions)) {
      const parameter = (d[0] ?? 0) & 0x7f;
      if (parameter !== BOOT_FLAGS_PARAMETER) return [0x80, none]; // §28.13: parameter not supported
      return [0, Uint8Array.of(0x01, BOOT_FLAGS_PARAMETER, ...encodeBootFlags(this.bootFlags))];
    }
    if (is(COMMANDS.getFruInventoryAreaInfo)) {
      if ((d[0] ?? 0) !== 0) return [0xcb, none];
      const n = this.fruImage.length;
      return [0, Uint8Array.of(n & 0xff, n >> 8, 0)];
    }
    if (is(COMMANDS.readFruData)) {
      if (d.length < 4) return [0xc7, none];
      if ((d[0] ?? 0) !== 0) return [0xcb, none];
      const offset = (d[1] ?? 0) | ((d[2] ?? 0) << 8);
      const chunk = this.fruImage.subarray(offset, offset + (d[3] ?? 0));
      return [0, Uint8Array.of(chunk.length, ...chunk)];
    }
    if (is(COMMANDS.getUserName)) {
      if (d.length < 1) return [0xc7, none];
      const id = (d[0] ?? 0) & 0x3f;
      if (id < 1 || id > 15) return [0xcc, none];
      return [0, encodeUserName(this.options.users.find((u) => u.id === id)?.name ?? '')];
    }
    if (is(COMMANDS.setUserPassword)) {
      const user = this.options.users.find((u) => u.id === ((d[0] ?? 0) & 0x3f));
      if (user === undefined) return [0xcc, none];
      const size = ((d[0] ?? 0) & 0x80) !== 0 ? 20 : 16;
      if (d.length < 2 + ((d[1] ?? 0) & 0x02 ? size : 0)) return [0xc7, none];
      const password = Buffer.from(d.subarray(2, 2 + size))
        .toString('latin1')
        .replace(/\0+$/, '');
      switch ((d[1] ?? 0) & 0x03) {
        case 0:
          user.enabled = false;
          return [0, none];
        case 1:
          user.enabled = true;
          return [0, none];
        case 2:
          user.password = password;
          this.event('bmc.user.password', String(user.id));
          return [0, none];
        default:
          return [user.password === password ? 0 : 0x80, none];
      }
    }
    if (is(COMMANDS.setUserAccess)) {
      const access = decodeSetUserAccess(d);
      const user = this.options.users.find((u) => u.id === access.userId);
      if (user === undefined) return [0xcc, none];
      user.privilege = access.privilege;
      return [0, none];
    }
    return [0xc1, none]; // invalid command
  }
}

export interface SimulatedBmcSpec extends BmcModelOptions {
  host: string;
  port: number;
}

/** A running simulated BMC: its address and its live model. */
export interface RunningBmc {
  host: string;
  port: number;
  model: BmcModel;
}

export interface BmcSimulators {
  bmcs: RunningBmc[];
  /** Closes every socket. */
  stop(): Promise<void>;
}

/**
 * Binds one UDP socket per simulated BMC (all in this process). Bad packets are counted on
 * each model, never thrown.
 */
export async function startBmcSimulators(specs: readonly SimulatedBmcSpec[]): Promise<BmcSimulators> {
  const sockets: Socket[] = [];
  const bmcs: RunningBmc[] = [];
  const stop = async () => {
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    sockets.length = 0;
  };
  try {
    for (const spec of specs) {
      const model = new BmcModel(spec);
      const socket = createSocket('udp4');
      socket.on('message', (msg, from) => {
        const reply = model.handle(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
        if (reply !== undefined) socket.send(reply, from.port, from.address);
      });
      socket.on('error', () => {}); // ICMP errors for a vanished client: nothing to do
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(spec.port, spec.host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      sockets.push(socket);
      bmcs.push({ host: spec.host, port: (socket.address() as { port: number }).port, model });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { bmcs, stop };
}

/** A ready-made FRU for simulated node `index`. */
export function simulatedFru(index: number): Required<FruInventory> {
  return {
    board: { manufacturer: 'rackseed', product: 'simulated board', serial: `SB${index}`, partNumber: 'SIM-BOARD' },
    product: {
      manufacturer: 'rackseed',
      name: 'simulated node',
      partNumber: 'SIM-NODE',
      version: '1',
      serial: `SN${index}`,
      assetTag: `node${index}`,
    },
  };
}
