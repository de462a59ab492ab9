import { describe, expect, it } from 'vitest';
import { nameFilter } from '../../appliance/db/name-filter.js';

describe("servers' name filter (a user's regular expression, run by the DB master)", () => {
  it('matches as Nova does: a regular expression, or literal text when it is not one', () => {
    expect(nameFilter('^web-[0-9]+$').test('web-12')).toBe(true);
    expect(nameFilter('^web-[0-9]+$').test('db-12')).toBe(false);
    expect(nameFilter('vm(').test('my-vm(1)')).toBe(true); // invalid: literal
  });

  it('answers a catastrophic pattern at once (linear time), and keeps backreferences literal', () => {
    // Backtracking would take about 2^30 steps here: a minute or more, not the milliseconds this takes.
    expect(nameFilter('(a+)+$').test(`${'a'.repeat(30)}!`)).toBe(false);
    expect(nameFilter('^(a+)+$').test('a'.repeat(30))).toBe(true);
    expect(nameFilter('(a*)*\\1b').test(`${'a'.repeat(30)}`)).toBe(false);
    expect(nameFilter('(a*)*\\1b').test('x(a*)*\\1by')).toBe(true); // taken literally
  });
});
