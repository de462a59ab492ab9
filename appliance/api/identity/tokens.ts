import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { CloudDb, SigningKey } from '../../db/index.js';

/** What a token says: who, scoped to what, how authenticated, when, and its audit id. */
export interface TokenClaims {
  userId: string;
  projectId: string | null;
  methods: string[];
  issuedAt: number;
  expiresAt: number;
  auditId: string;
}

interface TokenOptions {
  /** Token lifetime in seconds (Keystone's default: one hour). */
  ttl: number;
  /** How many signing keys to keep: the newest signs, all of them verify. */
  keep: number;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');
/** How far the nodes' clocks may disagree about when a token was issued. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Signed, self-contained tokens: `payload.signature`, the payload a base64url JSON of the
 * claims with the signing key's id, the signature an HMAC-SHA256 over it. Nothing is stored
 * per token; revocation records the audit id until the token would have expired.
 */
export class TokenService {
  #keys: SigningKey[] = [];

  private constructor(
    private readonly db: CloudDb,
    private readonly options: TokenOptions,
    private readonly now: () => number,
  ) {}

  /** Loads the signing keys, creating the first one on a new database. */
  static async open(
    db: CloudDb,
    options: Partial<TokenOptions> = {},
    now: () => number = () => Date.now(),
  ): Promise<TokenService> {
    const service = new TokenService(db, { ttl: options.ttl ?? 3600, keep: options.keep ?? 3 }, now);
    service.#keys = await db.tokens.signingKeys();
    if (service.#keys.length === 0) await service.rotate();
    return service;
  }

  /** Adds a new signing key; tokens signed by the `keep - 1` previous keys still verify. */
  async rotate(): Promise<void> {
    const key: SigningKey = {
      kid: randomUUID(),
      secret: randomBytes(32).toString('base64'),
      createdAt: new Date(this.now()).toISOString(),
    };
    this.#keys = await this.db.tokens.rotate(key, this.options.keep);
  }

  /** Issues a token for `userId`, optionally scoped to a project. */
  issue(
    userId: string,
    projectId: string | null,
    methods: string[],
    auditId = randomUUID(),
  ): { token: string; claims: TokenClaims } {
    const key = this.#keys[0];
    if (!key) throw new Error('no signing key loaded');
    const issuedAt = Math.floor(this.now() / 1000);
    const claims: TokenClaims = {
      userId,
      projectId,
      methods,
      issuedAt,
      expiresAt: issuedAt + this.options.ttl,
      auditId,
    };
    const payload = b64url(JSON.stringify({ k: key.kid, ...claims }));
    return { token: `${payload}.${this.#sign(key, payload)}`, claims };
  }

  /** The claims of a valid, unexpired, unrevoked token, or null. */
  async verify(token: string): Promise<TokenClaims | null> {
    const [payload, signature, extra] = token.split('.');
    if (!payload || !signature || extra !== undefined || token.length > 4096) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (typeof parsed !== 'object' || parsed === null) return null;
    const p = parsed as Record<string, unknown>;
    let key = this.#keys.find((k) => k.kid === p.k);
    if (!key) {
      // Another node may have rotated: reload once.
      this.#keys = await this.db.tokens.signingKeys();
      key = this.#keys.find((k) => k.kid === p.k);
    }
    if (!key) return null;
    const expected = Buffer.from(this.#sign(key, payload));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    if (typeof p.userId !== 'string' || typeof p.auditId !== 'string') return null;
    if (typeof p.issuedAt !== 'number' || typeof p.expiresAt !== 'number') return null;
    // Bounded by what this cloud issues, whoever holds a signing key: a lifetime of at most the
    // configured one, not issued in the future (so never valid longer than that after now).
    if (p.expiresAt - p.issuedAt > this.options.ttl || p.issuedAt * 1000 > this.now() + CLOCK_SKEW_MS) return null;
    if (p.expiresAt * 1000 <= this.now()) return null;
    if (await this.db.tokens.isRevoked(p.auditId)) return null;
    return {
      userId: p.userId,
      projectId: typeof p.projectId === 'string' ? p.projectId : null,
      methods: Array.isArray(p.methods) ? p.methods.map(String) : [],
      issuedAt: p.issuedAt,
      expiresAt: p.expiresAt,
      auditId: p.auditId,
    };
  }

  /** Revokes every token carrying this audit id (a token and its rescoped children). */
  async revoke(claims: TokenClaims): Promise<void> {
    await this.db.tokens.revoke(claims.auditId, new Date(claims.expiresAt * 1000).toISOString());
  }

  #sign(key: SigningKey, payload: string): string {
    return createHmac('sha256', Buffer.from(key.secret, 'base64')).update(payload).digest('base64url');
  }
}
