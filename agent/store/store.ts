import { performance } from 'node:perf_hooks';
import { fetch } from 'undici';
import { NodeTls } from '../tls.js';
import { circuitBreaker, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import {
  type CallContext,
  EtcdLeaseInvalidError,
  Etcd3,
  type IKeyValue,
  isRecoverableError,
  type Lease,
  Range,
  type Watcher,
} from 'etcd3';
import { Host } from 'etcd3/lib/connection-pool.js';
import { StoreCorruptValueError, StoreLeaseLostError, StoreUnavailableError } from './errors.js';

/** One key as etcd holds it. Revisions are decimal strings (etcd's int64). */
export interface Entry {
  readonly key: string;
  readonly value: string;
  readonly modRevision: string;
  readonly createRevision: string;
  /** The lease the key is attached to, '0' for none. */
  readonly lease: string;
}

/** A comparison of a transaction. `create == 0` means the key does not exist. */
export interface Compare {
  readonly key: string;
  readonly target: 'mod' | 'create' | 'value' | 'lease';
  readonly op?: '==' | '!=';
  readonly value: string | number;
}

/** An operation of a transaction. */
export type Op =
  { readonly put: string; readonly value: string; readonly lease?: string } | { readonly delete: string };

/** A change seen by a watch. */
export interface Change {
  readonly type: 'put' | 'delete';
  readonly entry: Entry;
}

/** Handlers of {@link Store.watchPrefix}. */
export interface WatchHandlers {
  /** A change, in revision order. */
  onChange(change: Change): void;
  /**
   * The watch could not resume (the revision it needed was compacted, or etcd cancelled it):
   * here is the whole prefix as of `revision`; changes continue from there.
   */
  onResync(entries: readonly Entry[], revision: string): void;
}

/** A running watch; `close()` ends it. */
export interface WatchHandle {
  close(): Promise<void>;
}

const TARGETS = { mod: 'Mod', create: 'Create', value: 'Value', lease: 'Lease' } as const;
/** Unary calls that take longer than this fail; streams (watch, keepalive) have no deadline. */
const CALL_DEADLINE_MS = 3_000;

/**
 * etcd3's fault handling per member: after 3 failures in a row, calls skip the member for 2 s.
 * Only failures to reach it count. etcd3's default also counts the errors a reachable member
 * answers with (`etcdserver: unhealthy cluster` for a refused member add, `leader changed`…): a
 * membership keeper retrying a refused change then shut the agent out of every member for 5 s,
 * lease keepalives included, and the node lost its lease.
 */
const memberBreaker = () =>
  circuitBreaker(
    handleWhen((error) => isRecoverableError(error) && !error.message.includes('etcdserver:')),
    { halfOpenAfter: 2_000, breaker: new ConsecutiveBreaker(3) },
  );

function toEntry(kv: IKeyValue): Entry {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: kv.mod_revision,
    createRevision: kv.create_revision,
    lease: kv.lease,
  };
}

/** Parses a JSON value written by rackseed, with a typed error if it is not JSON. */
export function parseJson<T>(entry: Entry): T {
  try {
    return JSON.parse(entry.value) as T;
  } catch (error) {
    throw new StoreCorruptValueError(entry.key, error);
  }
}

/** The parts of etcd3's connection pool that {@link Store.renewCredentials} uses (etcd3 builds credentials once, from its options). */
interface Pool {
  options: { credentials?: unknown };
  buildAuthentication(): unknown;
}

/**
 * A thin wrapper over the `etcd3` client: keys, transactions, leases kept alive by us (so we
 * know, to the millisecond, until when the lease is surely valid), and watches that resume
 * from a revision and re-list when they cannot. Everything rackseed keeps in etcd goes
 * through here.
 */
export class Store {
  /** Hosts taken out of the client's pool: their open streams end on their own; closed with the store. */
  private readonly retired: Host[] = [];
  /** Stops following the node's certificate files (see {@link renewCredentials}). */
  private stopFollowing: (() => void) | undefined;

