import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, publicImage, startTestApi, tenant, tokenFor } from './api-helpers.js';

interface Property {
  type?: string | string[];
  enum?: unknown[];
}
interface Schema {
  name: string;
  properties: Record<string, Property>;
  additionalProperties: Property;
  links: { rel: string; href: string }[];
}

/** JSON schema's name for the type of `value`. */
const typeOf = (value: unknown): string =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : Number.isInteger(value)
        ? 'integer'
        : typeof value === 'object'
          ? 'object'
          : typeof value;

/** The fields of `image` that `schema` would refuse (glanceclient validates with it, both ways). */
function violations(schema: Schema, image: Record<string, unknown>): string[] {
  return Object.entries(image).flatMap(([key, value]) => {
    const property = schema.properties[key] ?? schema.additionalProperties;
    const types = [property.type ?? []].flat();
    if (types.length && !types.includes(typeOf(value)) && !(typeOf(value) === 'integer' && types.includes('number')))
      return [`${key}: ${typeOf(value)} is not ${types.join('|')}`];
    if (property.enum && !property.enum.includes(value)) return [`${key}: ${String(value)} not in its enum`];
    return [];
  });
}

// Glance's image schemas, which glanceclient (Horizon's, the CLI's) checks every image it sends
// and reads against.
describe('Glance v2 image schemas', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let member: string;
  let image: Record<string, unknown>;
  const get = async (url: string) =>
    (await t.api.app.inject({ method: 'GET', url: `/image/v2${url}`, headers: { 'x-auth-token': member } })).json();

  beforeAll(async () => {
    t = await startTestApi();
    const admin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    member = await tenant(t.api, admin, 'schemas', 'member');
    const id = await publicImage(t.api, admin);
    await t.api.app.inject({
      method: 'PATCH',
      url: `/image/v2/images/${id}`,
      headers: { 'x-auth-token': admin, 'content-type': 'application/openstack-images-v2.1-json-patch' },
      payload: [{ op: 'add', path: '/hw_disk_bus', value: 'virtio' }],
    });
    image = await get(`/images/${id}`);
  });
  afterAll(async () => t.stop());

  // Horizon's Create Image form sends protected: false; the schema said nothing of `protected`,
  // so glanceclient took it for an extra property (a string) and refused to send the image.
  it("describes Glance's base properties with their types, so that a client sends booleans and integers", async () => {
    const schema = (await get('/schemas/image')) as Schema;
    expect(schema.name).toBe('image');
    expect(schema.additionalProperties).toEqual({ type: 'string' });
    expect(Object.keys(schema.properties).sort()).toEqual(
      [
        'checksum',
        'container_format',
        'created_at',
        'direct_url',
        'disk_format',
        'file',
        'id',
        'locations',
        'min_disk',
        'min_ram',
        'name',
        'os_hash_algo',
        'os_hash_value',
        'os_hidden',
        'owner',
        'protected',
        'schema',
        'self',
        'size',
        'status',
        'stores',
        'tags',
        'updated_at',
        'virtual_size',
        'visibility',
      ].sort(),
    );
    const sent = { name: 'x', protected: false, os_hidden: false, min_ram: 0, min_disk: 0, disk_format: 'raw' };
    expect(violations(schema, { ...sent, container_format: 'bare', visibility: 'shared', tags: [] })).toEqual([]);
    expect(violations(schema, { protected: 'no', min_ram: 1.5, disk_format: 'floppy' })).toEqual([
      'protected: string is not boolean',
      'min_ram: number is not integer',
      'disk_format: floppy not in its enum',
    ]);
    expect(schema.links.map((l) => l.rel)).toEqual(['self', 'enclosure', 'describedby']);
  });

  it('fits every image it shows, extra properties included', async () => {
    const schema = (await get('/schemas/image')) as Schema;
    expect(image.hw_disk_bus).toBe('virtio');
    expect(violations(schema, image)).toEqual([]);
    const list = await get('/schemas/images');
    expect(list.properties.images).toEqual({ type: 'array', items: schema });
    expect(Object.keys(list.properties)).toEqual(['images', 'first', 'next', 'schema']);
  });
});
