import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Campaign, Etcd3 } from 'etcd3';
import type { NodeTls } from '../../agent/index.js';
import { RadosCluster } from '../rados/index.js';
import { DatabaseWorker, type PreparedDatabase } from './database.js';
import { DB_ERRORS, DbError, toWire } from './errors.js';
import { fencePreviousHolder } from './fence.js';
import { ElectionFollower } from './leader.js';
import { type Keepalive, Tenure } from './tenure.js';
import { DB_MASTER_ELECTION, type DbLocation } from './location.js';

/** What a candidate announces in the election: where its RPC answers. */
export interface MasterAnnouncement {
  url: string;
  node: string;
  /** Once the database is open on Ceph: the RADOS address holding its lock, which a successor blocklists at once. */
  lockAddress?: string;
}

export type MasterRole = 'standby' | 'opening' | 'master' | 'lost' | 'stopped';

export interface DbMasterOptions {
  etcd: Etcd3;
  /** The node's certificate: the RPC is mutual TLS, only clients with a certificate from the cluster CA get an answer. */
  tls: NodeTls;
  location: DbLocation;
  /** Module whose default export is the {@link Schema} (imported in the worker thread). */
  schemaModule: string;
  /** This node's name, for logs and status. */
  node: string;
  electionName?: string;
  /** Lease of the election: a dead master is replaced this many seconds after it stops renewing. */
  leaseTtlSeconds?: number;
  /** Where the RPC listens (default 127.0.0.1, a free port) and the host others reach it at. */
  host?: string;
  port?: number;
  advertiseHost?: string;
  /** Structured events (`db.master.elected`, `db.master.fenced`…). */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /**
   * Called once when this master loses its leadership or its database (lease lost, fenced,
   * storage error). The process should exit: a paused old master must not linger.
   */
  onLost?: (error: DbError) => void;
}

export interface DbMaster {
  readonly url: string;
  role(): MasterRole;
  /** Resolves once this candidate is the master with the database open. */
  ready(): Promise<void>;
  /** Closes the database (releasing its lock), resigns and stops the RPC. */
  stop(): Promise<void>;
}

const CALL_BODY_LIMIT = 1024 * 1024;
const RESTORE_BODY_LIMIT = 1024 * 1024 * 1024;

/** How long a call waits for a master still opening the database (a client's attempt lasts 5 s). */
const OPENING_WAIT_MS = 4_000;

/**
 * Runs a candidate for the database master: serves the RPC at once (standbys answer
 * DB_ERR_NOT_MASTER), campaigns in etcd, and once elected fences the previous holder (Ceph),
 * opens the database in a worker thread and runs the schema's migrations.
 */
