import { RackseedError } from '../../agent/index.js';

/**
 * The lab gateway's pure parts: which API backend a new connection tries, in what order, and
 * where backends come from. No sockets, no timers: the caller passes the clock.
 */

export type GatewayErrorCode = 'GATEWAY_ERR_BAD_ADDRESS' | 'GATEWAY_ERR_NO_BACKEND' | 'GATEWAY_ERR_NOT_LISTENING';

export class GatewayError extends RackseedError {
  constructor(code: GatewayErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** A TCP endpoint, `host:port`. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** `host[:port]` (IPv6 as `[addr]:port`) → an endpoint; `defaultPort` when no port is given. */
export function parseEndpoint(text: string, defaultPort?: number): Endpoint {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] !== undefined ? Number(match[3]) : defaultPort;
  if (!host || port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new GatewayError('GATEWAY_ERR_BAD_ADDRESS', `"${text}" is not host:port (e.g. 10.0.0.5:5000)`);
  }
  return { host, port };
}

/** `host:port` as text, IPv6 in brackets. */
export const formatEndpoint = (e: Endpoint) => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/**
 * The API endpoints of the live nodes, from the values of the cluster's node records
 * (`keys.nodes`, each a NodeRecord under its node's lease): a node's address is its
 * etcd member's host. A record that is not JSON or names no address is left out.
 */
export function apiBackendsOf(records: readonly string[], apiPort: number): Endpoint[] {
  const found = new Map<string, Endpoint>();
  for (const text of records) {
    let host: string | undefined;
    try {
      const record = JSON.parse(text) as { etcd?: { clientUrl?: unknown } };
      const url = record.etcd?.clientUrl;
      if (typeof url === 'string') host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    } catch {
      host = undefined;
    }
    if (host) found.set(host, { host, port: apiPort });
  }
  return [...found.values()].sort((a, b) => formatEndpoint(a).localeCompare(formatEndpoint(b)));
}

/**
 * Round-robin over backends, skipping the ones that failed recently. A backend that refused or
 * did not answer is *down* for `downMs`: connections try it only after every live one (so a
 * node that came back is found again, and a pool whose backends all failed still tries them).
 */
export class BackendPool {
  readonly #downMs: number;
  #backends: Endpoint[] = [];
  #cursor = 0;
  readonly #downUntil = new Map<string, number>();

  constructor(options: { downMs: number }) {
    this.#downMs = options.downMs;
  }

  /** Replaces the backends (a refresh from the cluster); marks of those still present are kept. */
  set(backends: readonly Endpoint[]): void {
    this.#backends = [...backends];
    const present = new Set(backends.map(formatEndpoint));
    for (const key of this.#downUntil.keys()) if (!present.has(key)) this.#downUntil.delete(key);
  }

  get backends(): readonly Endpoint[] {
    return this.#backends;
  }

  /** The order a new connection tries the backends in: the next live ones round-robin, then the down ones. */
  candidates(now: number): Endpoint[] {
    const n = this.#backends.length;
    if (n === 0) return [];
    const start = this.#cursor % n;
    this.#cursor = (start + 1) % n;
    const rotated = [...this.#backends.slice(start), ...this.#backends.slice(0, start)];
    const isDown = (e: Endpoint) => (this.#downUntil.get(formatEndpoint(e)) ?? 0) > now;
    return [...rotated.filter((e) => !isDown(e)), ...rotated.filter(isDown)];
  }

  markDown(backend: Endpoint, now: number): void {
    this.#downUntil.set(formatEndpoint(backend), now + this.#downMs);
  }

  markUp(backend: Endpoint): void {
    this.#downUntil.delete(formatEndpoint(backend));
  }
}