  private constructor(
    /** The underlying client, for the few calls the wrapper does not cover (cluster membership). */
    readonly client: Etcd3,
    /** The node's certificate the client presents, if the members are served over TLS. */
    private readonly tls: NodeTls | undefined,
  ) {}

  /**
   * One member's own status (its view of the leader), asked of that member alone over its
   * HTTP gateway with the store's credentials; undefined when it does not answer in `timeoutMs`.
   */
  async memberStatus(
    clientUrl: string,
    timeoutMs: number,
  ): Promise<{ leader?: string; header?: { member_id?: string } } | undefined> {
    try {
      const response = await fetch(`${clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(timeoutMs),
        ...(this.tls ? { dispatcher: this.tls.dispatcher() } : {}),
      });
      return response.ok
        ? ((await response.json()) as { leader?: string; header?: { member_id?: string } })
        : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Asks the member at `clientUrl`, which must be the leader, to hand etcd's leadership to
   * member `targetId` (MoveLeader, over its HTTP gateway); throws if it refuses or does not
   * answer in `timeoutMs`.
   */
  async transferLeadership(clientUrl: string, targetId: string, timeoutMs: number): Promise<void> {
    const response = await fetch(`${clientUrl}/v3/maintenance/transfer-leadership`, {
      method: 'POST',
      body: JSON.stringify({ targetID: targetId }),
      signal: AbortSignal.timeout(timeoutMs),
      ...(this.tls ? { dispatcher: this.tls.dispatcher() } : {}),
    });
    if (!response.ok)
      throw new Error(`etcd refused to move its leadership: ${response.status} ${await response.text()}`);
  }

  /** The etcd3 client's host pool. It takes a fixed list; {@link setEndpoints} edits it in place. */
  private get hosts(): Host[] {
    return (this.client as unknown as { pool: { hosts: Host[] } }).pool.hosts;
  }

  /** The client URLs calls go to now. */
  get endpoints(): string[] {
    const scheme = this.tls ? 'https' : 'http';
    return this.hosts.map((h) => `${scheme}://${(h as unknown as { host: string }).host}`);
  }

  /**
   * Points the client at another set of etcd members (the voters, as the membership changes).
   * New calls go to the new hosts; streams open on a removed host (watches, keepalives) go on
   * until it fails, then reconnect to the new ones, as etcd3 does for any failed host.
   */
  setEndpoints(urls: readonly string[]): void {
    const bare = (url: string) => url.replace(/^https?:\/\//, '');
    const wanted = [...new Set(urls.map(bare))];
    if (wanted.length === 0) return;
    const hosts = this.hosts;
    const first = hosts[0] as unknown as { channelCredentials: never; channelOptions: never };
    const kept = hosts.filter((h) => wanted.includes((h as unknown as { host: string }).host));
    this.retired.push(...hosts.filter((h) => !kept.includes(h)));
    for (const url of wanted) {
      if (!kept.some((h) => (h as unknown as { host: string }).host === url)) {
        kept.push(new Host(url, first.channelCredentials, first.channelOptions, memberBreaker()));
      }
    }
    hosts.splice(0, hosts.length, ...kept);
  }

  /**
   * Presents the node's current certificate from now on (the CA renewed it): new hosts with
   * credentials built from the files, in place of the old ones, which are retired as
   * {@link setEndpoints} retires a removed member's (their streams go on until they fail).
   * Without it a long-running agent would reconnect with a lapsed certificate.
   */
  private renewCredentials(): void {
    if (!this.tls) return;
    const pool = (this.client as unknown as { pool: Pool }).pool;
    let credentials: unknown;
    try {
      pool.options.credentials = this.tls.etcdCredentials();
      credentials = pool.buildAuthentication();
    } catch {
      return; // a file caught half-replaced: the rename that completes it calls again
    }
    const hosts = this.hosts;
    const renewed = hosts.map((h) => {
      const { host, channelOptions } = h as unknown as { host: string; channelOptions: never };
      return new Host(host, credentials as never, channelOptions, memberBreaker());
    });
    this.retired.push(...hosts);
    hosts.splice(0, hosts.length, ...renewed);
  }

  /**
   * A client of the etcd members at `endpoints`. Over `https://` URLs (every node's etcd) it
   * presents the node certificate `tls` and trusts only the cluster CA; `http://` URLs are for
   * a bare etcd that tests start, and take no credentials.
   */
  static connect(endpoints: readonly string[], tls?: NodeTls): Store {
    const credentials = endpoints.some((url) => url.startsWith('https://')) ? tls : undefined;
    const client = new Etcd3({
      hosts: [...endpoints],
      ...(credentials ? { credentials: credentials.etcdCredentials() } : {}),
      faultHandling: { host: memberBreaker },
      defaultCallOptions: (context: CallContext) =>
        context.isStream ? {} : { deadline: new Date(Date.now() + CALL_DEADLINE_MS) },
    });
    const store = new Store(client, credentials);
    store.stopFollowing = credentials?.onChange((file) => {
      if (file === NodeTls.FILES.cert) store.renewCredentials();
    });
    return store;
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) throw new StoreLeaseLostError(what, error);
      throw new StoreUnavailableError(what, error);
    }
  }

  async get(key: string): Promise<Entry | undefined> {
    const response = await this.call(`get ${key}`, () => this.client.get(key).exec());
    const kv = response.kvs[0];
    return kv ? toEntry(kv) : undefined;
  }

  /** Every key under `prefix`, and the revision they were read at. */
  async list(prefix: string): Promise<{ entries: Entry[]; revision: string }> {
    const response = await this.call(`list ${prefix}`, () => this.client.getAll().prefix(prefix).exec());
    return { entries: response.kvs.map(toEntry), revision: response.header.revision };
  }

  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.call(`put ${key}`, () => {
      const put = this.client.put(key).value(value);
      return (lease ? put.lease(lease) : put).exec();
    });
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, () => this.client.delete().key(key).exec());
  }

  /**
   * Ends another holder's lease now (every key under it is deleted at once): a node whose BMC
   * says it is off (power-watch.ts). A lease that already ran out is no error.
   */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.call(`revoke lease ${id}`, () => this.client.leaseClient.leaseRevoke({ ID: id }));
    } catch (error) {
      if (!(error instanceof StoreLeaseLostError)) throw error;
    }
  }

  /**
   * Deletes the first keys under `prefix` (in key order) beyond the last `keep`, in one range
   * delete; resolves how many went. For logs whose keys sort oldest first.
   */
  async trimPrefix(prefix: string, keep: number): Promise<number> {
    const count = await this.call(`count ${prefix}`, () => this.client.getAll().prefix(prefix).count());
    if (count <= keep) return 0;
    const doomed = await this.call(`keys ${prefix}`, () =>
      this.client
        .getAll()
        .prefix(prefix)
        .sort('Key', 'Ascend')
        .limit(count - keep)
        .keys(),
    );
    const [first, last] = [doomed[0], doomed.at(-1)];
    if (first === undefined || last === undefined) return 0;
    const response = await this.call(`trim ${prefix}`, () =>
      this.client
        .delete()
        .range(new Range(first, `${last}\0`))
        .exec(),
    );
    return Number(response.deleted);
  }

  /** Applies `success` if every comparison holds, else `failure`; resolves whether it held. */
  async txn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<boolean> {
    const [first, ...rest] = compares;
    if (!first) throw new Error('a transaction needs at least one comparison');
    const op = (o: Op) => {
      if ('delete' in o) return this.client.delete().key(o.delete);
      const put = this.client.put(o.put).value(o.value);
      return o.lease ? put.lease(o.lease) : put;
    };
    const response = await this.call(`txn on ${first.key}`, () => {
      let builder = this.client.if(first.key, TARGETS[first.target], first.op ?? '==', first.value);
      for (const c of rest) builder = builder.and(c.key, TARGETS[c.target], c.op ?? '==', c.value);
      return builder
        .then(...success.map(op))
        .else(...failure.map(op))
        .commit();
    });
    return response.succeeded;
  }

  /** The current revision of the whole store. */
  async revision(): Promise<string> {
    const response = await this.call('revision', () => this.client.get('\0').exec());
    return response.header.revision;
  }

  /** Compacts the history up to `revision` (tests and maintenance). */
  async compact(revision: string): Promise<void> {
    await this.call('compact', () => this.client.kv.compact({ revision, physical: true }));
  }

  /**
   * Watches every key under `prefix`, from `fromRevision` (default: now). Reconnections
   * resume where they left off (the client replays from the last revision seen); when etcd
   * cannot replay (compacted) or cancels the watch, the prefix is listed again and handed
   * to `onResync`, and the watch goes on from there.
   */
  async watchPrefix(prefix: string, handlers: WatchHandlers, fromRevision?: string): Promise<WatchHandle> {
    let watcher: Watcher | undefined;
    let closed = false;
    const open = async (from: string | undefined): Promise<void> => {
      let builder = this.client.watch().prefix(prefix);
      if (from !== undefined) builder = builder.startRevision(from);
      const w = await this.call(`watch ${prefix}`, () => builder.create());
      watcher = w;
      w.on('put', (kv) => handlers.onChange({ type: 'put', entry: toEntry(kv) }));
      w.on('delete', (kv) => handlers.onChange({ type: 'delete', entry: toEntry(kv) }));
      w.on('error', () => {
        if (closed || watcher !== w) return;
        watcher = undefined;
        void w.cancel().catch(() => {});
        void resync();
      });
      if (closed) await w.cancel().catch(() => {});
    };
    const resync = async (): Promise<void> => {
      for (let attempt = 0; !closed; attempt++) {
        try {
          const { entries, revision } = await this.list(prefix);
          if (closed) return;
          handlers.onResync(entries, revision);
          await open(String(BigInt(revision) + 1n));
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)));
        }
      }
    };
    await open(fromRevision);
    return {
      close: async () => {
        closed = true;
        await watcher?.cancel().catch(() => {});
      },
    };
  }

  /** A lease of `ttlSeconds`, kept alive by {@link KeptLease} until revoked or lost. */
  async grantLease(ttlSeconds: number, options: { marginMs?: number } = {}): Promise<KeptLease> {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', () => {}); // reported through KeptLease instead
    const sent = performance.now();
    const id = await this.call('lease grant', () => lease.grant());
    return new KeptLease(lease, id, ttlSeconds * 1_000, sent, options.marginMs ?? Math.max(700, ttlSeconds * 300));
  }

  async close(): Promise<void> {
    this.stopFollowing?.();
    this.client.close();
    for (const host of this.retired) host.close();
  }
}

