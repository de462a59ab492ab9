import { type EtcdEndpoints, keys } from './keys.js';
import { type Entry, parseJson, type Store } from './store/store.js';
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
  const apply = (entry: Entry | undefined) => {
    if (!entry || entry.key !== keys.etcdEndpoints) return;
    const { clientUrls } = parseJson<EtcdEndpoints>(entry);
    if (clientUrls.length === 0 || clientUrls.join() === store.endpoints.join()) return;
    store.setEndpoints(clientUrls);
    onChange(clientUrls, entry);
  };
  const view = await PrefixView.open(store, keys.etcdEndpoints, (_key, _previous, current) => {
    try {
      apply(current);
    } catch {
      // Not JSON: the next record the membership keeper writes replaces it.
    }
  });
  apply(view.entries.get(keys.etcdEndpoints));
  return view;
}
