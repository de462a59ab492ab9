/**
 * A QMP client session, pure (qmp-spec §2–§4): waits for the greeting, negotiates
 * capabilities (`qmp_capabilities`), numbers commands and matches each return or error to its
 * command by id, and hands events to the listener. It never touches a socket: `send` is given.
 */
import { QmpCommandError, QmpClosedError } from '../errors.js';
import { encodeQmpCommand, type QmpEvent, type QmpGreeting, type QmpMessage } from './qmp-codec.js';

interface Pending {
  readonly execute: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class QmpSession {
  readonly #pending = new Map<string, Pending>();
  #next = 1;
  #greeting: QmpGreeting | undefined;
  #closed: Error | undefined;
  readonly ready: Promise<QmpGreeting>;
  #ready!: { resolve(g: QmpGreeting): void; reject(e: Error): void };

  constructor(
    private readonly send: (bytes: Buffer) => void,
    private readonly onEvent: (event: QmpEvent) => void = () => {},
  ) {
    this.ready = new Promise((resolve, reject) => (this.#ready = { resolve, reject }));
    this.ready.catch(() => undefined);
  }

  /** Feeds one decoded message from the server. */
  receive(message: QmpMessage): void {
    switch (message.kind) {
      case 'greeting':
        this.#greeting = message;
        this.#execute('qmp_capabilities').then(
          () => this.#ready.resolve(message),
          (error: Error) => this.#ready.reject(error),
        );
        return;
      case 'event':
        this.onEvent(message);
        return;
      case 'return':
      case 'error': {
        const pending = message.id === undefined ? undefined : this.#pending.get(message.id);
        if (!pending || message.id === undefined) return; // not ours: ignored
        this.#pending.delete(message.id);
        if (message.kind === 'return') pending.resolve(message.value);
        else pending.reject(new QmpCommandError(pending.execute, message.errorClass, message.desc));
      }
    }
  }

  /** Runs a command once the session is ready; resolves with its `return` value. */
  async execute<T = unknown>(execute: string, args?: Record<string, unknown>): Promise<T> {
    await this.ready;
    return (await this.#execute(execute, args)) as T;
  }

  /** The connection ended: every command still waiting fails, and so does every later one. */
  close(reason: Error = new QmpClosedError()): void {
    this.#closed ??= reason;
    this.#ready.reject(reason);
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
  }

  get greeting(): QmpGreeting | undefined {
    return this.#greeting;
  }

  #execute(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = `rs-${this.#next++}`;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { execute, resolve, reject });
      this.send(encodeQmpCommand(execute, id, args));
    });
  }
}
