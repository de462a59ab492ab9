/**
 * The IPMI commands rackseed uses: their numbers and the codecs of their request and
 * response data (after the completion code). Pure; shared by the client and the simulator.
 */
import { IPMI_ERRORS, IpmiDecodeError } from './errors.js';
import { Reader, Writer } from './codec.js';

/** Network functions, §5.1 table 5-1 (requests; a response is netFn + 1). */
export const NETFN = { chassis: 0x00, app: 0x06, storage: 0x0a } as const;

/** Command numbers, appendix G. */
export const COMMANDS = {
  getDeviceId: { netFn: NETFN.app, cmd: 0x01, name: 'Get Device ID' }, // §20.1
  getSystemGuid: { netFn: NETFN.app, cmd: 0x37, name: 'Get System GUID' }, // §22.14
  getChannelAuthCapabilities: { netFn: NETFN.app, cmd: 0x38, name: 'Get Channel Authentication Capabilities' }, // §22.13
  setSessionPrivilege: { netFn: NETFN.app, cmd: 0x3b, name: 'Set Session Privilege Level' }, // §22.18
  closeSession: { netFn: NETFN.app, cmd: 0x3c, name: 'Close Session' }, // §22.19
  setUserAccess: { netFn: NETFN.app, cmd: 0x43, name: 'Set User Access' }, // §22.26
  getUserName: { netFn: NETFN.app, cmd: 0x46, name: 'Get User Name' }, // §22.29
  setUserPassword: { netFn: NETFN.app, cmd: 0x47, name: 'Set User Password' }, // §22.30
  getChannelCipherSuites: { netFn: NETFN.app, cmd: 0x54, name: 'Get Channel Cipher Suites' }, // §22.15
  getChassisStatus: { netFn: NETFN.chassis, cmd: 0x01, name: 'Get Chassis Status' }, // §28.2
  chassisControl: { netFn: NETFN.chassis, cmd: 0x02, name: 'Chassis Control' }, // §28.3
  setSystemBootOptions: { netFn: NETFN.chassis, cmd: 0x08, name: 'Set System Boot Options' }, // §28.12
  getSystemBootOptions: { netFn: NETFN.chassis, cmd: 0x09, name: 'Get System Boot Options' }, // §28.13
  getFruInventoryAreaInfo: { netFn: NETFN.storage, cmd: 0x10, name: 'Get FRU Inventory Area Info' }, // §34.1
  readFruData: { netFn: NETFN.storage, cmd: 0x11, name: 'Read FRU Data' }, // §34.2
} as const;

export type CommandSpec = (typeof COMMANDS)[keyof typeof COMMANDS];

/** Privilege levels, §6.8. */
export const PRIVILEGE = { callback: 1, user: 2, operator: 3, administrator: 4 } as const;

function malformed(message: string): never {
  throw new IpmiDecodeError(IPMI_ERRORS.malformed, message);
}

/** Get Device ID response, §20.1 table 20-2. */
export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  deviceAvailable: boolean;
  firmwareMajor: number;
  firmwareMinor: number;
  /** e.g. "2.0" */
  ipmiVersion: string;
  additionalSupport: number;
  manufacturerId: number;
  productId: number;
}

export function encodeDeviceId(d: DeviceId): Uint8Array {
  const [major = 0, minor = 0] = d.ipmiVersion.split('.').map(Number);
  const bcd = (n: number) => ((Math.floor(n / 10) % 10) << 4) | (n % 10);
  return new Writer()
    .u8(d.deviceId)
    .u8(d.deviceRevision & 0x0f)
    .u8((d.deviceAvailable ? 0 : 0x80) | (d.firmwareMajor & 0x7f))
    .u8(bcd(d.firmwareMinor))
    .u8((minor << 4) | major)
    .u8(d.additionalSupport)
    .u8(d.manufacturerId)
    .u16(d.manufacturerId >>> 8)
    .u16(d.productId)
    .done();
}

export function decodeDeviceId(data: Uint8Array): DeviceId {
  const r = new Reader(data, 'Get Device ID response');
  const deviceId = r.u8();
  const deviceRevision = r.u8() & 0x0f;
  const fw1 = r.u8();
  const fw2 = r.u8();
  const version = r.u8();
  const additionalSupport = r.u8();
  const manufacturerId = r.u8() | (r.u16() << 8);
  const productId = r.u16();
  return {
    deviceId,
    deviceRevision,
    // Bit 7 set means "device firmware update or self-initialisation in progress".
    deviceAvailable: (fw1 & 0x80) === 0,
    firmwareMajor: fw1 & 0x7f,
    firmwareMinor: (fw2 >> 4) * 10 + (fw2 & 0x0f),
    ipmiVersion: `${version & 0x0f}.${version >> 4}`,
    additionalSupport,
    manufacturerId,
    productId,
  };
}

