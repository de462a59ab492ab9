/**
 * Who is logged in, and every call to the API. A Keystone token from the same origin
 * (`POST /identity/v3/auth/tokens`, scoped to a project: the one named at login, else the
 * user's default or first project), kept in sessionStorage — not a cookie, so that no other
 * site can make the browser send it (no CSRF) — and sent as `X-Auth-Token`. A 401 anywhere
 * ends the session: the page goes back to the login form and says why.
 */

/** A logged-in user, as kept in sessionStorage. */
export interface Session {
  readonly token: string;
  readonly expiresAt: string;
  readonly user: { readonly id: string; readonly name: string };
  readonly project: { readonly id: string; readonly name: string };
  readonly roles: readonly string[];
}

const STORAGE_KEY = 'rackseed.dashboard.session';

/** The API's root, from the page's own address (`…/dashboard/`): same origin, any path prefix. */
export const API_ROOT = new URL('../', document.baseURI);
/** The dashboard's own API (`…/dashboard/api/`). */
export const DASHBOARD_API = new URL('api/', document.baseURI);

/** An answer that was not a success, with the message of its fault body. */
export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The message of any OpenStack fault body (`{"itemNotFound": {"message": …}}`, Keystone's `error`, Neutron's). */
async function faultMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as Record<string, { message?: unknown } | undefined>;
    for (const value of Object.values(body)) if (typeof value?.message === 'string') return value.message;
  } catch {
    // not JSON: the status says enough
  }
  return `${response.status} ${response.statusText}`;
}

/** The session in sessionStorage, unless it has expired. */
export function loadSession(): Session | null {
  try {
    const session = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null;
    if (session && Date.parse(session.expiresAt) > Date.now()) return session;
  } catch {
    // a damaged entry is no session
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

/** The cloud admin (Keystone's `admin` role on the `admin` project) may see the rack. */
export function isCloudAdmin(session: Session): boolean {
  return session.roles.includes('admin') && session.project.name === 'admin';
}

interface TokenBody {
  token: {
    expires_at: string;
    user: { id: string; name: string };
    project?: { id: string; name: string };
    roles?: { name: string }[];
  };
}

async function issue(auth: unknown): Promise<{ token: string; body: TokenBody }> {
  const response = await fetch(new URL('identity/v3/auth/tokens', API_ROOT), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth }),
  });
  if (response.status === 401)
    throw new ApiCallError(401, 'Wrong user name or password (or the project is not yours).');
  if (!response.ok) throw new ApiCallError(response.status, await faultMessage(response));
  return { token: response.headers.get('x-subject-token') ?? '', body: (await response.json()) as TokenBody };
}

const DOMAIN = { id: 'default' };

/** Logs in with a password; `project` empty means the user's default project, else their first. */
export async function login(user: string, password: string, project: string): Promise<Session> {
  const identity = { methods: ['password'], password: { user: { name: user, domain: DOMAIN, password } } };
  let { token, body } = await issue({
    identity,
    ...(project ? { scope: { project: { name: project, domain: DOMAIN } } } : {}),
  });
  if (!body.token.project) {
    // Unscoped (no default project): scope the token to the first project the user has.
    const projects = await fetch(new URL('identity/v3/auth/projects', API_ROOT), {
      headers: { 'x-auth-token': token },
    });
    const first = projects.ok ? ((await projects.json()) as { projects: { id: string }[] }).projects[0] : undefined;
    if (!first) throw new ApiCallError(403, 'This user has a role on no project: ask an admin for one.');
    ({ token, body } = await issue({
      identity: { methods: ['token'], token: { id: token } },
      scope: { project: { id: first.id } },
    }));
  }
  const { expires_at, user: who, project: scoped, roles } = body.token;
  if (!scoped) throw new ApiCallError(403, 'The token has no project.');
  const session: Session = {
    token,
    expiresAt: expires_at,
    user: { id: who.id, name: who.name },
    project: { id: scoped.id, name: scoped.name },
    roles: (roles ?? []).map((r) => r.name),
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  return session;
}

/** Revokes the token (best effort) and forgets the session. */
export async function logout(session: Session): Promise<void> {
  sessionStorage.removeItem(STORAGE_KEY);
  await fetch(new URL('identity/v3/auth/tokens', API_ROOT), {
    method: 'DELETE',
    headers: { 'x-auth-token': session.token, 'x-subject-token': session.token },
  }).catch(() => {});
}

/** Forgets the session without a call (the API already refused its token). */
export function forget(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Told when the API refuses the session's token (expired or revoked). */
let onExpired: (message: string) => void = () => {};
export function whenExpired(handler: (message: string) => void): void {
  onExpired = handler;
}
export const EXPIRED_MESSAGE = 'Your session has expired or was ended: log in again.';

/** Tells the page that the token was refused: back to the login form. */
export function expired(): void {
  forget();
  onExpired(EXPIRED_MESSAGE);
}

/** Calls the API at `path` (from its root, or a URL) with the session's token; parses JSON answers. */
export async function call<T>(session: Session, path: string | URL, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('x-auth-token', session.token);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  const response = await fetch(typeof path === 'string' ? new URL(path, API_ROOT) : path, { ...init, headers });
  if (response.status === 401) {
    expired();
    throw new ApiCallError(401, EXPIRED_MESSAGE);
  }
  if (!response.ok) throw new ApiCallError(response.status, await faultMessage(response));
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