/** Keepalives that may wait at once (each for at most TTL/2; see {@link KeptLease}). */
const KEEPALIVES_IN_FLIGHT = 4;

/**
 * A lease we keep alive ourselves, one keepalive every TTL/4. We record when each successful
 * keepalive was *sent*: etcd restarts the TTL when it receives it, so the lease is surely
 * valid until `sent + TTL`. `expiring` fires `marginMs` before that (time to stop what must
 * not outlive the lease), `lost` only when etcd says the lease is gone. Past `sent + TTL` the
 * lease stays `expiring` and keepalives go on: a new etcd leader extends every lease it finds
 * (etcd's lessor promotion), so a lease whose keepalives all met the election may well be
 * alive, and a keepalive that etcd answers proves it was never gone (the keys under it never
 * were either): `renewed`. Declaring it lost on our own clock made the seed's agent give up its
 * singletons when a member's power loss took etcd's election past the TTL (CI, 2b987a7). A
 * keepalive caught by the loss of etcd's leader waits until its deadline (TTL/2): the next
 * ones do not wait for it, and once none has come back for TTL·0.4 one is sent every TTL/8, so
 * that the first to reach the new leader renews the lease before `expiring`
 * (test/unit/kept-lease.test.ts). One at a time, every pause of etcd's leader (a power loss, as
 * the network sees it) made the lease `expiring` (every agent stopped its singletons, and they
 * moved). More keepalives, or more often, did worse here: the deadlines they meet on members
 * waiting for the new leader trip etcd3's breaker ({@link memberBreaker}) on those live members.
 */
