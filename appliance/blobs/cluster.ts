import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DB_ERRORS, DbError, type BlobStore as NamedBlobs } from '../dbmaster/index.js';
import type { BlobStat, BlobStore } from './local.js';

/** What the blob named by the key holds: where its bytes are. */
interface Manifest {
  size: number;
  pieceBytes: number;
  /** Names the pieces of one upload: `<key>.<generation>.<index>`. */
  generation: string;
  pieces: number;
}

/**
 * Pieces stay well under RADOS's largest object (`osd_max_object_size`, 128 MiB by default),
 * and one piece is what an upload holds in memory.
 */
export const PIECE_BYTES = 32 * 1024 * 1024;

const missing = (error: unknown): boolean => error instanceof DbError && error.code === DB_ERRORS.BLOB_NOT_FOUND;
const pieceName = (key: string, manifest: Pick<Manifest, 'generation'>, index: number) =>
  `${key}.${manifest.generation}.${index}`;

/**
 * Image bytes in the cluster's blob store (RADOS objects, see `openBlobStore`), seen through
 * the API's BlobStore. An image is cut into pieces of `pieceBytes` (RADOS objects have a
 * maximum size), then a small manifest under its key names them: a reader sees the old bytes
 * or the new, never half an upload, and an upload that fails leaves nothing behind.
 */
export function clusterBlobStore(blobs: NamedBlobs, options: { pieceBytes?: number } = {}): BlobStore {
  const pieceBytes = options.pieceBytes ?? PIECE_BYTES;
  const manifestOf = async (key: string): Promise<Manifest | null> => {
    try {
      return JSON.parse((await blobs.get(key)).toString('utf8')) as Manifest;
    } catch (error) {
      if (missing(error)) return null;
      throw error;
    }
  };
  const removePieces = async (key: string, manifest: Pick<Manifest, 'generation' | 'pieces'>) => {
    for (let i = 0; i < manifest.pieces; i++) {
      await blobs.remove(pieceName(key, manifest, i)).catch((error: unknown) => {
        if (!missing(error)) throw error;
      });
    }
  };

  return {
    put: async (key: string, data: Readable): Promise<BlobStat> => {
      const upload = { generation: randomBytes(6).toString('hex'), pieces: 0 };
      let size = 0;
      try {
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const flush = async (bytes: number) => {
          const joined = Buffer.concat(pending);
          await blobs.put(pieceName(key, upload, upload.pieces), joined.subarray(0, bytes));
          upload.pieces++;
          const rest = joined.subarray(bytes);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        };
        for await (const chunk of data as AsyncIterable<Buffer | string>) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          pending.push(bytes);
          pendingBytes += bytes.length;
          size += bytes.length;
          while (pendingBytes >= pieceBytes) await flush(pieceBytes);
        }
        if (pendingBytes > 0) await flush(pendingBytes);
      } catch (error) {
        await removePieces(key, upload);
        throw error;
      }
      const previous = await manifestOf(key);
      const manifest: Manifest = { size, pieceBytes, ...upload };
      await blobs.put(key, Buffer.from(JSON.stringify(manifest)));
      if (previous) await removePieces(key, previous);
      return { size };
    },

    get: async (key, range) => {
      const found = await manifestOf(key);
      if (!found) throw new DbError(DB_ERRORS.BLOB_NOT_FOUND, `no blob named ${key}`);
      const manifest: Manifest = found;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? manifest.size - 1, manifest.size - 1);
      async function* bytes(): AsyncGenerator<Buffer> {
        for (let i = Math.floor(start / manifest.pieceBytes); i * manifest.pieceBytes <= end; i++) {
          const base = i * manifest.pieceBytes;
          const within = { start: Math.max(start - base, 0), end: Math.min(end - base, manifest.pieceBytes - 1) };
          for await (const chunk of await blobs.getStream(pieceName(key, manifest, i), within)) yield chunk as Buffer;
        }
      }
      return Readable.from(bytes(), { objectMode: false });
    },

    delete: async (key) => {
      const manifest = await manifestOf(key);
      if (!manifest) return;
      await blobs.remove(key);
      await removePieces(key, manifest);
    },

    stat: async (key) => {
      const manifest = await manifestOf(key);
      return manifest ? { size: manifest.size } : null;
    },
  };
}
