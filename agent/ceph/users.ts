import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CephCommandError } from './cli.js';
import { renderKeyring } from './conf.js';
import type { MonCommand } from './monitors.js';
import { IMAGES_POOL, RACKSEED_POOL, VMS_POOL } from './plan.js';

/** The RADOS namespace of the cloud database (libcephsqlite) in {@link RACKSEED_POOL}. */
export const DB_NAMESPACE = 'db';
/** The RADOS namespace of the image bytes (Glance's uploads) in {@link RACKSEED_POOL}. */
export const BLOB_NAMESPACE = 'images';

/** The rackseed services that talk to Ceph: each is a cephx user of its own. */
export type CephService = 'api' | 'host' | 'db' | 'compute';

/** A service's cephx user: its entity name and its caps, per daemon type, as `ceph auth caps` takes them. */
export interface CephUser {
  readonly name: `client.rackseed-${CephService}`;
  readonly caps: Readonly<Record<'mon' | 'osd', string>>;
}

// Caps grammar and profiles: Ceph's user management docs (doc/rados/operations/user-management.rst,
// "Authorization (Capabilities)"). `profile rbd` on the monitors reads the mon, OSD and PG maps
// (not users, not config keys) and may add a client to the blocklist (`osd blocklist add` of an
// address with its nonce, src/mon/MonCap.cc): what librbd needs to break a dead exclusive-lock
// holder, and the compute keeper to fence a host. On the OSDs, `profile rbd` is what librbd
// needs in one pool.
// Proven, each allowed what it must do and refused the rest, by test/integration/ceph-users.test.ts.
/**
 * Who may do what. client.admin (and `mon.`) stay the agent's, which assembles the cluster; the
 * services get these:
 * - `api` (`rackseed cloud serve`): Glance's RBD images (import, snapshot, export, remove), a
 *   server's disk snapshotted into a new image (createImage: a snapshot made and removed on the
 *   disk, hence `profile rbd` on the servers' pool too, until the host service does it), the image
 *   bytes in the blob namespace;
 * - `host` (`rackseed host serve` and its QEMUs): servers' disks (clone, grow, run, remove), the
 *   images they are cloned from, its own address taken off the blocklist at start (it was
 *   blocklisted when its node was fenced);
 * - `db` (`rackseed db master`, libcephsqlite): the database's namespace, blocklisting the
 *   previous master's client (its lock holder) before taking over, and the fence's epoch
 *   barrier: it asks each up OSD its `status` (`ceph tell osd.N status`), and an OSD answers a
 *   command only to a client whose OSD caps allow all (OSD::handle_command checks
 *   OSDCap::allow_all: `allow *` on every pool; OSD caps have no `allow command`). So its OSD
 *   cap is `allow *`: every pool's data is open to it, as to client.admin, but not the monitors
 *   (users, config keys, pools, flags), which client.admin would give it;
 * - `compute` (`rackseed compute keeper`): blocklisting a fenced host before its servers move.
 * None may read or change users, config keys, pools or flags; none but `db` another service's data.
 */
export const CEPH_USERS: Readonly<Record<CephService, CephUser>> = {
  api: {
    name: 'client.rackseed-api',
    caps: {
      mon: 'profile rbd',
      osd: `profile rbd pool=${IMAGES_POOL}, profile rbd pool=${VMS_POOL}, allow rw pool=${RACKSEED_POOL} namespace=${BLOB_NAMESPACE}`,
    },
  },
  host: {
    name: 'client.rackseed-host',
    caps: {
      // Single quotes: the keyring file holds the caps in double quotes.
      mon: "profile rbd, allow command 'osd blocklist' with blocklistop=rm",
      // Not `profile rbd-read-only` on the images: `rbd image-meta get` (is it bootable?) opens
      // the image read-write, and registering its watch is refused (Ceph 16).
      osd: `profile rbd pool=${VMS_POOL}, profile rbd pool=${IMAGES_POOL}`,
    },
  },
  db: {
    name: 'client.rackseed-db',
    // libcephsqlite's documented caps (doc/rados/api/libcephsqlite.rst) on the monitors: read, and
    // adding to the blocklist; on the OSDs, `allow *` for the barrier's `status` (see above).
    caps: {
      mon: "allow r, allow command 'osd blocklist' with blocklistop=add",
      osd: 'allow *',
    },
  },
  compute: {
    name: 'client.rackseed-compute',
    caps: { mon: 'profile rbd', osd: '' },
  },
};

/** Where a node keeps `user`'s keyring: `<ceph dir>/ceph.<name>.keyring`, which its ceph.conf names for that client. */
export function cephUserKeyring(cephDir: string, user: CephUser): string {
  return `${cephDir}/ceph.${user.name}.keyring`;
}

/** `auth get-or-create`'s JSON answer, the part read here. */
type AuthEntities = { entity: string; key: string }[];

/**
 * Writes each service's keyring (0600) under `cephDir`, making its user first if the cluster has
 * none, and setting its caps to {@link CEPH_USERS}' if they changed (an upgrade). A keyring
 * already written with today's caps is left alone: nothing is asked of the monitors then.
 * `command` is the agent's client.admin (the only one allowed to manage users).
 */
export async function ensureCephUsers(
  cephDir: string,
  command: (command: MonCommand) => Promise<Buffer>,
): Promise<void> {
  for (const user of Object.values(CEPH_USERS)) {
    const file = cephUserKeyring(cephDir, user);
    const caps = Object.fromEntries(Object.entries(user.caps).filter(([, cap]) => cap !== ''));
    const capList = Object.entries(caps).flat();
    const keyring = (key: string) => renderKeyring([{ name: user.name, key, caps }]);
    const written = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (written !== '' && written === keyring(/key = (\S+)/.exec(written)?.[1] ?? '')) continue;
    const getOrCreate = async () =>
      JSON.parse(
        (await command({ prefix: 'auth get-or-create', entity: user.name, caps: capList, format: 'json' })).toString(),
      ) as AuthEntities;
    let entities: AuthEntities;
    try {
      entities = await getOrCreate();
    } catch {
      // The user exists with other caps (get-or-create refuses them): today's caps, then its key.
      await command({ prefix: 'auth caps', entity: user.name, caps: capList });
      entities = await getOrCreate();
    }
    const key = entities.find((e) => e.entity === user.name)?.key;
    if (!key) throw new CephCommandError(`ceph auth get-or-create ${user.name}`, 'its answer holds no key', undefined);
    writeFileSync(file, keyring(key), { mode: 0o600 });
  }
}
