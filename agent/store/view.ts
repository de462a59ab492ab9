import type { Entry, Store, WatchHandle } from './store.js';

/**
 * A local copy of every key under a prefix, kept current by one watch (list, then watch from
 * the next revision; a watch that cannot resume re-lists). `onChange` runs after every
 * change with the key that changed, the entry as it was and as it is now.
 */
export class PrefixView {
  readonly entries = new Map<string, Entry>();
  private handle: WatchHandle | undefined;

  private constructor(
    private readonly store: Store,
    readonly prefix: string,
    private readonly onChange: (key: string, previous: Entry | undefined, current: Entry | undefined) => void,
  ) {}

  static async open(
    store: Store,
    prefix: string,
    onChange: (key: string, previous: Entry | undefined, current: Entry | undefined) => void = () => {},
  ): Promise<PrefixView> {
    const view = new PrefixView(store, prefix, onChange);
    const { entries, revision } = await store.list(prefix);
    for (const entry of entries) view.entries.set(entry.key, entry);
    view.handle = await store.watchPrefix(
      prefix,
      {
        onChange: (change) => {
          const previous = view.entries.get(change.entry.key);
          if (change.type === 'put') view.entries.set(change.entry.key, change.entry);
          else view.entries.delete(change.entry.key);
          view.onChange(change.entry.key, previous, view.entries.get(change.entry.key));
        },
        onResync: (fresh) => {
          const before = new Map(view.entries);
          view.entries.clear();
          for (const entry of fresh) view.entries.set(entry.key, entry);
          for (const key of new Set([...before.keys(), ...view.entries.keys()])) {
            if (before.get(key)?.modRevision !== view.entries.get(key)?.modRevision)
              view.onChange(key, before.get(key), view.entries.get(key));
          }
        },
      },
      String(BigInt(revision) + 1n),
    );
    return view;
  }

  /** The entry of `prefix + name`. */
  get(name: string): Entry | undefined {
    return this.entries.get(this.prefix + name);
  }

  async close(): Promise<void> {
    await this.handle?.close();
  }
}
