import { createHash, randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DbConflictError, type Image, type ImageFilter } from '../../db/index.js';
import {
  administers,
  type ApiDeps,
  type AuthContext,
  authOf,
  queryAll,
  queryString,
  requireCloudAdmin,
  requireToken,
  requireWriter,
} from '../context.js';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../faults.js';
import { CONTAINER_FORMATS, DISK_FORMATS, imageSchema, imagesSchema, VISIBILITIES } from './image-schema.js';
import { imageMemberRoutes } from './members.js';
import { metadefRoutes } from './metadefs.js';
import { propertyFilter, sizeFilter, sortOf } from './query.js';
import { imageView } from './views.js';
import { visibleImage } from './visibility.js';

const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 1000;

/** Base properties a client may set (glance/api/v2/images.py); others are read-only or extra. */
const WRITABLE = new Set([
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_ram',
  'min_disk',
  'disk_format',
  'container_format',
  'tags',
]);
const READ_ONLY = new Set([
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'file',
  'self',
  'schema',
  'direct_url',
  'locations',
]);
const MEMBER_STATUSES = new Set(['pending', 'accepted', 'rejected', 'all']);

type ImagePatch = Partial<Omit<Image, 'id'>>;

/** Validates one property assignment and folds it into `patch` (and `properties`). */
function setProperty(
  patch: ImagePatch,
  properties: Record<string, string>,
  key: string,
  value: unknown,
  auth: AuthContext,
): void {
  if (READ_ONLY.has(key) || key === 'id') throw forbidden(`Attribute '${key}' is read-only.`);
  if (key === 'owner') {
    requireCloudAdmin(auth);
    if (typeof value !== 'string') throw badRequest('owner must be a string');
    patch.owner = value;
    return;
  }
  if (!WRITABLE.has(key)) {
    if (typeof value !== 'string' || key.length > 255 || value.length > 65535) {
      throw badRequest(`Property ${key} must be a string`);
    }
    properties[key] = value;
    return;
  }
  switch (key) {
    case 'name':
      if (value !== null && (typeof value !== 'string' || value.length > 255)) throw badRequest('Invalid name');
      patch.name = value as string | null;
      return;
    case 'visibility':
      if (typeof value !== 'string' || !VISIBILITIES.has(value))
        throw badRequest(`Invalid visibility value: ${String(value)}`);
      if (value === 'public') requireCloudAdmin(auth);
      patch.visibility = value as Image['visibility'];
      return;
    case 'protected':
    case 'os_hidden':
      if (typeof value !== 'boolean') throw badRequest(`Invalid value for ${key}: must be a boolean`);
      if (key === 'protected') patch.protected = value;
      else patch.osHidden = value;
      return;
    case 'min_ram':
    case 'min_disk':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
        throw badRequest(`Invalid value for ${key}`);
      if (key === 'min_ram') patch.minRam = value;
      else patch.minDisk = value;
      return;
    case 'disk_format':
      if (value !== null && (typeof value !== 'string' || !DISK_FORMATS.has(value)))
        throw badRequest(`Invalid disk format '${String(value)}'`);
      patch.diskFormat = value as string | null;
      return;
    case 'container_format':
      if (value !== null && (typeof value !== 'string' || !CONTAINER_FORMATS.has(value))) {
        throw badRequest(`Invalid container format '${String(value)}'`);
      }
      patch.containerFormat = value as string | null;
      return;
    case 'tags':
      if (!Array.isArray(value) || value.some((t) => typeof t !== 'string' || t.length > 255))
        throw badRequest('Invalid tags');
      patch.tags = [...new Set(value as string[])];
      return;
  }
}

/** The JSON-patch media types Glance takes (v2.1 is RFC 6902 style, v2.0 the older `{op: path}` form). */
const PATCH_TYPES = ['application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch'];

interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

