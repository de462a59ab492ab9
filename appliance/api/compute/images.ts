/**
 * Nova's image proxy (`/images`, microversions 2.1 to 2.35, its metadata to 2.38; a 404
 * after, where Nova removed them for Glance's own API): the images the caller sees in Glance (appliance/api/image),
 * in Nova's shape, with Nova's filters (`name`, `status`, `changes-since`, `server` (its id or
 * URL), `type`, `minRam`, `minDisk`, `property-*`) and paging; an image's properties as its `metadata`, which its owner
 * changes here as through Glance; and its deletion, Glance's.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Image } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, queryString, requireWriter } from '../context.js';
import { ApiError, badRequest, forbidden, notFound } from '../faults.js';
import { deleteImage } from '../image/routes.js';
import { visibleImage } from '../image/visibility.js';
import { body, isObject, metadataField } from './fields.js';
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf } from './paging.js';

const STATUS: Readonly<Record<string, string>> = {
  active: 'ACTIVE',
  queued: 'SAVING',
  saving: 'SAVING',
  deleted: 'DELETED',
  killed: 'ERROR',
};
const PROGRESS: Readonly<Record<string, number>> = { ACTIVE: 100, SAVING: 25 };
const time = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

export function registerImages(app: FastifyInstance, deps: ApiDeps): void {
  const base = deps.publicUrl;
  const imageLinks = (id: string) => [
    { rel: 'self', href: `${base}/compute/v2.1/images/${id}` },
    { rel: 'bookmark', href: `${base}/compute/images/${id}` },
    { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${base}/image/images/${id}` },
  ];
  const basic = (i: Image) => ({ id: i.id, name: i.name, links: imageLinks(i.id) });
  const detail = (i: Image) => {
    const status = STATUS[i.status] ?? 'UNKNOWN';
    const server = i.properties.instance_uuid;
    return {
      ...basic(i),
      minRam: i.minRam,
      minDisk: i.minDisk,
      metadata: i.properties,
      created: time(i.createdAt),
      updated: time(i.updatedAt),
      status,
      progress: PROGRESS[status] ?? 0,
      'OS-EXT-IMG-SIZE:size': i.size,
      ...(server === undefined
        ? {}
        : {
            server: {
              id: server,
              links: [
                { rel: 'self', href: `${base}/compute/v2.1/servers/${server}` },
                { rel: 'bookmark', href: `${base}/compute/servers/${server}` },
              ],
            },
          }),
    };
  };

  /** The proxy is gone from 2.36, its metadata part from 2.39: a 404 as for any unknown URL. */
  const guardUntil = (gone: string) => (request: FastifyRequest) => {
    if (atLeast(request, gone)) throw notFound('The resource could not be found.');
    return authOf(request);
  };
  const guard = guardUntil('2.36');
  const metadataGuard = guardUntil('2.39');
  const shown = async (auth: AuthContext, id: string) => {
    const image = await visibleImage(deps.db, auth, id);
    if (!image) throw notFound('Image not found.');
    return image;
  };
  /** An image its caller may change: its own project's, or any for the cloud admin (403 otherwise). */
  const owned = async (auth: AuthContext, id: string) => {
    const image = await shown(auth, id);
    requireWriter(auth);
    if (!auth.isCloudAdmin && image.owner !== auth.project?.id)
      throw forbidden(`You are not permitted to modify image ${id}.`);
    return image;
  };
  /** Writes an image's properties, within the project's `metadata_items` quota (403 past it). */
  const saveMetadata = async (auth: AuthContext, image: Image, properties: Record<string, string>) => {
    const quotas = await deps.db.quotas.get(auth.project?.id ?? image.owner);
    const limit = quotas.metadata_items;
    if (limit >= 0 && Object.keys(properties).length > limit) {
      throw new ApiError(403, 'Quota exceeded for metadata_items', 'API_ERR_QUOTA');
    }
    return deps.db.images.update(image.id, { properties, updatedAt: new Date().toISOString() });
  };

  const list = async (request: FastifyRequest) => {
    const auth = guard(request);
    const page = pageOf(request);
    const q = (name: string) => queryString(request, name);
    const changesSince = q('changes-since');
    if (changesSince !== undefined && Number.isNaN(Date.parse(changesSince))) {
      throw badRequest(`Invalid input for query parameters changes-since. Value: ${changesSince}.`);
    }
    const atLeastInt = (name: string) => {
      const v = q(name);
      if (v !== undefined && !/^\d+$/.test(v)) throw badRequest(`Invalid ${name} filter: ${v}`);
      return v === undefined ? 0 : Number(v);
    };
    const [minRam, minDisk] = [atLeastInt('minRam'), atLeastInt('minDisk')];
    // Properties, as Glance's list takes them: Nova's `property-*`, `type`, and `server`, the
    // server's id or its URL (`…/servers/{id}`), as its links give it.
    const properties: Record<string, string> = {};
    for (const name of Object.keys(request.query as Record<string, unknown>))
      if (name.startsWith('property-')) properties[name.slice('property-'.length)] = q(name) ?? '';
    const server = q('server')?.split('/').at(-1);
    if (server !== undefined) properties.instance_uuid = server;
    const type = q('type');
    if (type !== undefined) properties.image_type = type;
    const images = (
      await deps.db.images.list(
        { projectId: auth.project?.id ?? '', admin: auth.isCloudAdmin, memberStatus: 'accepted', properties },
        { limit: Number.MAX_SAFE_INTEGER },
      )
    ).filter(
      (i) =>
        (q('name') === undefined || i.name === q('name')) &&
        (q('status') === undefined || STATUS[i.status] === q('status')?.toUpperCase()) &&
        (changesSince === undefined || Date.parse(i.updatedAt) >= Date.parse(changesSince)) &&
        i.minRam >= minRam &&
        i.minDisk >= minDisk,
    );
    const { shown, more } = pageItems(images, page, (i) => i.id);
    const last = shown.at(-1);
    const path = request.url.includes('/images/detail') ? 'images/detail' : 'images';
    return { shown, links: more && last ? { images_links: nextLink(deps, request, path, last.id, page.limit) } : {} };
  };

  app.get('/images', async (request) => {
    const { shown, links } = await list(request);
    return { images: shown.map(basic), ...links };
  });
  app.get('/images/detail', async (request) => {
    const { shown, links } = await list(request);
    return { images: shown.map(detail), ...links };
  });
  app.get('/images/:id', async (request) => {
    const { id } = request.params as { id: string };
    return { image: detail(await shown(guard(request), id)) };
  });
  app.delete('/images/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await deleteImage(deps, await owned(guard(request), id));
    return reply.code(204).send();
  });

  app.get('/images/:id/metadata', async (request) => {
    const { id } = request.params as { id: string };
    return { metadata: (await shown(metadataGuard(request), id)).properties };
  });
  // POST merges into the metadata, PUT replaces it.
  for (const method of ['POST', 'PUT'] as const) {
    app.route({
      method,
      url: '/images/:id/metadata',
      handler: async (request) => {
        const auth = metadataGuard(request);
        const { id } = request.params as { id: string };
        const image = await owned(auth, id);
        const b = request.body;
        if (!isObject(b)) throw badRequest("Invalid input: 'metadata' is a required property");
        const change = metadataField(b.metadata, Number.MAX_SAFE_INTEGER);
        const saved = await saveMetadata(auth, image, method === 'POST' ? { ...image.properties, ...change } : change);
        return { metadata: saved.properties };
      },
    });
  }
  app.get('/images/:id/metadata/:key', async (request) => {
    const { id, key } = request.params as { id: string; key: string };
    const value = (await shown(metadataGuard(request), id)).properties[key];
    if (value === undefined) throw notFound(`Image ${id} has no metadata ${key}.`);
    return { meta: { [key]: value } };
  });
  app.put('/images/:id/metadata/:key', async (request) => {
    const auth = metadataGuard(request);
    const { id, key } = request.params as { id: string; key: string };
    const image = await owned(auth, id);
    const meta = metadataField(body(request, 'meta'), 1);
    if (Object.keys(meta).length !== 1 || meta[key] === undefined) throw badRequest('Request body and URI mismatch');
    await saveMetadata(auth, image, { ...image.properties, ...meta });
    return { meta };
  });
  app.delete('/images/:id/metadata/:key', async (request, reply) => {
    const auth = metadataGuard(request);
    const { id, key } = request.params as { id: string; key: string };
    const image = await owned(auth, id);
    if (image.properties[key] === undefined) throw notFound(`Image ${id} has no metadata ${key}.`);
    const { [key]: _removed, ...rest } = image.properties;
    await saveMetadata(auth, image, rest);
    return reply.code(204).send();
  });
}
