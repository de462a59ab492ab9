/**
 * Follows `/dashboard/api/rack/stream` with `fetch` and a ReadableStream (so that the token goes
 * in a header, which EventSource cannot send), reconnecting after a drop with a backoff of
 * 0.5 s doubling to 8 s; each reconnection starts with a fresh snapshot, so nothing is missed.
 * A stream silent past two heartbeats is taken for dead and opened again.
 */
import { DASHBOARD_API, expired, type Session } from './session.js';
import { SseParser } from './sse.js';
import type { RackFrames } from './wire.js';

export interface RackStreamHandlers {
  frame<K extends keyof RackFrames>(name: K, data: RackFrames[K]): void;
  /** `live` once the stream answers, `reconnecting` after a drop. */
  state(state: 'live' | 'reconnecting'): void;
  /** The rack is not served to this session (403: not the cloud admin; 404: one machine, no rack). */
  unavailable(status: number, message: string): void;
}

/** The server's heartbeat is every 5 s: past this with no byte, the connection is dead (its node lost its power, say). */
const SILENCE_MS = 12_000;

/** Follows the rack until `signal` aborts. */
export async function followRack(session: Session, handlers: RackStreamHandlers, signal: AbortSignal): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    signal.addEventListener('abort', stop);
    let watchdog = setTimeout(stop, SILENCE_MS);
    try {
      const response = await fetch(new URL('rack/stream', DASHBOARD_API), {
        headers: { 'x-auth-token': session.token, accept: 'text/event-stream' },
        signal: attempt.signal,
        cache: 'no-store',
      });
      if (response.status === 401) return expired();
      if (response.status === 403 || response.status === 404) {
        const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
        return handlers.unavailable(response.status, body.error?.message ?? response.statusText);
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      handlers.state('live');
      delay = 500;
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = setTimeout(stop, SILENCE_MS);
        for (const { event, data } of parser.push(value)) {
          const parsed = JSON.parse(data) as RackFrames[keyof RackFrames];
          if (event === 'end' && (parsed as RackFrames['end']).reason === 'unauthorized') return expired();
          handlers.frame(event as keyof RackFrames, parsed);
        }
      }
    } catch {
      // dropped, refused or timed out: try again below
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', stop);
    }
    if (signal.aborted) return;
    handlers.state('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(8_000, delay * 2);
  }
}
