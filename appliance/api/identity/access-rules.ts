import type { AccessRule } from '../../db/index.js';

/**
 * Keystone's access rules, as keystonemiddleware enforces them (auth_token `_path_matches` and
 * `validate_allowed_request`): a token made from an application credential with access rules
 * may only make a request that one of them allows: the same method, the service it is sent to
 * (a catalog type), and a path that the rule's matches, where `*` (or a `{tag}`) stands for one
 * segment and `**` for anything. Without rules, anything is allowed.
 */

/** The service type of each of the API's path prefixes (the catalog's, appliance/api/identity/catalog.ts). */
const SERVICE_OF_PREFIX: Readonly<Record<string, string>> = {
  identity: 'identity',
  compute: 'compute',
  image: 'image',
  network: 'network',
};

/** Keystone's access rule methods (keystone/application_credential/schema.py). */
export const ACCESS_RULE_METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

type Token = { kind: 'literal'; char: string } | { kind: 'segment' } | { kind: 'any' };

/** keystonemiddleware's tokens of a rule's path: `{tag}` and a lone `*` one segment, `**` anything, the rest literal. */
function tokensOf(pattern: string): Token[] {
  const tokens: Token[] = [];
  for (const m of pattern.matchAll(/(\{[^}]*\})|(\*(?=$|[^*]))|(\*\*)|([^{}*])/g)) {
    if (m[1] !== undefined || m[2] !== undefined) tokens.push({ kind: 'segment' });
    else if (m[3] !== undefined) tokens.push({ kind: 'any' });
    else if (m[4] !== undefined) tokens.push({ kind: 'literal', char: m[4] });
  }
  return tokens;
}

/**
 * True when `path` matches the rule's `pattern` whole. keystonemiddleware builds a regular
 * expression (where a `.` would match any character; here every other character matches only
 * itself); this walks a table over their positions instead, in time linear in pattern × path,
 * so that no rule a user writes can make a request slow.
 */
export function pathMatches(path: string, pattern: string): boolean {
  const tokens = tokensOf(pattern);
  const n = path.length;
  // next[j]: the tokens after the current one match path[j..]; filled from the last token back.
  let next: boolean[] = Array.from({ length: n + 1 }, (_, j) => j === n);
  for (let i = tokens.length - 1; i >= 0; i--) {
    const token = tokens[i] as Token;
    const here: boolean[] = new Array<boolean>(n + 1).fill(false);
    for (let j = n; j >= 0; j--) {
      if (token.kind === 'literal') here[j] = j < n && path[j] === token.char && (next[j + 1] ?? false);
      else if (token.kind === 'any') here[j] = (next[j] ?? false) || (j < n && (here[j + 1] ?? false));
      // One character that is not a slash, then either the rest or more of the segment.
      else here[j] = j < n && path[j] !== '/' && ((next[j + 1] ?? false) || (here[j + 1] ?? false));
    }
    next = here;
  }
  return next[0] ?? false;
}

/** The service type and the path within it of a request's URL (`/compute/v2.1/servers` → compute, `/v2.1/servers`). */
export function serviceRequestOf(url: string): { service: string; path: string } | null {
  const path = url.split('?')[0] ?? '';
  const m = /^\/([^/]+)(\/.*)?$/.exec(path);
  const service = m?.[1] === undefined ? undefined : SERVICE_OF_PREFIX[m[1]];
  if (!m || service === undefined) return null;
  return { service, path: m[2] ?? '/' };
}

/**
 * True when a token bound by `rules` may make this request: no rules, a request to validate a
 * token (keystonemiddleware always lets the identity service's `GET /v3/auth/tokens` through),
 * or a rule of the same method and service whose path matches.
 */
export function accessAllowed(rules: readonly Omit<AccessRule, 'userId'>[], method: string, url: string): boolean {
  if (rules.length === 0) return true;
  const request = serviceRequestOf(url);
  if (!request) return false;
  if (request.service === 'identity' && method === 'GET' && request.path.endsWith('/v3/auth/tokens')) return true;
  return rules.some(
    (rule) => rule.method === method && rule.service === request.service && pathMatches(request.path, rule.path),
  );
}
