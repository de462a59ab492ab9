import { keys } from './keys.js';
import type { Entry, Store } from './store/store.js';
import { PrefixView } from './store/view.js';

/**
 * Keeps `store` pointed at etcd's voters as the membership changes: the `etcd-membership`
 * singleton publishes their client URLs (`keys.etcdEndpoints`), and every client that started
 * from the endpoints of one moment (an agent from its grant, a service from RACKSEED_ETCD)
 * follows them here, so that none depends on a member that is gone (the seed's, first of all).
 * `onChange` hears each new list with its record (the agent keeps it for its next start).
 */
export async function followEtcdEndpoints(
  store: Store,
  onChange: (urls: readonly string[], record: Entry) => void = () => {},
): Promise<{ close(): Promise<void> }> {
  // A record that names no voter (not JSON, no URLs) is passed over: the next one replaces it.
  const apply = (entry: Entry | undefined) => {
    if (!entry || entry.key !== keys.etcdEndpoints) return;
    const urls = votersOf(entry.value);
    if (urls.length === 0 || urls.join() === store.endpoints.join()) return;
    store.setEndpoints(urls);
    onChange(urls, entry);
  };
  const view = await PrefixView.open(store, keys.etcdEndpoints, (_key, _previous, current) => apply(current));
  apply(view.entries.get(keys.etcdEndpoints));
  return view;
}

/** The voters' client URLs in an etcd endpoints record (`keys.etcdEndpoints`); none when it is not one. */
export function votersOf(record: string): string[] {
  try {
    const urls = (JSON.parse(record) as { clientUrls?: unknown }).clientUrls;
    return Array.isArray(urls) ? urls.filter((u): u is string => typeof u === 'string' && /^https?:\/\//.test(u)) : [];
  } catch {
    return [];
  }
}
