import { RackseedError } from '../../agent/errors/index.js';

/**
 * An error the API answers with a given HTTP status. Routes throw these; the database's own
 * errors are mapped to statuses here too (`statusOf`), the only place that knows HTTP.
 */
export class ApiError extends RackseedError {
  readonly status: number;
  /** Headers the answer carries besides the fault body (`Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    message: string,
    code = `API_ERR_HTTP_${status}`,
    options: { headers?: Record<string, string>; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, { retryable: options.retryable ?? false, cause: options.cause });
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, message, 'API_ERR_BAD_REQUEST');
export const unauthorized = (message = 'The request you have made requires authentication.'): ApiError =>
  new ApiError(401, message, 'API_ERR_UNAUTHORIZED');
/**
 * `/metrics` on a connection without a certificate from the cluster CA (none, another CA's, a
 * revoked one): the listener asks for one at the handshake, so only a new connection may bring it.
 */
export const clientCertificateRequired = (): ApiError =>
  new ApiError(
    401,
    "This resource needs a client certificate from the cluster's CA that is not revoked (an operator's): present one on a new connection.",
    'API_ERR_CLIENT_CERTIFICATE_REQUIRED',
  );
export const forbidden = (message = 'Policy does not allow this operation to be performed.'): ApiError =>
  new ApiError(403, message, 'API_ERR_FORBIDDEN');
export const notFound = (message: string): ApiError => new ApiError(404, message, 'API_ERR_NOT_FOUND');
/**
 * The dashboard's rack on an API with no cluster behind it (one machine, `--data-dir`): there is
 * no rack to show, only the project.
 */
export const noRack = (): ApiError =>
  new ApiError(
    404,
    'This API serves one machine (cloud serve --data-dir): it has no rack. The rack view is served by the API of a cluster node.',
    'API_ERR_NO_RACK',
  );
/** The rack could not be read (etcd did not answer): the dashboard tries again by itself. */
export const rackUnavailable = (cause: unknown): ApiError =>
  new ApiError(
    503,
    "The cluster's state could not be read from etcd; try again in a few seconds.",
    'API_ERR_RACK_UNAVAILABLE',
    {
      retryable: true,
      headers: { 'retry-after': '2' },
      cause,
    },
  );
/** The dashboard's browser code is not compiled (the API runs from its sources): `make build` makes it. */
export const dashboardNotBuilt = (): ApiError =>
  new ApiError(
    503,
    'The dashboard is not built: run `make build` (or `npx tsc -p tsconfig.build.json`) and start the API from dist/.',
    'API_ERR_DASHBOARD_NOT_BUILT',
  );
export const conflict = (message: string): ApiError => new ApiError(409, message, 'API_ERR_CONFLICT');
/**
 * Keystone's AccountLocked: the user failed to log in too often lately, and is refused without a
 * look at the password. The client sees any failed login's answer (as Keystone's, without
 * insecure_debug), so a lock tells nothing about a password; the code tells the log.
 */
export const accountLocked = (): ApiError =>
  new ApiError(401, 'The request you have made requires authentication.', 'API_ERR_ACCOUNT_LOCKED');
/** Too many failed logins from one address lately: it may try again in `retryAfter` seconds. */
export const tooManyLogins = (retryAfter: number): ApiError =>
  new ApiError(
    429,
    `Too many failed logins from this address; try again in ${retryAfter} seconds.`,
    'API_ERR_TOO_MANY_LOGINS',
    { headers: { 'retry-after': String(retryAfter) }, retryable: true },
  );

const DB_STATUS: Record<string, number> = {
  DB_ERR_NOT_FOUND: 404,
  DB_ERR_CONFLICT: 409,
  DB_ERR_QUOTA_EXCEEDED: 403,
  DB_ERR_STALE: 409,
  DB_ERR_EXHAUSTED: 409,
  DB_ERR_INVALID_ACTION: 400,
  // The DB master stayed away past the client's deadline (a cluster node): try again later.
  DB_ERR_UNAVAILABLE: 503,
  COMPUTE_ERR_INVALID_STATE: 409,
  // The server's host service does not answer (its node is down): nothing to read from it now.
  COMPUTE_ERR_HOST_UNAVAILABLE: 409,
  BLOB_ERR_BAD_KEY: 400,
};

/** Fastify's own errors that are the client's fault. */
const FASTIFY_STATUS: Record<string, number> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
  FST_ERR_CTP_BODY_TOO_LARGE: 413,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 400,
  FST_ERR_CTP_EMPTY_JSON_BODY: 400,
  FST_ERR_CTP_INVALID_JSON_BODY: 400,
  FST_ERR_VALIDATION: 400,
};

