/**
 * The compute service's errors, each with its stable code (the API maps them to Nova's status
 * codes in api/faults.ts).
 */
import { RackseedError } from '../../agent/errors/index.js';

/** The server cannot take this action in its current state (Nova answers 409). */
export class ServerStateError extends RackseedError {
  constructor(id: string, state: string, action: string) {
    super('COMPUTE_ERR_INVALID_STATE', `Cannot '${action}' instance ${id} while it is in state ${state}`);
  }
}

/** A placement setting out of range or of the wrong type. */
export class PlacementConfigError extends RackseedError {
  constructor(message: string) {
    super('COMPUTE_ERR_PLACEMENT_CONFIG', message);
  }
}

/** The server's host has no live host service (the node is down or has none). */
export class HostUnavailableError extends RackseedError {
  constructor(host: string) {
    super('COMPUTE_ERR_HOST_UNAVAILABLE', `the compute host ${host} is not up: no host service answers for it`, {
      retryable: true,
    });
  }
}

/** A server's image or flavor is gone or unusable: the server cannot be built. */
export class ServerBuildError extends RackseedError {
  constructor(message: string) {
    super('COMPUTE_ERR_BUILD', message);
  }
}

/** No host service is up to be a router's home. */
export class NoRouterHomeError extends RackseedError {
  constructor(routerId: string) {
    super('COMPUTE_ERR_NO_ROUTER_HOME', `router ${routerId} has no home: no host service is up`, { retryable: true });
  }
}
