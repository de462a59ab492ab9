/**
 * rackseed's librados binding (Ceph RADOS object store), an N-API addon built from source
 * against Debian's librados-dev by `make setup`. Every call is asynchronous and never blocks
 * the event loop: object data goes through `rados_aio_*`, the rest through the libuv pool.
 * Failures are {@link RadosError}s with stable codes (`RADOS_ERR_NOT_FOUND`,
 * `RADOS_ERR_PERMISSION_DENIED`, `RADOS_ERR_BUSY`, `RADOS_ERR_BLOCKLISTED`…).
 */
import { Readable, Writable } from 'node:stream';
import type { CephClientOptions, CephMonConnection } from '../../agent/index.js';
import { RadosError, radosError } from './errors.js';
import { loadAddon, type NativeCluster, type NativeIoCtx } from './native.js';

export { RadosError, RadosNotBuiltError } from './errors.js';

/** How to reach a cluster. */
export interface ConnectOptions {
  /** ceph.conf path (default: librados' search, CEPH_CONF then /etc/ceph/ceph.conf). */
  conf?: string;
  /** Keyring path, for cephx. */
  keyring?: string;
  /** Full client name (default `client.admin`). */
  clientName?: string;
  /** Further Ceph options, e.g. `{ rados_osd_op_timeout: '10' }`. */
  options?: Readonly<Record<string, string>>;
}

/** One holder of a RADOS advisory lock (cls_lock). */
export interface Locker {
  /** Entity name, e.g. `client.4152`. */
  client: string;
  cookie: string;
  /** The holder's address as the OSD saw it, e.g. `v1:127.0.0.1:0/3469330816`. */
  address: string;
}

export interface LockInfo {
  exclusive: boolean;
  tag: string;
  lockers: Locker[];
}

export interface LockOptions {
  description?: string;
  /** The lock expires after this long unless renewed (default: never). */
  durationMs?: number;
  /** Renew a lock this cookie already holds instead of failing with RADOS_ERR_EXISTS. */
  renew?: boolean;
}

export interface ObjectStat {
  size: number;
  /** Modification time, ms since the epoch (second resolution). */
  mtime: number;
}

export interface ListedObject {
  oid: string;
  namespace: string;
}

/** How long `blocklist` waits for the up OSDs to have the blocklist's osdmap. */
const BARRIER_TIMEOUT_MS = 30_000;
/**
 * How long one `status` tell to an OSD may take (librados' rados_osd_op_timeout, whole
 * seconds). A live OSD answers in milliseconds; one on a node that lost power stays up in the
 * osdmap until it is marked down, and a tell to it can only time out, holding a libuv pool
 * thread until then (librados' command call blocks).
 */
const TELL_TIMEOUT_SECONDS = 2;
/** How often the barrier reads the osdmap's up OSDs again while one of them has not answered. */
const BARRIER_ROUND_MS = 200;

/** Default piece size for streams; below osd_max_write_size (90 MiB) and a good RADOS op size. */
const STREAM_CHUNK = 4 * 1024 * 1024;

const wrap = async <T>(call: Promise<T>): Promise<T> => {
  try {
    return await call;
  } catch (error) {
    throw radosError(error);
  }
};

/**
 * What {@link RadosCluster.blocklist} waited for: every OSD that is up in the newest osdmap it
 * read has reported an osdmap at least `epoch`, which holds the blocklist.
 *
 * Why an OSD that is down in that osdmap need not have reported, and an OSD that is marked up
 * after it need not either (a blocklisted client's op is refused by any OSD whose map holds
 * the blocklist; the question is only which OSDs could still take one from it):
 * - An OSD that is down serves no write. If its node is powered off (the keeper marks a node's
 *   OSDs down only once the fencer has powered it off through its BMC), nothing runs there.
 *   If it is alive and has not learned yet that it is down (the monitors marked it down when
 *   its peers stopped hearing it), it can still start a write as the primary of its old
 *   interval, but the write needs every replica of the placement group, and the replicas have
 *   the newer map and discard replica ops from a peer that map says is down (Ceph's
 *   PG::can_discard_replica_op): the write never completes, and their map reaches it. The one
 *   exception is a pool of one copy in that OSD's old map (no replica to ask), which rackseed
 *   makes only while a single host has OSDs in: there is no other node to fence then.
 * - An OSD marked up again after the barrier's osdmap is up from a later epoch: it serves no op
 *   before it has the map that marks it up (an OSD boots, then waits for that map to go
 *   active), and its placement groups peer only in that new interval. It has the blocklist.
 */
