import type { NewPassword, User, UserOptions } from '../../db/index.js';
import { ApiError, badRequest } from '../faults.js';
import { isObject } from './body.js';

/**
 * Keystone's `[security_compliance]` (keystone/conf/security_compliance.py, PCI DSS 8.1–8.2):
 * how users' passwords are kept, changed and locked. One object for the whole API, given by
 * `cloud serve`'s flags.
 */
export interface SecurityCompliance {
  /** Failed logins of a user before it is locked (`lockout_failure_attempts`); null: never locked. */
  lockoutFailureAttempts: number | null;
  /** Seconds a locked user stays locked after its last failure, and how long a failure counts (`lockout_duration`). */
  lockoutDuration: number;
  /** A self-service change may not reuse the user's last N passwords, the current one included (`unique_last_password_count`); 0: off. */
  uniqueLastPasswordCount: number;
  /** Days a password set by its user must be kept before the user changes it (`minimum_password_age`); 0: off. */
  minimumPasswordAge: number;
  /** Days a new password lasts (`password_expires_days`); null: forever. */
  passwordExpiresDays: number | null;
  /** A password the admin sets (create, reset) is expired at once: its user must change it (`change_password_upon_first_use`). */
  changePasswordUponFirstUse: boolean;
  /** What every new password must match from its start, as Python's `re.match` (`password_regex`); null: anything. */
  passwordRegex: string | null;
  /** The rule in words, told to whoever's password does not match (`password_regex_description`). */
  passwordRegexDescription: string | null;
}

/**
 * Keystone's defaults, but for the lockout: on in rackseed, as PCI DSS 8.1.6–8.1.7 asks and
 * Keystone's documentation suggests (6 failures, 30 minutes).
 */
export const DEFAULT_SECURITY_COMPLIANCE: SecurityCompliance = {
  lockoutFailureAttempts: 6,
  lockoutDuration: 1800,
  uniqueLastPasswordCount: 0,
  minimumPasswordAge: 0,
  passwordExpiresDays: null,
  changePasswordUponFirstUse: false,
  passwordRegex: null,
  passwordRegexDescription: null,
};

const DAY_MS = 86_400_000;

/** The user options Keystone registers for these rules (identity/backends/resource_options.py), all booleans. */
export const USER_OPTIONS = [
  'ignore_change_password_upon_first_use',
  'ignore_password_expiry',
  'ignore_lockout_failure_attempts',
  'lock_password',
] as const satisfies readonly (keyof UserOptions)[];

/**
 * A user's options after a create or update sends `options`: each named one set, a null one
 * removed, the others kept (Keystone's resource options). Anything else is a 400, as Keystone's
 * schema (`additionalProperties: false`).
 */
export function mergeUserOptions(current: UserOptions, sent: unknown): UserOptions {
  if (sent === undefined) return current;
  if (!isObject(sent)) throw badRequest("Invalid input for field 'options': not an object");
  const merged: UserOptions = { ...current };
  for (const [name, value] of Object.entries(sent)) {
    if (!(USER_OPTIONS as readonly string[]).includes(name)) {
      throw badRequest(
        `Invalid input for field 'options': Additional properties are not allowed ('${name}' was unexpected)`,
      );
    }
    const option = name as (typeof USER_OPTIONS)[number];
    if (value === null) delete merged[option];
    else if (typeof value === 'boolean') merged[option] = value;
    else throw badRequest(`Invalid input for field 'options/${name}': not a boolean or null`);
  }
  return merged;
}

/** Keystone's `validate_password`: a new password the regex does not match is a 400 with its description. */
export function checkPasswordRules(settings: SecurityCompliance, password: string): void {
  if (settings.passwordRegex === null) return;
  // The sticky flag anchors the match at the start only, as re.match does.
  if (!new RegExp(settings.passwordRegex, 'y').test(password)) {
    throw new ApiError(
      400,
      `The password does not match the requirements: ${settings.passwordRegexDescription ?? settings.passwordRegex}.`,
      'API_ERR_PASSWORD_REQUIREMENTS',
    );
  }
}

/**
 * A password being set at `now` (ms): when it expires (Keystone's `_get_password_expires_at`,
 * whole seconds; at once when the admin set it and the user must change it first,
 * `_change_password_required`), and how many of the user's hashes to keep (enough for the
 * history check; Keystone keeps one more, never read).
 */
export function newPassword(
  settings: SecurityCompliance,
  options: UserOptions,
  hash: string,
  now: number,
  by: 'admin' | 'user',
): NewPassword {
  const setAt = new Date(now).toISOString();
  let expiresAt: string | null = null;
  if (by === 'admin' && settings.changePasswordUponFirstUse && options.ignore_change_password_upon_first_use !== true) {
    expiresAt = setAt;
  } else if (settings.passwordExpiresDays !== null && options.ignore_password_expiry !== true) {
    expiresAt = new Date(Math.floor(now / 1000) * 1000 + settings.passwordExpiresDays * DAY_MS).toISOString();
  }
  return { hash, setAt, expiresAt, selfService: by === 'user', keep: Math.max(settings.uniqueLastPasswordCount, 1) };
}