/** A GUID as the 16 bytes on the wire, in lowercase hex (ipmitool prints them byte-reversed). */
export function decodeGuid(data: Uint8Array): string {
  if (data.length < 16) throw new IpmiDecodeError(IPMI_ERRORS.truncated, 'a GUID is 16 bytes');
  return Buffer.from(data.subarray(0, 16)).toString('hex');
}

export function encodeGuid(guid: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/i.test(guid)) malformed('a GUID is 32 hex digits');
  return new Uint8Array(Buffer.from(guid, 'hex'));
}

/** Get Channel Authentication Capabilities response, §22.13 table 22-15. */
export interface ChannelAuthCapabilities {
  channel: number;
  /** Bitmask of IPMI v1.5 auth types: 0 none, 1 MD2, 2 MD5, 4 password, 5 OEM. */
  authTypes: number;
  kgSet: boolean;
  perMessageAuthDisabled: boolean;
  userLevelAuthDisabled: boolean;
  nonNullUserNames: boolean;
  nullUserNames: boolean;
  anonymousLogin: boolean;
  ipmi15: boolean;
  ipmi20: boolean;
  oemId: number;
  oemAux: number;
}

/** Request data: channel 0x0E (this one) with bit 7 asking for the v2.0 extended data. */
export function encodeChannelAuthCapabilitiesRequest(privilege: number): Uint8Array {
  return Uint8Array.of(0x8e, privilege & 0x0f);
}

export function encodeChannelAuthCapabilities(c: ChannelAuthCapabilities): Uint8Array {
  return new Writer()
    .u8(c.channel)
    .u8((c.ipmi20 ? 0x80 : 0) | (c.authTypes & 0x3f))
    .u8(
      (c.kgSet ? 0x20 : 0) |
        (c.perMessageAuthDisabled ? 0x10 : 0) |
        (c.userLevelAuthDisabled ? 0x08 : 0) |
        (c.nonNullUserNames ? 0x04 : 0) |
        (c.nullUserNames ? 0x02 : 0) |
        (c.anonymousLogin ? 0x01 : 0),
    )
    .u8((c.ipmi20 ? 0x02 : 0) | (c.ipmi15 ? 0x01 : 0))
    .u8(c.oemId)
    .u16(c.oemId >>> 8)
    .u8(c.oemAux)
    .done();
}

export function decodeChannelAuthCapabilities(data: Uint8Array): ChannelAuthCapabilities {
  const r = new Reader(data, 'Get Channel Authentication Capabilities response');
  const channel = r.u8();
  const types = r.u8();
  const status = r.u8();
  const ext = r.u8();
  const oemId = r.u8() | (r.u16() << 8);
  const oemAux = r.u8();
  const extended = (types & 0x80) !== 0;
  return {
    channel,
    authTypes: types & 0x3f,
    kgSet: (status & 0x20) !== 0,
    perMessageAuthDisabled: (status & 0x10) !== 0,
    userLevelAuthDisabled: (status & 0x08) !== 0,
    nonNullUserNames: (status & 0x04) !== 0,
    nullUserNames: (status & 0x02) !== 0,
    anonymousLogin: (status & 0x01) !== 0,
    // Without the extended bit, the BMC predates v2.0 and byte 4 is reserved.
    ipmi15: extended ? (ext & 0x01) !== 0 : true,
    ipmi20: extended && (ext & 0x02) !== 0,
    oemId,
    oemAux,
  };
}

/** Get Chassis Status response, §28.2 table 28-3. */
export interface ChassisStatus {
  powerOn: boolean;
  overload: boolean;
  interlock: boolean;
  powerFault: boolean;
  controlFault: boolean;
  restorePolicy: 'always-off' | 'previous' | 'always-on' | 'unknown';
  lastPowerEvent: number;
  miscState: number;
}

const RESTORE_POLICIES = ['always-off', 'previous', 'always-on', 'unknown'] as const;

export function encodeChassisStatus(s: ChassisStatus): Uint8Array {
  return Uint8Array.of(
    (s.powerOn ? 1 : 0) |
      (s.overload ? 2 : 0) |
      (s.interlock ? 4 : 0) |
      (s.powerFault ? 8 : 0) |
      (s.controlFault ? 16 : 0) |
      (RESTORE_POLICIES.indexOf(s.restorePolicy) << 5),
    s.lastPowerEvent,
    s.miscState,
  );
}

