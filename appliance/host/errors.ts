import { RackseedError } from '../../agent/index.js';

/** A request the host service refuses as it stands (the API answers 400); `code` says what part of it, when it is not the general one. */
export class HostRequestError extends RackseedError {
  constructor(
    message: string,
    code: 'HOST_ERR_BAD_REQUEST' | 'HOST_ERR_BAD_SEGMENT' | 'HOST_ERR_BAD_ROUTER' = 'HOST_ERR_BAD_REQUEST',
  ) {
    super(code, message);
  }
}

/** No guest by that id on this host (404). */
export class HostGuestNotFoundError extends RackseedError {
  constructor(id: string) {
    super('HOST_ERR_GUEST_NOT_FOUND', `no guest ${id} on this host: create it with PUT /v1/guests/${id}`);
  }
}

/** No router by that id on this host (404). */
export class HostRouterNotFoundError extends RackseedError {
  constructor(id: string) {
    super('HOST_ERR_ROUTER_NOT_FOUND', `no router ${id} on this host: make it here with PUT /v1/routers/${id}`);
  }
}

/** The host service could not be reached or answered with an error (the client's side). */
export class HostCallError extends RackseedError {
  readonly status: number;
  constructor(code: string, message: string, options: { status?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = options.status ?? 0;
  }
}

/** QEMU sent something that is not a QMP message (a bug, or not QEMU on that socket). */
export class QmpMalformedError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('QMP_ERR_MALFORMED', `QMP: ${message}`, { cause });
  }
}

/** QEMU refused a QMP command; `errorClass` is QEMU's (GenericError, CommandNotFound, DeviceNotFound…). */
export class QmpCommandError extends RackseedError {
  constructor(
    readonly execute: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super('QMP_ERR_COMMAND', `QEMU refused ${execute}: ${errorClass}: ${desc}`);
  }
}

/** The QMP connection ended (QEMU exited, or the socket was closed). */
export class QmpClosedError extends RackseedError {
  constructor(message = 'the QMP connection is closed: QEMU has exited or the socket was closed') {
    super('QMP_ERR_CLOSED', message);
  }
}

/** QEMU did not answer in time. */
export class QmpTimeoutError extends RackseedError {
  constructor(what: string, ms: number) {
    super('QMP_ERR_TIMEOUT', `QEMU did not answer ${what} within ${ms} ms`, { retryable: true });
  }
}

/** QEMU would not start; the message carries what it printed. */
export class QemuStartError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('QEMU_ERR_START', message, { cause });
  }
}

/** A guest's tap could not be made, plugged or removed. */
export class HostPortError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('HOST_ERR_PORT', message, { cause });
  }
}

/** A port of a VXLAN network, on a node with no IPv4 tunnel address to carry it from (`host serve --host`). */
export class HostNoTunnelError extends RackseedError {
  constructor(message: string) {
    super('HOST_ERR_NO_TUNNEL', message);
  }
}

/** A non-bootable image: the host refuses to start a guest that would only sit at "No bootable device". */
export class HostImageNotBootableError extends RackseedError {
  constructor(image: string) {
    super(
      'HOST_ERR_IMAGE_NOT_BOOTABLE',
      `Image ${image} is not bootable: its first sector has no boot signature (0x55AA).`,
    );
  }
}

/** A guest's memory and device state could not be saved out of its QEMU (suspend) or loaded into a new one (resume). */
export class QemuStateError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('QEMU_ERR_STATE', message, { cause });
  }
}
