import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { SecurityCompliance } from '../../appliance/api/index.js';
import { hashPassword } from '../../appliance/api/identity/passwords.js';
import type { CliIo } from '../../appliance/cli/io.js';
import { runCli } from '../../appliance/cli/program.js';
import { openSqliteDb } from '../../appliance/db/index.js';
import { CLOUD_MIGRATIONS } from '../../appliance/db/sqlite.js';
import { BED_SECURITY_COMPLIANCE_ARGS } from '../bed/security-compliance.js';
import { ADMIN_PASSWORD, startTestApi, tokenFor } from './api-helpers.js';

type Body = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DAY = 86_400_000;

// Keystone's [security_compliance]: password history, minimum age, expiry, change upon first
// use, the password regex and the lockout, with the user options that exempt a user.
// Each password is an scrypt hash (~0.1 s, more on a busy machine): a test makes a dozen.
describe("Keystone's security compliance", { timeout: 30_000 }, () => {
  let t: Awaited<ReturnType<typeof startTestApi>> | undefined;
  let now = 0;
  let admin = '';
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  const start = async (settings: Partial<SecurityCompliance>) => {
    // A whole second, so that a step of 1 s always crosses into the next.
    now = Math.floor(Date.now() / 1000) * 1000;
    t = await startTestApi({ securityCompliance: settings, now: () => now });
    admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
  };
  const api = () => {
    if (!t) throw new Error('no API started');
    return t.api;
  };
  const call = async (token: string | null, method: string, url: string, payload?: unknown) => {
    const r = await api().app.inject({
      method: method as 'GET',
      url: `/identity/v3${url}`,
      headers: token ? { 'x-auth-token': token } : {},
      ...(payload === undefined ? {} : { payload: payload as Body }),
    });
    return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Body, token: r.headers['x-subject-token'] };
  };
  const login = (id: string, password: string) =>
    call(null, 'POST', '/auth/tokens', {
      auth: { identity: { methods: ['password'], password: { user: { id, password } } } },
    });
  const change = (id: string, original: string, password: string) =>
    call(null, 'POST', `/users/${id}/password`, { user: { original_password: original, password } });
  const reset = (id: string, password: string) => call(admin, 'PATCH', `/users/${id}`, { user: { password } });
  const newUser = async (name: string, more: Body = {}) => {
    const made = await call(admin, 'POST', '/users', { user: { name, password: 'first-pw', ...more } });
    expect(made.status).toBe(201);
    return made.body.user as Body;
  };
  /**
   * The fake clock moves on (a second by default: a token of the second a password changed is
   * revoked); past the admin's token's hour, the admin logs in again.
   */
  const later = async (ms = 1000) => {
    now += ms;
    if (ms >= 3_600_000) admin = await tokenFor(api(), 'admin', ADMIN_PASSWORD, 'admin');
  };

  it('refuses a self-service change to one of the last N passwords, the current one included, and accepts an older one', async () => {
    await start({ uniqueLastPasswordCount: 2 });
    const { id } = await newUser('history');
    const refused = await change(id, 'first-pw', 'first-pw');
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toBe(
      'The new password cannot be identical to a previous password. The total number which includes the new password must be unique is 2.',
    );
    expect((await change(id, 'first-pw', 'second-pw')).status).toBe(204);
    expect((await change(id, 'second-pw', 'first-pw')).status).toBe(400);
    expect(api().errors.get('API_ERR_PASSWORD_HISTORY')).toBe(2);
    expect((await change(id, 'second-pw', 'third-pw')).status).toBe(204);
    // first-pw is now the third newest: out of the history.
    expect((await change(id, 'third-pw', 'first-pw')).status).toBe(204);
    await later();
    expect((await login(id, 'first-pw')).status).toBe(201);
  });

  it("does not check an admin's reset against the history, but records it there", async () => {
    await start({ uniqueLastPasswordCount: 2 });
    const { id } = await newUser('reset');
    expect((await reset(id, 'first-pw')).status).toBe(200);
    expect((await reset(id, 'reset-pw')).status).toBe(200);
    expect((await change(id, 'reset-pw', 'first-pw')).status).toBe(400);
    await later();
    expect((await login(id, 'reset-pw')).status).toBe(201);
  });

  it('refuses a second self-service change before the minimum age, but not after it nor an admin reset', async () => {
    await start({ minimumPasswordAge: 2 });
    const { id } = await newUser('aged');
    // The admin set it: its user may change it at once.
    expect((await change(id, 'first-pw', 'own-pw')).status).toBe(204);
    await later(DAY);
    const early = await change(id, 'own-pw', 'next-pw');
    expect(early.status).toBe(400);
    expect(early.body.error.message).toBe(
      'You cannot change your password at this time due to the minimum password age. Once you change your password, it must be used for 2 day(s) before it can be changed. Please try again in 1 day(s) or contact your administrator to reset your password.',
    );
    await later(DAY);
    expect((await change(id, 'own-pw', 'next-pw')).status).toBe(204);
    expect((await reset(id, 'admin-pw')).status).toBe(200);
  });

  it("shows when a password expires, refuses it after with Keystone's message, and lets its user change it then", async () => {
    await start({ passwordExpiresDays: 10 });
    const user = await newUser('expiring');
    const expiresAt = new Date(now + 10 * DAY).toISOString().replace('Z', '000');
    expect(user.password_expires_at).toBe(expiresAt);
    expect((await call(admin, 'GET', `/users/${user.id}`)).body.user.password_expires_at).toBe(expiresAt);
    const token = await login(user.id, 'first-pw');
    expect(token.status).toBe(201);
    expect(token.body.token.user.password_expires_at).toBe(expiresAt);
    await later(10 * DAY);
    const expired = await login(user.id, 'first-pw');
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toBe(`The password is expired and needs to be changed for user: ${user.id}.`);
    expect(api().errors.get('API_ERR_PASSWORD_EXPIRED')).toBe(1);
    expect((await change(user.id, 'first-pw', 'renewed-pw')).status).toBe(204);
    await later();
    expect((await login(user.id, 'renewed-pw')).status).toBe(201);
    // ignore_password_expiry: a password that never expires for this user.
    const exempt = await newUser('exempt', { options: { ignore_password_expiry: true } });
    expect(exempt.password_expires_at).toBeNull();
    expect(exempt.options).toEqual({ ignore_password_expiry: true });
    await later(100 * DAY);
    expect((await login(exempt.id, 'first-pw')).status).toBe(201);
  });

  it('lists users by when their passwords expire, as Keystone filters them; a malformed timestamp is a 400', async () => {
    await start({ passwordExpiresDays: 10 });
    const first = await newUser('first');
    await newUser('never', { options: { ignore_password_expiry: true } });
    await later(DAY);
    const second = await newUser('second');
    const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    const listed = async (...filters: string[]) => {
      const query = filters.map((f) => `password_expires_at=${encodeURIComponent(f)}`).join('&');
      const r = await call(admin, 'GET', `/users?${query}`);
      expect(r.status).toBe(200);
      return (r.body.users as Body[]).map((u) => u.name).sort();
    };
    const firstExpires = now - DAY + 10 * DAY;
    expect(await listed(`lt:${at(firstExpires + DAY / 2)}`)).toEqual(['first']);
    expect(await listed(`gt:${at(firstExpires + DAY / 2)}`)).toEqual(['second']);
    expect(await listed(at(firstExpires))).toEqual(['first']);
    expect(await listed(`neq:${at(firstExpires)}`)).toEqual(['second']);
    expect(await listed(`gte:${at(firstExpires)}`, `lte:${at(firstExpires + DAY)}`)).toEqual(['first', 'second']);
    expect(await listed(`gt:${at(firstExpires)}`, `lt:${at(firstExpires + DAY)}`)).toEqual([]);
    expect((await listed()).length).toBeGreaterThanOrEqual(3); // no filter: every user, 'never' too
    expect(first.password_expires_at).not.toBeNull();
    expect(second.password_expires_at).not.toBeNull();
    for (const bad of ['2016-13', 'lt:06:11:2016T15:32:17', `xx:${at(firstExpires)}`]) {
      const r = await call(admin, 'GET', `/users?password_expires_at=${encodeURIComponent(bad)}`);
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/^Timestamp not in expected format/);
    }
  });

  it("expires an admin's password at once with change_password_upon_first_use, unless the user ignores it", async () => {
    await start({ changePasswordUponFirstUse: true });
    const user = await newUser('first-use');
    expect(user.password_expires_at).toBe(new Date(now).toISOString().replace('Z', '000'));
    expect((await login(user.id, 'first-pw')).status).toBe(401);
    expect((await change(user.id, 'first-pw', 'mine-pw')).status).toBe(204);
    await later();
    expect((await login(user.id, 'mine-pw')).status).toBe(201);
    expect((await call(admin, 'GET', `/users/${user.id}`)).body.user.password_expires_at).toBeNull();
    // An admin's reset: changed upon first use again.
    expect((await reset(user.id, 'reset-pw')).status).toBe(200);
    await later();
    expect((await login(user.id, 'reset-pw')).status).toBe(401);
    const service = await newUser('service', { options: { ignore_change_password_upon_first_use: true } });
    expect(service.password_expires_at).toBeNull();
    expect((await login(service.id, 'first-pw')).status).toBe(201);
  });

  it('refuses a password the regex does not match on create, reset and change, with its description; the domain config tells it', async () => {
    await start({ passwordRegex: '(?=.*\\d).{8,}$', passwordRegexDescription: 'at least 8 characters, one a digit' });
    const message = 'The password does not match the requirements: at least 8 characters, one a digit.';
    const created = await call(admin, 'POST', '/users', { user: { name: 'weak', password: 'short1' } });
    expect([created.status, created.body.error.message]).toEqual([400, message]);
    const { id } = await newUser('strong', { password: 'long-enough-1' });
    const patched = await reset(id, 'no-digits-here');
    expect([patched.status, patched.body.error.message]).toEqual([400, message]);
    const changed = await change(id, 'long-enough-1', 'abc');
    expect([changed.status, changed.body.error.message]).toEqual([400, message]);
    expect((await change(id, 'long-enough-1', 'longer-still-2')).status).toBe(204);
    const config = await call(admin, 'GET', '/domains/default/config/security_compliance');
    expect(config.body.config).toEqual({
      security_compliance: {
        password_regex: '(?=.*\\d).{8,}$',
        password_regex_description: 'at least 8 characters, one a digit',
      },
    });
  });

  it('locks a user after N failures for the duration, the right password refused meanwhile; enabling it unlocks it', async () => {
    await start({ lockoutFailureAttempts: 2, lockoutDuration: 5 });
    const { id } = await newUser('lockable');
    expect((await login(id, 'wrong-1')).status).toBe(401);
    expect((await login(id, 'first-pw')).status).toBe(201); // a success starts the count again
    expect((await login(id, 'wrong-2')).status).toBe(401);
    expect((await login(id, 'wrong-3')).status).toBe(401);
    expect((await login(id, 'first-pw')).status).toBe(401);
    expect((await change(id, 'first-pw', 'other-pw')).status).toBe(401);
    await later(4000);
    expect((await login(id, 'first-pw')).status).toBe(401);
    await later(1000);
    expect((await login(id, 'first-pw')).status).toBe(201);
    // Locked again, then enabled by the admin: unlocked at once (Keystone's way to unlock).
    await login(id, 'wrong-4');
    await login(id, 'wrong-5');
    expect((await login(id, 'first-pw')).status).toBe(401);
    expect((await call(admin, 'PATCH', `/users/${id}`, { user: { enabled: true } })).status).toBe(200);
    expect((await login(id, 'first-pw')).status).toBe(201);
  });

  it('never locks a user with ignore_lockout_failure_attempts; lock_password stops its own changes, not the admin', async () => {
    await start({ lockoutFailureAttempts: 2, lockoutDuration: 5 });
    const { id } = await newUser('robot', { options: { ignore_lockout_failure_attempts: true, lock_password: true } });
    for (const guess of ['a-1', 'a-2', 'a-3']) expect((await login(id, guess)).status).toBe(401);
    expect((await login(id, 'first-pw')).status).toBe(201);
    const locked = await change(id, 'first-pw', 'robot-pw');
    expect(locked.status).toBe(400);
    expect(locked.body.error.message).toMatch(/^You cannot change your password at this time due to password policy/);
    expect((await reset(id, 'robot-pw')).status).toBe(200);
    // An option set to null goes; the others stay. Unknown options are refused.
    const patched = await call(admin, 'PATCH', `/users/${id}`, { user: { options: { lock_password: null } } });
    expect(patched.body.user.options).toEqual({ ignore_lockout_failure_attempts: true });
    expect((await change(id, 'robot-pw', 'own-robot-pw')).status).toBe(204);
    const unknown = await call(admin, 'PATCH', `/users/${id}`, {
      user: { options: { multi_factor_auth_enabled: true } },
    });
    expect(unknown.status).toBe(400);
    expect((await call(admin, 'PATCH', `/users/${id}`, { user: { options: { lock_password: 'yes' } } })).status).toBe(
      400,
    );
  });

  it("ends the user's tokens issued until its password changed, and makes a token asked for in that second valid", async () => {
    await start({});
    const { id } = await newUser('revoked');
    const old = await login(id, 'first-pw');
    expect((await call(old.token as string, 'GET', `/users/${id}`)).status).toBe(200);
    await later();
    expect((await change(id, 'first-pw', 'second-pw')).status).toBe(204);
    expect((await call(old.token as string, 'GET', `/users/${id}`)).status).toBe(401);
    // A token made from it: Keystone's 404, as for any token it no longer finds.
    const rescoped = await call(null, 'POST', '/auth/tokens', {
      auth: { identity: { methods: ['token'], token: { id: old.token } } },
    });
    expect([rescoped.status, rescoped.body.error.message]).toEqual([404, 'Failed to validate token']);
    await later(); // the token of the next second is good
    const fresh = await login(id, 'second-pw');
    expect((await call(fresh.token as string, 'GET', `/users/${id}`)).status).toBe(200);
  });
});

