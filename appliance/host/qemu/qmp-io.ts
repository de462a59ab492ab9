/** The unix-socket glue of a QMP session: connect, feed the decoder, bound every command in time. */
import { connect, type Socket } from 'node:net';
import { QmpClosedError, QmpTimeoutError } from '../errors.js';
import { QmpDecoder, type QmpEvent } from './qmp-codec.js';
import { QmpSession } from './qmp-session.js';

/** How long a command may take (QEMU answers at once; `quit` and powerdown do not wait for the guest). */
const COMMAND_TIMEOUT_MS = 10_000;

/** A connected QMP client. */
export class QmpConnection {
  private constructor(
    private readonly socket: Socket,
    private readonly session: QmpSession,
    /** Resolves when the socket closes (QEMU exited, or `close()`). */
    readonly closed: Promise<void>,
  ) {}

  /** Connects to QEMU's QMP socket and negotiates capabilities. */
  static async open(
    path: string,
    onEvent: (event: QmpEvent) => void,
    timeoutMs = COMMAND_TIMEOUT_MS,
  ): Promise<QmpConnection> {
    const socket = connect(path);
    const session = new QmpSession((bytes) => socket.write(bytes), onEvent);
    const decoder = new QmpDecoder();
    socket.on('data', (chunk) => {
      try {
        for (const message of decoder.push(chunk)) session.receive(message);
      } catch {
        // A malformed line from QEMU is dropped; the session goes on with the next.
      }
    });
    const closed = new Promise<void>((resolve) => {
      socket.on('close', () => {
        session.close(new QmpClosedError());
        resolve();
      });
    });
    socket.on('error', (error) => session.close(new QmpClosedError(`QMP socket ${path}: ${error.message}`)));
    const connection = new QmpConnection(socket, session, closed);
    try {
      await bounded(session.ready, 'the QMP greeting', timeoutMs);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return connection;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
    return bounded(this.session.execute<T>(command, args), command, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

function bounded<T>(work: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QmpTimeoutError(what, ms)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