function patchOps(request: FastifyRequest): PatchOp[] {
  const contentType = String(request.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim();
  if (!contentType || !PATCH_TYPES.includes(contentType)) {
    throw new ApiError(415, `Unsupported Content-Type: use ${PATCH_TYPES[0]}`, 'API_ERR_MEDIA_TYPE');
  }
  const body = request.body;
  if (!Array.isArray(body)) throw badRequest('Request body must be a JSON array of operation objects.');
  return body.map((raw): PatchOp => {
    if (typeof raw !== 'object' || raw === null) throw badRequest('Operations must be JSON objects.');
    const o = raw as Record<string, unknown>;
    if (typeof o.op === 'string' && typeof o.path === 'string') {
      if (!['add', 'replace', 'remove'].includes(o.op)) throw badRequest(`Invalid operation: ${o.op}`);
      return { op: o.op as PatchOp['op'], path: o.path, value: o.value };
    }
    for (const op of ['add', 'replace', 'remove'] as const) {
      if (typeof o[op] === 'string') return { op, path: o[op] as string, value: o.value };
    }
    throw badRequest('Unable to find a supported operation in the patch.');
  });
}

/** Counts and hashes bytes as they stream by (Glance's checksum is MD5, os_hash sha512). */
class Hasher extends Transform {
  readonly md5 = createHash('md5');
  readonly sha512 = createHash('sha512');
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null, c?: Buffer) => void): void {
    this.md5.update(chunk);
    this.sha512.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }
}

/**
 * The bootable copy of a raw or qcow2 image, in a cluster: its virtual size, or null when it has
 * none (another format, the embedded mode, or qcow2 bytes that do not convert: Glance accepts any
 * bytes on upload, and a server of such an image fails with a fault that says why). A full pool
 * refuses the upload (413, as Glance's store does) and leaves no bytes behind.
 */
async function bootableCopy(deps: ApiDeps, image: Image, id: string): Promise<number | null> {
  const format = image.diskFormat;
  if (!deps.bootableImages || (format !== 'raw' && format !== 'qcow2')) return null;
  try {
    return (await deps.bootableImages.create(id, format, () => deps.blobs.get(id))).virtualSize;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'RBD_ERR_POOL_FULL') {
      await deps.blobs.delete(id);
      await deps.db.images.update(id, { status: 'queued', updatedAt: new Date().toISOString() });
      throw new ApiError(
        413,
        'Image storage media is full: there is not enough room for the image.',
        'API_ERR_STORE_FULL',
      );
    }
    if (code !== 'RBD_ERR_CONVERT') throw error;
    return null;
  }
}

/**
 * Deletes an image its caller may delete (its owner's project, or the cloud admin): refused
 * while protected (403) or while servers' disks are clones of it (409); its bootable copy,
 * record and data go.
 */
export async function deleteImage(deps: Pick<ApiDeps, 'db' | 'blobs' | 'bootableImages'>, image: Image): Promise<void> {
  if (image.protected) throw forbidden(`Image ${image.id} is protected and cannot be deleted.`);
  try {
    await deps.bootableImages?.remove(image.id);
  } catch (error) {
    if ((error as { code?: string }).code !== 'RBD_ERR_HAS_CHILDREN') throw error;
    throw conflict(`Image ${image.id} could not be deleted because it is in use: servers' disks are clones of it.`);
  }
  await deps.db.images.delete(image.id);
  await deps.blobs.delete(image.id);
}

/**
 * Glance v2 under `/image`: images (create, list with its filters and order, show, JSON-patch update, delete), their
 * bytes (chunked upload, streamed download with ranges), tags, visibility, members,
 * (de)activation.
 */
