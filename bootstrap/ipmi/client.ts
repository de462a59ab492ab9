/**
 * The IPMI v2.0 RMCP+ client: opens an authenticated, encrypted session (cipher suite 3 or
 * 17) and runs the commands rackseed needs. It composes the pure codec and session logic
 * with the UDP layer.
 */
import { randomBytes } from 'node:crypto';
import {
  BMC_ADDR,
  CONSOLE_ADDR,
  type DecodedRmcpPlus,
  PAYLOAD,
  decodeIpmiResponse,
  decodePacket,
  encodeIpmiRequest,
  encodePacket,
} from './codec.js';
import {
  type BootDevice,
  type BootFlags,
  CHASSIS_CONTROL,
  type ChannelAuthCapabilities,
  type ChassisAction,
  type ChassisStatus,
  COMMANDS,
  type CipherSuiteRecord,
  type CommandSpec,
  type DeviceId,
  PRIVILEGE,
  type UserAccess,
  BOOT_FLAGS_PARAMETER,
  decodeBootFlags,
  decodeBootOptionResponse,
  decodeChannelAuthCapabilities,
  decodeChassisStatus,
  decodeCipherSuiteRecords,
  decodeDeviceId,
  decodeFruAreaInfo,
  decodeGuid,
  decodeReadFruResponse,
  decodeUserName,
  encodeBootFlags,
  encodeChannelAuthCapabilitiesRequest,
  encodeReadFru,
  encodeSetUserAccess,
  encodeSetUserPassword,
} from './commands.js';
import { cipherSuite, passwordKey } from './crypto.js';
import { IPMI_ERRORS, IpmiCompletionCodeError, IpmiError } from './errors.js';
import { type FruInventory, decodeFru } from './fru.js';
import { DEFAULT_RETRY, type DropCounters, type RetryPolicy, UdpPeer } from './io.js';
import { ClientHandshake, type RandomSource, type SecureSession } from './session.js';

export interface IpmiClientOptions {
  host: string;
  /** UDP port; 623 by default. */
  port?: number;
  userName: string;
  password: string;
  /** 3 (HMAC-SHA1, the default: every BMC and ipmi_sim have it) or 17 (HMAC-SHA256). */
  cipherSuite?: number;
  /** Requested privilege, administrator by default. */
  privilege?: number;
  /** Bound of each exchange, retransmissions included (5000 ms by default). */
  timeoutMs?: number;
  /** Send a Get Device ID when the session has been idle this long (0 = never). */
  keepaliveMs?: number;
  /** Called once per dropped packet (bad, replayed, unexpected), for logging. */
  onDrop?: (error: IpmiError) => void;
  random?: RandomSource;
}

/** What the BMC reported for a boot device request, read back after setting it. */
export interface BootDeviceResult {
  requested: BootDevice;
  readBack: BootFlags;
}

function u32(random: RandomSource): number {
  const b = random(4);
  return ((b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16) | ((b[3] ?? 0) << 24)) >>> 0 || 1;
}

function asRmcpPlus(bytes: Uint8Array): DecodedRmcpPlus | undefined {
  const packet = decodePacket(bytes);
  return packet.kind === 'rmcp+' ? (packet as DecodedRmcpPlus) : undefined;
}

/** Asks a BMC, outside any session, which authentication it offers (§22.13). */
export async function getChannelAuthCapabilities(
  peer: UdpPeer,
  retry: RetryPolicy,
  privilege: number = PRIVILEGE.administrator,
): Promise<ChannelAuthCapabilities> {
  const spec = COMMANDS.getChannelAuthCapabilities;
  const message = encodeIpmiRequest({
    rsAddr: BMC_ADDR,
    netFn: spec.netFn,
    rsLun: 0,
    rqAddr: CONSOLE_ADDR,
    rqSeq: 0,
    rqLun: 0,
    cmd: spec.cmd,
    data: encodeChannelAuthCapabilitiesRequest(privilege),
  });
  const packet = encodePacket({ kind: 'ipmi15', sessionSeq: 0, sessionId: 0, message });
  return peer.exchange(
    () => packet,
    (bytes) => {
      const p = decodePacket(bytes);
      if (p.kind !== 'ipmi15') return undefined;
      const r = decodeIpmiResponse(p.message);
      if (r.cmd !== spec.cmd || r.netFn !== spec.netFn + 1) return undefined;
      if (r.completionCode !== 0) throw new IpmiCompletionCodeError(spec.name, r.completionCode);
      return decodeChannelAuthCapabilities(r.data);
    },
    retry,
  );
}

