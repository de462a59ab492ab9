/**
 * The web dashboard, served by every node's API on its own origin under `/dashboard/`
 * (issue 16): the page and its assets, and the rack's API for the cloud admin —
 * `GET /dashboard/api/rack` (the rack now) and `GET /dashboard/api/rack/stream` (a
 * `text/event-stream`: the rack at once and after each change, the newest events, then each
 * new event; a heartbeat every 5 s). The project view uses the OpenStack API itself.
 *
 * No front-end library: the browser code (web/) is TypeScript compiled by the same build as
 * the API into ES modules the browser loads as they are. The views are tiles and tables
 * redrawn from JSON, which a 60-line DOM helper (web/dom.ts) does with text nodes only, so
 * escaping holds by construction; no framework, bundler or runtime dependency to audit,
 * update or ship to every node. Every answer under `/dashboard/` carries a strict
 * Content-Security-Policy (`default-src 'self'`, no inline script or style, no framing).
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CloudDb } from '../../db/index.js';
import { type ApiDeps, authOf, requireCloudAdmin, requireToken, resolveToken } from '../context.js';
import { dashboardNotBuilt, noRack, notFound, rackUnavailable } from '../faults.js';
import type { DashboardAssets, DashboardFile } from './assets.js';
import type { RackFeed, RackFeedOptions } from './feed.js';
import type { RackSource } from './rack.js';
import { SSE_HEARTBEAT, sseFrame } from './sse.js';
import type { RackAnswer, RackFrames } from './web/wire.js';

export interface DashboardOptions {
  /** The built page and assets; null when not built (the page answers 503 and says how to build it). */
  readonly assets: DashboardAssets | null;
  /** A cluster node's rack; without it (one machine), the rack's routes answer 404. */
  readonly rack?: RackSource;
  /** The live feed's timings (tests). */
  readonly feed?: Partial<Omit<RackFeedOptions, 'log'>>;
  /** How often a stream sends a heartbeat and checks its token again (default 5 s). */
  readonly heartbeatMs?: number;
}

/** What the dashboard registered: its live feed (a cluster node's), for shutdown and tests. */
export interface Dashboard {
  readonly feed: RackFeed | null;
}

/**
 * The security headers of every answer under `/dashboard/` but its hashed assets: the page, the
 * rack's API and every error.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * A hashed asset's: a script or a stylesheet is no document, so a policy or a frame rule on it
 * would be bytes for nothing; its type is all it needs kept (nosniff), and other sites may not
 * load it.
 */
export const ASSET_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
};

/** A stream's write buffer past which the client is taken to be stuck: it is closed, and reconnects. */
const MAX_BUFFERED = 1024 * 1024;
/** Where the dashboard is mounted (app.ts), and the route of its hashed assets. */
export const DASHBOARD_PREFIX = '/dashboard';
const ASSET_ROUTE = `${DASHBOARD_PREFIX}/assets/:version/:name`;
const RECENT_EVENTS = 50;

function serveFile(request: FastifyRequest, reply: FastifyReply, file: DashboardFile, cache: string) {
  reply.header('cache-control', cache).header('etag', file.etag).type(file.type);
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.send(file.body);
}

/** Registers the dashboard's routes on `app` (mounted at `/dashboard`). */
export async function dashboardRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  options: DashboardOptions,
): Promise<Dashboard> {
  const { assets } = options;
  app.addHook('onSend', async (request, reply, payload) => {
    const asset = request.routeOptions.url === ASSET_ROUTE && reply.statusCode < 400;
    reply.headers(asset ? ASSET_HEADERS : SECURITY_HEADERS);
    return payload;
  });

  app.get('/', async (request, reply) => {
    // Its assets and API calls are relative to `…/dashboard/`: send `/dashboard` there.
    if (!request.url.split('?')[0]?.endsWith('/')) return reply.code(308).header('location', 'dashboard/').send();
    if (!assets) throw dashboardNotBuilt();
    return serveFile(request, reply, assets.page, 'no-cache');
  });
  app.get(ASSET_ROUTE.slice(DASHBOARD_PREFIX.length), async (request, reply) => {
    const { version, name } = request.params as { version: string; name: string };
    const file = assets?.version === version ? assets.files.get(name) : undefined;
    if (!file) throw notFound(`No dashboard asset ${version}/${name}: reload the page for the current ones.`);
    return serveFile(request, reply, file, 'public, max-age=31536000, immutable');
  });

  const rackRoutes = options.rack ? await liveRack(app, deps, options.rack, options) : null;
  const auth = requireToken(deps);
  /** The cloud admin's only; on one machine, there is no rack. */
  const admitted = (request: FastifyRequest) => {
    requireCloudAdmin(authOf(request));
    if (!rackRoutes) throw noRack();
    return rackRoutes;
  };
  app.get('/api/rack', { onRequest: auth }, async (request) => admitted(request).now());
  app.get('/api/rack/stream', { onRequest: auth }, async (request, reply) => admitted(request).stream(request, reply));
  return { feed: rackRoutes?.feed ?? null };
}

