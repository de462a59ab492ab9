/**
 * Server-sent events, the writing side (WHATWG HTML §9.2 "Server-sent events"): an event is
 * `event:` and `data:` fields, one per line, ended by a blank line; a line starting with a colon
 * is a comment, which keeps an idle connection alive. The reading side is web/sse.ts.
 */

/** One event named `event` carrying `data` as JSON (JSON text has no raw line breaks: one `data:` line). */
export function sseFrame(event: string, data: unknown): string {
  if (!/^[\w.-]+$/.test(event)) throw new TypeError(`not an SSE event name: ${event}`);
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment frame: ignored by readers, it tells proxies and the client that the stream lives. */
export const SSE_HEARTBEAT = ': heartbeat\n\n';
