import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenService } from '../../appliance/api/identity/tokens.js';
import { ADMIN_PASSWORD, startTestApi, tokenFor } from './api-helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The id of the key that signed `token`. */
const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { k: string }).k;

// Issue #14: nothing called rotate, so the first signing key signed every token for ever.
describe('signing keys rotate on a schedule', () => {
  let t: Awaited<ReturnType<typeof startTestApi>> | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('signs with a new key once the newest is a period old; the previous key verifies, a retired one is refused', async () => {
    let now = Date.now();
    t = await startTestApi({ tokens: { ttl: 3600, keep: 2, rotateAfter: 86_400 }, now: () => now });
    const api = t.api;
    const [firstKey] = await t.db.tokens.signingKeys();
    const login = () => tokenFor(api, 'admin', ADMIN_PASSWORD, 'admin');
    const status = async (token: string) =>
      (await api.app.inject({ method: 'GET', url: '/identity/v3/auth/catalog', headers: { 'x-auth-token': token } }))
        .statusCode;

    now += DAY - HOUR / 2;
    const lastOfFirst = await login();
    expect(kidOf(lastOfFirst)).toBe(firstKey?.kid);
    now += HOUR / 4;
    expect(await status(lastOfFirst)).toBe(200);
    now += HOUR / 4; // a day since the first key
    const second = await login();
    expect(kidOf(second)).not.toBe(firstKey?.kid);
    expect(await status(lastOfFirst)).toBe(200); // signed by the previous key, still in its hour
    expect(await status(second)).toBe(200);

    now += DAY;
    const third = await login();
    expect(new Set([kidOf(second), kidOf(third)]).size).toBe(2);
    expect((await t.db.tokens.signingKeys()).map((k) => k.kid)).toEqual([kidOf(third), kidOf(second)]);
    // A token the first key signs now (say it leaked): well-formed, fresh, but its key is retired.
    const issuedAt = Math.floor(now / 1000);
    const user = await t.db.users.findByName('default', 'admin');
    const adminProject = await t.db.projects.findByName('default', 'admin');
    const payload = Buffer.from(
      JSON.stringify({
        k: firstKey?.kid,
        userId: user?.id,
        projectId: adminProject?.id,
        methods: ['password'],
        issuedAt,
        expiresAt: issuedAt + 3600,
        auditId: 'retired',
      }),
    ).toString('base64url');
    const mac = createHmac('sha256', Buffer.from(firstKey?.secret ?? '', 'base64'))
      .update(payload)
      .digest('base64url');
    expect(await status(`${payload}.${mac}`)).toBe(401);
    expect(await status(third)).toBe(200);
  });

  it('rotates once however many API nodes share the database, and each signs with the new key', async () => {
    let now = Date.now();
    t = await startTestApi({ now: () => now });
    const db = t.db;
    const nodes = await Promise.all([1, 2, 3].map(() => TokenService.open(db, {}, () => now)));
    expect(await db.tokens.signingKeys()).toHaveLength(1);
    now += DAY;
    const issued = await Promise.all(nodes.map((node) => node.issue('someone', null, ['password'])));
    const keys = await db.tokens.signingKeys();
    expect(keys).toHaveLength(2);
    expect(issued.map((i) => kidOf(i.token))).toEqual([keys[0]?.kid, keys[0]?.kid, keys[0]?.kid]);
  });

  it('refuses settings under which a token could outlive its key', async () => {
    t = await startTestApi();
    await expect(TokenService.open(t.db, { keep: 1 })).rejects.toThrow(RangeError);
    await expect(TokenService.open(t.db, { ttl: 7200, rotateAfter: 3600 })).rejects.toThrow(RangeError);
  });
});
