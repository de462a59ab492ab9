import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Api, type ApiOptions, bootstrapCloud, createApi } from '../../appliance/api/index.js';
import { LocalBlobStore } from '../../appliance/blobs/index.js';
import { FakeDriver } from '../../appliance/compute/index.js';
import { type CloudDb, openSqliteDb } from '../../appliance/db/index.js';

export const ADMIN_PASSWORD = 'admin-secret';

/** A whole API on a temporary SQLite file and blob directory, bootstrapped, for `inject` tests. */
export async function startTestApi(
  options: Pick<ApiOptions, 'tokens' | 'logins' | 'securityCompliance' | 'now' | 'metrics' | 'dashboard'> &
    Partial<Pick<ApiOptions, 'driver'>> = {},
): Promise<{ api: Api; db: CloudDb; dir: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-api-'));
  const db = openSqliteDb(join(dir, 'cloud.db'));
  await bootstrapCloud(db, ADMIN_PASSWORD);
  const api = await createApi({
    db,
    blobs: new LocalBlobStore(join(dir, 'images')),
    credentialKey: randomBytes(32),
    publicUrl: 'http://cloud.test',
    logLevel: 'silent',
    ...options,
    driver: options.driver ?? new FakeDriver(),
  });
  return {
    api,
    db,
    dir,
    stop: async () => {
      await api.app.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A password token for `user` scoped to `project`. */
export async function tokenFor(api: Api, user: string, password: string, project: string): Promise<string> {
  const response = await api.app.inject({
    method: 'POST',
    url: '/identity/v3/auth/tokens',
    payload: {
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
        scope: { project: { name: project, domain: { name: 'Default' } } },
      },
    },
  });
  if (response.statusCode !== 201) throw new Error(`token: ${response.statusCode} ${response.body}`);
  return String(response.headers['x-subject-token']);
}

/** A request to the identity API (`url` under `/identity/v3`); `token` is the caller's, the given one if none. */
export interface IdentityCall {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'HEAD';
  url: string;
  payload?: unknown;
  token?: string;
}
export type IdentityCaller = (call: IdentityCall) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A caller of the identity API through the app, as `token` unless a call names another: its status and parsed body ({} when empty). */
export function identityCaller(api: Api, token: string): IdentityCaller {
  return async (call) => {
    const r = await api.app.inject({
      method: call.method,
      url: `/identity/v3${call.url}`,
      headers: { 'x-auth-token': call.token ?? token },
      ...(call.payload === undefined ? {} : { payload: call.payload as object }),
    });
    return { status: r.statusCode, body: r.body ? r.json() : {} };
  };
}

/** Makes a project and a user with `role` on it (through the API, as admin); returns a token. */
export async function tenant(
  api: Api,
  adminToken: string,
  name: string,
  role: 'member' | 'reader' | 'admin',
): Promise<string> {
  const h = { 'x-auth-token': adminToken };
  const project = await api.app.inject({
    method: 'POST',
    url: '/identity/v3/projects',
    headers: h,
    payload: { project: { name } },
  });
  const user = await api.app.inject({
    method: 'POST',
    url: '/identity/v3/users',
    headers: h,
    payload: { user: { name: `${name}-user`, password: 'pw-12345' } },
  });
  const roles = await api.app.inject({ method: 'GET', url: `/identity/v3/roles?name=${role}`, headers: h });
  const roleId = (roles.json() as { roles: { id: string }[] }).roles[0]?.id;
  const p = (project.json() as { project: { id: string } }).project.id;
  const u = (user.json() as { user: { id: string } }).user.id;
  const grant = await api.app.inject({
    method: 'PUT',
    url: `/identity/v3/projects/${p}/users/${u}/roles/${roleId}`,
    headers: h,
  });
  if (grant.statusCode !== 204) throw new Error(`grant: ${grant.statusCode}`);
  return tokenFor(api, `${name}-user`, 'pw-12345', name);
}

/** The id of project `name`, as the admin (`adminToken`) finds it. */
export async function projectIdOf(api: Api, adminToken: string, name: string): Promise<string> {
  const response = await api.app.inject({
    method: 'GET',
    url: `/identity/v3/projects?name=${name}`,
    headers: { 'x-auth-token': adminToken },
  });
  return response.json().projects[0].id as string;
}

/** A public raw image with a few bytes uploaded (active), made by the admin; resolves its id. */
export async function publicImage(api: Api, adminToken: string): Promise<string> {
  const image = await api.app.inject({
    method: 'POST',
    url: '/image/v2/images',
    headers: { 'x-auth-token': adminToken },
    payload: { name: 'img', visibility: 'public', disk_format: 'raw', container_format: 'bare' },
  });
  const id = image.json().id as string;
  await api.app.inject({
    method: 'PUT',
    url: `/image/v2/images/${id}/file`,
    headers: { 'x-auth-token': adminToken, 'content-type': 'application/octet-stream' },
    payload: Buffer.from('bytes'),
  });
  return id;
}

/**
 * The embedded API over fake hosts of these names (the scheduler places servers among them):
 * the admin's token, a token of a member of a new project `project`, and a public image.
 */
export async function startApiOnHosts(
  hosts: readonly string[],
  project: string,
): Promise<{ t: Awaited<ReturnType<typeof startTestApi>>; admin: string; member: string; imageId: string }> {
  const t = await startTestApi({ driver: new FakeDriver(() => hosts.map((name) => ({ name, ip: '127.0.0.1' }))) });
  const admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
  const member = await tenant(t.api, admin, project, 'member');
  return { t, admin, member, imageId: await publicImage(t.api, admin) };
}

/**
 * A caller of the compute API through the app at a microversion: its status and parsed body
 * (undefined when empty).
 */
export function computeCaller(api: Api) {
  return async (
    token: string,
    version: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
  ) => {
    const r = await api.app.inject({
      method,
      url: `/compute/v2.1${url}`,
      headers: { 'x-auth-token': token, 'openstack-api-version': `compute ${version}` },
      ...(payload ? { payload } : {}),
    });
    return { status: r.statusCode, body: r.body ? r.json() : undefined };
  };
}