export class KeptLease {
  /** The lease id as a decimal string, as etcd's keys report it. */
  readonly id: string;
  readonly ttlMs: number;
  private validUntil: number;
  private state: 'healthy' | 'expiring' | 'lost' | 'revoked' = 'healthy';
  private readonly listeners = {
    expiring: [] as (() => void)[],
    renewed: [] as (() => void)[],
    lost: [] as (() => void)[],
  };
  private readonly keepTimer: NodeJS.Timeout;
  private readonly watchdog: NodeJS.Timeout;
  private inFlight = 0;
  private lastSent = 0;
  /** Keepalive requests sent so far (for request-rate figures). */
  keepalives = 0;

  constructor(
    private readonly lease: Lease,
    id: string,
    ttlMs: number,
    grantedAt: number,
    private readonly marginMs: number,
  ) {
    this.id = id;
    this.ttlMs = ttlMs;
    this.validUntil = grantedAt + ttlMs;
    this.keepTimer = setInterval(() => void this.keepalive(), Math.max(200, ttlMs / 4));
    this.watchdog = setInterval(() => this.check(), 50);
  }

  /** True while the lease is surely valid for at least the margin. */
  get healthy(): boolean {
    return this.state === 'healthy';
  }

  get lost(): boolean {
    return this.state === 'lost' || this.state === 'revoked';
  }

