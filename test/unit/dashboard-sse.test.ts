import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SSE_HEARTBEAT, sseFrame } from '../../appliance/api/dashboard/sse.js';
import { SseParser } from '../../appliance/api/dashboard/web/sse.js';

/** Cuts `text` at `cuts` (positions), as a network may. */
const chunks = (text: string, cuts: readonly number[]) => {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out;
};

describe('server-sent events: the stream writer and the browser reader', () => {
  it('reads back every frame written, whatever the chunking, heartbeats ignored', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.stringMatching(/^[a-z][\w.-]{0,12}$/), fc.jsonValue()), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, cuts) => {
          const text = frames.map(([name, data]) => sseFrame(name, data) + SSE_HEARTBEAT).join('');
          const parser = new SseParser();
          const read = chunks(text, cuts).flatMap((chunk) => parser.push(chunk));
          expect(read.map((e) => [e.event, JSON.parse(e.data)])).toEqual(
            frames.map(([name, data]) => [name, JSON.parse(JSON.stringify(data))]),
          );
        },
      ),
    );
  });

  it('follows the spec on line ends, fields and unnamed events', () => {
    const parser = new SseParser();
    // CRLF, CR and LF line ends; two data lines joined by LF; `retry` ignored; a CR split from its LF.
    expect(parser.push('event: a\r\ndata: 1\rdata:2\nretry: 5\n\r')).toEqual([]);
    expect(parser.push('\ndata: x\n\n: comment\n\nevent: nodata\n\n')).toEqual([
      { event: 'a', data: '1\n2' },
      { event: 'message', data: 'x' },
    ]);
  });

  it('refuses an event name that would break the frame', () => {
    expect(() => sseFrame('a\ndata: injected', {})).toThrow(TypeError);
  });
});