describe('users of a database from before the security compliance step', () => {
  it('keep their password, which never expires, and its history holds it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rackseed-compliance-'));
    try {
      const path = join(dir, 'cloud.db');
      const old = new Database(path);
      old.pragma('foreign_keys = ON');
      for (const step of CLOUD_MIGRATIONS.filter((m) => m.version <= 23)) {
        if (typeof step.up === 'string') old.exec(step.up);
        else step.up(old);
        old.pragma(`user_version = ${step.version}`);
      }
      const hash = await hashPassword('kept-pw');
      old
        .prepare(
          `INSERT INTO users (id, name, domain_id, enabled, password_hash, description) VALUES ('u1', 'old', 'default', 1, ?, '')`,
        )
        .run(hash);
      old.close();
      const db = openSqliteDb(path);
      try {
        expect(await db.users.get('u1')).toMatchObject({
          passwordHash: hash,
          passwordChangedAt: null,
          passwordExpiresAt: null,
          passwordSelfService: false,
          options: {},
        });
        expect(await db.users.passwordHistory('u1', 5)).toEqual([hash]);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rackseed cloud serve: the security compliance flags', () => {
  const capture = (): CliIo & { err: string } => {
    const io = { err: '', env: {}, stdout: () => {}, stderr: (text: string) => void (io.err += text) };
    return io;
  };
  it.each([
    [
      'a lockout that is not a number',
      ['--lockout-failures', 'six'],
      /--lockout-failures six: give a whole number of at least 0/,
    ],
    ['a lockout of no seconds', ['--lockout-seconds', '0'], /--lockout-seconds 0: give a whole number of at least 1/],
    ['a negative history', ['--password-history', '-1'], /--password-history -1: give a whole number/],
    ['a fractional minimum age', ['--password-min-age-days', '1.5'], /--password-min-age-days 1.5/],
    [
      'an expiry of 0 days',
      ['--password-expires-days', '0'],
      /--password-expires-days 0: give a whole number of at least 1/,
    ],
    [
      'a minimum age not under the expiry',
      ['--password-min-age-days', '30', '--password-expires-days', '30'],
      /--password-min-age-days 30 is not less than --password-expires-days 30/,
    ],
    [
      'a regex that does not compile',
      ['--password-regex', '(unclosed'],
      /--password-regex \(unclosed is not a regular expression/,
    ],
    ['a description without a regex', ['--password-regex-description', 'long'], /give both/],
  ])('refuses %s with a usage error (exit 2)', async (_case, flags, message) => {
    const io = capture();
    expect(await runCli(['cloud', 'serve', '--data-dir', '/nonexistent/rackseed', ...flags], io)).toBe(2);
    expect(io.err).toMatch(/^error CLI_ERR_USAGE: /);
    expect(io.err).toMatch(message);
  });

  it("serves the bed's clouds with the numbers tempest.conf.in tells tempest", () => {
    const conf = readFileSync(new URL('../tempest/tempest.conf.in', import.meta.url), 'utf8');
    const option = (name: string) => new RegExp(`^${name} = (\\S+)$`, 'm').exec(conf)?.[1];
    const flag = (name: string) => BED_SECURITY_COMPLIANCE_ARGS[BED_SECURITY_COMPLIANCE_ARGS.indexOf(name) + 1];
    expect(option('security_compliance')).toBe('true');
    expect(option('user_lockout_failure_attempts')).toBe(flag('--lockout-failures'));
    expect(option('user_lockout_duration')).toBe(flag('--lockout-seconds'));
    expect(option('user_unique_last_password_count')).toBe(flag('--password-history'));
    expect(flag('--password-min-age-days')).toBe('0');
  });
});