/** The HTTP status for any error a route may throw; 500 means a bug. */
export function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  if (error instanceof RackseedError) return DB_STATUS[error.code] ?? 500;
  if (error instanceof SyntaxError) return 400;
  const e = error as { code?: string; statusCode?: number; validation?: unknown };
  if (e.validation !== undefined) return 400;
  if (e.code !== undefined && FASTIFY_STATUS[e.code] !== undefined) return FASTIFY_STATUS[e.code] ?? 500;
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return e.statusCode;
  return 500;
}

/** The stable code counted and logged for an error. */
export function codeOf(error: unknown): string {
  if (error instanceof RackseedError) return error.code;
  const e = error as { code?: unknown };
  return typeof e.code === 'string' ? e.code : 'API_ERR_INTERNAL';
}

/**
 * Server-side errors that pass: the answer says what happens and when to try again (a
 * `Retry-After`, in seconds), as a 503 should, instead of the generic message of a bug.
 */
const PASSING: Record<string, { retryAfter: number; message: string }> = {
  // The request waited its bound for a DB master (one is elected and fences the old within seconds).
  DB_ERR_UNAVAILABLE: {
    retryAfter: 2,
    message: "The cloud's database is moving to another node after a failure; try again in a few seconds.",
  },
};

/** Headers an error's answer carries besides the fault body: its own (`ApiError`), or a passing error's `Retry-After`. */
export function headersOf(error: unknown): Readonly<Record<string, string>> {
  if (error instanceof ApiError) return error.headers;
  const passing = PASSING[codeOf(error)];
  return passing ? { 'retry-after': String(passing.retryAfter) } : {};
}

/** The message shown to the client: never a stack or internals for a 500. */
export function messageOf(error: unknown, status: number): string {
  const passing = PASSING[codeOf(error)];
  if (passing) return passing.message;
  // A 503 the API itself raised says what is unavailable and what to do; any other 5xx is a bug.
  if (status >= 500 && !(error instanceof ApiError && status === 503))
    return 'An unexpected error occurred; it has been logged.';
  return error instanceof Error ? error.message : String(error);
}

const NOVA_FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/** Nova's fault body (nova/api/openstack/wsgi.py `Fault._fault_names`). */
export function novaFault(status: number, message: string): Record<string, { code: number; message: string }> {
  return { [NOVA_FAULT_NAMES[status] ?? 'computeFault']: { code: status, message } };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Keystone's error body (also what keystonemiddleware answers a bad token with). */
export function keystoneFault(
  status: number,
  message: string,
): { error: { code: number; title: string; message: string } } {
  return { error: { code: status, title: TITLES[status] ?? 'Error', message } };
}

const NEUTRON_TYPES: Record<number, string> = {
  400: 'BadRequest',
  403: 'PolicyNotAuthorized',
  404: 'NotFound',
  409: 'Conflict',
};

/** Neutron's error body. */
export function neutronFault(
  status: number,
  message: string,
  type?: string,
): {
  NeutronError: { type: string; message: string; detail: string };
} {
  return { NeutronError: { type: type ?? NEUTRON_TYPES[status] ?? 'NeutronError', message, detail: '' } };
}

/** Which service's fault body a route answers errors with. */
export type FaultStyle = 'nova' | 'keystone' | 'glance' | 'neutron';

export function faultBody(style: FaultStyle, status: number, message: string): unknown {
  switch (style) {
    case 'nova':
      return novaFault(status, message);
    case 'neutron':
      return neutronFault(status, message);
    case 'keystone':
    case 'glance':
      return keystoneFault(status, message);
  }
}
