import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createApi } from '../../appliance/api/index.js';
import { LocalBlobStore } from '../../appliance/blobs/index.js';
import { FakeDriver } from '../../appliance/compute/index.js';
import type { Api } from '../../appliance/api/index.js';
import { sourceOf } from '../../appliance/api/identity/logins.js';
import { ADMIN_PASSWORD, startTestApi } from './api-helpers.js';

/** A password login of `name` from `address`. */
const login = (api: Api, name: string, password: string, address = '192.0.2.1') =>
  api.app.inject({
    method: 'POST',
    url: '/identity/v3/auth/tokens',
    remoteAddress: address,
    payload: {
      auth: {
        identity: { methods: ['password'], password: { user: { name, domain: { id: 'default' }, password } } },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    },
  });

// Issue #14: a password could be guessed at full speed, for ever.
describe('failed logins are limited per user and per source address', () => {
  let t: Awaited<ReturnType<typeof startTestApi>> | undefined;
  let now = Date.now();
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('locks a user after its failures, refusing even the right password without checking it, on every API node, until the lockout ends', async () => {
    now = Date.now();
    t = await startTestApi({ securityCompliance: { lockoutFailureAttempts: 3, lockoutDuration: 600 }, now: () => now });
    // A second API node on the same database.
    const other = await createApi({
      db: t.db,
      blobs: new LocalBlobStore(`${t.dir}/images`),
      driver: new FakeDriver(),
      credentialKey: randomBytes(32),
      publicUrl: 'http://cloud.test',
      logLevel: 'silent',
      securityCompliance: { lockoutFailureAttempts: 3, lockoutDuration: 600 },
      now: () => now,
    });
    try {
      const wrong = await login(t.api, 'admin', 'guess-1');
      expect(wrong.statusCode).toBe(401);
      expect((await login(t.api, 'admin', 'guess-2', '192.0.2.2')).statusCode).toBe(401);
      expect((await login(other, 'admin', 'guess-3', '192.0.2.3')).statusCode).toBe(401);
      for (const api of [t.api, other]) {
        const locked = await login(api, 'admin', ADMIN_PASSWORD, '192.0.2.4');
        expect(locked.statusCode).toBe(401);
        expect(locked.json()).toEqual(wrong.json()); // a lock says nothing about the password
        expect(api.errors.get('API_ERR_ACCOUNT_LOCKED')).toBe(1);
      }
      now += 600_000;
      expect((await login(other, 'admin', ADMIN_PASSWORD)).statusCode).toBe(201);
    } finally {
      await other.app.close();
    }
  });

  it("starts a user's count again when it logs in", async () => {
    t = await startTestApi({ securityCompliance: { lockoutFailureAttempts: 3 } });
    for (const round of [1, 2, 3]) {
      expect((await login(t.api, 'admin', `wrong-${round}-a`)).statusCode).toBe(401);
      expect((await login(t.api, 'admin', `wrong-${round}-b`)).statusCode).toBe(401);
      expect((await login(t.api, 'admin', ADMIN_PASSWORD)).statusCode).toBe(201);
    }
  });

  it('answers 429 with Retry-After to an address over its limit, whatever names it tries, other addresses unaffected', async () => {
    now = Date.now();
    t = await startTestApi({ logins: { sourceFailures: 5, sourceWindowSeconds: 60 }, now: () => now });
    for (let i = 0; i < 5; i++) expect((await login(t.api, `nobody-${i}`, 'x', '198.51.100.7')).statusCode).toBe(401);
    now += 20_000;
    const refused = await login(t.api, 'admin', ADMIN_PASSWORD, '198.51.100.7');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('40');
    expect(refused.json().error.code).toBe(429);
    expect(t.api.errors.get('API_ERR_TOO_MANY_LOGINS')).toBe(1);
    expect((await login(t.api, 'admin', ADMIN_PASSWORD, '198.51.100.8')).statusCode).toBe(201);
    now += 40_000;
    expect((await login(t.api, 'admin', ADMIN_PASSWORD, '198.51.100.7')).statusCode).toBe(201);
  });

  it('remembers a bounded number of addresses, forgetting the oldest first', async () => {
    t = await startTestApi({ logins: { sourceFailures: 2, maxSources: 2 } });
    for (const address of ['203.0.113.1', '203.0.113.1', '203.0.113.2']) {
      expect((await login(t.api, 'nobody', 'x', address)).statusCode).toBe(401);
    }
    expect((await login(t.api, 'nobody', 'x', '203.0.113.1')).statusCode).toBe(429);
    expect((await login(t.api, 'nobody', 'x', '203.0.113.3')).statusCode).toBe(401); // the third address
    expect((await login(t.api, 'admin', ADMIN_PASSWORD, '203.0.113.1')).statusCode).toBe(201); // forgotten
  });

  it("counts an IPv6 address's /64 as one source, an IPv4 address as itself", () => {
    expect(sourceOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:0db8:0001:0002:ffff:0:0:9%eth0')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceOf('::1')).toBe('0:0:0:0::/64');
    expect(sourceOf('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceOf('192.0.2.7')).toBe('192.0.2.7');
  });

  it('limits the addresses of one IPv6 /64 together', async () => {
    t = await startTestApi({ logins: { sourceFailures: 2 } });
    expect((await login(t.api, 'nobody', 'x', '2001:db8:1:2::a')).statusCode).toBe(401);
    expect((await login(t.api, 'nobody', 'x', '2001:db8:1:2::b')).statusCode).toBe(401);
    expect((await login(t.api, 'admin', ADMIN_PASSWORD, '2001:db8:1:2::c')).statusCode).toBe(429);
    expect((await login(t.api, 'admin', ADMIN_PASSWORD, '2001:db8:1:3::a')).statusCode).toBe(201);
  });
});
