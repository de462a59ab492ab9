import { randomUUID } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { BlobStore } from '../blobs/index.js';
import { type ComputeDriver, type PlacementConfig, ServerService } from '../compute/index.js';
import type { CloudDb } from '../db/index.js';
import { computeRoutes } from './compute/routes.js';
import { shelvedImages } from './compute/server-shelve.js';
import type { ApiDeps, BootableImages } from './context.js';
import { type DashboardAssets, loadDashboardAssets } from './dashboard/assets.js';
import type { RackFeed } from './dashboard/feed.js';
import type { RackSource } from './dashboard/rack.js';
import { DASHBOARD_PREFIX, type DashboardOptions, dashboardRoutes } from './dashboard/routes.js';
import { codeOf, type FaultStyle, faultBody, headersOf, messageOf, statusOf } from './faults.js';
import { sealedCredentials, sealStoredCredentials } from './identity/credential-seal.js';
import { DEFAULT_LOGIN_LIMITS, type LoginLimitOptions, LoginLimits } from './identity/logins.js';
import { identityRoutes } from './identity/routes.js';
import { DEFAULT_SECURITY_COMPLIANCE, type SecurityCompliance } from './identity/security-compliance.js';
import { type TokenOptions, TokenService } from './identity/tokens.js';
import { imageRoutes } from './image/routes.js';
import { type ApiMetrics, serveMetrics } from './metrics.js';
import { networkRoutes } from './network/routes.js';

/** What `createApi` needs: the database, the blob store, the compute driver and where it is reached. */
export interface ApiOptions {
  db: CloudDb;
  blobs: BlobStore;
  /** A cluster's bootable copies of images (RBD), which the `qemu` driver's servers boot from. */
  bootableImages?: BootableImages;
  driver: ComputeDriver;
  /** The key credentials' blobs are sealed with in the database (32 bytes; credential-seal.ts). */
  credentialKey: Buffer;
  /** The URL clients reach the API at (catalog and links), e.g. `https://127.0.0.1:5000`. */
  publicUrl: string;
  /**
   * The listener's TLS (`https.createServer`'s options): a certificate (PEM, chain allowed) and
   * its key, HTTPS only, TLS 1.2 or later. A cluster node's (NodeTls.apiServerOptions) also asks
   * for a client certificate from the cluster CA without requiring one (its clients are the
   * OpenStack SDKs, tempest, browsers; `/metrics` needs one). Without it, plain HTTP: for tests
   * and benchmarks of the API alone (`cloud serve` always gives one).
   */
  tls?: ServerOptions;
  /** Counts the requests and serves `GET /metrics` (a cluster node's API); without it, `/metrics` is 404. */
  metrics?: ApiMetrics;
  region?: string;
  /** pino level for the API's log (default `warn`: 5xx only; `info` adds each 4xx once). */
  logLevel?: string;
  /** Largest JSON body accepted, in bytes (image bytes are streamed and not limited by it). */
  bodyLimit?: number;
  /** The scheduler's placement setting in force (default: Nova's). */
  placement?: () => PlacementConfig;
  /** Token lifetime and signing-key rotation (default: 1 h tokens, a new key a day, 3 kept). */
  tokens?: Partial<TokenOptions>;
  /** Failed logins let through per source address (default {@link DEFAULT_LOGIN_LIMITS}). */
  logins?: Partial<LoginLimitOptions>;
  /**
   * Keystone's `[security_compliance]`: users' lockout, password history, age, expiry and rules
   * (default {@link DEFAULT_SECURITY_COMPLIANCE}).
   */
  securityCompliance?: Partial<SecurityCompliance>;
  /** The clock, in ms since the epoch (default `Date.now`): tokens, key rotation, login limits. */
  now?: () => number;
  /**
   * The web dashboard at `/dashboard/`: a cluster node's rack (its etcd Store and the elections
   * to report; without one, one machine: the project view only), the built assets (default:
   * those compiled beside the module, none when running from sources) and timings for tests.
   */
  dashboard?: {
    rack?: RackSource;
    assets?: DashboardAssets | null;
    feed?: DashboardOptions['feed'];
    heartbeatMs?: number;
  };
}

/** The running API: the fastify app, its services, and counts of the errors it answered, by code. */
export interface Api {
  app: FastifyInstance;
  servers: ServerService;
  tokens: TokenService;
  errors: Map<string, number>;
  /** The dashboard's live rack feed (a cluster node's), null on one machine. */
  rackFeed: RackFeed | null;
}

/**
 * Builds the OpenStack-compatible API on one fastify app, with path prefixes
 * `/identity` (Keystone v3), `/compute` (Nova v2.1), `/image` (Glance v2) and `/network`
 * (Neutron v2.0). Each prefix answers errors in its service's own fault format. The web
 * dashboard is served at `/dashboard/` (appliance/api/dashboard/).
 */
