/**
 * The Keystone security compliance flags every bed cloud is served with (`startCloud`), so that
 * any of them may be tempest's: test/tempest/tempest.conf.in's `[identity]` says the same
 * numbers to tempest (test/unit/api-identity-security-compliance.test.ts checks that they
 * agree). A lockout short enough for tempest's lockout test to wait it out (it sleeps the
 * duration), a history of 2, no minimum age: tempest changes a password several times a second.
 */
export const BED_SECURITY_COMPLIANCE_ARGS: readonly string[] = [
  '--lockout-failures',
  '2',
  '--lockout-seconds',
  '5',
  '--password-history',
  '2',
  '--password-min-age-days',
  '0',
];
