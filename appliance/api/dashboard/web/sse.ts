/**
 * Server-sent events, the reading side (WHATWG HTML §9.2.6 "Interpreting an event stream"),
 * for a stream read with `fetch` (EventSource cannot send the `X-Auth-Token` header): feed it
 * the decoded text as it comes, in chunks cut anywhere; it hands back each complete event.
 * Pure: no I/O, tested on its own.
 */

/** One dispatched event: its name (`message` when it had none) and its data lines joined. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];

  /** Parses `chunk` (text); returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.#buffer += chunk;
    const out: SseEvent[] = [];
    // §9.2.6: lines end with CRLF, LF or CR; a CR at the very end may be half of a CRLF.
    for (;;) {
      const match = /\r\n|\n|\r(?!$)/.exec(this.#buffer);
      if (!match) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const event = this.#line(line);
      if (event) out.push(event);
    }
    return out;
  }

  #line(line: string): SseEvent | null {
    if (line === '') {
      // A blank line dispatches; an event with no data line is dropped (§9.2.6 step "dispatch").
      const event = this.#data.length > 0 ? { event: this.#event || 'message', data: this.#data.join('\n') } : null;
      this.#event = '';
      this.#data = [];
      return event;
    }
    if (line.startsWith(':')) return null; // a comment (heartbeat)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    // `id` and `retry` are not used: the client reconnects by itself and gets a new snapshot.
    return null;
  }
}