  on(event: 'expiring' | 'renewed' | 'lost', listener: () => void): void {
    this.listeners[event].push(listener);
  }

  private emit(event: 'expiring' | 'renewed' | 'lost'): void {
    for (const listener of this.listeners[event]) listener();
  }

  private async keepalive(): Promise<void> {
    if (this.inFlight >= KEEPALIVES_IN_FLIGHT || this.lost) return;
    this.inFlight++;
    const sent = performance.now();
    this.lastSent = sent;
    this.keepalives++;
    try {
      const response = await this.lease.keepaliveOnce({ deadline: new Date(Date.now() + this.ttlMs / 2) });
      const ttl = Number(response.TTL) * 1_000;
      if (this.lost) return;
      this.validUntil = Math.max(this.validUntil, sent + ttl);
      this.check();
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) this.markLost();
      // anything else (unreachable, deadline): keep trying; the watchdog decides
    } finally {
      this.inFlight--;
    }
  }

  private check(): void {
    if (this.lost) return;
    const now = performance.now();
    const left = this.validUntil - now;
    if (left < this.ttlMs * 0.6 && now - this.lastSent >= this.ttlMs / 8) void this.keepalive();
    if (left <= this.marginMs && this.state === 'healthy') {
      this.state = 'expiring';
      this.emit('expiring');
    } else if (left > this.marginMs && this.state === 'expiring') {
      this.state = 'healthy';
      this.emit('renewed');
    }
  }

  private markLost(): void {
    if (this.lost) return;
    if (this.state === 'healthy') this.emit('expiring');
    this.state = 'lost';
    this.stopTimers();
    this.emit('lost');
  }

  private stopTimers(): void {
    clearInterval(this.keepTimer);
    clearInterval(this.watchdog);
  }

  /** Ends the lease now (every key under it is deleted at once), as a clean shutdown must. */
  async revoke(): Promise<void> {
    this.stopTimers();
    this.state = 'revoked';
    try {
      await this.lease.revoke({ deadline: new Date(Date.now() + CALL_DEADLINE_MS) });
    } catch {
      this.lease.release(); // unreachable: it expires on its own
    }
  }

  /** Throws {@link StoreLeaseLostError} unless the lease is surely valid. */
  assertHealthy(): void {
    if (!this.healthy) throw new StoreLeaseLostError(this.id);
  }
}