export async function createApi(options: ApiOptions): Promise<Api> {
  const app = Fastify({
    https: options.tls ? { ...options.tls, minVersion: 'TLSv1.2' } : null,
    logger: { level: options.logLevel ?? 'warn' },
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // OpenStack request ids: every answer carries one, logs name it.
    genReqId: () => `req-${randomUUID()}`,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Nova ids like `9223372036854775808` or `-1` are not ours, but must route (then 404).
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: true },
  });
  const now = options.now ?? (() => Date.now());
  const tokens = await TokenService.open(options.db, options.tokens, now);
  const servers = new ServerService(
    options.db,
    options.driver,
    app.log,
    options.placement,
    shelvedImages(options, options.driver.rootDisks),
  );
  const securityCompliance = { ...DEFAULT_SECURITY_COMPLIANCE, ...options.securityCompliance };
  const sealed = await sealStoredCredentials(options.db, options.credentialKey);
  if (sealed > 0) app.log.warn({ sealed }, 'credentials stored in clear were sealed with the credential key');
  const deps: ApiDeps = {
    db: options.db,
    credentials: sealedCredentials(options.db.credentials, options.credentialKey),
    tokens,
    logins: new LoginLimits(options.db, securityCompliance, { ...DEFAULT_LOGIN_LIMITS, ...options.logins }, now),
    securityCompliance,
    servers,
    blobs: options.blobs,
    ...(options.bootableImages ? { bootableImages: options.bootableImages } : {}),
    publicUrl: options.publicUrl.replace(/\/+$/, ''),
    region: options.region ?? 'RegionOne',
  };
  const errors = new Map<string, number>();

  // Clients send `Content-Type: application/json` on bodiless requests too; treat those as no body.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
    const body = String(text);
    if (body.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body));
    } catch {
      const error = new SyntaxError('Malformed request body: the JSON could not be parsed.');
      done(error);
    }
  });

  const handler =
    (style: FaultStyle) => (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
      const status = statusOf(error);
      const code = codeOf(error);
      errors.set(code, (errors.get(code) ?? 0) + 1);
      if (status >= 500) request.log.error({ err: error, code, url: request.url }, 'request failed');
      else request.log.info({ code, status, url: request.url, method: request.method }, error.message);
      if (status === 401) reply.header('WWW-Authenticate', `Keystone uri="${deps.publicUrl}/identity"`);
      reply.headers(headersOf(error));
      // keystonemiddleware answers a bad token in Keystone's format, whatever the service.
      const body = faultBody(status === 401 ? 'keystone' : style, status, messageOf(error, status));
      return reply.code(status).type('application/json').send(body);
    };
  const notFound = (style: FaultStyle) => (request: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send(faultBody(style, 404, `The resource could not be found: ${request.method} ${request.url}`));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-OpenStack-Request-Id', request.id);
    if (request.url.startsWith('/compute')) reply.header('X-Compute-Request-Id', request.id);
  });

  const services: [string, FaultStyle, (app: FastifyInstance, deps: ApiDeps) => Promise<void>][] = [
    ['/identity', 'keystone', identityRoutes],
    ['/compute', 'nova', computeRoutes],
    ['/image', 'glance', imageRoutes],
    ['/network', 'neutron', networkRoutes],
  ];
  // Before any route, so that every route outside the services' scopes (`/metrics`) has it.
  app.setErrorHandler(handler('keystone'));
  if (options.metrics) {
    serveMetrics(app, options.metrics, [...services.map(([prefix]) => prefix.slice(1)), 'dashboard']);
  }
  for (const [prefix, style, routes] of services) {
    await app.register(
      async (scope) => {
        scope.setErrorHandler(handler(style));
        scope.setNotFoundHandler(notFound(style));
        await routes(scope, deps);
      },
      { prefix },
    );
  }
  let dashboard: { feed: RackFeed | null } = { feed: null };
  const assets = options.dashboard?.assets !== undefined ? options.dashboard.assets : await loadDashboardAssets();
  await app.register(
    async (scope) => {
      scope.setErrorHandler(handler('keystone'));
      scope.setNotFoundHandler(notFound('keystone'));
      dashboard = await dashboardRoutes(scope, deps, {
        assets,
        ...(options.dashboard?.rack ? { rack: options.dashboard.rack } : {}),
        ...(options.dashboard?.feed ? { feed: options.dashboard.feed } : {}),
        ...(options.dashboard?.heartbeatMs ? { heartbeatMs: options.dashboard.heartbeatMs } : {}),
      });
    },
    { prefix: DASHBOARD_PREFIX },
  );
  app.setNotFoundHandler(notFound('keystone'));
  app.get('/', async () => ({
    rackseed: 'OpenStack-compatible API',
    services: services.map(([prefix]) => `${deps.publicUrl}${prefix}`),
    dashboard: `${deps.publicUrl}/dashboard/`,
  }));
  app.addHook('onClose', async () => {
    await servers.idle();
  });
  await app.ready();
  return { app, servers, tokens, errors, rackFeed: dashboard.feed };
}
