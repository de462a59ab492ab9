/**
 * Nova's paging of a list: `limit` (at most 1000) and `marker` (the last item of the previous
 * page) in, a `…_links` `next` link out when more are left. A marker the list does not hold is
 * a 400, as Nova's.
 */
import type { FastifyRequest } from 'fastify';
import { type ApiDeps, queryString } from '../context.js';
import { badRequest } from '../faults.js';

const MAX_LIMIT = 1000;

export function pageOf(request: FastifyRequest): { limit: number; marker?: string } {
  const limitText = queryString(request, 'limit');
  let limit = MAX_LIMIT;
  if (limitText !== undefined) {
    if (!/^\d+$/.test(limitText)) throw badRequest('limit param must be an integer');
    limit = Math.min(Number(limitText), MAX_LIMIT);
  }
  const marker = queryString(request, 'marker');
  return marker === undefined ? { limit } : { limit, marker };
}

/** The `next` link of a page of `path` ending at `lastId`: the same query, with the marker. */
export function nextLink(
  deps: ApiDeps,
  request: FastifyRequest,
  path: string,
  lastId: string,
  limit: number,
): { rel: string; href: string }[] {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(request.query as Record<string, string | string[]>)) {
    if (k === 'marker') continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
  }
  if (!q.has('limit')) q.set('limit', String(limit));
  q.set('marker', lastId);
  return [{ rel: 'next', href: `${deps.publicUrl}/compute/v2.1/${path}?${q.toString()}` }];
}

/** One page of `items` (in their order) after the one whose `key` is `marker`; 400 for a marker not among them. */
export function pageItems<T>(
  items: readonly T[],
  page: { limit: number; marker?: string },
  key: (item: T) => string,
): { shown: T[]; more: boolean } {
  let from = 0;
  if (page.marker !== undefined) {
    const at = items.findIndex((item) => key(item) === page.marker);
    if (at < 0) throw badRequest(`marker [${page.marker}] not found`);
    from = at + 1;
  }
  const rest = items.slice(from);
  return { shown: rest.slice(0, page.limit), more: rest.length > page.limit };
}

/** A list's time filter (`changes-since`, `changes-before`) as milliseconds; 400 for a time that does not parse. */
export function timeFilter(request: FastifyRequest, name: string): number | undefined {
  const value = queryString(request, name);
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw badRequest(`Invalid input for query parameters ${name}. Value: ${value}.`);
  return at;
}