/** The rack's handlers on a cluster node: its feed (loaded on use, with the agent's code) and its open streams. */
async function liveRack(app: FastifyInstance, deps: ApiDeps, source: RackSource, options: DashboardOptions) {
  const [{ RackFeed }, { rackPrefixes, readRack, recentEvents }] = await Promise.all([
    import('./feed.js'),
    import('./rack.js'),
  ]);
  const db: CloudDb = deps.db;
  const feed = new RackFeed(source.store, rackPrefixes(source.elections), () => readRack(source, db), {
    ...options.feed,
    log: (message, error) => app.log.warn({ err: error }, message),
  });
  // Often enough that a page finds a stream from a node that lost its power (no FIN, no RST:
  // silence) dead in seconds (web/stream.ts), rare enough to cost nothing.
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  /** Each open stream's end, for shutdown. */
  const streams = new Set<(frame: RackFrames['end']) => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end({ reason: 'shutdown', message: 'The API is shutting down: reconnect.' });
    await feed.close();
  });

  const now = async (): Promise<RackAnswer> => {
    try {
      const [rack, events] = await Promise.all([readRack(source, db), recentEvents(source, RECENT_EVENTS)]);
      return { rack, events };
    } catch (error) {
      throw rackUnavailable(error);
    }
  };

  const stream = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = String(request.headers['x-auth-token']);
    const { claims } = authOf(request);
    const out = new PassThrough();
    let closed = false;
    const send = <K extends keyof RackFrames>(name: K, data: RackFrames[K]) => {
      if (closed) return;
      if (out.writableLength > MAX_BUFFERED)
        return end({ reason: 'slow', message: 'The client read too slowly: reconnect for a fresh snapshot.' });
      out.write(sseFrame(name, data));
    };
    let unsubscribe: () => Promise<void> = async () => {};
    const timers: NodeJS.Timeout[] = [];
    const cleanup = () => {
      if (closed) return;
      closed = true;
      streams.delete(end);
      for (const timer of timers) clearTimeout(timer);
      void unsubscribe();
    };
    function end(frame: RackFrames['end']) {
      if (closed) return;
      out.write(sseFrame('end', frame));
      cleanup();
      out.end();
    }
    // The client left (or the answer ended): stop following, and let go of what was not sent.
    reply.raw.on('close', () => {
      cleanup();
      out.destroy();
    });
    out.on('close', cleanup);
    try {
      unsubscribe = await feed.subscribe({
        snapshot: (rack) => send('snapshot', rack),
        events: (events) => send('events', events),
        event: (event) => send('event', event),
      });
    } catch (error) {
      throw rackUnavailable(error);
    }
    if (closed) {
      // The client left while the feed started: nothing to answer.
      await unsubscribe();
      reply.hijack();
      return reply;
    }
    streams.add(end);
    const unauthorized = {
      reason: 'unauthorized',
      message: 'The token expired or was revoked: log in again.',
    } as const;
    // A stream lives as long as its token: to its expiry, and it ends within a heartbeat of a revocation.
    timers.push(setTimeout(() => end(unauthorized), Math.min(2 ** 31 - 1, claims.expiresAt * 1000 - Date.now())));
    timers.push(
      setInterval(() => {
        if (closed) return;
        out.write(SSE_HEARTBEAT);
        resolveToken(deps, token).then(
          (still) => void (still ? undefined : end(unauthorized)),
          () => {}, // the database did not answer: keep the stream, check again at the next heartbeat
        );
      }, heartbeatMs),
    );
    reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no');
    return reply.send(out);
  };
  return { feed, now, stream };
}
