/**
 * A guest's memory and device state taken out of its QEMU and put into a new one (Nova's suspend
 * and resume, libvirt's managed save), as QEMU's migration stream through a unix socket of the
 * host service's: QEMU's sandbox lets it spawn nothing (no `exec:` URI), and QEMU 7.2 has no
 * `file:` one. Where the bytes go is the caller's (an RBD image: the state outlives the node).
 */
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { QemuStateError } from '../errors.js';
import type { QmpConnection } from './qmp-io.js';

type Qmp = Pick<QmpConnection, 'execute'>;

/** How long a save or a load may take: a guest's memory through RBD, on a loaded node. */
const STATE_TIMEOUT_MS = 300_000;
const POLL_MS = 50;
/** No cap on the stream (QEMU's default, 128 MiB/s, spares a network that guests share; this is local). */
const UNCAPPED_BYTES_PER_S = 64 * 1024 ** 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Streams the running guest's state out through `socket` into `sink`; resolves once QEMU says
 * the stream is complete and `sink` has kept it all. The guest is left stopped (QEMU's
 * `postmigrate`) for the caller to end; a failed save leaves it running, as it was.
 */
export async function saveState(
  qmp: Qmp,
  socket: string,
  sink: (state: Readable) => Promise<void>,
  timeoutMs = STATE_TIMEOUT_MS,
): Promise<void> {
  await rm(socket, { force: true });
  const server = createServer();
  let stored: Promise<void> | undefined;
  let stream: Socket | undefined;
  server.on('connection', (connection) => {
    if (stream) return void connection.destroy();
    stream = connection;
    stored = sink(connection);
    stored.catch(() => connection.destroy()); // a sink that fails ends the stream, and QEMU's migration with it
  });
  server.listen(socket);
  await once(server, 'listening');
  try {
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNCAPPED_BYTES_PER_S });
    await qmp.execute('migrate', { uri: `unix:${socket}` });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { status, 'error-desc': why } = await qmp.execute<{ status?: string; 'error-desc'?: string }>(
        'query-migrate',
      );
      if (status === 'completed') break;
      if (status === 'failed' || status === 'cancelled') {
        // A sink that failed broke the stream: its error says why, better than QEMU's broken pipe.
        const kept = await stored?.then(
          () => undefined,
          (error: unknown) => error as Error,
        );
        throw new QemuStateError(
          `QEMU could not save the guest's state: ${kept ? `it could not be kept: ${kept.message}` : (why ?? status)}`,
          kept,
        );
      }
      if (Date.now() > deadline) {
        await qmp.execute('migrate_cancel').catch(() => undefined);
        throw new QemuStateError(`QEMU did not save the guest's state within ${timeoutMs} ms`);
      }
      await sleep(POLL_MS);
    }
    if (!stored) throw new QemuStateError('QEMU reported its state saved, but never connected to send it');
    await stored.catch((error: unknown) => {
      throw new QemuStateError(`the guest's state could not be kept: ${(error as Error).message}`, error);
    });
  } finally {
    stream?.destroy();
    server.close();
    await rm(socket, { force: true });
  }
}

/**
 * Feeds `state` to a QEMU started with `-incoming defer` through `socket`; resolves once the
 * guest runs from it. A stream QEMU cannot load ends that QEMU (the caller's to clean up).
 */
export async function loadState(
  qmp: Qmp,
  socket: string,
  state: Readable,
  timeoutMs = STATE_TIMEOUT_MS,
): Promise<void> {
  await rm(socket, { force: true });
  try {
    await qmp.execute('migrate-incoming', { uri: `unix:${socket}` });
    const connection = connect(socket);
    try {
      await once(connection, 'connect');
    } catch (error) {
      state.destroy();
      throw new QemuStateError(`QEMU took no state at ${socket}: ${(error as Error).message}`, error);
    }
    // Judged by QEMU's own view below: it may close the socket before the pipeline sees its end.
    const sent = pipeline(state, connection);
    sent.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let status: string;
      try {
        ({ status } = await qmp.execute<{ status: string }>('query-status'));
      } catch (error) {
        const why = await sent.then(
          () => 'QEMU refused it',
          (e: unknown) => (e as Error).message,
        );
        throw new QemuStateError(`the guest's state could not be loaded: ${why}`, error);
      }
      if (status === 'running' || status === 'paused') break;
      if (status !== 'inmigrate') throw new QemuStateError(`QEMU ended the state's load ${status}`);
      if (Date.now() > deadline) throw new QemuStateError(`QEMU did not load the guest's state within ${timeoutMs} ms`);
      await sleep(POLL_MS);
    }
  } finally {
    state.destroy(); // read whole by QEMU, or of no more use
    await rm(socket, { force: true });
  }
}