/** Keystone's `password_is_expired`: past its expiry, unless the user ignores expiry. */
export const passwordExpired = (user: User, now: number): boolean =>
  user.passwordExpiresAt !== null &&
  user.options.ignore_password_expiry !== true &&
  Date.parse(user.passwordExpiresAt) <= now;

/**
 * A token of `user` issued (`issuedAt`, in seconds) until its password last changed: revoked, as
 * by Keystone's revocation event for the user, to the second as Keystone's tokens are.
 */
export const revokedByPasswordChange = (user: User, issuedAt: number): boolean =>
  user.passwordChangedAt !== null && issuedAt <= Math.floor(Date.parse(user.passwordChangedAt) / 1000);

/** Keystone's PasswordExpired, a 401 that names the user (its message is shown, unlike other refusals). */
export const passwordExpiredFault = (userId: string): ApiError =>
  new ApiError(401, `The password is expired and needs to be changed for user: ${userId}.`, 'API_ERR_PASSWORD_EXPIRED');

/**
 * Keystone's checks of a self-service change before the new password is set
 * (identity/backends/sql.py `change_password`): not with `lock_password`, not before the
 * minimum age of a password its user set (an admin's may be changed at once), and not to one of
 * the user's last `unique_last_password_count` passwords (`isOld` checks a hash). Each a 400.
 */
export async function checkSelfServiceChange(
  settings: SecurityCompliance,
  user: User,
  now: number,
  history: readonly string[],
  isOld: (hash: string) => Promise<boolean>,
): Promise<void> {
  if (user.options.lock_password === true) {
    throw new ApiError(
      400,
      'You cannot change your password at this time due to password policy disallowing password changes. Please contact your administrator to reset your password.',
      'API_ERR_PASSWORD_LOCKED',
    );
  }
  const minAge = settings.minimumPasswordAge;
  if (user.passwordSelfService && user.passwordChangedAt !== null) {
    const allowedAt = Date.parse(user.passwordChangedAt) + minAge * DAY_MS;
    if (now < allowedAt) {
      throw new ApiError(
        400,
        `You cannot change your password at this time due to the minimum password age. Once you change your password, it must be used for ${minAge} day(s) before it can be changed. Please try again in ${Math.floor((allowedAt - now) / DAY_MS)} day(s) or contact your administrator to reset your password.`,
        'API_ERR_PASSWORD_MIN_AGE',
      );
    }
  }
  const unique = settings.uniqueLastPasswordCount;
  for (const hash of history.slice(0, unique)) {
    if (await isOld(hash)) {
      throw new ApiError(
        400,
        `The new password cannot be identical to a previous password. The total number which includes the new password must be unique is ${unique}.`,
        'API_ERR_PASSWORD_HISTORY',
      );
    }
  }
}

/** The comparisons `GET /v3/users?password_expires_at=OP:TIMESTAMP` takes (eq when none is given). */
const equal = (e: number, t: number) => e === t;
const EXPIRY_OPERATORS = new Map<string, (expires: number, at: number) => boolean>([
  ['lt', (e, t) => e < t],
  ['lte', (e, t) => e <= t],
  ['gt', (e, t) => e > t],
  ['gte', (e, t) => e >= t],
  ['eq', equal],
  ['neq', (e, t) => e !== t],
]);

/**
 * Keystone's user list filter by password expiry: each value `[OP:]YYYY-MM-DDTHH:MM:SSZ`, all of
 * them to hold; a user whose password never expires matches none. A timestamp in another shape
 * is Keystone's 400.
 */
export function passwordExpiryFilter(values: readonly string[]): (user: User) => boolean {
  const tests = values.map((value) => {
    const [, named, rest = ''] = /^([a-z]+):(.*)$/.exec(value) ?? [];
    const compare = EXPIRY_OPERATORS.get(named ?? '');
    const timestamp = compare ? rest : value;
    const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(timestamp) ? Date.parse(timestamp) : NaN;
    if (Number.isNaN(at))
      throw badRequest(
        'Timestamp not in expected format. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.',
      );
    return (expires: number) => (compare ?? equal)(expires, at);
  });
  return (user) => {
    if (user.passwordExpiresAt === null) return tests.length === 0;
    // Compared to the second, as the timestamps are given.
    const expires = Math.floor(Date.parse(user.passwordExpiresAt) / 1000) * 1000;
    return tests.every((test) => test(expires));
  };
}
