import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeQmpMessage,
  encodeQmpCommand,
  QmpDecoder,
  type QmpEvent,
  QmpSession,
} from '../../appliance/host/qemu/index.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/qmp/${name}`, import.meta.url), 'utf8');
const rx = fixture('session.rx.txt');

describe('QMP codec', () => {
  it('decodes a transcript captured from QEMU 7.2: greeting, returns, an error, events', () => {
    const messages = new QmpDecoder().push(rx);
    expect(messages.map((m) => m.kind)).toEqual([
      'greeting',
      ...['return', 'return', 'error', 'event', 'return', 'event', 'return', 'event', 'return'],
      ...['event', 'event', 'event', 'return', 'event', 'return'],
    ]);
    expect(messages[0]).toMatchObject({
      kind: 'greeting',
      version: { qemu: { major: 7, minor: 2, micro: 22 } },
      capabilities: ['oob'],
    });
    expect(messages[2]).toEqual({
      kind: 'return',
      id: 'rs-2',
      value: { status: 'running', singlestep: false, running: true },
    });
    expect(messages[3]).toEqual({
      kind: 'error',
      id: 'rs-3',
      errorClass: 'CommandNotFound',
      desc: 'The command no-such-command has not been found',
    });
    const shutdown = messages.find((m): m is QmpEvent => m.kind === 'event' && m.event === 'SHUTDOWN');
    expect(shutdown?.data).toEqual({ guest: false, reason: 'host-qmp-quit' });
    expect(shutdown?.timestamp).toBeCloseTo(1796434386.805612, 5);
  });

  it('keeps a message split across chunks for the next one, at any split point', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: rx.length - 1 }), { maxLength: 8 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const decoder = new QmpDecoder();
        const all = [0, ...points, rx.length]
          .slice(1)
          .flatMap((end, i, ends) => decoder.push(rx.slice(i === 0 ? 0 : ends[i - 1], end)));
        expect(all).toEqual(new QmpDecoder().push(rx));
      }),
    );
  });

  it('encodes commands as QEMU reads them, byte for byte as the captured client sent them', () => {
    const tx = fixture('session.tx.txt').split('\n').filter(Boolean);
    expect(encodeQmpCommand('qmp_capabilities', 'rs-1').toString()).toBe(`${tx[0]}\n`);
    expect(JSON.parse(encodeQmpCommand('blockdev-del', 'rs-9', { 'node-name': 'd1' }).toString())).toEqual({
      execute: 'blockdev-del',
      arguments: { 'node-name': 'd1' },
      id: 'rs-9',
    });
  });

  it('decodes a return it encoded (any JSON value), and throws its typed error on anything else', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ minLength: 1 }), (value, id) => {
        const wire = JSON.stringify({ return: value, id });
        // What JSON carries (-0 travels as 0): the value as any reader of the wire gets it.
        const sent = JSON.parse(JSON.stringify(value)) as unknown;
        expect(decodeQmpMessage(wire)).toEqual({ kind: 'return', id, value: sent });
      }),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          decodeQmpMessage(text);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('QMP_ERR_MALFORMED');
        }
      }),
    );
    for (const bad of ['', '[]', '42', '{"QMP": {}}', '{"foo": 1}', '{"event": 5}']) {
      expect(() => decodeQmpMessage(bad)).toThrow(expect.objectContaining({ code: 'QMP_ERR_MALFORMED' }));
    }
  });
});

describe('QMP session', () => {
  it('negotiates capabilities after the greeting, matches replies by id and hands events on', async () => {
    const sent: string[] = [];
    const events: string[] = [];
    const session = new QmpSession(
      (bytes) => sent.push(bytes.toString()),
      (event) => events.push(event.event),
    );
    const status = session.execute('query-status');
    const bad = session.execute('no-such-command');
    const [greeting, ...rest] = new QmpDecoder().push(rx);
    if (!greeting || !rest[0]) throw new Error('the transcript is empty');
    session.receive(greeting);
    expect(sent.map((s) => JSON.parse(s).execute)).toEqual(['qmp_capabilities']);
    session.receive(rest[0]); // the capabilities' return: ready
    await session.ready;
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent.map((s) => JSON.parse(s).execute)).toEqual(['qmp_capabilities', 'query-status', 'no-such-command']);
    for (const message of rest.slice(1)) session.receive(message);
    await expect(status).resolves.toMatchObject({ status: 'running' });
    await expect(bad).rejects.toMatchObject({ code: 'QMP_ERR_COMMAND', errorClass: 'CommandNotFound' });
    expect(events).toEqual(['STOP', 'RESUME', 'RESET', 'RESET', 'RESET', 'POWERDOWN', 'SHUTDOWN']);
  });

  it('fails what is pending, and what comes after, once the connection closes', async () => {
    const session = new QmpSession(() => {});
    const [greeting, capabilities] = new QmpDecoder().push(rx);
    if (!greeting || !capabilities) throw new Error('the transcript is empty');
    session.receive(greeting);
    session.receive(capabilities);
    await session.ready;
    const pending = session.execute('query-status');
    await new Promise((resolve) => setImmediate(resolve));
    session.close();
    await expect(pending).rejects.toMatchObject({ code: 'QMP_ERR_CLOSED' });
    await expect(session.execute('query-status')).rejects.toMatchObject({ code: 'QMP_ERR_CLOSED' });
  });
});
