/**
 * QMP, the QEMU Machine Protocol, as bytes ⇄ typed messages (QEMU's docs/interop/qmp-spec.rst):
 * the server sends JSON objects, each ended by CRLF — a greeting, then returns, errors and
 * asynchronous events; the client sends one JSON object per command. Pure: no sockets.
 */
import { QmpMalformedError } from '../errors.js';

/** qmp-spec §2.2: the server's first message. */
export interface QmpGreeting {
  readonly kind: 'greeting';
  readonly version: { qemu: { major: number; minor: number; micro: number }; package: string };
  readonly capabilities: readonly string[];
}
/** qmp-spec §2.4.1: a command succeeded. */
export interface QmpReturn {
  readonly kind: 'return';
  readonly id: string | undefined;
  readonly value: unknown;
}
/** qmp-spec §2.4.2: a command failed; `errorClass` is QEMU's (`GenericError`, `CommandNotFound`…). */
export interface QmpErrorReply {
  readonly kind: 'error';
  readonly id: string | undefined;
  readonly errorClass: string;
  readonly desc: string;
}
/** qmp-spec §2.5: an asynchronous event (`SHUTDOWN`, `RESET`, `STOP`, `POWERDOWN`…). */
export interface QmpEvent {
  readonly kind: 'event';
  readonly event: string;
  readonly data: Record<string, unknown>;
  /** Seconds since the epoch, from QEMU's `timestamp` {seconds, microseconds}. */
  readonly timestamp: number;
}
export type QmpMessage = QmpGreeting | QmpReturn | QmpErrorReply | QmpEvent;

/** Largest message accepted (QEMU's are small; query answers of a few KB). */
const MAX_MESSAGE_BYTES = 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const idOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** One message from its JSON text; throws QmpMalformedError on anything that is not one. */
export function decodeQmpMessage(text: string): QmpMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new QmpMalformedError(`not JSON: ${text.slice(0, 80)}`, error);
  }
  if (!isObject(value)) throw new QmpMalformedError(`not a JSON object: ${text.slice(0, 80)}`);
  if (isObject(value.QMP)) {
    const { version, capabilities } = value.QMP;
    const qemu = isObject(version) && isObject(version.qemu) ? version.qemu : undefined;
    if (!qemu || !Array.isArray(capabilities))
      throw new QmpMalformedError('a greeting without version or capabilities');
    return {
      kind: 'greeting',
      version: {
        qemu: { major: Number(qemu.major), minor: Number(qemu.minor), micro: Number(qemu.micro) },
        package: String((version as Record<string, unknown>).package ?? ''),
      },
      capabilities: capabilities.map(String),
    };
  }
  if ('return' in value) return { kind: 'return', id: idOf(value.id), value: value.return };
  if (isObject(value.error)) {
    return {
      kind: 'error',
      id: idOf(value.id),
      errorClass: String(value.error.class ?? 'GenericError'),
      desc: String(value.error.desc ?? ''),
    };
  }
  if (typeof value.event === 'string') {
    const t = isObject(value.timestamp) ? value.timestamp : {};
    return {
      kind: 'event',
      event: value.event,
      data: isObject(value.data) ? value.data : {},
      timestamp: Number(t.seconds ?? 0) + Number(t.microseconds ?? 0) / 1e6,
    };
  }
  throw new QmpMalformedError(`neither a greeting, a return, an error nor an event: ${text.slice(0, 80)}`);
}

/** A command as QEMU reads it (qmp-spec §2.3): `{"execute", "arguments"?, "id"}` and a newline. */
export function encodeQmpCommand(execute: string, id: string, args?: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id })}\n`);
}

/** Splits the byte stream into messages (CRLF- or LF-ended lines); keeps a partial line for the next chunk. */
export class QmpDecoder {
  #pending = '';

  /** The messages completed by `chunk`. A malformed line throws; the decoder goes on with the next. */
  push(chunk: Buffer | string): QmpMessage[] {
    this.#pending += chunk.toString();
    const lines = this.#pending.split('\n');
    this.#pending = lines.pop() ?? '';
    if (this.#pending.length > MAX_MESSAGE_BYTES) {
      this.#pending = '';
      throw new QmpMalformedError(`a message longer than ${MAX_MESSAGE_BYTES} bytes`);
    }
    const messages: QmpMessage[] = [];
    let failure: QmpMalformedError | undefined;
    for (const line of lines) {
      const text = line.trim();
      if (text === '') continue;
      try {
        messages.push(decodeQmpMessage(text));
      } catch (error) {
        failure ??= error as QmpMalformedError;
      }
    }
    if (failure && messages.length === 0) throw failure;
    return messages;
  }
}