export interface BlocklistBarrier {
  /** The monitors' newest osdmap epoch once the blocklist was added (so it holds the blocklist). */
  epoch: number;
  /** The OSDs that reported an osdmap at least `epoch`. */
  osds: number[];
  /** The OSDs that were up while the barrier waited, and were marked down before they reported it. */
  down: number[];
  /** How long (ms) the monitors took to add the blocklist, and the OSDs to get its map. */
  took: { add: number; barrier: number };
}

/** A connected librados client; `close()` it when done. */
export class RadosCluster {
  readonly #native: NativeCluster;
  readonly #options: ConnectOptions;
  /** The blocklist barrier's client (see #probe), connected on the first blocklist. */
  #prober: Promise<RadosCluster> | undefined;
  /** Its calls in flight (a blocklist, a command, a tell on the prober): {@link close} waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>();

  private constructor(native: NativeCluster, options: ConnectOptions) {
    this.#native = native;
    this.#options = options;
  }

  /** Connects to the monitors (mon op timeouts come from the conf or `options`). */
  static async connect(options: ConnectOptions = {}): Promise<RadosCluster> {
    const addon = (() => {
      try {
        return loadAddon();
      } catch (error) {
        throw radosError(error);
      }
    })();
    const native = new addon.Cluster();
    await wrap(
      native.connect(options.conf, options.keyring, options.clientName ?? 'client.admin', { ...options.options }),
    );
    return new RadosCluster(native, options);
  }

  /** The librados version the addon runs against, `major.minor.extra`. */
  static libradosVersion(): string {
    return loadAddon().libradosVersion;
  }

