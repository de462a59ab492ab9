/**
 * The API's Prometheus metrics (issue 16): what a `cloud serve` process counts ({@link ApiMetrics})
 * and how it serves them ({@link serveMetrics}). A cluster node's app gets an ApiMetrics from
 * `cloud serve`, which also hands its `dbCall` to the DbClient; one machine's app gets none, and
 * `/metrics` is then 404. The metrics tell internals, so only a client certificate from the
 * cluster CA (not revoked) reads them: the listener asks every client for one without requiring
 * it (NodeTls.apiServerOptions), and the route checks the connection's verdict.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { clientCertificateRequired } from './faults.js';

/** Where the metrics are served. */
const METRICS_PATH = '/metrics';

/** The `service` of a request no route matched (or of a route outside the services: `/`). */
const OTHER = 'other';

/** Latency buckets, in seconds: 1 ms (a read on a kept-alive connection) to 10 s (a failover's wait). */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The Prometheus metrics of one `rackseed cloud serve` process (prom-client, in a registry of
 * its own, never prom-client's global one):
 * - `rackseed_api_requests_total{service,method,status}` and
 *   `rackseed_api_request_duration_seconds{service}`: every answer of the API but `/metrics`'s,
 *   by the OpenStack service its route belongs to (`identity`, `compute`, `image`, `network`,
 *   `other` when no route matched);
 * - `rackseed_db_calls_total{operation,outcome}` and `rackseed_db_call_duration_seconds{operation}`:
 *   a cluster node's calls to the DB master, retries through a failover included (fed by
 *   DbClient's `onCall`; `outcome` is `ok` or the error's stable code);
 * - prom-client's default process and Node.js metrics (`process_*`, `nodejs_*`).
 *
 * Every label takes its values from a fixed set (the app's service prefixes, HTTP methods and
 * statuses, the schema's operation names, stable error codes): never an id or a URL.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: 'rackseed_api_requests_total',
    help: 'Requests the OpenStack API answered, by service, method and HTTP status.',
    labelNames: ['service', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly #requestSeconds = new Histogram({
    name: 'rackseed_api_request_duration_seconds',
    help: 'Time from a request to its answer, by OpenStack service.',
    labelNames: ['service'] as const,
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly #dbCalls = new Counter({
    name: 'rackseed_db_calls_total',
    help: 'Calls to the DB master, by operation and outcome (ok, or the error code).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #dbCallSeconds = new Histogram({
    name: 'rackseed_db_call_duration_seconds',
    help: 'Time a call to the DB master took, retries through a failover included, by operation.',
    labelNames: ['operation'] as const,
    buckets: BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one answer of the API. */
  request(service: string, method: string, status: number, seconds: number): void {
    this.#requests.inc({ service, method, status });
    this.#requestSeconds.observe({ service }, seconds);
  }

  /** Counts one call to the DB master: DbClient's `onCall`, passed as it is. */
  readonly dbCall = (operation: string, outcome: string, seconds: number): void => {
    this.#dbCalls.inc({ operation, outcome });
    this.#dbCallSeconds.observe({ operation }, seconds);
  };
}

/**
 * Counts every answer of `app` in `metrics` and serves them at `GET /metrics`, to a connection
 * whose client certificate the listener checked against the cluster CA and its revocation list
 * (NodeTls.apiServerOptions asks for one without requiring it); anyone else gets 401 and no
 * metric. Call it on the root app before the services' scopes are registered, so that they
 * inherit the hook; `services` are their path prefixes' names (`identity`…).
 */
export function serveMetrics(app: FastifyInstance, metrics: ApiMetrics, services: readonly string[]): void {
  const known: ReadonlySet<string> = new Set(services);
  app.addHook('onResponse', async (request, reply) => {
    // The route's pattern, not the URL: no id reaches a label, and an unmatched URL has none.
    const route = request.routeOptions.url;
    if (route === METRICS_PATH) return;
    const first = route?.split('/')[1];
    const service = first !== undefined && known.has(first) ? first : OTHER;
    metrics.request(service, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get(METRICS_PATH, async (request, reply) => {
    if ((request.raw.socket as TLSSocket).authorized !== true) throw clientCertificateRequired();
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
