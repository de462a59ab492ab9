import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AgentMetrics } from './metrics.js';
import type { ClusterStatus } from './status.js';
import type { NodeTls } from './tls.js';

/** Where every cluster node's agent listens (on its own address): `/health`, `/status`, `/metrics`, `/metrics/ceph`. */
export const AGENT_PORT = 5003;

/** What the agent's endpoint answers with. */
export interface AgentEndpoint {
  readonly health: () => { name: string; lease: string | null; healthy: boolean };
  readonly status: () => Promise<ClusterStatus>;
  readonly metrics: AgentMetrics;
  /** ceph-mgr's exporter's text while this node runs the manager, '' elsewhere (as Ceph's standby managers answer). */
  readonly cephMetrics: () => Promise<string>;
}

/** Prometheus's text exposition format. */
const EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The agent's small HTTPS endpoint, mutual TLS with the cluster CA (a node's or an operator's
 * certificate, not revoked; see {@link NodeTls.serverOptions}): `GET /health` (200 while its
 * lease surely holds, else 503), `/status` (the cluster, as `rackseed status --json`) and
 * `/metrics` (Prometheus text, {@link AgentMetrics}), and `/metrics/ceph`: Ceph's own exporter
 * (ceph-mgr's `prometheus` module, on the manager's loopback) on the manager's node, an empty
 * page on the others. Resolves once it listens on `address` (`host:port`).
 */
export async function serveAgentEndpoint(tls: NodeTls, address: string, endpoint: AgentEndpoint): Promise<Server> {
  const json = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  const failed = (response: ServerResponse) => (error: unknown) => json(response, 503, { error: String(error) });
  const server = createServer(tls.serverOptions(), (request, response) => {
    if (request.method !== 'GET') {
      json(response, 405, { error: 'only GET' });
    } else if (request.url === '/health') {
      const health = endpoint.health();
      json(response, health.healthy ? 200 : 503, health);
    } else if (request.url === '/status') {
      endpoint.status().then((status) => json(response, 200, status), failed(response));
    } else if (request.url === '/metrics') {
      endpoint.metrics.render().then(({ contentType, body }) => {
        response.writeHead(200, { 'content-type': contentType });
        response.end(body);
      }, failed(response));
    } else if (request.url === '/metrics/ceph') {
      endpoint.cephMetrics().then((body) => {
        response.writeHead(200, { 'content-type': EXPOSITION });
        response.end(body);
      }, failed(response));
    } else {
      json(response, 404, { error: `no ${request.url ?? ''}` });
    }
  });
  tls.serve(server);
  const index = address.lastIndexOf(':');
  const [host, port] = [address.slice(0, index) || '127.0.0.1', Number(address.slice(index + 1))];
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
