import { RackseedError } from '../../agent/errors/index.js';

/**
 * The netboot area's error registry (DHCP, TFTP, HTTP boot, lease store). Errors raised on
 * bad network input are caught by the servers, logged once, counted and answered with the
 * protocol's own reply (NAK, TFTP error packet or silence); they never stop a server.
 */
export class NetbootError extends RackseedError {}

/** A DHCP packet that cannot be decoded. `code` says why. */
export class DhcpDecodeError extends NetbootError {
  constructor(
    code:
      | 'DHCP_ERR_SHORT_PACKET'
      | 'DHCP_ERR_BAD_COOKIE'
      | 'DHCP_ERR_BAD_HEADER'
      | 'DHCP_ERR_TRUNCATED_OPTION'
      | 'DHCP_ERR_OPTION_OVERLOAD_LOOP'
      | 'DHCP_ERR_BAD_OPTION',
    message: string,
  ) {
    super(code, message);
  }
}

/** A TFTP packet that cannot be decoded. */
export class TftpDecodeError extends NetbootError {
  constructor(code: 'TFTP_ERR_SHORT_PACKET' | 'TFTP_ERR_BAD_OPCODE' | 'TFTP_ERR_BAD_REQUEST', message: string) {
    super(code, message);
  }
}

/** The lease store could not read or write its leases. Retry may help (disk full, etcd away). */
export class LeaseStoreError extends NetbootError {
  constructor(code: 'STORE_ERR_LEASE_IO' | 'STORE_ERR_LEASE_CORRUPT', message: string, cause?: unknown) {
    super(code, message, { retryable: code === 'STORE_ERR_LEASE_IO', cause });
  }
}

/**
 * HTTP boot refused a request. `NETBOOT_ERR_NOT_LEASE_HOLDER`: a boot script (and so an
 * enrollment token) was asked for from an address that does not hold its MAC's DHCP lease.
 */
export class HttpBootError extends NetbootError {
  constructor(code: 'NETBOOT_ERR_NOT_LEASE_HOLDER', message: string) {
    super(code, message);
  }
}

/** The netboot configuration given by the operator is unusable. */
export class NetbootConfigError extends NetbootError {
  constructor(
    code:
      | 'NETBOOT_ERR_NO_INTERFACE'
      | 'NETBOOT_ERR_BAD_SUBNET'
      | 'NETBOOT_ERR_BAD_RANGE'
      | 'NETBOOT_ERR_BAD_RESERVATIONS'
      | 'NETBOOT_ERR_NO_RADVD',
    message: string,
  ) {
    super(code, message);
  }
}
