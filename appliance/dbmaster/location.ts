/** The etcd election of the database master: its leader's value is a `MasterAnnouncement` (`{ url, node }`, and `lockAddress` once open). */
export const DB_MASTER_ELECTION = 'db-master';

/** Where the cloud database lives. */
export type DbLocation =
  | {
      kind: 'ceph';
      /** ceph.conf of the cluster. */
      conf: string;
      /** Keyring and client name (`client.db`) for cephx; the admin's by default. */
      keyring?: string;
      clientName?: string;
      pool: string;
      /** RADOS namespace of the database's objects ('' for the default). */
      namespace: string;
      /** Database name, `[A-Za-z0-9._-]+`; its first stripe is `<name>.0000000000000000`. */
      name: string;
    }
  | {
      /** Embedded default (one machine, no Ceph): a local SQLite file. */
      kind: 'local';
      path: string;
    };

/** Debian's libsqlite3-mod-ceph. */
export const CEPHSQLITE_EXTENSION = '/usr/lib/x86_64-linux-gnu/libcephsqlite.so';

/** libcephsqlite's lock on the first stripe object (SimpleRADOSStriper.cc). */
export const STRIPER_LOCK = 'striper.lock';
/**
 * The xattr where libcephsqlite's striper names its lock's holder, and clears on a clean
 * unlock. Left set, the next open takes it for a holder that did not clean up and blocklists
 * that address itself (a second monitor commit) before it opens.
 */
export const STRIPER_HOLDER = 'striper.excl';

/** The RADOS object carrying the database's lock. */
export function firstStripe(name: string): string {
  return `${name}.0000000000000000`;
}

/** The SQLite URI of a Ceph database (libcephsqlite docs: `file:///<pool>:<ns>/<db>?vfs=ceph`). */
export function cephUri(location: Extract<DbLocation, { kind: 'ceph' }>): string {
  if (!/^[A-Za-z0-9._-]+$/.test(location.name)) throw new Error(`bad database name ${location.name}`);
  return `file:///${location.pool}:${location.namespace}/${location.name}?vfs=ceph`;
}
