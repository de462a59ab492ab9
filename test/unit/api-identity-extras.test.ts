import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, type IdentityCaller, identityCaller, startTestApi, tenant, tokenFor } from './api-helpers.js';

// Keystone's OAuth1 consumers, stored policies and domain-specific configuration, as tempest's
// test_oauth_consumers, test_policies and test_domain_configuration use them.
describe('Keystone v3 OAuth1 consumers, policies and domain configurations', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let admin: string;
  let member: string;
  let call: IdentityCaller;

  beforeAll(async () => {
    t = await startTestApi();
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    call = identityCaller(t.api, admin);
    member = await tenant(t.api, admin, 'extras-member', 'member');
  });
  afterAll(async () => t.stop());

  describe('OS-OAUTH1 consumers', () => {
    const consumers = '/OS-OAUTH1/consumers';

    it('shows the secret once, when it makes the consumer', async () => {
      const made = await call({ method: 'POST', url: consumers, payload: { consumer: { description: 'app', x: 1 } } });
      expect(made.status).toBe(201);
      const c = made.body.consumer;
      expect(c).toMatchObject({ description: 'app', x: 1 });
      expect(c.id).toMatch(/^[0-9a-f]{32}$/);
      expect(c.secret).toMatch(/^[0-9a-f]{32}$/);
      expect(c.links.self).toBe(`http://cloud.test/identity/v3/OS-OAUTH1/consumers/${c.id}`);
      const shown = await call({ method: 'GET', url: `${consumers}/${c.id}` });
      expect(shown.body.consumer).toEqual({ id: c.id, description: 'app', x: 1, links: c.links });
      const listed = await call({ method: 'GET', url: consumers });
      expect(listed.body.consumers).toContainEqual(shown.body.consumer);
      expect(listed.body.consumers.some((x: object) => 'secret' in x)).toBe(false);
      // Without a description, or without a body at all, Keystone makes one with none.
      expect(
        (await call({ method: 'POST', url: consumers, payload: { consumer: {} } })).body.consumer.description,
      ).toBeNull();
      expect((await call({ method: 'POST', url: consumers })).status).toBe(201);
    });

    it('changes the description, never the secret; deletes', async () => {
      const id = (await call({ method: 'POST', url: consumers, payload: { consumer: { description: 'one' } } })).body
        .consumer.id as string;
      const url = `${consumers}/${id}`;
      const changed = await call({ method: 'PATCH', url, payload: { consumer: { description: 'two' } } });
      expect(changed.status).toBe(200);
      expect(changed.body.consumer).toMatchObject({ id, description: 'two' });
      expect(changed.body.consumer.secret).toBeUndefined();
      expect((await call({ method: 'GET', url })).body.consumer.description).toBe('two');
      expect((await call({ method: 'PATCH', url, payload: { consumer: { secret: 'mine' } } })).status).toBe(400);
      expect((await call({ method: 'PATCH', url, payload: { consumer: {} } })).status).toBe(400);
      expect((await call({ method: 'PATCH', url, payload: { consumer: { id: 'other' } } })).status).toBe(400);
      expect((await call({ method: 'PATCH', url, payload: { consumer: { description: 5 } } })).status).toBe(400);
      expect((await call({ method: 'DELETE', url })).status).toBe(204);
      expect((await call({ method: 'GET', url })).status).toBe(404);
      expect((await call({ method: 'PATCH', url, payload: { consumer: { description: 'x' } } })).status).toBe(404);
      expect((await call({ method: 'DELETE', url })).status).toBe(404);
    });

    it('is for the cloud admin only', async () => {
      expect((await call({ method: 'GET', url: consumers, token: member })).status).toBe(403);
      expect((await call({ method: 'POST', url: consumers, token: member, payload: { consumer: {} } })).status).toBe(
        403,
      );
      expect((await call({ method: 'GET', url: `${consumers}/anything`, token: member })).status).toBe(403);
    });
  });

  describe('policies', () => {
    it('stores blobs with their type and any other attribute, and lists them by type', async () => {
      const made = await call({
        method: 'POST',
        url: '/policies',
        payload: { policy: { blob: '{"a": "rule:b"}', type: 'application/json', owner: 'ops' } },
      });
      expect(made.status).toBe(201);
      const p = made.body.policy;
      expect(p).toMatchObject({ blob: '{"a": "rule:b"}', type: 'application/json', owner: 'ops' });
      expect(p.links.self).toBe(`http://cloud.test/identity/v3/policies/${p.id}`);
      await call({ method: 'POST', url: '/policies', payload: { policy: { blob: 'x', type: 'text/plain' } } });
      expect((await call({ method: 'GET', url: `/policies/${p.id}` })).body.policy).toEqual(p);
      const byType = await call({ method: 'GET', url: '/policies?type=application/json' });
      expect(byType.body.policies).toEqual([p]);
      expect((await call({ method: 'GET', url: '/policies' })).body.policies).toHaveLength(2);

      const changed = await call({
        method: 'PATCH',
        url: `/policies/${p.id}`,
        payload: { policy: { type: 'text/x' } },
      });
      expect(changed.body.policy).toMatchObject({ id: p.id, blob: p.blob, type: 'text/x', owner: 'ops' });
      expect((await call({ method: 'DELETE', url: `/policies/${p.id}` })).status).toBe(204);
      expect((await call({ method: 'GET', url: `/policies/${p.id}` })).status).toBe(404);
    });

    it('refuses bad bodies with 400 and others than the cloud admin with 403', async () => {
      for (const policy of [
        { blob: 'x' },
        { type: 'x' },
        { blob: 1, type: 'x' },
        { blob: 'x', type: 'y'.repeat(256) },
      ]) {
        expect((await call({ method: 'POST', url: '/policies', payload: { policy } })).status).toBe(400);
      }
      const id = (await call({ method: 'POST', url: '/policies', payload: { policy: { blob: 'b', type: 't' } } })).body
        .policy.id as string;
      expect((await call({ method: 'PATCH', url: `/policies/${id}`, payload: { policy: {} } })).status).toBe(400);
      expect((await call({ method: 'GET', url: '/policies', token: member })).status).toBe(403);
      expect((await call({ method: 'GET', url: `/policies/${id}`, token: member })).status).toBe(403);
      expect((await call({ method: 'DELETE', url: `/policies/${id}`, token: member })).status).toBe(403);
    });
  });

  describe('domain configuration', () => {
    const custom = {
      identity: { driver: 'ldap' },
      ldap: { url: 'ldap://myldap.com:389/', user_tree_dn: 'ou=Users,dc=my_new_root,dc=org' },
    };
    const newDomain = async (name: string) =>
      (await call({ method: 'POST', url: '/domains', payload: { domain: { name } } })).body.domain.id as string;

    it("answers Keystone's defaults for the identity and ldap groups, and 403 for others", async () => {
      const all = await call({ method: 'GET', url: '/domains/config/default' });
      expect(all.status).toBe(200);
      expect(Object.keys(all.body.config)).toEqual(['identity', 'ldap']);
      expect(all.body.config.identity).toEqual({ driver: 'sql', list_limit: null });
      expect(all.body.config.ldap).toMatchObject({ url: 'ldap://localhost', page_size: 0, use_pool: true });
      expect(all.body.config.ldap).not.toHaveProperty('password');
      const ldap = await call({ method: 'GET', url: '/domains/config/ldap/default' });
      expect(ldap.body.config).toEqual({ ldap: all.body.config.ldap });
      const option = await call({ method: 'GET', url: '/domains/config/ldap/user_attribute_ignore/default' });
      expect(option.body.config).toEqual({ user_attribute_ignore: ['default_project_id'] });
      for (const url of [
        '/domains/config/nova/default',
        '/domains/config/ldap/nope/default',
        '/domains/config/ldap/password/default',
      ]) {
        const r = await call({ method: 'GET', url });
        expect(r.status, url).toBe(403);
        expect(r.body.error.message).toMatch(/^Invalid domain specific configuration/);
      }
      expect((await call({ method: 'GET', url: '/domains/config/default', token: member })).status).toBe(403);
    });

    it('creates, shows by group and option, updates and deletes a configuration', async () => {
      const domain = await newDomain('cfg-one');
      const url = `/domains/${domain}/config`;
      expect((await call({ method: 'GET', url })).status).toBe(404);
      const made = await call({ method: 'PUT', url, payload: { config: custom } });
      expect(made.status).toBe(201);
      expect(made.body.config).toEqual(custom);
      expect((await call({ method: 'GET', url })).body.config).toEqual(custom);
      expect((await call({ method: 'GET', url: `${url}/ldap` })).body.config).toEqual({ ldap: custom.ldap });
      expect((await call({ method: 'GET', url: `${url}/ldap/url` })).body.config).toEqual({ url: custom.ldap.url });
      expect((await call({ method: 'GET', url: `${url}/ldap/page_size` })).status).toBe(404);
      expect((await call({ method: 'GET', url: `${url}/nova` })).status).toBe(403);

      // A PUT again replaces the whole configuration: 200.
      const replaced = await call({ method: 'PUT', url, payload: { config: { identity: { driver: 'sql' } } } });
      expect(replaced.status).toBe(200);
      expect(replaced.body.config).toEqual({ identity: { driver: 'sql' } });
      await call({ method: 'PUT', url, payload: { config: custom } });

      const merged = await call({ method: 'PATCH', url, payload: { config: { ldap: { url: 'ldap://other' } } } });
      expect(merged.body.config).toEqual({ ...custom, ldap: { ...custom.ldap, url: 'ldap://other' } });
      const group = await call({
        method: 'PATCH',
        url: `${url}/identity`,
        payload: { config: { identity: { driver: 'x', list_limit: 42 } } },
      });
      expect(group.status).toBe(200);
      expect(group.body.config.identity).toEqual({ driver: 'x', list_limit: 42 });
      const option = await call({
        method: 'PATCH',
        url: `${url}/identity/driver`,
        payload: { config: { driver: 'y' } },
      });
      expect(option.body.config.identity.driver).toBe('y');

      expect((await call({ method: 'DELETE', url: `${url}/identity/driver` })).status).toBe(204);
      expect((await call({ method: 'GET', url: `${url}/identity/driver` })).status).toBe(404);
      expect((await call({ method: 'DELETE', url: `${url}/identity/driver` })).status).toBe(404);
      expect((await call({ method: 'DELETE', url: `${url}/identity` })).status).toBe(204);
      expect((await call({ method: 'GET', url: `${url}/identity` })).status).toBe(404);
      expect((await call({ method: 'DELETE', url })).status).toBe(204);
      expect((await call({ method: 'GET', url })).status).toBe(404);
    });

    it('refuses what Keystone refuses: unknown groups and options 403, updates of what is not set 404', async () => {
      const domain = await newDomain('cfg-two');
      const url = `/domains/${domain}/config`;
      for (const config of [{}, { nova: { x: 1 } }, { ldap: { nope: 1 } }, { ldap: {} }, { ldap: 'url' }]) {
        expect((await call({ method: 'PUT', url, payload: { config } })).status, JSON.stringify(config)).toBe(403);
      }
      await call({ method: 'PUT', url, payload: { config: { identity: { driver: 'ldap' } } } });
      const patch = (path: string, config: object) =>
        call({ method: 'PATCH', url: `${url}${path}`, payload: { config } });
      expect((await patch('/ldap', { ldap: { url: 'ldap://x' } })).status).toBe(404); // no ldap group yet
      expect((await patch('/identity/list_limit', { list_limit: 5 })).status).toBe(404);
      expect((await patch('/identity', { identity: { driver: 'a' }, ldap: { url: 'b' } })).status).toBe(403);
      expect((await patch('/identity', { ldap: { url: 'b' } })).status).toBe(403);
      expect((await patch('/identity/driver', { driver: 'a', list_limit: 1 })).status).toBe(403);
      expect((await patch('/identity/driver', { list_limit: 1 })).status).toBe(403);
      expect((await call({ method: 'DELETE', url: `${url}/ldap` })).status).toBe(404);
      expect((await call({ method: 'GET', url: '/domains/no-such-domain/config' })).status).toBe(404);
      expect(
        (await call({ method: 'PUT', url: '/domains/no-such-domain/config', payload: { config: custom } })).status,
      ).toBe(404);
      expect((await call({ method: 'GET', url, token: member })).status).toBe(403);
      expect((await call({ method: 'PUT', url, token: member, payload: { config: custom } })).status).toBe(403);
      expect((await call({ method: 'DELETE', url, token: member })).status).toBe(403);
    });

    it('keeps ldap.password but never shows it', async () => {
      const domain = await newDomain('cfg-secret');
      const url = `/domains/${domain}/config`;
      const made = await call({
        method: 'PUT',
        url,
        payload: { config: { ldap: { url: 'ldap://x', password: 's3cret' } } },
      });
      expect(made.body.config).toEqual({ ldap: { url: 'ldap://x' } });
      expect(JSON.stringify((await call({ method: 'GET', url })).body)).not.toContain('s3cret');
      expect((await call({ method: 'GET', url: `${url}/ldap/password` })).status).toBe(404);
      expect(await t.db.domainConfigs.list(domain, { group: 'ldap', option: 'password' })).toEqual([
        { group: 'ldap', option: 'password', value: 's3cret', sensitive: true },
      ]);
      // It is set, so it can be updated and deleted.
      expect(
        (await call({ method: 'PATCH', url: `${url}/ldap/password`, payload: { config: { password: 'n' } } })).status,
      ).toBe(200);
      expect((await call({ method: 'DELETE', url: `${url}/ldap/password` })).status).toBe(204);
      expect(await t.db.domainConfigs.list(domain, { group: 'ldap', option: 'password' })).toEqual([]);
    });

    it("lets anyone read the default domain's security_compliance group", async () => {
      const sc = await call({ method: 'GET', url: '/domains/default/config/security_compliance', token: member });
      expect(sc.status).toBe(200);
      expect(sc.body.config).toEqual({
        security_compliance: { password_regex: null, password_regex_description: null },
      });
      const one = await call({
        method: 'GET',
        url: '/domains/default/config/security_compliance/password_regex',
        token: member,
      });
      expect(one.body.config).toEqual({ password_regex: null });
      const other = await newDomain('cfg-sc');
      expect((await call({ method: 'GET', url: `/domains/${other}/config/security_compliance` })).status).toBe(403);
      expect(
        (await call({ method: 'GET', url: '/domains/default/config/security_compliance/lockout_duration' })).status,
      ).toBe(403);
    });

    it('goes with its domain', async () => {
      const domain = await newDomain('cfg-doomed');
      await call({ method: 'PUT', url: `/domains/${domain}/config`, payload: { config: custom } });
      expect(await t.db.domainConfigs.list(domain, {})).toHaveLength(3);
      expect(
        (await call({ method: 'PATCH', url: `/domains/${domain}`, payload: { domain: { enabled: false } } })).status,
      ).toBe(200);
      expect((await call({ method: 'DELETE', url: `/domains/${domain}` })).status).toBe(204);
      expect(await t.db.domainConfigs.list(domain, {})).toEqual([]);
    });
  });
});