export async function imageRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const db = deps.db;
  const base = deps.publicUrl;

  app.addContentTypeParser(PATCH_TYPES, { parseAs: 'string' }, (_req, text, done) => {
    try {
      done(null, JSON.parse(String(text)));
    } catch {
      done(badRequest('Malformed JSON in the request body.'));
    }
  });
  // Image bytes are streamed to the blob store, never buffered.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  const versions = {
    versions: ['2.16', '2.15', '2.9', '2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1', '2.0'].map((v, i) => ({
      id: `v${v}`,
      status: i === 0 ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href: `${base}/image/v2/` }],
    })),
  };
  app.get('/', async (_req, reply) => reply.code(300).send(versions));
  app.get('/versions', async () => versions);

  const shownImage = async (auth: AuthContext, id: string): Promise<Image> => {
    const image = await visibleImage(db, auth, id);
    if (!image) throw notFound(`No image found with ID ${id}`);
    return image;
  };
  const ownedImage = async (auth: AuthContext, id: string): Promise<Image> => {
    const image = await shownImage(auth, id); // first: another project's image is not found, whoever asks
    requireWriter(auth);
    if (!auth.isCloudAdmin && image.owner !== auth.project?.id)
      throw forbidden(`You are not permitted to modify image ${id}.`);
    return image;
  };

  await app.register(
    async (api) => {
      api.addHook('onRequest', requireToken(deps));

      api.get('/images', async (request) => {
        // The router ignores a trailing slash: `/v2/images/` names an image, the empty one.
        if (request.url.split('?')[0]?.endsWith('/')) throw notFound('No image found with ID ');
        const auth = authOf(request);
        const limitText = queryString(request, 'limit');
        if (limitText !== undefined && !/^\d+$/.test(limitText)) throw badRequest('limit param must be an integer');
        const limit = Math.min(limitText === undefined ? DEFAULT_LIMIT : Number(limitText), MAX_LIMIT);
        const marker = queryString(request, 'marker');
        // glance/api/v2/images.py `RequestDeserializer.index`.
        const visibility = queryString(request, 'visibility');
        if (visibility !== undefined && visibility !== 'all' && !VISIBILITIES.has(visibility))
          throw badRequest(`Invalid visibility value: ${visibility}`);
        const memberStatus = queryString(request, 'member_status') ?? 'accepted';
        if (!MEMBER_STATUSES.has(memberStatus)) throw badRequest(`Invalid status: ${memberStatus}`);
        // The marker is looked up as a shown image is (Glance's `_image_get`): another project's
        // private image is not found, where paging from it would tell that it exists.
        if (marker !== undefined && !(await visibleImage(db, auth, marker)))
          throw badRequest(`marker ${marker} not found`);
        let images: Image[];
        try {
          images = await db.images.list(
            {
              projectId: auth.project?.id ?? '',
              admin: auth.isCloudAdmin,
              memberStatus: memberStatus as ImageFilter['memberStatus'],
              name: queryString(request, 'name'),
              status: queryString(request, 'status'),
              visibility: visibility as ImageFilter['visibility'],
              owner: queryString(request, 'owner'),
              containerFormat: queryString(request, 'container_format'),
              diskFormat: queryString(request, 'disk_format'),
              size: sizeFilter(request, 'size'),
              sizeMin: sizeFilter(request, 'size_min'),
              sizeMax: sizeFilter(request, 'size_max'),
              tags: queryAll(request, 'tag'),
              properties: propertyFilter(request),
              sort: sortOf(request),
            },
            { limit: limit + 1, ...(marker === undefined ? {} : { marker }) },
          );
        } catch (error) {
          if ((error as { code?: string }).code === 'DB_ERR_NOT_FOUND') throw badRequest(`marker ${marker} not found`);
          throw error;
        }
        const shown = images.slice(0, limit);
        const last = shown[shown.length - 1];
        const q = new URLSearchParams(request.query as Record<string, string>);
        q.delete('marker');
        if (last) q.set('marker', last.id);
        return {
          images: shown.map(imageView),
          first: '/v2/images',
          schema: '/v2/schemas/images',
          ...(images.length > limit && last ? { next: `/v2/images?${q.toString()}` } : {}),
        };
      });

      api.post('/images', async (request, reply) => {
        const auth = authOf(request);
        requireWriter(auth);
        const { project } = auth;
        if (!project) throw forbidden('Images need a project-scoped token.');
        const body = request.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw badRequest('The request body must be a JSON object.');
        const fields = body as Record<string, unknown>;
        const patch: ImagePatch = {};
        const properties: Record<string, string> = {};
        for (const [key, value] of Object.entries(fields)) {
          if (key === 'id') continue;
          setProperty(patch, properties, key, value, auth);
        }
        const id = fields.id === undefined ? randomUUID() : String(fields.id);
        if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
          throw badRequest('id must be a UUID');
        const now = new Date().toISOString();
        // One write, no read before it: the insert itself refuses an id already taken.
        const image = await db.images
          .create({
            id,
            name: patch.name ?? null,
            status: 'queued',
            visibility: patch.visibility ?? 'shared',
            protected: patch.protected ?? false,
            osHidden: patch.osHidden ?? false,
            owner: patch.owner ?? project.id,
            checksum: null,
            osHashAlgo: null,
            osHashValue: null,
            size: null,
            virtualSize: null,
            minRam: patch.minRam ?? 0,
            minDisk: patch.minDisk ?? 0,
            diskFormat: patch.diskFormat ?? null,
            containerFormat: patch.containerFormat ?? null,
            tags: patch.tags ?? [],
            properties,
            createdAt: now,
            updatedAt: now,
          })
          .catch((error: unknown) => {
            if (error instanceof DbConflictError) throw conflict(`Image with identifier ${id} already exists!`);
            throw error;
          });
        reply.header('Location', `${base}/image/v2/images/${id}`);
        return reply.code(201).send(imageView(image));
      });

      api.get('/images/:id', async (request) => {
        const { id } = request.params as { id: string };
        return imageView(await shownImage(authOf(request), id));
      });

      api.patch('/images/:id', async (request) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        const ops = patchOps(request);
        const image = await ownedImage(auth, id);
        const patch: ImagePatch = {};
        const properties = { ...image.properties };
        for (const op of ops) {
          const key = op.path.replace(/^\//, '').replace(/~1/g, '/').replace(/~0/g, '~');
          if (!key) throw badRequest(`Invalid path: ${op.path}`);
          if (op.op === 'remove') {
            if (key in properties) delete properties[key];
            else if (WRITABLE.has(key) || READ_ONLY.has(key)) throw forbidden(`Property ${key} may not be removed.`);
            else throw conflict(`Property ${key} does not exist.`);
          } else {
            if (op.value === undefined) throw badRequest(`Operation ${op.op} needs a value.`);
            setProperty(patch, properties, key, op.value, auth);
          }
        }
        const updated = await db.images.update(id, { ...patch, properties, updatedAt: new Date().toISOString() });
        return imageView(updated);
      });

      api.delete('/images/:id', async (request, reply) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        await deleteImage(deps, await ownedImage(auth, id));
        return reply.code(204).send();
      });

      api.put('/images/:id/file', async (request, reply) => {
        const auth = authOf(request);
        const { id } = request.params as { id: string };
        const image = await ownedImage(auth, id);
        const stream = request.body as Readable | undefined;
        if (!stream || typeof stream.pipe !== 'function') {
          throw new ApiError(415, 'Image data must be sent as application/octet-stream', 'API_ERR_MEDIA_TYPE');
        }
        if (image.status !== 'queued')
          throw conflict(`Image status transition from ${image.status} to saving is not allowed`);
        await db.images.update(id, { status: 'saving', updatedAt: new Date().toISOString() });
        const hasher = new Hasher();
        try {
          await deps.blobs.put(id, stream.pipe(hasher));
        } catch (error) {
          await db.images.update(id, { status: 'queued', updatedAt: new Date().toISOString() });
          throw error;
        }
        const virtualSize = await bootableCopy(deps, image, id);
        await db.images.update(id, {
          status: 'active',
          size: hasher.size,
          virtualSize,
          checksum: hasher.md5.digest('hex'),
          osHashAlgo: 'sha512',
          osHashValue: hasher.sha512.digest('hex'),
          updatedAt: new Date().toISOString(),
        });
        return reply.code(204).send();
      });

      api.get('/images/:id/file', async (request, reply) => {
        const { id } = request.params as { id: string };
        const auth = authOf(request);
        const image = await shownImage(auth, id);
        // Glance lets an admin download a deactivated image: here the admin of its project or the cloud's.
        if (image.status === 'deactivated' && !administers(auth, image.owner))
          throw forbidden('The image is deactivated.');
        const stat = await deps.blobs.stat(id);
        if (!stat && image.size !== null) {
          // A server snapshot: its only bytes are its bootable copy on RBD (as Glance's RBD store
          // keeps Nova's direct snapshots), streamed whole.
          const bytes = await deps.bootableImages?.read(id);
          if (bytes) {
            reply.header('Content-Type', 'application/octet-stream');
            reply.header('Content-Length', image.size);
            return reply.code(200).send(bytes);
          }
        }
        if (!stat || image.size === null) return reply.code(204).send();
        reply.header('Content-Type', 'application/octet-stream');
        if (image.checksum) reply.header('Content-MD5', image.checksum);
        const range = /^bytes=(\d+)-(\d*)$/.exec(String(request.headers.range ?? ''));
        if (range) {
          const start = Number(range[1]);
          const end = range[2] ? Math.min(Number(range[2]), stat.size - 1) : stat.size - 1;
          if (start > end) {
            reply.header('Content-Range', `bytes */${stat.size}`);
            throw new ApiError(416, 'Requested range not satisfiable', 'API_ERR_RANGE');
          }
          reply.header('Content-Range', `bytes ${start}-${end}/${stat.size}`);
          reply.header('Content-Length', end - start + 1);
          return reply.code(206).send(await deps.blobs.get(id, { start, end }));
        }
        reply.header('Content-Length', stat.size);
        return reply.code(200).send(await deps.blobs.get(id));
      });

      api.put('/images/:id/tags/:tag', async (request, reply) => {
        const { id, tag } = request.params as { id: string; tag: string };
        const image = await ownedImage(authOf(request), id);
        if (tag.length > 255) throw badRequest('Tag too long');
        if (!image.tags.includes(tag))
          await db.images.update(id, { tags: [...image.tags, tag], updatedAt: new Date().toISOString() });
        return reply.code(204).send();
      });
      api.delete('/images/:id/tags/:tag', async (request, reply) => {
        const { id, tag } = request.params as { id: string; tag: string };
        const image = await ownedImage(authOf(request), id);
        if (!image.tags.includes(tag)) throw notFound(`Tag ${tag} not found`);
        await db.images.update(id, { tags: image.tags.filter((t) => t !== tag), updatedAt: new Date().toISOString() });
        return reply.code(204).send();
      });

      api.post('/images/:id/actions/:action', async (request, reply) => {
        const auth = authOf(request);
        const { id, action } = request.params as { id: string; action: string };
        const image = await shownImage(auth, id);
        // Glance's deactivate and reactivate are an admin's: the image's project's or the cloud's.
        if (!administers(auth, image.owner)) throw forbidden();
        const [from, to] =
          action === 'deactivate'
            ? ['active', 'deactivated']
            : action === 'reactivate'
              ? ['deactivated', 'active']
              : ['', ''];
        if (!to) throw notFound(`No such action: ${action}`);
        if (image.status !== from && image.status !== to)
          throw forbidden(`Not allowed to ${action} an image in status ${image.status}`);
        await db.images.update(id, { status: to as Image['status'], updatedAt: new Date().toISOString() });
        return reply.code(204).send();
      });

      imageMemberRoutes(api, db);
      metadefRoutes(api, deps);

      api.get('/schemas/image', async () => imageSchema());
      api.get('/schemas/images', async () => imagesSchema());
    },
    { prefix: '/v2' },
  );
}