export function decodeChassisStatus(data: Uint8Array): ChassisStatus {
  const r = new Reader(data, 'Get Chassis Status response');
  const power = r.u8();
  const lastPowerEvent = r.u8();
  const miscState = r.u8();
  return {
    powerOn: (power & 1) !== 0,
    overload: (power & 2) !== 0,
    interlock: (power & 4) !== 0,
    powerFault: (power & 8) !== 0,
    controlFault: (power & 16) !== 0,
    restorePolicy: RESTORE_POLICIES[(power >> 5) & 3] ?? 'unknown',
    lastPowerEvent,
    miscState,
  };
}

/** Chassis Control actions, §28.3 table 28-4. */
export const CHASSIS_CONTROL = { off: 0x00, on: 0x01, cycle: 0x02, reset: 0x03, soft: 0x05 } as const;
export type ChassisAction = keyof typeof CHASSIS_CONTROL;

export function decodeChassisControl(data: Uint8Array): ChassisAction {
  const r = new Reader(data, 'Chassis Control request');
  const code = r.u8() & 0x0f;
  const action = (Object.keys(CHASSIS_CONTROL) as ChassisAction[]).find((k) => CHASSIS_CONTROL[k] === code);
  if (action === undefined) malformed(`unsupported chassis control 0x${code.toString(16)}`);
  return action;
}

/** Boot device selectors of boot flags data byte 2 bits 5:2, §28.13 table 28-14 (param 5). */
export const BOOT_DEVICE = {
  none: 0x0,
  pxe: 0x1,
  disk: 0x2,
  'disk-safe': 0x3,
  diag: 0x4,
  cdrom: 0x5,
  bios: 0x6,
  floppy: 0xf,
} as const;
export type BootDevice = keyof typeof BOOT_DEVICE;
export const BOOT_FLAGS_PARAMETER = 5;

/** Boot flags (boot option parameter 5). */
export interface BootFlags {
  /** Byte 1 bit 7: the flags are to be used. */
  valid: boolean;
  /** Byte 1 bit 6: all future boots (true) or the next boot only. */
  persistent: boolean;
  /** Byte 1 bit 5: EFI boot (true) or legacy PC-compatible. */
  efi: boolean;
  device: BootDevice;
}

export function encodeBootFlags(f: BootFlags): Uint8Array {
  return Uint8Array.of(
    (f.valid ? 0x80 : 0) | (f.persistent ? 0x40 : 0) | (f.efi ? 0x20 : 0),
    BOOT_DEVICE[f.device] << 2,
    0,
    0,
    0,
  );
}

export function decodeBootFlags(data: Uint8Array): BootFlags {
  const r = new Reader(data, 'boot flags');
  const b1 = r.u8();
  const selector = (r.u8() >> 2) & 0x0f;
  r.skip(3);
  const device = (Object.keys(BOOT_DEVICE) as BootDevice[]).find((k) => BOOT_DEVICE[k] === selector);
  if (device === undefined) malformed(`unknown boot device selector 0x${selector.toString(16)}`);
  return { valid: (b1 & 0x80) !== 0, persistent: (b1 & 0x40) !== 0, efi: (b1 & 0x20) !== 0, device };
}

/** Get System Boot Options response: version, parameter (bit 7 = invalid/locked), data. §28.13 table 28-13. */
export function decodeBootOptionResponse(data: Uint8Array): { parameter: number; data: Uint8Array } {
  const r = new Reader(data, 'Get System Boot Options response');
  if (r.u8() !== 0x01) malformed('boot options parameter version must be 1');
  return { parameter: r.u8() & 0x7f, data: r.rest() };
}

/** One cipher suite record of Get Channel Cipher Suites, §22.15.1 table 22-19. */
export interface CipherSuiteRecord {
  id: number;
  authAlg: number;
  integrityAlg: number;
  confidentialityAlg: number;
}

