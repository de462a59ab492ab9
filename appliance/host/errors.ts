import { RackseedError } from '../../agent/index.js';

/** A request the host service refuses as it stands (the API answers 400). */
export class HostRequestError extends RackseedError {
  constructor(message: string) {
    super('HOST_ERR_BAD_REQUEST', message);
  }
}

/** No guest by that id on this host (404). */
export class HostGuestNotFoundError extends RackseedError {
  constructor(id: string) {
    super('HOST_ERR_GUEST_NOT_FOUND', `no guest ${id} on this host: create it with PUT /v1/guests/${id}`);
  }
}

/** The caller did not show the host service's token (401). */
export class HostUnauthorizedError extends RackseedError {
  constructor() {
    super('HOST_ERR_UNAUTHORIZED', 'the host service wants its bearer token (Authorization: Bearer …)');
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
