/**
 * The parts of Glance's image list query that need more than a lookup: the size bounds and the
 * order (glance/api/v2/images.py `RequestDeserializer.index`).
 */
import type { FastifyRequest } from 'fastify';
import type { ImageSortKey } from '../../db/index.js';
import { queryAll, queryString } from '../context.js';
import { badRequest } from '../faults.js';

/** A size filter's bytes (`size`, `size_min`, `size_max`); 400 for other than a whole number. */
export function sizeFilter(request: FastifyRequest, name: string): number | undefined {
  const value = queryString(request, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw badRequest(`Invalid value for ${name}: ${value}`);
  return Number(value);
}

const SORT_KEYS: ReadonlySet<string> = new Set<ImageSortKey['key']>([
  ...(['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'] as const),
]);

/**
 * The order asked for (glance/api/v2/images.py `_get_sorting_params`): `sort=key:dir,…`, or
 * `sort_key` (repeated) with `sort_dir` (one for all, or one each); not both forms. Each
 * direction is `asc` or `desc` (default `desc`); an unknown key or direction is a 400.
 */
export function sortOf(request: FastifyRequest): ImageSortKey[] | undefined {
  const sort = queryString(request, 'sort');
  const keys = queryAll(request, 'sort_key');
  const dirs = queryAll(request, 'sort_dir');
  if (sort !== undefined && (keys.length > 0 || dirs.length > 0)) {
    throw badRequest('The sort param cannot be used with sort_key and sort_dir.');
  }
  const pairs: [string, string][] =
    sort !== undefined
      ? sort.split(',').map((part) => {
          const [key = '', dir = 'desc', ...rest] = part.trim().split(':');
          if (rest.length > 0) throw badRequest(`Invalid sort: ${part}`);
          return [key, dir];
        })
      : keys.map((key, i) => [key, dirs.length === 1 ? (dirs[0] ?? 'desc') : (dirs[i] ?? 'desc')]);
  if (sort === undefined && dirs.length > 1 && dirs.length !== keys.length) {
    throw badRequest('The number of sort_dir and sort_key values must match.');
  }
  if (pairs.length === 0) return undefined;
  return pairs.map(([key, dir]) => {
    if (!SORT_KEYS.has(key)) throw badRequest(`Invalid sort key: ${key}.`);
    if (dir !== 'asc' && dir !== 'desc') throw badRequest(`Invalid sort direction: ${dir}`);
    return { key: key as ImageSortKey['key'], dir };
  });
}
