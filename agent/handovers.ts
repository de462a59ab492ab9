import { Election } from 'etcd3';
import { type Entry, parseJson, type Store } from './store/store.js';
import { PrefixView } from './store/view.js';

/**
 * Tells `left(node)` the moment the leader of one of the services' own elections (the DB
 * master's) leaves another node: its lease ran out, 2 s after its last renewal where a node's
 * registration lasts 3 s, or it resigned. The fencer then asks that node's BMC whether the node
 * is off ({@link Fencer.probe}): the new DB master's fence and open wait on the placement groups
 * whose primary OSD was there, and a node that lost its power gets its OSD marked down a second
 * or more before its own registration expires and it is fenced (issue #15).
 *
 * An election's leader is its candidate key created first, as etcd's own elections have it; its
 * value names the node (`{ "node": … }`).
 */
export async function watchHandovers(
  store: Store,
  self: string,
  elections: readonly string[],
  left: (node: string) => void,
): Promise<{ close(): Promise<void> }> {
  const views = await Promise.all(
    elections.map(async (name) => {
      const ref: { view?: PrefixView; holder?: string } = {};
      const look = () => {
        if (!ref.view) return;
        const holder = leaderNode(ref.view);
        if (ref.holder !== undefined && ref.holder !== holder && ref.holder !== self) left(ref.holder);
        ref.holder = holder;
      };
      ref.view = await PrefixView.open(store, `${Election.prefix}/${name}/`, look);
      look();
      return ref.view;
    }),
  );
  return { close: async () => void (await Promise.all(views.map((view) => view.close()))) };
}

function leaderNode(view: PrefixView): string | undefined {
  let first: Entry | undefined;
  for (const entry of view.entries.values()) {
    if (first === undefined || BigInt(entry.createRevision) < BigInt(first.createRevision)) first = entry;
  }
  if (first === undefined) return undefined;
  try {
    const { node } = parseJson<{ node?: unknown }>(first);
    return typeof node === 'string' ? node : undefined;
  } catch {
    return undefined; // not an announcement we know
  }
}
