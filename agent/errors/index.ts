// The error base of every area. agent/errors/ is a front door of its own: loading it loads nothing else.
/**
 * The base of every rackseed error. Each area (IPMI, DHCP, store, API, CLI…) keeps one
 * registry of its own errors, as fastify's `lib/errors.ts` does; each error has a stable
 * `code`, a message that says what to do, and a `retryable` flag that drives retry policy
 * (etcd3's recoverable-error idea).
 */
export class RackseedError extends Error {
  /** Stable, greppable identifier: `<AREA>_ERR_<WHAT>`. Never changes once published. */
  readonly code: string;
  /** True when the same call may succeed if tried again later (timeouts, lost leases). */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** True for any error raised by rackseed code (as opposed to a bug or a foreign library). */
export function isRackseedError(error: unknown): error is RackseedError {
  return error instanceof RackseedError;
}
