import { RackseedError } from '../../agent/index.js';

/** Every failure of an RBD operation, with a stable code (`RBD_ERR_*`) and what the `rbd` tool said. */
export class RbdError extends RackseedError {
  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** What `rbd`'s stderr says → a stable code and a hint (the errno names librbd prints). */
const BY_MESSAGE: readonly [RegExp, string, string, boolean?][] = [
  [
    /\(2\) No such file or directory|image not found|does not exist/i,
    'RBD_ERR_NOT_FOUND',
    'no such pool, image or snapshot',
  ],
  [/\(17\) File exists|already exists/i, 'RBD_ERR_EXISTS', 'it exists already'],
  [/\(28\) No space left|\(122\) Disk quota exceeded|quota/i, 'RBD_ERR_POOL_FULL', 'the pool or the cluster is full'],
  [
    /\(16\) Device or resource busy|has children|children|watchers/i,
    'RBD_ERR_BUSY',
    'it is in use (snapshots, clones or watchers)',
    true,
  ],
  [/\(108\)|blocklisted/i, 'RBD_ERR_BLOCKLISTED', 'this client was fenced (blocklisted)'],
  [/\(110\) Connection timed out|timed out/i, 'RBD_ERR_TIMED_OUT', 'the monitors or OSDs did not answer', true],
  [
    /\(13\) Permission denied|\(1\) Operation not permitted/i,
    'RBD_ERR_PERMISSION_DENIED',
    "the client's cephx caps do not allow it",
  ],
];

/** The typed error of a failed `rbd` call. */
export function rbdFailure(args: readonly string[], stderr: string, cause: unknown): RbdError {
  const said = stderr
    .split('\n')
    .map((line) => line.replace(/^\S+ \S+ -1 /, '').trim())
    .filter((line) => line && !/^did not load config|^Errors while parsing|can't open ceph.conf/.test(line))
    .join('; ');
  const [, code, hint, retryable] = BY_MESSAGE.find(([pattern]) => pattern.test(said)) ?? [
    undefined,
    'RBD_ERR_IO',
    'see what rbd said',
  ];
  return new RbdError(code, `rbd ${args.join(' ')}: ${said || 'failed'} (${hint})`, {
    retryable: retryable ?? false,
    cause,
  });
}

/** An image's snapshot has clones: it cannot be removed while servers' disks depend on it. */
export class RbdHasChildrenError extends RbdError {
  constructor(
    image: string,
    readonly children: readonly string[],
  ) {
    super('RBD_ERR_HAS_CHILDREN', `${image} has clones (${children.join(', ')}): remove them first`);
  }
}

/** The pool takes no more writes (its quota is reached, or the cluster is full): nothing was made. */
export class RbdPoolFullError extends RbdError {
  constructor(pool: string, cause?: unknown) {
    super(
      'RBD_ERR_POOL_FULL',
      `the pool ${pool} is full (its quota is reached, or the cluster's OSDs are): free space or raise the quota (ceph osd pool set-quota ${pool} max_bytes …)`,
      { cause },
    );
  }
}

/** A disk was asked smaller than the image it is cloned from (a flavor's disk too small for the image). */
export class RbdTooSmallError extends RbdError {
  constructor(image: string, imageBytes: number, askedBytes: number) {
    super(
      'RBD_ERR_TOO_SMALL',
      `a disk of ${askedBytes} bytes cannot hold ${image} (${imageBytes} bytes): ask for a larger one`,
    );
  }
}

/** Image bytes that could not be converted to raw (not the format they claim, or a format we do not take). */
export class RbdConvertError extends RbdError {
  constructor(message: string, cause?: unknown) {
    super('RBD_ERR_CONVERT', message, { cause });
  }
}
