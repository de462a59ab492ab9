import { RackseedError } from '../../agent/errors/index.js';

/**
 * The IPMI error registry. Every failure of the codec, the session or the transport is one
 * of these, with a stable code. Messages never contain a password or key.
 */
export const IPMI_ERRORS = {
  /** A packet ended before a field it announces. */
  truncated: 'IPMI_ERR_TRUNCATED',
  /** A packet is well-sized but a field holds a value the protocol forbids. */
  malformed: 'IPMI_ERR_MALFORMED',
  /** An IPMI message checksum (IPMI v2.0 §13.8) does not add up. */
  checksum: 'IPMI_ERR_CHECKSUM',
  /** A session packet's AuthCode (IPMI v2.0 §13.28.4) does not verify. */
  integrity: 'IPMI_ERR_INTEGRITY',
  /** A session packet was already seen or lies outside the sequence window (IPMI v2.0 §6.12.13). */
  replay: 'IPMI_ERR_REPLAY',
  /** The BMC did not answer within the configured bound. */
  timeout: 'IPMI_ERR_TIMEOUT',
  /** The host answered that nothing listens on that UDP port (ICMP port unreachable). */
  unreachable: 'IPMI_ERR_UNREACHABLE',
  /** RAKP 2's key exchange code does not verify: the password is wrong (or the user name maps elsewhere). */
  rakp2HmacMismatch: 'IPMI_ERR_RAKP2_HMAC_MISMATCH',
  /** RAKP 4's integrity check value does not verify: the BMC derived other session keys (a BMC key Kg is set?). */
  rakp4IcvMismatch: 'IPMI_ERR_RAKP4_ICV_MISMATCH',
  /** The BMC refused the user name (RMCP+ status 0x0D). */
  unknownUser: 'IPMI_ERR_UNAUTHORIZED_NAME',
  /** The BMC refused a session step with another RMCP+ status code (IPMI v2.0 §13.24). */
  sessionRejected: 'IPMI_ERR_SESSION_REJECTED',
  /** The cipher suite is not one this implementation will use (only 3 and 17; suite 0 is refused). */
  cipherSuite: 'IPMI_ERR_CIPHER_SUITE',
  /** The BMC speaks only IPMI v1.5, whose sessions are refused (weak authentication). */
  ipmi15Only: 'IPMI_ERR_IPMI15_ONLY',
  /** A command came back with a non-zero completion code (IPMI v2.0 §5.2). */
  completion: 'IPMI_ERR_COMPLETION_CODE',
  /** The session was closed (or never opened) when a command was sent. */
  sessionClosed: 'IPMI_ERR_SESSION_CLOSED',
  /** The boot device read back differs from the one set (the BMC ignored it). */
  bootdevNotApplied: 'IPMI_ERR_BOOTDEV_NOT_APPLIED',
  /** Bad arguments to an API call (a CIDR, a port, a password too long…). */
  invalidArgument: 'IPMI_ERR_INVALID_ARGUMENT',
} as const;

export type IpmiErrorCode = (typeof IPMI_ERRORS)[keyof typeof IPMI_ERRORS];

/** Every IPMI failure. `code` is one of {@link IPMI_ERRORS}. */
export class IpmiError extends RackseedError {
  declare readonly code: IpmiErrorCode;
  constructor(code: IpmiErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** Codes of a received packet that is dropped (and counted) while the exchange goes on. */
export const DROPPED_PACKET_CODES: ReadonlySet<string> = new Set([
  IPMI_ERRORS.truncated,
  IPMI_ERRORS.malformed,
  IPMI_ERRORS.checksum,
  IPMI_ERRORS.integrity,
  IPMI_ERRORS.replay,
]);

/** Bytes from the network that the codec cannot accept. Never retryable: the same bytes fail again. */
export class IpmiDecodeError extends IpmiError {
  constructor(
    code: typeof IPMI_ERRORS.truncated | typeof IPMI_ERRORS.malformed | typeof IPMI_ERRORS.checksum,
    message: string,
  ) {
    super(code, message);
  }
}

/** A command answered with a non-zero completion code. */
export class IpmiCompletionCodeError extends IpmiError {
  readonly completionCode: number;
  constructor(command: string, completionCode: number) {
    super(
      IPMI_ERRORS.completion,
      `${command} failed with completion code 0x${completionCode.toString(16).padStart(2, '0')} (${describeCompletionCode(completionCode)})`,
    );
    this.completionCode = completionCode;
  }
}

/** IPMI v2.0 §5.2 table 5-2, generic completion codes. */
function describeCompletionCode(cc: number): string {
  const names: Record<number, string> = {
    0xc0: 'node busy',
    0xc1: 'invalid command',
    0xc2: 'invalid for this LUN',
    0xc3: 'timeout while processing',
    0xc4: 'out of space',
    0xc5: 'reservation cancelled',
    0xc6: 'request data truncated',
    0xc7: 'request data length invalid',
    0xc8: 'request data field length limit exceeded',
    0xc9: 'parameter out of range',
    0xca: 'cannot return the requested number of bytes',
    0xcb: 'requested sensor, data or record not present',
    0xcc: 'invalid data field in request',
    0xcd: 'command illegal for this sensor or record type',
    0xce: 'command response could not be provided',
    0xcf: 'duplicated request',
    0xd4: 'insufficient privilege level',
    0xd5: 'not supported in the present state',
    0xff: 'unspecified error',
  };
  return names[cc] ?? (cc >= 0x80 && cc <= 0xbe ? 'command-specific error' : 'unknown');
}
