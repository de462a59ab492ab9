import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestApi, tenant, tokenFor } from './api-helpers.js';

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// Keystone's domains, groups, grants on domains and the system, inheritance, implied roles and
// scoped tokens, as the identity admin API and its tokens show them.
describe('Keystone v3 administration', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  const call = async (token: string | null, method: string, url: string, payload?: unknown) => {
    const r = await t.api.app.inject({
      method: method as 'GET',
      url: `/identity/v3${url}`,
      headers: token ? { 'x-auth-token': token } : {},
      ...(payload === undefined ? {} : { payload: payload as Body }),
    });
    return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Body, token: r.headers['x-subject-token'] };
  };
  /** A password token of `user` (id) with `scope` (Keystone's scope object; none for unscoped). */
  const login = async (userId: string, password: string, scope?: Body) =>
    call(null, 'POST', '/auth/tokens', {
      auth: { identity: { methods: ['password'], password: { user: { id: userId, password } } }, scope },
    });
  const roleId = async (name: string) => (await call(admin, 'GET', `/roles?name=${name}`)).body.roles[0].id as string;
  const newUser = async (name: string, domainId = 'default') =>
    (await call(admin, 'POST', '/users', { user: { name, password: 'pw-12345', domain_id: domainId } })).body.user
      .id as string;
  const newProject = async (name: string, more: Body = {}) =>
    (await call(admin, 'POST', '/projects', { project: { name, ...more } })).body.project.id as string;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
  });
  afterAll(async () => t.stop());

  it('creates, changes and deletes domains as Keystone, the deletion taking what is in them', async () => {
    const created = await call(admin, 'POST', '/domains', { domain: { name: 'acme', description: 'd' } });
    expect(created.status).toBe(201);
    const id = created.body.domain.id as string;
    expect((await call(admin, 'POST', '/domains', { domain: { name: 'acme' } })).status).toBe(409);
    expect((await call(admin, 'POST', '/domains', { domain: { name: 'x'.repeat(65) } })).status).toBe(400);
    expect((await call(admin, 'POST', '/domains', { domain: { name: '  ' } })).status).toBe(400);
    const user = await newUser('acme-user', id);
    const group = (await call(admin, 'POST', '/groups', { group: { name: 'g', domain_id: id } })).body.group.id;
    const project = await newProject('acme-p', { domain_id: id });
    expect((await call(admin, 'GET', `/projects/${project}`)).body.project.parent_id).toBe(id);
    expect((await call(admin, 'DELETE', `/domains/${id}`)).status).toBe(403);
    expect((await call(admin, 'PATCH', `/domains/${id}`, { domain: { enabled: false } })).body.domain.enabled).toBe(
      false,
    );
    expect((await call(admin, 'DELETE', `/domains/${id}`)).status).toBe(204);
    for (const gone of [`/domains/${id}`, `/users/${user}`, `/groups/${group}`, `/projects/${project}`]) {
      expect((await call(admin, 'GET', gone)).status, gone).toBe(404);
    }
    expect((await call(admin, 'PATCH', '/domains/default', { domain: { enabled: false } })).status).toBe(403);
  });

  it('lets a tenant read its own domain only, and list no domains nor projects', async () => {
    const member = await tenant(t.api, admin, 'reader-of-domains', 'member');
    expect((await call(member, 'GET', '/domains/default')).status).toBe(200);
    expect((await call(member, 'GET', '/domains')).status).toBe(403);
    expect((await call(member, 'GET', '/projects')).status).toBe(403);
    const other = (await call(admin, 'POST', '/domains', { domain: { name: 'not-yours' } })).body.domain.id;
    expect((await call(member, 'GET', `/domains/${other}`)).status).toBe(403);
  });

  it('makes a project acting as a domain a domain', async () => {
    const made = await call(admin, 'POST', '/projects', { project: { name: 'as-domain', is_domain: true } });
    expect(made.status).toBe(201);
    expect(made.body.project).toMatchObject({ is_domain: true, domain_id: null, parent_id: null });
    const id = made.body.project.id;
    expect((await call(admin, 'GET', '/projects?is_domain=True')).body.projects.map((p: Body) => p.id)).toContain(id);
    expect((await call(admin, 'GET', `/domains/${id}`)).body.domain.name).toBe('as-domain');
    expect((await call(admin, 'PATCH', `/projects/${id}`, { project: { enabled: false } })).status).toBe(200);
    expect((await call(admin, 'DELETE', `/projects/${id}`)).status).toBe(204);
    expect((await call(admin, 'GET', `/domains/${id}`)).status).toBe(404);
  });

  it('nests projects, and refuses to delete one with projects under it', async () => {
    const root = await newProject('root');
    const leaf = await newProject('leaf', { parent_id: root });
    expect((await call(admin, 'GET', `/projects/${leaf}`)).body.project.parent_id).toBe(root);
    expect((await call(admin, 'DELETE', `/projects/${root}`)).status).toBe(403);
    expect((await call(admin, 'PATCH', `/projects/${leaf}`, { project: { parent_id: 'default' } })).status).toBe(403);
    expect((await call(admin, 'DELETE', `/projects/${leaf}`)).status).toBe(204);
    expect((await call(admin, 'DELETE', `/projects/${root}`)).status).toBe(204);
  });

  it("reads and changes a project's tags one by one, and filters projects by them", async () => {
    const id = await newProject('tagged', { tags: ['a'] });
    const tags = `/projects/${id}/tags`;
    expect((await call(admin, 'PUT', `${tags}/b`)).status).toBe(201);
    expect((await call(admin, 'GET', `${tags}/b`)).status).toBe(204);
    expect((await call(admin, 'GET', tags)).body.tags).toEqual(['a', 'b']);
    expect((await call(admin, 'PUT', `${tags}/bad,tag`)).status).toBe(400);
    expect((await call(admin, 'GET', '/projects?tags=a,b')).body.projects.map((p: Body) => p.id)).toEqual([id]);
    expect((await call(admin, 'GET', '/projects?not-tags-any=b')).body.projects.map((p: Body) => p.id)).not.toContain(
      id,
    );
    expect((await call(admin, 'PUT', tags, { tags: ['c'] })).body.tags).toEqual(['c']);
    expect((await call(admin, 'DELETE', `${tags}/a`)).status).toBe(404);
    const member = await tenant(t.api, admin, 'tag-reader', 'member');
    const own = (await call(admin, 'GET', '/projects?name=tag-reader')).body.projects[0].id;
    expect((await call(member, 'GET', `/projects/${own}/tags`)).status).toBe(200);
    expect((await call(member, 'PUT', `/projects/${own}/tags/x`)).status).toBe(403);
    expect((await call(member, 'GET', tags)).status).toBe(403);
    expect((await call(admin, 'DELETE', tags)).status).toBe(204);
    expect((await call(admin, 'GET', tags)).body.tags).toEqual([]);
  });

  it('gives a group member the group grants, and takes them back when it leaves', async () => {
    const user = await newUser('grouped');
    const project = await newProject('group-project');
    const group = (await call(admin, 'POST', '/groups', { group: { name: 'team' } })).body.group.id;
    const member = await roleId('member');
    expect((await call(admin, 'PUT', `/projects/${project}/groups/${group}/roles/${member}`)).status).toBe(204);
    expect((await login(user, 'pw-12345', { project: { id: project } })).status).toBe(401);
    expect((await call(admin, 'PUT', `/groups/${group}/users/${user}`)).status).toBe(204);
    expect((await call(admin, 'HEAD', `/groups/${group}/users/${user}`)).status).toBe(204);
    const scoped = await login(user, 'pw-12345', { project: { id: project } });
    expect(scoped.status).toBe(201);
    expect(scoped.body.token.roles.map((r: Body) => r.name).sort()).toEqual(['member', 'reader']);
    expect((await call(admin, 'GET', `/users/${user}/groups`)).body.groups[0].id).toBe(group);
    expect((await call(admin, 'GET', `/users/${user}/projects`)).body.projects.map((p: Body) => p.id)).toEqual([
      project,
    ]);
    expect((await call(admin, 'DELETE', `/groups/${group}/users/${user}`)).status).toBe(204);
    expect((await call(null, 'GET', '/auth/projects')).status).toBe(401);
    expect((await login(user, 'pw-12345', { project: { id: project } })).status).toBe(401);
  });

  it('scopes tokens to a domain and to the system; admin on the Default domain or the system is the cloud admin', async () => {
    const user = await newUser('domain-admin');
    const adminRole = await roleId('admin');
    const acme = (await call(admin, 'POST', '/domains', { domain: { name: 'acme-2' } })).body.domain.id;
    expect((await call(admin, 'PUT', `/domains/${acme}/users/${user}/roles/${adminRole}`)).status).toBe(204);
    const ofAcme = await login(user, 'pw-12345', { domain: { id: acme } });
    expect(ofAcme.body.token.domain).toEqual({ id: acme, name: 'acme-2' });
    expect((await call(ofAcme.token as string, 'GET', '/users')).status).toBe(403);
    expect((await login(user, 'pw-12345', { domain: { id: 'default' } })).status).toBe(401);
    expect((await call(admin, 'PUT', `/domains/default/users/${user}/roles/${adminRole}`)).status).toBe(204);
    const ofDefault = await login(user, 'pw-12345', { domain: { name: 'Default' } });
    expect((await call(ofDefault.token as string, 'GET', '/users')).status).toBe(200);
    const unscoped = await login(user, 'pw-12345');
    const domains = await call(unscoped.token as string, 'GET', '/auth/domains');
    expect(domains.body.domains.map((d: Body) => d.id).sort()).toEqual([acme, 'default'].sort());

    expect((await login(user, 'pw-12345', { system: { all: true } })).status).toBe(401);
    const bootstrapAdmin = (await call(admin, 'GET', '/users?name=admin')).body.users[0].id;
    const system = await login(bootstrapAdmin, ADMIN_PASSWORD, { system: { all: true } });
    expect(system.body.token.system).toEqual({ all: true });
    expect((await call(system.token as string, 'GET', '/domains')).status).toBe(200);
    expect((await call(system.token as string, 'GET', '/auth/system')).body.system).toEqual([{ all: true }]);
  });

  it('applies an inherited grant to the projects under its target, not to the target', async () => {
    const user = await newUser('heir');
    const parent = await newProject('estate');
    const child = await newProject('estate-child', { parent_id: parent });
    const member = await roleId('member');
    const grant = `/OS-INHERIT/projects/${parent}/users/${user}/roles/${member}/inherited_to_projects`;
    expect((await call(admin, 'PUT', grant)).status).toBe(204);
    expect((await call(admin, 'HEAD', grant)).status).toBe(204);
    expect((await login(user, 'pw-12345', { project: { id: child } })).status).toBe(201);
    expect((await login(user, 'pw-12345', { project: { id: parent } })).status).toBe(401);
    const effective = await call(admin, 'GET', `/role_assignments?effective&user.id=${user}`);
    expect(effective.body.role_assignments.map((a: Body) => a.scope.project.id)).toEqual([child, child]);
    const listed = await call(admin, 'GET', `/role_assignments?user.id=${user}&scope.OS-INHERIT:inherited_to=projects`);
    expect(listed.body.role_assignments[0].scope).toEqual({
      project: { id: parent },
      'OS-INHERIT:inherited_to': 'projects',
    });
    expect((await call(admin, 'DELETE', grant)).status).toBe(204);
    expect((await login(user, 'pw-12345', { project: { id: child } })).status).toBe(401);
  });

  it('adds implied roles to tokens, but never a domain role, nor an implied admin', async () => {
    const user = await newUser('implied');
    const project = await newProject('implied-project');
    const prior = (await call(admin, 'POST', '/roles', { role: { name: 'prior' } })).body.role.id;
    const next = (await call(admin, 'POST', '/roles', { role: { name: 'next' } })).body.role.id;
    const ofDomain = (await call(admin, 'POST', '/roles', { role: { name: 'local', domain_id: 'default' } })).body.role
      .id;
    expect((await call(admin, 'GET', '/roles?domain_id=default')).body.roles.map((r: Body) => r.id)).toEqual([
      ofDomain,
    ]);
    expect((await call(admin, 'GET', '/roles')).body.roles.map((r: Body) => r.id)).not.toContain(ofDomain);
    expect((await call(admin, 'PUT', `/roles/${prior}/implies/${next}`)).status).toBe(201);
    expect((await call(admin, 'HEAD', `/roles/${prior}/implies/${next}`)).status).toBe(204);
    expect((await call(admin, 'PUT', `/roles/${prior}/implies/${await roleId('admin')}`)).status).toBe(403);
    expect((await call(admin, 'PUT', `/roles/${prior}/implies/${ofDomain}`)).status).toBe(403);
    expect((await call(admin, 'PUT', `/roles/${ofDomain}/implies/${prior}`)).status).toBe(201);
    expect((await call(admin, 'PUT', `/projects/${project}/users/${user}/roles/${ofDomain}`)).status).toBe(204);
    const token = await login(user, 'pw-12345', { project: { id: project } });
    expect(token.body.token.roles.map((r: Body) => r.name).sort()).toEqual(['next', 'prior']);
    const effective = await call(admin, 'GET', `/role_assignments?effective&user.id=${user}&include_names`);
    expect(effective.body.role_assignments.map((a: Body) => a.role.name).sort()).toEqual(['next', 'prior']);
    expect((await call(admin, 'GET', '/role_inferences')).body.role_inferences.length).toBeGreaterThanOrEqual(3);
    expect((await call(admin, 'DELETE', `/roles/${await roleId('member')}`)).status).toBe(403);
    const stranger = (await call(admin, 'POST', '/domains', { domain: { name: 'elsewhere' } })).body.domain.id;
    const theirs = (await call(admin, 'POST', '/roles', { role: { name: 'theirs', domain_id: stranger } })).body.role
      .id;
    const member = await tenant(t.api, admin, 'role-reader', 'member');
    expect((await call(member, 'GET', `/roles/${ofDomain}`)).status).toBe(200);
    expect((await call(member, 'GET', `/roles/${theirs}`)).status).toBe(403);
    expect((await call(member, 'GET', `/roles?domain_id=${stranger}`)).status).toBe(403);
  });

  it('rescopes a token until the first one expires; its revocation leaves the first valid', async () => {
    const user = await newUser('rescoper');
    const project = await newProject('rescoped');
    await call(admin, 'PUT', `/projects/${project}/users/${user}/roles/${await roleId('member')}`);
    const unscoped = await login(user, 'pw-12345');
    expect(unscoped.body.token.roles).toBeUndefined();
    const rescope = () =>
      call(null, 'POST', '/auth/tokens', {
        auth: { identity: { methods: ['token'], token: { id: unscoped.token } }, scope: { project: { id: project } } },
      });
    const scoped = await rescope();
    expect(scoped.body.token.expires_at).toBe(unscoped.body.token.expires_at);
    expect(scoped.body.token.methods.sort()).toEqual(['password', 'token']);
    const h = { 'x-subject-token': scoped.token as string };
    const revoked = await t.api.app.inject({
      method: 'DELETE',
      url: '/identity/v3/auth/tokens',
      headers: { 'x-auth-token': admin, ...h },
    });
    expect(revoked.statusCode).toBe(204);
    expect((await rescope()).status).toBe(201);
  });

  it('changes a password for whoever knows the old one, counting wrong ones as failed logins', async () => {
    const user = await newUser('changer');
    const change = (original: string) =>
      call(null, 'POST', `/users/${user}/password`, { user: { original_password: original, password: 'pw-67890' } });
    expect((await change('wrong')).status).toBe(401);
    expect((await change('pw-12345')).status).toBe(204);
    expect((await login(user, 'pw-12345')).status).toBe(401);
    expect((await login(user, 'pw-67890')).status).toBe(201);
  });

  it('keeps the attributes a client adds to a user', async () => {
    const made = await call(admin, 'POST', '/users', { user: { name: 'extra', project_id: 'p1', team: 'blue' } });
    expect(made.body.user).toMatchObject({ project_id: 'p1', team: 'blue' });
    const id = made.body.user.id;
    await call(admin, 'PATCH', `/users/${id}`, { user: { team: 'red' } });
    expect((await call(admin, 'GET', `/users/${id}`)).body.user).toMatchObject({ project_id: 'p1', team: 'red' });
    expect((await call(admin, 'POST', '/users', { user: { name: 'lost', domain_id: 'nowhere' } })).status).toBe(404);
  });
});
