/**
 * Keystone's `[security_compliance]` (keystone.conf) as `cloud serve`'s flags: the flags, and
 * the settings they make, checked as Keystone checks its options.
 */
import type { Command } from 'commander';
import type { SecurityCompliance } from '../api/index.js';
import { CliUsageError } from './errors.js';

/** The flags as commander parses them (each absent unless given). */
export interface SecurityComplianceFlags {
  lockoutFailures?: string;
  lockoutSeconds?: string;
  passwordHistory?: string;
  passwordMinAgeDays?: string;
  passwordExpiresDays?: string;
  changePasswordOnFirstUse?: boolean;
  passwordRegex?: string;
  passwordRegexDescription?: string;
}

/** Adds the flags to `command`. */
export function securityComplianceOptions(command: Command): Command {
  return command
    .option(
      '--lockout-failures <n>',
      "failed logins that lock a user (Keystone's lockout_failure_attempts; default 6, 0: never)",
    )
    .option('--lockout-seconds <s>', 'how long a locked user stays locked, in seconds (lockout_duration; default 1800)')
    .option(
      '--password-history <n>',
      "a user's own change may not reuse its last N passwords (unique_last_password_count; default 0: off)",
    )
    .option(
      '--password-min-age-days <n>',
      'days a user keeps a password it set before changing it again (minimum_password_age; default 0)',
    )
    .option('--password-expires-days <n>', 'days a new password lasts (password_expires_days; default: forever)')
    .option(
      '--change-password-on-first-use',
      'a password the admin sets (new user, reset) must be changed by its user before use (change_password_upon_first_use)',
    )
    .option('--password-regex <re>', 'what new passwords must match from their start (password_regex)')
    .option(
      '--password-regex-description <text>',
      'the rule in words, told when a password does not match (password_regex_description)',
    );
}

/** A whole number of at least `min` given to `flag`, or a usage error. */
function wholeNumber(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new CliUsageError(`${flag} ${text}: give a whole number of at least ${min}`);
  }
  return Number(text);
}

/**
 * Keystone's `[security_compliance]` from `cloud serve`'s flags, those given only (the API's
 * defaults stand for the others): numbers in Keystone's ranges, a regex JavaScript compiles,
 * its description only with it, a minimum age shorter than the expiry (Keystone's advice).
 */
export function securityComplianceOf(options: SecurityComplianceFlags): Partial<SecurityCompliance> {
  const settings: Partial<SecurityCompliance> = {};
  if (options.lockoutFailures !== undefined) {
    const n = wholeNumber('--lockout-failures', options.lockoutFailures, 0);
    settings.lockoutFailureAttempts = n === 0 ? null : n;
  }
  if (options.lockoutSeconds !== undefined) {
    settings.lockoutDuration = wholeNumber('--lockout-seconds', options.lockoutSeconds, 1);
  }
  if (options.passwordHistory !== undefined) {
    settings.uniqueLastPasswordCount = wholeNumber('--password-history', options.passwordHistory, 0);
  }
  if (options.passwordMinAgeDays !== undefined) {
    settings.minimumPasswordAge = wholeNumber('--password-min-age-days', options.passwordMinAgeDays, 0);
  }
  if (options.passwordExpiresDays !== undefined) {
    settings.passwordExpiresDays = wholeNumber('--password-expires-days', options.passwordExpiresDays, 1);
  }
  if (
    settings.passwordExpiresDays != null &&
    settings.minimumPasswordAge !== undefined &&
    settings.minimumPasswordAge >= settings.passwordExpiresDays
  ) {
    throw new CliUsageError(
      `--password-min-age-days ${settings.minimumPasswordAge} is not less than --password-expires-days ${settings.passwordExpiresDays}: a password would expire before its user may change it`,
    );
  }
  if (options.changePasswordOnFirstUse) settings.changePasswordUponFirstUse = true;
  if (options.passwordRegexDescription !== undefined && options.passwordRegex === undefined) {
    throw new CliUsageError('--password-regex-description describes --password-regex: give both');
  }
  if (options.passwordRegex !== undefined) {
    try {
      new RegExp(options.passwordRegex);
    } catch (error) {
      throw new CliUsageError(
        `--password-regex ${options.passwordRegex} is not a regular expression: ${(error as Error).message}`,
      );
    }
    settings.passwordRegex = options.passwordRegex;
    settings.passwordRegexDescription = options.passwordRegexDescription ?? null;
  }
  return settings;
}
