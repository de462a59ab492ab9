import { type Agent, fetch } from 'undici';

/** One write's fate: when it was sent, its answer, and when it was acknowledged (200). */
export interface Write {
  readonly name: string;
  readonly sentAt: number;
  /** The HTTP status; 0 when no answer came (the connection failed, or the bound passed). */
  status?: number;
  ackAt?: number;
  /** A refusal's `Retry-After` header and the keys of its fault body (Nova's: `serviceUnavailable`…). */
  retryAfter?: string;
  fault?: string[];
}

/**
 * Writes flavors through the API at `url` (as `token`), one after another and one every
 * `paceMs` at most, until stopped: the client of a failover test or benchmark. Keeps every
 * write's fate, for what was acknowledged, when, and how each refusal was answered.
 */
export class FlavorWriter {
  readonly writes: Write[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(url: string, token: string, dispatcher: Agent, paceMs = 100) {
    this.#done = (async () => {
      for (let i = 0; this.#running; i++) {
        const last = this.writes.at(-1)?.sentAt ?? 0;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, last + paceMs - Date.now())));
        const write: Write = { name: `fo.${i}`, sentAt: Date.now() };
        this.writes.push(write);
        try {
          const response = await fetch(`${url}/compute/v2.1/flavors`, {
            dispatcher,
            method: 'POST',
            headers: { 'x-auth-token': token, 'content-type': 'application/json' },
            body: JSON.stringify({ flavor: { name: write.name, ram: 64, vcpus: 1, disk: 1 } }),
            signal: AbortSignal.timeout(60_000),
          });
          const text = await response.text();
          write.status = response.status;
          if (response.status === 200) {
            write.ackAt = Date.now();
          } else {
            write.retryAfter = response.headers.get('retry-after') ?? undefined;
            write.fault = Object.keys(JSON.parse(text || '{}') as object);
          }
        } catch {
          write.status = 0;
        }
      }
    })();
  }

  /** The writes acknowledged. */
  get acknowledged(): Write[] {
    return this.writes.filter((w) => w.ackAt !== undefined);
  }

  /**
   * How long after `t0` (the strike) the first write sent at or after `from` (when the outage
   * began: the strike itself, unless its effect comes later) was acknowledged, and the gap from
   * the last acknowledgement before `from` to it.
   */
  recovery(t0: number, from = t0): { after: number; gap: number } | undefined {
    const first = this.writes.find((w) => w.sentAt >= from && w.ackAt !== undefined);
    const before = this.writes.filter((w) => w.ackAt !== undefined && (w.ackAt ?? 0) < from).at(-1);
    if (!first?.ackAt || !before?.ackAt) return undefined;
    return { after: first.ackAt - t0, gap: first.ackAt - before.ackAt };
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}
