import { Election, type Etcd3, type IKeyValue, type Watcher } from 'etcd3';

/**
 * Follows an etcd election (etcd3's `Election`, Go's `concurrency.Election`): its leader is the
 * candidate key under `election/<name>/` with the lowest create revision, and the leader's value
 * is its announcement. `onChange` is told the leader's value (or `undefined`) whenever it
 * changes.
 *
 * Written here rather than using etcd3's `ElectionObserver`: when that observer starts with no
 * leader, it follows the *last* put of the first batch its watch receives, so a standby that
 * campaigns in the same batch as the leader is followed instead, and the leader's later
 * announcements are missed until the standby's key goes. This keeps every candidate key and
 * reads the leader from all of them, as etcd's own election does.
 */
export class ElectionFollower {
  readonly #etcd: Etcd3;
  readonly #prefix: string;
  readonly #onChange: (leader: string | undefined) => void;
  /** Every candidate's key, with its create revision and value. */
  readonly #candidates = new Map<string, { created: bigint; value: string }>();
  #leader: string | undefined;
  #watcher: Watcher | undefined;
  #closed = false;

  private constructor(etcd: Etcd3, name: string, onChange: (leader: string | undefined) => void) {
    this.#etcd = etcd;
    this.#prefix = `${Election.prefix}/${name}/`;
    this.#onChange = onChange;
  }

  /** Lists the election's candidates, then follows it until {@link close}. */
  static async follow(
    etcd: Etcd3,
    name: string,
    onChange: (leader: string | undefined) => void,
  ): Promise<ElectionFollower> {
    const follower = new ElectionFollower(etcd, name, onChange);
    await follower.#start();
    return follower;
  }

  /** The leader's value (its announcement), if the election has a leader. */
  leader(): string | undefined {
    return this.#leader;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.cancel().catch(() => {});
    this.#watcher = undefined;
  }

  async #start(): Promise<void> {
    const listed = await this.#etcd.getAll().prefix(this.#prefix).exec();
    this.#candidates.clear();
    for (const kv of listed.kvs) this.#put(kv);
    this.#settle();
    // The client's own watch stream, shared with its other watches: a namespace would open one
    // stream per follower, and each one's close counts as a failure in etcd3's circuit breaker
    // (three closes in a row and the client refuses every call for 5 s).
    const watcher = await this.#etcd
      .watch()
      .prefix(this.#prefix)
      .startRevision((BigInt(listed.header.revision) + 1n).toString())
      .create();
    if (this.#closed) {
      await watcher.cancel();
      return;
    }
    this.#watcher = watcher;
    watcher.on('put', (kv) => {
      this.#put(kv);
      this.#settle();
    });
    watcher.on('delete', (kv) => {
      this.#candidates.delete(kv.key.toString());
      this.#settle();
    });
    // The watch resumes by itself after a reconnection; it ends in an error only when etcd
    // cancels it (the revision it needed was compacted): list again and follow from there.
    watcher.on('error', () => {
      if (this.#closed || this.#watcher !== watcher) return;
      this.#watcher = undefined;
      watcher.cancel().catch(() => {});
      const restart = (): void => {
        if (this.#closed) return;
        this.#start().catch(() => setTimeout(restart, 500).unref());
      };
      restart();
    });
  }

  #put(kv: IKeyValue): void {
    this.#candidates.set(kv.key.toString(), { created: BigInt(kv.create_revision), value: kv.value.toString() });
  }

  #settle(): void {
    let first: { created: bigint; value: string } | undefined;
    for (const candidate of this.#candidates.values()) {
      if (first === undefined || candidate.created < first.created) first = candidate;
    }
    if (first?.value === this.#leader) return;
    this.#leader = first?.value;
    this.#onChange(this.#leader);
  }
}
