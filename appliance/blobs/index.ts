/**
 * appliance/blobs — where image bytes live: a small interface (put, get with a range,
 * delete, stat), implemented by a local directory in the embedded default and by RADOS
 * objects in a cluster.
 */
export { clusterBlobStore } from './cluster.js';
export { type BlobStat, type BlobStore, LocalBlobStore } from './local.js';
