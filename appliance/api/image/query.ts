/**
 * The parts of Glance's image list query that need more than a lookup: the size bounds, the
 * order and the extra properties (glance/api/v2/images.py `RequestDeserializer.index`).
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

/**
 * The list's own parameters and an image's base attributes: any other query parameter filters
 * by an extra property (glance/db/sqlalchemy/api.py `_make_conditions_from_filters`).
 */
const NOT_PROPERTIES: ReadonlySet<string> = new Set([
  ...['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'visibility', 'member_status', 'tag', 'size_min'],
  ...['size_max', 'id', 'name', 'status', 'owner', 'container_format', 'disk_format', 'size', 'virtual_size'],
  ...['min_ram', 'min_disk', 'checksum', 'os_hash_algo', 'os_hash_value', 'protected', 'os_hidden'],
  ...['created_at', 'updated_at', 'direct_url', 'locations', 'schema', 'self', 'file'],
]);

/** The extra properties asked for (`?instance_uuid=…&image_type=backup`), each an exact match; undefined for none. */
export function propertyFilter(request: FastifyRequest): Record<string, string> | undefined {
  const query = request.query as Record<string, unknown>;
  const entries = Object.keys(query)
    .filter((key) => !NOT_PROPERTIES.has(key))
    .map((key) => [key, queryString(request, key) ?? ''] as const);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
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
