import type { CloudDb, User } from '../../db/index.js';
import { accountLocked, tooManyLogins } from '../faults.js';
import type { SecurityCompliance } from './security-compliance.js';

/** How many failed logins are let through per source address (a user's: its {@link SecurityCompliance} lockout). */
export interface LoginLimitOptions {
  /** Failed logins from one address within `sourceWindowSeconds` before it is answered 429. */
  sourceFailures: number;
  sourceWindowSeconds: number;
  /** Addresses remembered at most: the oldest window is forgotten first. */
  maxSources: number;
}

/** 30 failures per address in 10 min. */
export const DEFAULT_LOGIN_LIMITS: LoginLimitOptions = {
  sourceFailures: 30,
  sourceWindowSeconds: 600,
  maxSources: 10_000,
};

/**
 * The source a failed login counts against: an IPv4 address (IPv4-mapped ones too), or an IPv6
 * address's /64, since a single host is commonly handed a whole /64 (RFC 6177 §2) and could
 * otherwise try from 2^64 addresses.
 */
export function sourceOf(address: string): string {
  const ip = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back]
    : front;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Failed password logins, limited per user and per source address. A user's failures live in the
 * database, so a lock holds on every API node. An address's live in this node's memory: shared,
 * they would cost the DB master a write for every stranger's failed attempt, a load an attacker
 * could choose; kept per node, a cluster of k API nodes lets an address k times the limit, and the
 * shared per-user lockout is what protects an account. The map is bounded, and an unknown user
 * name is counted only against its address, so nothing grows with the names an attacker picks.
 */
export class LoginLimits {
  readonly #sources = new Map<string, { count: number; until: number }>();

  constructor(
    private readonly db: CloudDb,
    private readonly lockout: Pick<SecurityCompliance, 'lockoutFailureAttempts' | 'lockoutDuration'>,
    private readonly options: LoginLimitOptions,
    private readonly now: () => number,
  ) {}

  /**
   * Refuses a login before its password is checked: 429 when the address (its {@link sourceOf}) failed too often
   * lately, 401 when the user is locked (Keystone's `_is_account_locked`: not with the option
   * `ignore_lockout_failure_attempts`). The user's failures counted so far (0 if none).
   */
  async admit(address: string, user: User | null): Promise<number> {
    const source = sourceOf(address);
    const now = this.now();
    const tally = this.#sources.get(source);
    if (tally && tally.until <= now) this.#sources.delete(source);
    else if (tally && tally.count >= this.options.sourceFailures) {
      throw tooManyLogins(Math.ceil((tally.until - now) / 1000));
    }
    const failures = user === null ? null : await this.db.logins.failures(user.id);
    const limit = this.lockout.lockoutFailureAttempts;
    if (
      failures &&
      limit !== null &&
      user?.options.ignore_lockout_failure_attempts !== true &&
      failures.count >= limit &&
      Date.parse(failures.lastAt) > now - this.lockout.lockoutDuration * 1000
    ) {
      throw accountLocked();
    }
    return failures?.count ?? 0;
  }

  /** Counts a wrong password against the address, and against the user if the name is one. */
  async failed(address: string, userId: string | null): Promise<void> {
    const source = sourceOf(address);
    const now = this.now();
    const tally = this.#sources.get(source);
    if (tally && tally.until > now) tally.count += 1;
    else {
      this.#sources.delete(source);
      // Windows are inserted as they start: the first entry is the oldest.
      const oldest = this.#sources.keys().next();
      if (this.#sources.size >= this.options.maxSources && !oldest.done) this.#sources.delete(oldest.value);
      this.#sources.set(source, { count: 1, until: now + this.options.sourceWindowSeconds * 1000 });
    }
    if (userId !== null) {
      const forgetBefore = new Date(now - this.lockout.lockoutDuration * 1000).toISOString();
      await this.db.logins.fail(userId, new Date(now).toISOString(), forgetBefore);
    }
  }

  /** A right password: the user's count starts again (`failures` from {@link admit}: no write if none). */
  async succeeded(userId: string, failures: number): Promise<void> {
    if (failures > 0) await this.db.logins.clear(userId);
  }
}