/** Parses the concatenated record data of every Get Channel Cipher Suites page. */
export function decodeCipherSuiteRecords(data: Uint8Array): CipherSuiteRecord[] {
  const r = new Reader(data, 'cipher suite records');
  const out: CipherSuiteRecord[] = [];
  while (r.remaining > 0) {
    const start = r.u8();
    if (start !== 0xc0 && start !== 0xc1) malformed(`cipher suite record start 0x${start.toString(16)}`);
    const id = r.u8();
    if (start === 0xc1) r.skip(3); // OEM IANA
    const record: CipherSuiteRecord = { id, authAlg: 0, integrityAlg: 0, confidentialityAlg: 0 };
    // Algorithm bytes: 00xxxxxx auth, 01xxxxxx integrity, 10xxxxxx confidentiality.
    while (r.remaining > 0) {
      const peek = data[r.position] ?? 0;
      if (peek >= 0xc0) break;
      const alg = r.u8();
      if (alg >> 6 === 0) record.authAlg = alg & 0x3f;
      else if (alg >> 6 === 1) record.integrityAlg = alg & 0x3f;
      else record.confidentialityAlg = alg & 0x3f;
    }
    out.push(record);
  }
  return out;
}

export function encodeCipherSuiteRecords(records: readonly CipherSuiteRecord[]): Uint8Array {
  const w = new Writer();
  for (const s of records)
    w.u8(0xc0)
      .u8(s.id)
      .u8(s.authAlg)
      .u8(0x40 | s.integrityAlg)
      .u8(0x80 | s.confidentialityAlg);
  return w.done();
}

/**
 * Set User Password request, §22.30, operation 2 = set password. `password` is Kuid-sized
 * (20 bytes); passwords of up to 16 characters go in the 16-byte form, which every BMC
 * (ipmi_sim included) takes, longer ones in the 20-byte form (bit 7 of byte 1).
 */
export function encodeSetUserPassword(userId: number, password: Uint8Array): Uint8Array {
  const long = password.subarray(16).some((b) => b !== 0);
  return new Writer()
    .u8((long ? 0x80 : 0) | (userId & 0x3f))
    .u8(0x02)
    .bytes(password.subarray(0, long ? 20 : 16))
    .done();
}

/** Set User Access request, §22.26 table 22-30. */
export interface UserAccess {
  channel: number;
  userId: number;
  privilege: number;
  ipmiMessaging: boolean;
  linkAuth: boolean;
  callbackOnly: boolean;
}

export function encodeSetUserAccess(a: UserAccess): Uint8Array {
  return Uint8Array.of(
    0x80 | (a.callbackOnly ? 0x40 : 0) | (a.linkAuth ? 0x20 : 0) | (a.ipmiMessaging ? 0x10 : 0) | (a.channel & 0x0f),
    a.userId & 0x3f,
    a.privilege & 0x0f,
  );
}

export function decodeSetUserAccess(data: Uint8Array): UserAccess {
  const r = new Reader(data, 'Set User Access request');
  const b1 = r.u8();
  return {
    callbackOnly: (b1 & 0x40) !== 0,
    linkAuth: (b1 & 0x20) !== 0,
    ipmiMessaging: (b1 & 0x10) !== 0,
    channel: b1 & 0x0f,
    userId: r.u8() & 0x3f,
    privilege: r.u8() & 0x0f,
  };
}

/** Read FRU Data request, §34.2. */
export function encodeReadFru(fruId: number, offset: number, count: number): Uint8Array {
  return new Writer().u8(fruId).u16(offset).u8(count).done();
}

/** Read FRU Data response: count returned, then the bytes. */
export function decodeReadFruResponse(data: Uint8Array): Uint8Array {
  const r = new Reader(data, 'Read FRU Data response');
  const count = r.u8();
  const bytes = r.bytesOf(count);
  if (r.remaining !== 0) malformed('Read FRU Data returned more bytes than its count');
  return bytes;
}

/** Get FRU Inventory Area Info response, §34.1: size in bytes (or words, bit 0 of access). */
export function decodeFruAreaInfo(data: Uint8Array): { size: number; byWords: boolean } {
  const r = new Reader(data, 'Get FRU Inventory Area Info response');
  const size = r.u16();
  return { size, byWords: (r.u8() & 1) === 1 };
}

/** Get User Name response, §22.29: the name in 16 bytes, NUL padded (all NUL: no user there). */
export function decodeUserName(d: Uint8Array): string {
  if (d.length < 16) malformed('Get User Name: answer shorter than 16 bytes');
  return Buffer.from(d.subarray(0, 16)).toString('latin1').replace(/\0+$/, '');
}

/** Get User Name response data for `name` (§22.29). */
export function encodeUserName(name: string): Uint8Array {
  const out = new Uint8Array(16);
  out.set(Buffer.from(name, 'latin1').subarray(0, 16));
  return out;
}