/** An open RMCP+ session with one BMC. Commands run one at a time, in call order. */
export class IpmiClient {
  private rqSeq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private lastUsed = Date.now();
  private keepalive: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly peer: UdpPeer,
    private readonly session: SecureSession,
    private readonly retry: RetryPolicy,
    /** The BMC's answer to Get Channel Authentication Capabilities, asked before the session. */
    readonly capabilities: ChannelAuthCapabilities,
  ) {}

  /** Packets dropped during this client's life, by error code (garbage, replays, bad AuthCodes…). */
  get dropped(): DropCounters {
    return this.peer.dropped;
  }

  /**
   * Opens a session: Get Channel Authentication Capabilities, Open Session, RAKP 1–4, Set
   * Session Privilege Level. Fails with IPMI_ERR_RAKP2_HMAC_MISMATCH (wrong password),
   * IPMI_ERR_UNAUTHORIZED_NAME (unknown user), IPMI_ERR_TIMEOUT (no BMC there)…
   */
  static async connect(options: IpmiClientOptions): Promise<IpmiClient> {
    const suite = cipherSuite(options.cipherSuite ?? 3);
    const random = options.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
    const privilege = options.privilege ?? PRIVILEGE.administrator;
    passwordKey(options.password);
    const retry: RetryPolicy = { ...DEFAULT_RETRY, timeoutMs: options.timeoutMs ?? DEFAULT_RETRY.timeoutMs };
    const peer = await UdpPeer.connect(options.host, options.port ?? 623, options.onDrop);
    try {
      const capabilities = await getChannelAuthCapabilities(peer, retry, privilege);
      if (!capabilities.ipmi20) {
        throw new IpmiError(IPMI_ERRORS.ipmi15Only, 'the BMC supports only IPMI v1.5, whose sessions are refused');
      }
      const handshake = new ClientHandshake({
        suite,
        userName: options.userName,
        password: options.password,
        privilege,
        consoleSessionId: u32(random),
        random,
      });
      const openRequest = handshake.openSessionRequest();
      const rakp1 = await peer.exchange(
        () => openRequest,
        (b) => {
          const p = asRmcpPlus(b);
          return p && handshake.acceptOpenSessionResponse(p);
        },
        retry,
      );
      const rakp3 = await peer.exchange(
        () => rakp1,
        (b) => {
          const p = asRmcpPlus(b);
          return p && handshake.acceptRakp2(p);
        },
        retry,
      );
      const session = await peer.exchange(
        () => rakp3,
        (b) => {
          const p = asRmcpPlus(b);
          return p && handshake.acceptRakp4(p);
        },
        retry,
      );
      const client = new IpmiClient(peer, session, retry, capabilities);
      await client.request(COMMANDS.setSessionPrivilege, Uint8Array.of(privilege));
      if ((options.keepaliveMs ?? 0) > 0) client.startKeepalive(options.keepaliveMs ?? 0);
      return client;
    } catch (error) {
      await peer.close();
      throw error;
    }
  }

  private startKeepalive(everyMs: number): void {
    this.keepalive = setInterval(
      () => {
        if (Date.now() - this.lastUsed < everyMs) return;
        // A failed keepalive surfaces on the next real command; nothing to do here.
        this.request(COMMANDS.getDeviceId, new Uint8Array(0)).catch(() => {});
      },
      Math.max(100, everyMs / 2),
    );
    this.keepalive.unref();
  }

  /**
   * Sends one command inside the session and returns its response data (after the
   * completion code). A non-zero completion code is an {@link IpmiCompletionCodeError}.
   */
  request(spec: CommandSpec, data: Uint8Array, retry: RetryPolicy = this.retry): Promise<Uint8Array> {
    const run = async () => {
      if (this.closed) throw new IpmiError(IPMI_ERRORS.sessionClosed, 'the IPMI session is closed');
      this.rqSeq = (this.rqSeq + 1) & 0x3f;
      const rqSeq = this.rqSeq;
      const message = encodeIpmiRequest({
        rsAddr: BMC_ADDR,
        netFn: spec.netFn,
        rsLun: 0,
        rqAddr: CONSOLE_ADDR,
        rqSeq,
        rqLun: 0,
        cmd: spec.cmd,
        data,
      });
      const response = await this.peer.exchange(
        // A retransmission is a new packet (new session sequence number), same rqSeq.
        () => this.session.seal(PAYLOAD.ipmi, message),
        (bytes) => {
          const p = asRmcpPlus(bytes);
          if (p === undefined) return undefined;
          const { payloadType, payload } = this.session.open(p);
          if (payloadType !== PAYLOAD.ipmi) return undefined;
          const r = decodeIpmiResponse(payload);
          return r.rqSeq === rqSeq && r.cmd === spec.cmd && r.netFn === spec.netFn + 1 ? r : undefined;
        },
        retry,
      );
      this.lastUsed = Date.now();
      if (response.completionCode !== 0) throw new IpmiCompletionCodeError(spec.name, response.completionCode);
      return response.data;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  async deviceId(): Promise<DeviceId> {
    return decodeDeviceId(await this.request(COMMANDS.getDeviceId, new Uint8Array(0)));
  }

  /** The system GUID as 32 hex digits, in wire order. */
  async systemGuid(): Promise<string> {
    return decodeGuid(await this.request(COMMANDS.getSystemGuid, new Uint8Array(0)));
  }

  async chassisStatus(): Promise<ChassisStatus> {
    return decodeChassisStatus(await this.request(COMMANDS.getChassisStatus, new Uint8Array(0)));
  }

  async chassisControl(action: ChassisAction): Promise<void> {
    await this.request(COMMANDS.chassisControl, Uint8Array.of(CHASSIS_CONTROL[action]));
  }

  /** Boot flags (parameter 5) as the BMC holds them. */
  async bootFlags(): Promise<BootFlags> {
    const data = await this.request(COMMANDS.getSystemBootOptions, Uint8Array.of(BOOT_FLAGS_PARAMETER, 0, 0));
    return decodeBootFlags(decodeBootOptionResponse(data).data);
  }

  /**
   * Sets the next (or every, with `persistent`) boot device, then reads it back: BMCs (and
   * ipmi_sim) can answer success and ignore the request, so the read-back decides.
   */
  async setBootDevice(
    device: BootDevice,
    options: { persistent?: boolean; efi?: boolean } = {},
  ): Promise<BootDeviceResult> {
    const flags: BootFlags = {
      valid: true,
      persistent: options.persistent ?? false,
      efi: options.efi ?? false,
      device,
    };
    await this.request(COMMANDS.setSystemBootOptions, Uint8Array.of(BOOT_FLAGS_PARAMETER, ...encodeBootFlags(flags)));
    const readBack = await this.bootFlags();
    if (readBack.device !== device) {
      throw new IpmiError(
        IPMI_ERRORS.bootdevNotApplied,
        `the BMC accepted boot device ${device} but reports ${readBack.device}`,
      );
    }
    return { requested: device, readBack };
  }

  /** The cipher suites the BMC lists for IPMI payloads on this channel (§22.15). */
  async cipherSuites(): Promise<CipherSuiteRecord[]> {
    const chunks: Uint8Array[] = [];
    for (let index = 0; index < 64; index++) {
      const data = await this.request(COMMANDS.getChannelCipherSuites, Uint8Array.of(0x0e, 0x00, 0x80 | index));
      const records = data.subarray(1);
      chunks.push(records);
      if (records.length < 16) break;
    }
    return decodeCipherSuiteRecords(Uint8Array.from(chunks.flatMap((c) => [...c])));
  }

  /** Reads and decodes FRU device `fruId` (0 = the board's own FRU). */
  async fru(fruId = 0): Promise<FruInventory> {
    const info = decodeFruAreaInfo(await this.request(COMMANDS.getFruInventoryAreaInfo, Uint8Array.of(fruId)));
    if (info.byWords) throw new IpmiError(IPMI_ERRORS.malformed, 'word-addressed FRU devices are not supported');
    const image = new Uint8Array(info.size);
    for (let offset = 0; offset < info.size;) {
      const count = Math.min(32, info.size - offset);
      const chunk = decodeReadFruResponse(
        await this.request(COMMANDS.readFruData, encodeReadFru(fruId, offset, count)),
      );
      if (chunk.length === 0) throw new IpmiError(IPMI_ERRORS.malformed, 'Read FRU Data returned no bytes');
      image.set(chunk.subarray(0, info.size - offset), offset);
      offset += chunk.length;
    }
    return decodeFru(image);
  }

  /** The name of user `userId` ('' for an empty slot), §22.29. */
  async userName(userId: number): Promise<string> {
    return decodeUserName(await this.request(COMMANDS.getUserName, Uint8Array.of(userId & 0x3f)));
  }

  /**
   * The id of the user called `name`: slots 1–15 are asked in turn. BMCs number users from 1;
   * an empty or missing slot may answer with an error completion code (ipmi_sim does), which
   * only means the name is not there.
   */
  async userId(name: string): Promise<number | undefined> {
    for (let id = 1; id <= 15; id++) {
      try {
        if ((await this.userName(id)) === name) return id;
      } catch (error) {
        if (!(error instanceof IpmiCompletionCodeError)) throw error;
      }
    }
    return undefined;
  }

  /** Sets user `userId`'s password (20-byte form, §22.30); the next session must use it. */
  async setUserPassword(userId: number, password: string): Promise<void> {
    await this.request(COMMANDS.setUserPassword, encodeSetUserPassword(userId, passwordKey(password)));
  }

  async setUserAccess(access: UserAccess): Promise<void> {
    await this.request(COMMANDS.setUserAccess, encodeSetUserAccess(access));
  }

  /** Closes the session on the BMC (best effort: a lost answer is not an error) and the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.keepalive);
    try {
      const id = this.session.remoteSessionId;
      // Short bound: if the answer is lost, the BMC has already forgotten the session and
      // will not answer the retransmission.
      await this.request(COMMANDS.closeSession, Uint8Array.of(id, id >>> 8, id >>> 16, id >>> 24), {
        ...this.retry,
        timeoutMs: Math.min(this.retry.timeoutMs, 1000),
      });
    } catch {
      // The BMC forgets idle sessions on its own; closing is a courtesy.
    } finally {
      this.closed = true;
      await this.peer.close();
    }
  }
}
