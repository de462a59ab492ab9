import { fetch } from 'undici';
import type { CloudProcess } from './cloud.js';

const json = { 'content-type': 'application/json' };

/** Calls the cloud's API (its CA trusted) with `token`; the answer's JSON, or throws with its body. */
export async function cloudApi<T>(
  cloud: CloudProcess,
  token: string,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const response = await fetch(`${cloud.url}${path}`, {
    dispatcher: cloud.dispatcher,
    method: init.method ?? 'GET',
    headers: { 'x-auth-token': token, ...(init.body === undefined ? {} : json) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * A project `name` with a `member` user `<name>-user` on it (made by the admin's `admin` token);
 * the user's name and password.
 */
export async function memberOf(
  cloud: CloudProcess,
  admin: string,
  name: string,
): Promise<{ user: string; password: string }> {
  const password = `pw-${name}-12345`;
  const project = await cloudApi<{ project: { id: string } }>(cloud, admin, '/identity/v3/projects', {
    method: 'POST',
    body: { project: { name } },
  });
  const user = await cloudApi<{ user: { id: string } }>(cloud, admin, '/identity/v3/users', {
    method: 'POST',
    body: { user: { name: `${name}-user`, password, default_project_id: project.project.id } },
  });
  const roles = await cloudApi<{ roles: { id: string }[] }>(cloud, admin, '/identity/v3/roles?name=member');
  await cloudApi(
    cloud,
    admin,
    `/identity/v3/projects/${project.project.id}/users/${user.user.id}/roles/${roles.roles[0]?.id}`,
    { method: 'PUT' },
  );
  return { user: `${name}-user`, password };
}
