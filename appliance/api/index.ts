/**
 * appliance/api — the OpenStack-compatible API (Keystone v3, Nova v2.1, Glance v2, minimal
 * Neutron v2.0) on one fastify app, over the cloud database, a blob store and a compute driver;
 * on a cluster node, its Prometheus metrics at `/metrics` (ApiMetrics); the web dashboard at
 * `/dashboard/` (a cluster node's with the rack: RackSource).
 */
export { type Api, type ApiOptions, createApi } from './app.js';
export { bootstrapCloud, ROLES } from './bootstrap.js';
export type { BootableImages } from './context.js';
export { DEFAULT_SECURITY_COMPLIANCE, type SecurityCompliance } from './identity/security-compliance.js';
export { ApiMetrics } from './metrics.js';
export type { RackSource } from './dashboard/rack.js';
export { MAX_VERSION as NOVA_MAX_MICROVERSION } from './compute/microversions.js';