export async function startDbMaster(options: DbMasterOptions): Promise<DbMaster> {
  const log = options.log ?? (() => {});
  process.env.SQLITE_USE_URI = '1'; // read by better-sqlite3's addon when it loads (research §3.2)
  const { location } = options;
  // The fence's RADOS client, connected (and authenticated) while a standby: a client made at
  // the takeover could not authenticate while the monitors elect a quorum without a dead one.
  let rados: RadosCluster | undefined;
  if (location.kind === 'ceph') {
    // libcephsqlite's own RADOS client reads these from the process environment.
    process.env.CEPH_CONF = location.conf;
    if (location.keyring) process.env.CEPH_KEYRING = location.keyring;
    if (location.clientName) process.env.CEPH_ARGS = `--id ${location.clientName.replace(/^client\./, '')}`;
    rados = await RadosCluster.connect({
      conf: location.conf,
      ...(location.keyring ? { keyring: location.keyring } : {}),
      ...(location.clientName ? { clientName: location.clientName } : {}),
    });
  }

  let role: MasterRole = 'standby';
  let database: DatabaseWorker | undefined;
  // Loaded while a standby, so that a takeover only opens the database.
  let prepared: PreparedDatabase | undefined = DatabaseWorker.prepare(location, options.schemaModule);
  let markReady: () => void = () => {};
  let markFailed: (error: DbError) => void = () => {};
  const readiness = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  readiness.catch(() => {});

  const lose = (error: DbError) => {
    if (role === 'lost' || role === 'stopped') return;
    role = 'lost';
    tenure?.lose();
    stopRenewing?.();
    log('db.master.lost', { node: options.node, code: error.code, message: error.message });
    void database?.abandon();
    void prepared?.abandon();
    database = undefined;
    prepared = undefined;
    markFailed(error);
    options.onLost?.(error);
  };

  const server = createServer(options.tls.serverOptions(), (request, response) => {
    handle(request, response).catch((error: unknown) => {
      const failure =
        error instanceof DbError
          ? error
          : new DbError(DB_ERRORS.BAD_REQUEST, String((error as Error)?.message ?? error));
      reply(response, statusOf(failure), { error: toWire(failure) });
    });
  });

  /**
   * A call that finds this master still opening the database (right after a takeover) waits
   * for it, up to OPENING_WAIT_MS, rather than being refused and retried: it is served the
   * moment the database is open.
   */
  const untilOpen = async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      readiness.catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, OPENING_WAIT_MS))),
    ]);
    clearTimeout(timer);
  };

  const usable = (): DatabaseWorker => {
    if (role === 'opening') throw new DbError(DB_ERRORS.NOT_READY, `${options.node} is opening the database`);
    if (role !== 'master' || !database) throw new DbError(DB_ERRORS.NOT_MASTER, `${options.node} is not the master`);
    return database;
  };

  // Set once elected: until when the election lease surely holds (see tenure.ts for why
  // checking that, rather than asking etcd on every call, keeps a deposed master harmless).
  let tenure: Tenure | undefined;
  let stopRenewing: (() => void) | undefined;
  const ttlMs = (options.leaseTtlSeconds ?? 2) * 1000;

  const vouch = () => {
    if (!tenure?.holds()) {
      throw new DbError(DB_ERRORS.NOT_READY, `${options.node} cannot vouch for its election lease now`);
    }
  };

  /**
   * Runs `use` on the database only if this master surely holds its lease before it starts and
   * again once it is done. Before: a deposed or paused master does no work. After: what `use`
   * read came from a snapshot taken before that instant, when no other master could have
   * written yet, so it is not stale; a write that committed did so before any fence (a fenced
   * master's commit fails at RADOS), and if the check after it fails the client's retry with
   * the same requestId is deduplicated wherever it lands.
   */
  const asMaster = async <T>(use: (db: DatabaseWorker) => Promise<T>): Promise<T> => {
    if (role === 'opening') await untilOpen();
    usable();
    vouch();
    const result = await use(usable());
    vouch();
    return result;
  };

  /** One keepalive of the election lease on its own stream, so that its answer is unambiguous. */
  const keepalive =
    (leaseId: string): Keepalive =>
    async () => {
      const stream = await options.etcd.leaseClient.leaseKeepAlive({ deadline: new Date(Date.now() + ttlMs / 2) });
      try {
        const response = await new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.write({ ID: leaseId });
        });
        return { ttlSeconds: Number(response.TTL) };
      } finally {
        stream.end();
      }
    };

  /** Starts renewing the lease the campaign holds, every quarter TTL; resolves after the first renewal. */
  const holdLease = async () => {
    const key = await campaign.getCampaignKey();
    const leaseId = (await options.etcd.get(key).exec()).kvs[0]?.lease;
    if (!leaseId) throw new DbError(DB_ERRORS.NOT_MASTER, `${options.node} lost its election key`);
    const held = new Tenure(keepalive(leaseId), ttlMs / 4);
    tenure = held;
    if (role === 'lost' || role === 'stopped') held.lose(); // stopped while it campaigned
    const lost = () => lose(new DbError(DB_ERRORS.NOT_MASTER, `${options.node} lost its election lease`));
    stopRenewing = held.keep(ttlMs / 4, lost);
    if ((await held.renew()) === 'lost') lost();
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const route = `${request.method} ${request.url}`;
    if (route === 'GET /v1/status') {
      reply(response, 200, {
        node: options.node,
        role,
        schemaVersion: database?.schemaVersion ?? null,
        lockAddress: database?.lockAddress ?? null,
      });
    } else if (route === 'POST /v1/call') {
      const body = parseCall(await readBody(request, CALL_BODY_LIMIT));
      const result = await asMaster((db) => db.call(body.op, body.args, body.requestId));
      reply(response, 200, { result: result ?? null });
    } else if (route === 'GET /v1/backup') {
      const bytes = await asMaster((db) => db.backup());
      response.writeHead(200, { 'content-type': 'application/vnd.sqlite3', 'content-length': bytes.length });
      response.end(bytes);
    } else if (route === 'PUT /v1/restore') {
      const bytes = await readBody(request, RESTORE_BODY_LIMIT);
      await asMaster((db) => db.restore(bytes));
      log('db.master.restored', { node: options.node, bytes: bytes.length });
      reply(response, 200, { restored: bytes.length });
    } else {
      throw new DbError(DB_ERRORS.BAD_REQUEST, `no route ${route}`);
    }
  }

  options.tls.serve(server);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `https://${options.advertiseHost ?? options.host ?? '127.0.0.1'}:${port}`;

  const takeOver = async () => {
    role = 'opening';
    const started = Date.now();
    log('db.master.elected', { node: options.node, url, ...(announcedLock ? { previousLock: announcedLock } : {}) });
    if (rados && location.kind === 'ceph') {
      const fenced = await fencePreviousHolder(rados, location, announcedLock);
      if (fenced.holders.length > 0) {
        log('db.master.fenced', { node: options.node, ...fenced, ms: Date.now() - started });
      }
    }
    const opening = prepared ?? DatabaseWorker.prepare(location, options.schemaModule);
    prepared = undefined;
    const leaseHeld = holdLease(); // its first keepalive, while the database opens
    leaseHeld.catch(() => {});
    const openStarted = Date.now();
    const opened = await opening.open();
    const openMs = Date.now() - openStarted;
    try {
      await leaseHeld;
    } catch (error) {
      await opened.abandon();
      throw error;
    }
    if (role !== 'opening') {
      await opened.abandon();
      return;
    }
    database = opened;
    opened.onFatal(lose);
    role = 'master';
    log('db.master.ready', {
      node: options.node,
      ms: Date.now() - started,
      // The open's own steps; all of it (the worker's start and the lock's wait included); the
      // wait for the lease's first keepalive after it.
      took: { ...opened.took, open: openMs, lease: Date.now() - openStarted - openMs },
      schemaVersion: opened.schemaVersion,
      lockAddress: opened.lockAddress,
    });
    markReady();
    if (opened.lockAddress !== undefined) {
      const announced: MasterAnnouncement = { ...announcement, lockAddress: opened.lockAddress };
      await campaign.proclaim(JSON.stringify(announced));
    }
  };

  const electionName = options.electionName ?? DB_MASTER_ELECTION;
  const election = options.etcd.election(electionName, options.leaseTtlSeconds ?? 2);
  const announcement: MasterAnnouncement = { url, node: options.node };
  // The lock address the last other master announced: a takeover blocklists it at once. It is
  // followed before this candidate campaigns, so a takeover knows it; and the campaign's
  // handlers are on before anything is awaited (an `elected` with no listener is lost).
  let announcedLock: string | undefined;
  const remember = (value: string | undefined) => {
    if (value === undefined) return;
    try {
      const other = JSON.parse(value) as Partial<MasterAnnouncement>;
      if (other.node !== options.node && typeof other.lockAddress === 'string') announcedLock = other.lockAddress;
    } catch {
      // not an announcement
    }
  };
  const follower = await ElectionFollower.follow(options.etcd, electionName, remember);
  const campaign: Campaign = election.campaign(JSON.stringify(announcement));
  campaign.on('elected', () => {
    takeOver().catch((error: unknown) =>
      lose(
        error instanceof DbError
          ? error
          : new DbError(DB_ERRORS.OPEN_FAILED, `taking over failed: ${(error as Error).message}`, { cause: error }),
      ),
    );
  });
  campaign.on('error', (error: Error) =>
    lose(new DbError(DB_ERRORS.NOT_MASTER, `lost the election lease: ${error.message}`, { cause: error })),
  );
  log('db.master.candidate', { node: options.node, url });

  return {
    url,
    role: () => role,
    ready: () => readiness,
    stop: async () => {
      if (role === 'stopped') return;
      const wasOpen = database;
      role = 'stopped';
      tenure?.lose();
      stopRenewing?.();
      database = undefined;
      await wasOpen?.close();
      await prepared?.abandon();
      prepared = undefined;
      await campaign.resign().catch(() => undefined);
      await follower.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rados?.close();
      log('db.master.stopped', { node: options.node });
    },
  };
}

function statusOf(error: DbError): number {
  if (error.retryable) return 503;
  if (error.code === DB_ERRORS.UNKNOWN_OPERATION) return 404;
  if (error.code === DB_ERRORS.BAD_REQUEST) return 400;
  if (error.code === DB_ERRORS.OPERATION_FAILED) return 422;
  return 500;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new DbError(DB_ERRORS.BAD_REQUEST, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseCall(body: Buffer): { op: string; args: unknown; requestId?: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new DbError(DB_ERRORS.BAD_REQUEST, 'the call body is not JSON');
  }
  const call = value as { op?: unknown; args?: unknown; requestId?: unknown };
  if (typeof call?.op !== 'string') throw new DbError(DB_ERRORS.BAD_REQUEST, 'a call needs an op name');
  if (call.requestId !== undefined && typeof call.requestId !== 'string') {
    throw new DbError(DB_ERRORS.BAD_REQUEST, 'requestId must be a string');
  }
  return { op: call.op, args: call.args ?? null, ...(call.requestId ? { requestId: call.requestId } : {}) };
}
