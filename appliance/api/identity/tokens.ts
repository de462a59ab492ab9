import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type CloudDb, type SigningKey, SYSTEM_ALL, type TokenScope } from '../../db/index.js';

/** What a token says: who, scoped to what (at most one of project, domain, system), how authenticated, when, and its audit id. */
export interface TokenClaims {
  userId: string;
  projectId: string | null;
  domainId: string | null;
  system: boolean;
  methods: string[];
  issuedAt: number;
  expiresAt: number;
  auditId: string;
  /** The application credential the token was made from (its roles and access rules bound the token). */
  applicationCredentialId?: string;
  /** The trust the token was made from (its project, its user and its roles are the trust's). */
  trustId?: string;
}

/** How tokens live and how their signing keys rotate. */
export interface TokenOptions {
  /** Token lifetime in seconds (Keystone's default: one hour). */
  ttl: number;
  /** How many signing keys to keep, at least 2: the newest signs, all of them verify. */
  keep: number;
  /** Seconds a signing key signs before a new one replaces it (default one day), at least `ttl`. */
  rotateAfter: number;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');
/** How far the nodes' clocks may disagree about when a token was issued. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Signed, self-contained tokens: `payload.signature`, the payload a base64url JSON of the
 * claims with the signing key's id, the signature an HMAC-SHA256 over it. Nothing is stored
 * per token; revocation records the audit id until the token would have expired.
 *
 * The signing key rotates once its newest is `rotateAfter` old, checked whenever a token is
 * issued or verified; the database adds the new key only if its own newest is that old too, so
 * API nodes sharing it rotate once between them and each picks up the others' keys.
 */
export class TokenService {
  #keys: SigningKey[] = [];
  #rotation: Promise<void> | undefined;

  private constructor(
    private readonly db: CloudDb,
    private readonly options: TokenOptions,
    private readonly clock: () => number,
  ) {}

  /** The time tokens are issued and checked at, in ms since the epoch. */
  now(): number {
    return this.clock();
  }

  /** Loads the signing keys, creating the first one on a new database (or rotating an old one). */
  static async open(
    db: CloudDb,
    options: Partial<TokenOptions> = {},
    now: () => number = () => Date.now(),
  ): Promise<TokenService> {
    const o = { ttl: options.ttl ?? 3600, keep: options.keep ?? 3, rotateAfter: options.rotateAfter ?? 86_400 };
    // A token must still verify after its key stops signing: the key stays for another period.
    if (o.keep < 2 || o.rotateAfter < o.ttl) {
      throw new RangeError(`signing keys: keep ${o.keep} must be at least 2, rotateAfter at least the ttl`);
    }
    const service = new TokenService(db, o, now);
    service.#keys = await db.tokens.signingKeys();
    await service.#rotateIfDue();
    return service;
  }

  /** Adds a signing key if the newest is `rotateAfter` old (one request at a time per node). */
  async #rotateIfDue(): Promise<void> {
    const due = this.clock() - this.options.rotateAfter * 1000;
    const newest = this.#keys[0];
    if (newest && Date.parse(newest.createdAt) > due) return;
    const key: SigningKey = {
      kid: randomUUID(),
      secret: randomBytes(32).toString('base64'),
      createdAt: new Date(this.clock()).toISOString(),
    };
    this.#rotation ??= this.db.tokens
      .rotate(key, this.options.keep, new Date(due).toISOString())
      .then((keys) => {
        this.#keys = keys;
      })
      .finally(() => {
        this.#rotation = undefined;
      });
    await this.#rotation;
  }

  /**
   * Issues a token for `userId` with `scope`; a token made from another (rescoped) ends when that
   * one does (`expiresAt`, in seconds), as Keystone's; one made from an application credential
   * or a trust names it (`applicationCredentialId`, `trustId`).
   */
  async issue(
    userId: string,
    scope: TokenScope,
    methods: string[],
    options: { expiresAt?: number; auditId?: string; applicationCredentialId?: string; trustId?: string } = {},
  ): Promise<{ token: string; claims: TokenClaims }> {
    await this.#rotateIfDue();
    const key = this.#keys[0];
    if (!key) throw new Error('no signing key loaded');
    const issuedAt = Math.floor(this.clock() / 1000);
    const claims: TokenClaims = {
      userId,
      projectId: scope?.targetType === 'project' ? scope.targetId : null,
      domainId: scope?.targetType === 'domain' ? scope.targetId : null,
      system: scope?.targetType === 'system',
      methods,
      issuedAt,
      expiresAt: Math.min(issuedAt + this.options.ttl, options.expiresAt ?? Infinity),
      auditId: options.auditId ?? randomUUID(),
      ...(options.applicationCredentialId === undefined
        ? {}
        : { applicationCredentialId: options.applicationCredentialId }),
      ...(options.trustId === undefined ? {} : { trustId: options.trustId }),
    };
    const payload = b64url(JSON.stringify({ k: key.kid, ...claims }));
    return { token: `${payload}.${this.#sign(key, payload)}`, claims };
  }

  /** The claims of a valid, unexpired, unrevoked token, or null. */
  async verify(token: string): Promise<TokenClaims | null> {
    const claims = await this.verifyExceptRevocation(token);
    if (!claims || (await this.db.tokens.isRevoked(claims.auditId))) return null;
    return claims;
  }

  /**
   * The claims of a well-signed, unexpired token, or null, without asking whether it was
   * revoked: the caller must, in the same database read as the rest of what it needs (as
   * `CloudDb.tokens.subject` does), so that a revoked token is refused at once.
   */
  async verifyExceptRevocation(token: string): Promise<TokenClaims | null> {
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
    // A node that only verifies still drops the keys others retired.
    await this.#rotateIfDue();
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
    if (p.expiresAt - p.issuedAt > this.options.ttl || p.issuedAt * 1000 > this.clock() + CLOCK_SKEW_MS) return null;
    if (p.expiresAt * 1000 <= this.clock()) return null;
    return {
      userId: p.userId,
      projectId: typeof p.projectId === 'string' ? p.projectId : null,
      domainId: typeof p.domainId === 'string' ? p.domainId : null,
      system: p.system === true,
      methods: Array.isArray(p.methods) ? p.methods.map(String) : [],
      issuedAt: p.issuedAt,
      expiresAt: p.expiresAt,
      auditId: p.auditId,
      ...(typeof p.applicationCredentialId === 'string' ? { applicationCredentialId: p.applicationCredentialId } : {}),
      ...(typeof p.trustId === 'string' ? { trustId: p.trustId } : {}),
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

/** The scope a token's claims name. */
export function scopeOf(claims: TokenClaims): TokenScope {
  if (claims.projectId !== null) return { targetType: 'project', targetId: claims.projectId };
  if (claims.domainId !== null) return { targetType: 'domain', targetId: claims.domainId };
  return claims.system ? { targetType: 'system', targetId: SYSTEM_ALL } : null;
}
