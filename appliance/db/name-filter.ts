import { setFlagsFromString } from 'node:v8';

// A regular expression from a user must not stall the process that runs it (the DB master
// serves every API node): V8 moves a regexp that backtracks too much to its linear-time engine.
// Set once, for the whole process, before any such pattern is compiled.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

const SPECIALS = /[.*+?^${}()|[\]\\]/g;
/** What the linear-time engine cannot run (backreferences, lookarounds): such a pattern stays literal. */
const BACKTRACKING_ONLY = /\\[1-9]|\\k<|\(\?<?[=!]/;

/**
 * Nova's regular-expression filters (`name`, nova/db/main/api.py `_regex_instance_filter`;
 * `ip` and `ip6`), run in time linear in the text whatever the pattern: a pattern V8 cannot run so, or that is
 * not a valid expression, matches as literal text.
 */
export function nameFilter(pattern: string): RegExp {
  const literal = () => new RegExp(pattern.replace(SPECIALS, '\\$&'));
  if (BACKTRACKING_ONLY.test(pattern)) return literal();
  try {
    return new RegExp(pattern);
  } catch {
    return literal();
  }
}