  createPool(name: string): Promise<void> {
    return wrap(this.#native.poolCreate(name));
  }

  deletePool(name: string): Promise<void> {
    return wrap(this.#native.poolDelete(name));
  }

  listPools(): Promise<string[]> {
    return wrap(this.#native.poolList());
  }

  /** Opens a context on `pool`, in `namespace` (default: the default namespace). */
  async openPool(pool: string, options: { namespace?: string } = {}): Promise<RadosPool> {
    return new RadosPool(
      await wrap(this.#native.openIoctx(pool, options.namespace ?? '')),
      pool,
      options.namespace ?? '',
    );
  }

  /**
   * Sends a monitor command (the JSON form of a `ceph` CLI command, as an object or as JSON
   * text), with `input` as its input buffer (what `ceph … -i FILE` sends, e.g. `osd new`'s
   * cephx secret), and returns its output.
   */
  async monCommand(
    command: Readonly<Record<string, unknown>> | string,
    input?: Buffer,
  ): Promise<{ output: Buffer; status: string }> {
    const json = typeof command === 'string' ? command : JSON.stringify(command);
    const { outbuf, outs } = await this.#track(wrap(this.#native.monCommand(json, input)));
    return { output: outbuf, status: outs };
  }

  /**
   * Sends a command to one OSD (the JSON form of `ceph tell osd.N …`) and returns its output.
   */
  async osdCommand(
    osd: number,
    command: Readonly<Record<string, unknown>>,
  ): Promise<{ output: Buffer; status: string }> {
    const { outbuf, outs } = await wrap(this.#native.osdCommand(osd, JSON.stringify(command)));
    return { output: outbuf, status: outs };
  }

  /**
   * Fences a client: adds its address to the OSD blocklist (`ceph osd blocklist add`), then
   * waits until this client and every up OSD have an osdmap that includes it (an epoch
   * barrier). An OSD refuses a blocklisted client's ops only once it has that map, and a
   * client's ops do not make an OSD catch up, so without the barrier a paused writer that wakes
   * could still write through an OSD that lags. "Every up OSD" is re-read while the barrier
   * waits: an OSD that is marked down meanwhile (a dead node's, by the agent's Ceph keeper once
   * the node is fenced, or by the monitors) drops out of the wait (see {@link BlocklistBarrier}
   * for why that is safe). Accepts the forms librados prints (`v1:…`, `[v2:…]`).
   */
  blocklist(address: string, expireSeconds = 3600): Promise<BlocklistBarrier> {
    // Tracked whole: a barrier nobody awaits any more still tells OSDs until it settles.
    return this.#track(this.#blocklist(address, expireSeconds));
  }

  async #blocklist(address: string, expireSeconds: number): Promise<BlocklistBarrier> {
    const started = Date.now();
    const probing = this.#probe(); // connects meanwhile, the first time
    // `expire` must be a JSON real (600.0): the monitor refuses an integer for a CephFloat.
    const command = { prefix: 'osd blocklist', blocklistop: 'add', addr: blocklistAddress(address) };
    await this.monCommand(`${JSON.stringify(command).slice(0, -1)},"expire":${expireSeconds.toFixed(1)}}`);
    // The monitor replies once the blocklist is committed: the map it dumps now includes it.
    const first = await this.#upOsds();
    const added = Date.now();
    const prober = await probing;
    // The prober's map too: its tells go to the OSDs' addresses in it (an OSD that restarted
    // since the last barrier listens at another).
    await Promise.all([this.waitForLatestOsdmap(), this.#track(prober.waitForLatestOsdmap())]);
    const barrier = await this.#barrier(prober, first, Date.now() + BARRIER_TIMEOUT_MS);
    return { ...barrier, took: { add: added - started, barrier: Date.now() - added } };
  }

  /** The osdmap's epoch and its up OSDs, from the monitors. */
  async #upOsds(): Promise<{ epoch: number; up: Set<number> }> {
    const dump = JSON.parse((await this.monCommand({ prefix: 'osd dump', format: 'json' })).output.toString()) as {
      epoch: number;
      osds: { osd: number; up: number }[];
    };
    return { epoch: dump.epoch, up: new Set(dump.osds.filter((o) => o.up === 1).map((o) => o.osd)) };
  }

  /**
   * Waits until every OSD that is up in the newest osdmap reports (`ceph tell osd.N status`) an
   * osdmap at least `first.epoch`. Each OSD is asked by a loop of its own, one tell at a time,
   * each bounded by TELL_TIMEOUT_SECONDS; the up set is read again every BARRIER_ROUND_MS, so an
   * OSD that is marked down stops being waited for even while a tell to it hangs.
   */
  async #barrier(
    prober: RadosCluster,
    first: { epoch: number; up: Set<number> },
    deadline: number,
  ): Promise<Omit<BlocklistBarrier, 'took'>> {
    const { epoch } = first;
    let up = first.up;
    const reached = new Set<number>();
    const everUp = new Set<number>();
    const asking = new Set<number>();
    const last = new Map<number, string>();
    let fatal: RadosError | undefined;
    let settled = false;
    let wake = () => {};
    const allReached = () => [...up].every((osd) => reached.has(osd));
    const ask = async (osd: number) => {
      asking.add(osd);
      try {
        for (let delay = 5; !settled && up.has(osd); delay = Math.min(delay * 2, 100)) {
          try {
            const newest = await this.#tell(prober, osd);
            if (newest >= epoch) {
              reached.add(osd);
              return;
            }
            last.set(osd, `it is at osdmap ${newest}`);
          } catch (error) {
            const failure = radosError(error);
            // A refusal (a client without `allow *` on the OSDs) will not change: give up at once.
            if (failure.code === 'RADOS_ERR_PERMISSION_DENIED') {
              fatal = failure;
              return;
            }
            last.set(osd, failure.message);
            // It may have moved (restarted at another address) or been marked down: a newer map tells.
            await this.#track(prober.waitForLatestOsdmap()).catch(() => undefined);
          }
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      } finally {
        asking.delete(osd);
        if (fatal || allReached()) wake();
      }
    };
    try {
      for (;;) {
        for (const osd of up) {
          everUp.add(osd);
          if (!reached.has(osd) && !asking.has(osd)) void ask(osd);
        }
        if (fatal) throw fatal;
        if (allReached()) break;
        if (Date.now() > deadline) {
          const waiting = [...up].filter((osd) => !reached.has(osd));
          throw new RadosError(
            'RADOS_ERR_TIMED_OUT',
            `blocklist barrier: ${waiting.map((osd) => `osd.${osd} (${last.get(osd) ?? 'no answer'})`).join(', ')} did not get osdmap ${epoch} and stayed up`,
            { errno: 110, op: 'blocklist', retryable: true },
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, BARRIER_ROUND_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (fatal) throw fatal;
        if (allReached()) break;
        ({ up } = await this.#upOsds());
      }
    } finally {
      settled = true;
    }
    const osds = [...reached].sort((a, b) => a - b);
    const down = [...everUp].filter((osd) => !reached.has(osd) && !up.has(osd)).sort((a, b) => a - b);
    return { epoch, osds, down };
  }

  /** `ceph tell osd.N status` through the prober: the OSD's newest osdmap epoch. */
  async #tell(prober: RadosCluster, osd: number): Promise<number> {
    const { output } = await this.#track(prober.osdCommand(osd, { prefix: 'status' }));
    return (JSON.parse(output.toString()) as { newest_map: number }).newest_map;
  }

  /** Counts a call as in flight until it settles: {@link close} waits for it. */
  async #track<T>(call: Promise<T>): Promise<T> {
    this.#inFlight.add(call);
    try {
      return await call;
    } finally {
      this.#inFlight.delete(call);
    }
  }

  /**
   * The barrier's own client, connected once as this one is, with TELL_TIMEOUT_SECONDS as its
   * rados_osd_op_timeout: a command to an OSD has no timeout of its own but that one, which
   * librados reads once, at connect (this client's may be long, or none, for its data).
   */
  #probe(): Promise<RadosCluster> {
    this.#prober ??= RadosCluster.connect({
      ...this.#options,
      options: { ...this.#options.options, rados_osd_op_timeout: String(TELL_TIMEOUT_SECONDS) },
    });
    const prober = this.#prober;
    prober.catch(() => {
      if (this.#prober === prober) this.#prober = undefined;
    });
    return prober;
  }

  /** Removes a client address from the blocklist. */
  async unblocklist(address: string): Promise<void> {
    await this.monCommand({ prefix: 'osd blocklist', blocklistop: 'rm', addr: blocklistAddress(address) });
  }

  /** This client's own address, in the form `blocklist` takes. */
  async address(): Promise<string> {
    return blocklistAddress(await wrap(this.#native.addresses()));
  }

  /** This client's global id (its entity name is `client.<id>`). */
  instanceId(): Promise<bigint> {
    return wrap(this.#native.instanceId());
  }

  /** Waits until this client has the newest osdmap (e.g. after a blocklist change). */
  waitForLatestOsdmap(): Promise<void> {
    return this.#track(wrap(this.#native.waitForLatestOsdmap()));
  }

  /** Closes every pool context (after their operations finish) and disconnects. */
  async close(): Promise<void> {
    // A call still in flight holds a handle on a libuv thread: let it end first.
    await Promise.allSettled([...this.#inFlight]);
    const prober = this.#prober;
    this.#prober = undefined;
    await prober?.then(
      (cluster) => cluster.close(),
      () => undefined,
    );
    await wrap(this.#native.shutdown());
  }
}

/**
 * The agent's monitor client (agent/ceph's `CephConnect`) over librados: a client of its own as
 * `clientName`, connecting and each command bounded by `timeoutSeconds` (client_mount_timeout,
 * rados_mon_op_timeout), so that no call holds a libuv pool thread for ever.
 */
export async function connectCephMonitors(options: CephClientOptions): Promise<CephMonConnection> {
  const seconds = String(options.timeoutSeconds);
  const cluster = await RadosCluster.connect({
    conf: options.conf,
    keyring: options.keyring,
    clientName: options.clientName,
    options: { client_mount_timeout: seconds, rados_mon_op_timeout: seconds },
  });
  return {
    command: async (command, input) => (await cluster.monCommand(command, input)).output,
    close: () => cluster.close(),
  };
}

/**
 * The address part of what librados prints for a client (`v1:127.0.0.1:0/123`,
 * `[v2:127.0.0.1:0/123,v1:…]`), as `osd blocklist add` takes it: `127.0.0.1:0/123`.
 */
export function blocklistAddress(address: string): string {
  const first = address.replace(/^\[/, '').replace(/\]$/, '').split(',')[0] ?? '';
  return first.replace(/^(v1|v2|any):/, '');
}

/** Objects of one pool and namespace. */
export class RadosPool {
  readonly #native: NativeIoCtx;
  readonly pool: string;
  readonly namespace: string;

  /** @internal — use {@link RadosCluster.openPool}. */
  constructor(native: NativeIoCtx, pool: string, namespace: string) {
    this.#native = native;
    this.pool = pool;
    this.namespace = namespace;
  }

  /** Replaces the object's whole content (creating it). */
  writeFull(oid: string, data: Buffer): Promise<void> {
    return wrap(this.#native.writeFull(oid, data));
  }

  /** Writes `data` at `offset` (creating the object, leaving the rest as it was). */
  write(oid: string, data: Buffer, offset: number): Promise<void> {
    return wrap(this.#native.write(oid, data, offset));
  }

  append(oid: string, data: Buffer): Promise<void> {
    return wrap(this.#native.append(oid, data));
  }

  /** Reads `length` bytes from `offset` (the whole object by default; shorter at its end). */
  async read(oid: string, range: { offset?: number; length?: number } = {}): Promise<Buffer> {
    const offset = range.offset ?? 0;
    const length = range.length ?? Math.max(0, (await this.stat(oid)).size - offset);
    return wrap(this.#native.read(oid, length, offset));
  }

  stat(oid: string): Promise<ObjectStat> {
    return wrap(this.#native.stat(oid));
  }

  remove(oid: string): Promise<void> {
    return wrap(this.#native.remove(oid));
  }

  /** Lists this namespace's objects, or every namespace's with `allNamespaces`. */
  list(options: { allNamespaces?: boolean } = {}): Promise<ListedObject[]> {
    return wrap(this.#native.list(options.allNamespaces ?? false));
  }

  getXattr(oid: string, name: string): Promise<Buffer> {
    return wrap(this.#native.getXattr(oid, name));
  }

  setXattr(oid: string, name: string, value: Buffer): Promise<void> {
    return wrap(this.#native.setXattr(oid, name, value));
  }

  removeXattr(oid: string, name: string): Promise<void> {
    return wrap(this.#native.rmXattr(oid, name));
  }

  getXattrs(oid: string): Promise<Record<string, Buffer>> {
    return wrap(this.#native.getXattrs(oid));
  }

  /** Takes the exclusive lock `name` on `oid` for `cookie`; RADOS_ERR_BUSY if held by another. */
  lockExclusive(oid: string, name: string, cookie: string, options: LockOptions = {}): Promise<void> {
    return wrap(this.#native.lock(oid, name, cookie, nativeLock(true, '', options)));
  }

  /** Takes the shared lock `name` on `oid` (holders must agree on `tag`). */
  lockShared(oid: string, name: string, cookie: string, tag: string, options: LockOptions = {}): Promise<void> {
    return wrap(this.#native.lock(oid, name, cookie, nativeLock(false, tag, options)));
  }

  unlock(oid: string, name: string, cookie: string): Promise<void> {
    return wrap(this.#native.unlock(oid, name, cookie));
  }

  /** Removes another client's hold on a lock (fence that client first: see `blocklist`). */
  breakLock(oid: string, name: string, locker: Pick<Locker, 'client' | 'cookie'>): Promise<void> {
    return wrap(this.#native.breakLock(oid, name, locker.client, locker.cookie));
  }

  listLockers(oid: string, name: string): Promise<LockInfo> {
    return wrap(this.#native.listLockers(oid, name));
  }

  /**
   * Streams the object out in pieces of `chunkSize` bytes (a few in flight at once); with
   * `start`/`end`, only that inclusive byte range (as `fs.createReadStream`).
   */
  createReadStream(oid: string, options: { chunkSize?: number; start?: number; end?: number } = {}): Readable {
    const chunk = options.chunkSize ?? STREAM_CHUNK;
    const pieces = async function* (pool: RadosPool): AsyncGenerator<Buffer> {
      const { size } = await pool.stat(oid);
      const stop = Math.min(size, options.end === undefined ? size : options.end + 1);
      for (let offset = options.start ?? 0; offset < stop; offset += chunk) {
        yield await pool.read(oid, { offset, length: Math.min(chunk, stop - offset) });
      }
    };
    return Readable.from(pieces(this), { objectMode: false });
  }

  /** Streams into the object (replacing it) in pieces of at most `chunkSize` bytes. */
  createWriteStream(oid: string, options: { chunkSize?: number } = {}): Writable {
    const chunk = options.chunkSize ?? STREAM_CHUNK;
    let offset = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (all: boolean) => {
      while (pendingBytes >= chunk || (all && (pendingBytes > 0 || offset === 0))) {
        const joined = Buffer.concat(pending);
        const piece = joined.subarray(0, Math.min(chunk, joined.length));
        const rest = joined.subarray(piece.length);
        // The first piece replaces whatever the object held before.
        if (offset === 0) await this.writeFull(oid, piece);
        else await this.write(oid, piece, offset);
        offset += piece.length;
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
        if (piece.length === 0) break;
      }
    };
    return new Writable({
      write: (data: Buffer, _encoding, done) => {
        pending.push(data);
        pendingBytes += data.length;
        flush(false).then(() => done(), done);
      },
      final: (done) => {
        flush(true).then(() => done(), done);
      },
    });
  }

  /** Waits for this context's operations, then releases it. */
  close(): Promise<void> {
    return wrap(this.#native.close());
  }
}

function nativeLock(exclusive: boolean, tag: string, options: LockOptions) {
  return {
    exclusive,
    tag,
    description: options.description ?? '',
    durationMs: options.durationMs ?? 0,
    renew: options.renew ?? false,
  };
}
