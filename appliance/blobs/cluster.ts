import { DB_ERRORS, DbError, type BlobStore as NamedBlobs } from '../dbmaster/index.js';
import type { BlobStore } from './local.js';

const missing = (error: unknown): boolean => error instanceof DbError && error.code === DB_ERRORS.BLOB_NOT_FOUND;

/**
 * Image bytes in the cluster's blob store (RADOS objects, see `openBlobStore`), seen through
 * the API's BlobStore. Unlike the local directory, an upload cut short leaves a partial object
 * under its key (RADOS has no rename); Glance never marks such an image active.
 */
export function clusterBlobStore(blobs: NamedBlobs): BlobStore {
  return {
    put: async (key, data) => {
      await blobs.putStream(key, data);
      return { size: await blobs.size(key) };
    },
    get: (key, range) => blobs.getStream(key, range),
    delete: async (key) => {
      await blobs.remove(key).catch((error: unknown) => {
        if (!missing(error)) throw error;
      });
    },
    stat: async (key) => {
      try {
        return { size: await blobs.size(key) };
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
  };
}
