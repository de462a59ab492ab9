import { Worker } from 'node:worker_threads';
import { DB_ERRORS, DbError, fromWire } from './errors.js';
import type { DbLocation } from './location.js';
import type { OpenSteps, WorkerData, WorkerReply, WorkerRequest } from './worker.js';

type Pending = { resolve: (value: unknown) => void; reject: (error: unknown) => void };
type RequestBody =
  | { kind: 'call'; op: string; args: unknown; requestId?: string }
  | { kind: 'backup' }
  | { kind: 'restore'; bytes: Uint8Array }
  | { kind: 'status' }
  | { kind: 'close' };

// From the sources (vitest, tsx) the worker is TypeScript: a small bootstrap registers tsx's
// loader in the worker's thread first (Node 20 workers do not take `--import` in execArgv).
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCES ? './worker.ts' : './worker.js', import.meta.url);

function spawnWorker(workerData: WorkerData): Worker {
  if (!FROM_SOURCES) return new Worker(WORKER_URL, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** A database worker that has loaded its code and waits for the word to open. */
export class PreparedDatabase {
  readonly #worker: Worker;
  #failure: DbError | undefined;
  readonly #onExit = (code: number) => {
    this.#failure = new DbError(DB_ERRORS.OPEN_FAILED, `database worker exited (${code}) before opening`);
  };

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('exit', this.#onExit);
    worker.on('error', () => {}); // reported through 'exit', and by open()
  }

  /**
   * Opens the database and runs the schema's migrations. With Ceph, the caller must have
   * fenced any previous holder first: the open waits for the lock without limit (research
   * §3.4), which `timeoutMs` bounds by ending the worker.
   */
  open(timeoutMs = 60_000): Promise<DatabaseWorker> {
    const worker = this.#worker;
    worker.off('exit', this.#onExit);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new DbError(DB_ERRORS.OPEN_FAILED, `the database did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (reply: WorkerReply) => {
        if (reply.kind === 'ready') settle(undefined, reply);
        else if (reply.kind === 'open-failed') settle(fromWire(reply.error));
      };
      const onError = (error: Error) =>
        settle(new DbError(DB_ERRORS.OPEN_FAILED, `database worker failed: ${error.message}`, { cause: error }));
      const onExit = (code: number) => settle(new DbError(DB_ERRORS.OPEN_FAILED, `database worker exited (${code})`));
      // Only our own listeners: Node's Worker keeps internal ones (removeAllListeners breaks it).
      const settle = (error: DbError | undefined, reply?: Extract<WorkerReply, { kind: 'ready' }>) => {
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (reply) resolve(new DatabaseWorker(worker, reply));
        else {
          void worker.terminate();
          reject(error);
        }
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      worker.postMessage({ kind: 'open' });
    });
  }

  /** Ends the worker without opening (a standby that stops). */
  async abandon(): Promise<void> {
    await this.#worker.terminate();
  }
}

/**
 * The database, open in its own worker thread: the main thread only exchanges messages, so a
 * slow or blocked RADOS call never stalls the event loop. A storage failure (this node was
 * fenced) is fatal: `onFatal` fires once and every later call fails with DB_ERR_STORAGE.
 */
export class DatabaseWorker {
  readonly schemaVersion: number;
  /** How long the open took, step by step. */
  readonly took: OpenSteps;
  /** The address libcephsqlite's client holds the database lock with (Ceph only). */
  readonly lockAddress: string | undefined;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failed: DbError | undefined;
  #onFatal: ((error: DbError) => void) | undefined;

  /** @internal — see {@link PreparedDatabase.open}. */
  constructor(worker: Worker, ready: Extract<WorkerReply, { kind: 'ready' }>) {
    this.#worker = worker;
    this.schemaVersion = ready.schemaVersion;
    this.took = ready.took;
    this.lockAddress = ready.lockAddress;
    worker.on('message', (reply: WorkerReply) => {
      if (!('id' in reply)) return;
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.kind === 'ok') pending?.resolve(reply.result);
      else {
        const error = fromWire(reply.error);
        if (reply.fatal) this.#fail(error);
        pending?.reject(error);
      }
    });
    worker.on('error', (error) =>
      this.#fail(new DbError(DB_ERRORS.STORAGE, `database worker crashed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', () => this.#fail(new DbError(DB_ERRORS.STORAGE, 'the database worker exited')));
  }

  /**
   * Starts a worker that loads the schema module and the ceph VFS, then waits: a standby
   * prepares one so that its takeover only has to open the database.
   */
  static prepare(location: DbLocation, schemaModule: string): PreparedDatabase {
    return new PreparedDatabase(spawnWorker({ location, schemaModule }));
  }

  /** Prepares and opens at once (see {@link PreparedDatabase.open}). */
  static open(location: DbLocation, schemaModule: string, timeoutMs = 60_000): Promise<DatabaseWorker> {
    return DatabaseWorker.prepare(location, schemaModule).open(timeoutMs);
  }

  /** Called once if the database becomes unusable (fenced, I/O error, worker crash). */
  onFatal(listener: (error: DbError) => void): void {
    this.#onFatal = listener;
    if (this.#failed) listener(this.#failed);
  }

  /** Runs a schema operation in a transaction; `requestId` makes a write apply at most once. */
  call(op: string, args: unknown, requestId?: string): Promise<unknown> {
    return this.#send({ kind: 'call', op, args, ...(requestId === undefined ? {} : { requestId }) });
  }

  /** A consistent copy of the whole database as a plain SQLite file's bytes. */
  async backup(): Promise<Buffer> {
    return Buffer.from((await this.#send({ kind: 'backup' })) as Uint8Array);
  }

  /** Replaces the database's content with a backup's (then brings its schema up to date). */
  async restore(bytes: Uint8Array): Promise<void> {
    await this.#send({ kind: 'restore', bytes });
  }

  /** Closes the database (releasing its lock for the next master), then the worker. */
  async close(): Promise<void> {
    if (!this.#failed) await this.#send({ kind: 'close' }).catch(() => undefined);
    this.#failed ??= new DbError(DB_ERRORS.NOT_MASTER, 'the database is closed');
    await this.#worker.terminate();
  }

  /** Ends the worker at once, without closing the database (after losing leadership). */
  async abandon(): Promise<void> {
    this.#failed ??= new DbError(DB_ERRORS.NOT_MASTER, 'the database was abandoned');
    await this.#worker.terminate();
  }

  #send(body: RequestBody): Promise<unknown> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...body } as WorkerRequest);
    });
  }

  #fail(error: DbError): void {
    if (this.#failed) return;
    this.#failed = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#onFatal?.(error);
  }
}
