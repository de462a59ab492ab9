/**
 * What one keepalive of the election lease learned: etcd restarted the lease for `ttlSeconds`
 * (0 or less: etcd no longer knows the lease, it expired or was revoked).
 */
export type Keepalive = () => Promise<{ ttlSeconds: number }>;

/** Renewals that may wait at once in {@link Tenure.keep} (each until its keepalive's deadline). */
const RENEWALS_IN_FLIGHT = 4;

/** Result of {@link Tenure.renew}. */
export type Renewal = 'held' | 'lost' | 'unknown';

/**
 * Until when the DB master surely holds its election lease, known without asking etcd on a
 * call's path (issue #15: the lease check was an etcd round trip in front of calls).
 *
 * The master sends its own keepalives of the lease (every quarter TTL, off any call's path) and
 * records when each was *sent*. etcd restarts the lease's TTL when it receives a keepalive,
 * which is after we sent it, so by etcd's clock the lease cannot expire before
 * `sent + TTL` (an etcd leader change only extends leases). Hence `validUntil`: the latest
 * `sent + TTL` over the keepalives etcd acknowledged. {@link holds} is true while now is
 * before `validUntil - marginMs`; the margin covers the drift between this host's clock and
 * etcd's over one TTL, and leaves a missed keepalive or two before calls are refused.
 *
 * Why that is as safe as the check against etcd on every call it replaces: another master is
 * elected only once our election key is gone, i.e. after our lease expired, so after
 * `validUntil`; and it fences us (Ceph blocklist) before it opens the database. So
 * - a write this master commits either commits before the fence (it is in the database the next
 *   master opens) or fails at the OSDs; it is never lost once acknowledged, whatever the clocks;
 * - a read, maybe served from SQLite's page cache (no RADOS call to fail), reads a snapshot
 *   taken before the master checks `holds()` again on its result (see master.ts): if that check
 *   passes, no other master could have written anything when the snapshot was taken, so the
 *   read is not stale. A master paused (SIGSTOP, a long GC) past its lease fails that check
 *   when it wakes, before answering anything.
 *
 * Clock and keepalive are parameters (the clock is monotonic: `performance.now()`).
 */
export class Tenure {
  #validUntil = Number.NEGATIVE_INFINITY;
  #lost = false;

  constructor(
    private readonly keepalive: Keepalive,
    readonly marginMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True while the lease is surely valid for at least `marginMs` more. */
  holds(): boolean {
    return !this.#lost && this.now() < this.#validUntil - this.marginMs;
  }

  /** The instant (on `now`'s clock) until which the lease is surely valid. */
  get validUntil(): number {
    return this.#lost ? Number.NEGATIVE_INFINITY : this.#validUntil;
  }

  /**
   * Sends one keepalive: 'held' (and `validUntil` moves on), 'lost' if etcd says the lease is
   * gone (for good: `holds` stays false), 'unknown' if etcd did not answer (nothing changes; the
   * margin runs out if that goes on).
   */
  async renew(): Promise<Renewal> {
    if (this.#lost) return 'lost';
    const sent = this.now();
    let ttlSeconds: number;
    try {
      ({ ttlSeconds } = await this.keepalive());
    } catch {
      return 'unknown';
    }
    if (!(ttlSeconds > 0)) {
      this.#lost = true;
      return 'lost';
    }
    if (!this.#lost) this.#validUntil = Math.max(this.#validUntil, sent + ttlSeconds * 1000);
    return this.#lost ? 'lost' : 'held';
  }

  /**
   * Renews every `intervalMs` until the returned function is called, {@link lose} is, or the
   * lease is lost (then `onLost`, once). A renewal that waits does not hold the next back (one caught by the loss of
   * etcd's leader waits until its deadline, and the next ones, sent once the new leader is
   * elected, renew the lease); at most {@link RENEWALS_IN_FLIGHT} wait at once.
   */
  keep(intervalMs: number, onLost: () => void): () => void {
    let waiting = 0;
    const renewOnce = async () => {
      if (this.#lost) return clearInterval(timer);
      if (waiting >= RENEWALS_IN_FLIGHT) return;
      waiting++;
      try {
        if ((await this.renew()) === 'lost') {
          clearInterval(timer);
          onLost();
        }
      } finally {
        waiting--;
      }
    };
    const timer = setInterval(() => void renewOnce(), intervalMs);
    return () => clearInterval(timer);
  }

  /** Marks the lease lost (resigned, or etcd said so elsewhere): `holds` is false from now on. */
  lose(): void {
    this.#lost = true;
  }
}
