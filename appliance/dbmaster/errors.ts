import { RackseedError } from '../../agent/index.js';

/** Every failure of the database master and its clients has one of these stable codes. */
export const DB_ERRORS = {
  /** No master answered within the call's deadline (failover longer than the deadline). */
  UNAVAILABLE: 'DB_ERR_UNAVAILABLE',
  /** This node is a standby, or a master that lost its leadership: ask the elected one. */
  NOT_MASTER: 'DB_ERR_NOT_MASTER',
  /** The master was elected but has not fenced and opened the database yet. */
  NOT_READY: 'DB_ERR_NOT_READY',
  /** The named operation is not in the schema's registry. */
  UNKNOWN_OPERATION: 'DB_ERR_UNKNOWN_OPERATION',
  /** The operation itself threw (its transaction was rolled back); `cause` carries its code. */
  OPERATION_FAILED: 'DB_ERR_OPERATION_FAILED',
  /** The database storage failed (e.g. this master was fenced): nothing was committed. */
  STORAGE: 'DB_ERR_STORAGE',
  /** A migration failed, or the database has a newer schema than this code knows. */
  MIGRATION: 'DB_ERR_MIGRATION',
  /** A request to the master's RPC was malformed. */
  BAD_REQUEST: 'DB_ERR_BAD_REQUEST',
  /** No blob has that name. */
  BLOB_NOT_FOUND: 'DB_ERR_BLOB_NOT_FOUND',
  /** The database could not be opened or the previous holder could not be fenced. */
  OPEN_FAILED: 'DB_ERR_OPEN_FAILED',
} as const;

export type DbErrorCode = (typeof DB_ERRORS)[keyof typeof DB_ERRORS];

const RETRYABLE: ReadonlySet<string> = new Set([
  DB_ERRORS.UNAVAILABLE,
  DB_ERRORS.NOT_MASTER,
  DB_ERRORS.NOT_READY,
  DB_ERRORS.STORAGE,
]);

/** A database master error; `operationCode` is the code an operation threw, if any. */
export class DbError extends RackseedError {
  readonly operationCode: string | undefined;

  constructor(code: DbErrorCode, message: string, options: { cause?: unknown; operationCode?: string } = {}) {
    super(code, message, { retryable: RETRYABLE.has(code), cause: options.cause });
    this.operationCode = options.operationCode;
  }
}

/** The error as it travels over the RPC and between the worker and its host. */
export interface WireError {
  code: DbErrorCode;
  message: string;
  operationCode?: string;
}

export function toWire(error: DbError): WireError {
  return {
    code: error.code as DbErrorCode,
    message: error.message,
    ...(error.operationCode ? { operationCode: error.operationCode } : {}),
  };
}

export function fromWire(wire: WireError): DbError {
  return new DbError(wire.code, wire.message, wire.operationCode ? { operationCode: wire.operationCode } : {});
}
