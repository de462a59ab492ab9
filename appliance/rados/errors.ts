import { RackseedError } from '../../agent/index.js';

/** librados errno values (positive) → stable codes, messages that say what to do, retry policy. */
const BY_ERRNO: Readonly<Record<number, { code: string; hint: string; retryable?: boolean }>> = {
  1: { code: 'RADOS_ERR_PERMISSION_DENIED', hint: "the client's cephx caps do not allow this" },
  2: { code: 'RADOS_ERR_NOT_FOUND', hint: 'no such pool, object, lock or attribute' },
  13: { code: 'RADOS_ERR_PERMISSION_DENIED', hint: 'check the client name and keyring' },
  16: { code: 'RADOS_ERR_BUSY', hint: 'someone else holds it (a lock)', retryable: true },
  17: { code: 'RADOS_ERR_EXISTS', hint: 'it already exists' },
  22: { code: 'RADOS_ERR_INVALID', hint: 'an argument or option was refused' },
  27: { code: 'RADOS_ERR_TOO_BIG', hint: 'write in smaller pieces (osd_max_write_size)' },
  28: { code: 'RADOS_ERR_NO_SPACE', hint: 'the cluster or pool is full' },
  34: { code: 'RADOS_ERR_RANGE', hint: 'a value is out of range' },
  61: { code: 'RADOS_ERR_NOT_FOUND', hint: 'no such attribute' },
  107: { code: 'RADOS_ERR_NOT_CONNECTED', hint: 'connect first, and do not use a closed handle' },
  108: { code: 'RADOS_ERR_BLOCKLISTED', hint: 'this client was fenced (blocklisted); reconnect as a new client' },
  110: { code: 'RADOS_ERR_TIMED_OUT', hint: 'the monitors or OSDs did not answer in time', retryable: true },
  122: { code: 'RADOS_ERR_NO_SPACE', hint: 'a quota is exceeded' },
  125: { code: 'RADOS_ERR_CANCELED', hint: 'the operation was canceled', retryable: true },
};

/** Every failure of the librados binding: a librados errno with a stable code. */
export class RadosError extends RackseedError {
  /** The errno librados returned (positive), 0 when the failure is not librados'. */
  readonly errno: number;
  /** The binding call that failed (`connect`, `read`, `lock`…). */
  readonly op: string;

  constructor(
    code: string,
    message: string,
    options: { errno: number; op: string; retryable?: boolean; cause?: unknown },
  ) {
    super(code, message, options);
    this.errno = options.errno;
    this.op = options.op;
  }
}

/** The addon is not compiled: `make setup` builds it (cmake-js, against librados-dev). */
export class RadosNotBuiltError extends RadosError {
  constructor(tried: readonly string[], cause: unknown) {
    super('RADOS_ERR_NOT_BUILT', `the librados addon is not built (looked at ${tried.join(', ')}); run make setup`, {
      errno: 0,
      op: 'load',
      cause,
    });
  }
}

/** Turns what the addon rejected with (an Error with `errno` and `op`) into a RadosError. */
/** Text for any thrown value; `String()` itself throws on an object without a prototype. */
function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function radosError(error: unknown): RadosError {
  if (error instanceof RadosError) return error;
  const raw = error as { errno?: unknown; op?: unknown; message?: unknown };
  if (typeof raw?.errno !== 'number') {
    return new RadosError('RADOS_ERR_FAILED', describe(raw?.message ?? error), {
      errno: 0,
      op: 'unknown',
      cause: error,
    });
  }
  const known = BY_ERRNO[raw.errno];
  const op = typeof raw.op === 'string' ? raw.op : 'unknown';
  const message = `${describe(raw.message)}: ${known?.hint ?? `librados errno ${raw.errno}`}`;
  return new RadosError(known?.code ?? 'RADOS_ERR_FAILED', message, {
    errno: raw.errno,
    op,
    retryable: known?.retryable ?? false,
    cause: error,
  });
}
