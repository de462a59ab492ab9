import { RackseedError } from '../../agent/errors/index.js';

/** Errors of the command line itself (as opposed to the operation it runs). */
export class CliUsageError extends RackseedError {
  constructor(message: string) {
    super('CLI_ERR_USAGE', message);
  }
}

/** A secret (password, key) could not be read from where the operator said it is. */
export class CliSecretError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('CLI_ERR_SECRET_UNREADABLE', message, { cause });
  }
}

/** Exit codes shared by every command: 0 success, 1 operational failure, 2 usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
