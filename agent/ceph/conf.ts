import type { CephIdentity } from '../keys.js';

/** Where a node keeps its Ceph files (all under `<dataDir>/ceph`). */
export interface CephPaths {
  readonly dir: string;
  readonly conf: string;
  readonly adminKeyring: string;
  readonly bootstrapOsdKeyring: string;
  readonly mon: string;
  readonly mgr: string;
  readonly osd: string;
  readonly run: string;
  readonly log: string;
}

export function cephPaths(dir: string): CephPaths {
  return {
    dir,
    conf: `${dir}/ceph.conf`,
    adminKeyring: `${dir}/ceph.client.admin.keyring`,
    bootstrapOsdKeyring: `${dir}/ceph.client.bootstrap-osd.keyring`,
    mon: `${dir}/mon`,
    mgr: `${dir}/mgr`,
    osd: `${dir}/osd`,
    run: `${dir}/run`,
    log: `${dir}/log`,
  };
}

/** The monitors' port (msgr v2, IANA-assigned `ceph` 3300). */
export const MON_PORT = 3300;

/** A monitor's address on `host`. */
export function monAddr(host: string): string {
  return `v2:${host}:${MON_PORT}`;
}

/** Sparse size of the bluestore block file of each OSD. */
export const OSD_BLOCK_BYTES = 4 * 1024 ** 3;

/** `mon host`: every monitor's address vector, space-separated (`[v2:IP:3300] …`). */
export function monHost(addrs: readonly string[]): string {
  return [...addrs]
    .sort()
    .map((a) => `[${a}]`)
    .join(' ');
}

/**
 * A node's ceph.conf: msgr v2 only, on the node's own address, cephx, bluestore OSDs on a
 * sparse file in the data dir (made at mkfs unless LocalCeph put a disk at `<osd data>/block`),
 * placed in CRUSH under `host=<node>`, small memory and few PGs (2 cores, research/ceph-etcd-feasibility.md §2). Replica counts are not here: the Ceph
 * keeper sets them in the monitors' config database (a local file would override it).
 */
export function renderCephConf(params: {
  identity: CephIdentity;
  node: string;
  host: string;
  monAddrs: readonly string[];
  paths: CephPaths;
}): string {
  const { identity, node, host, monAddrs, paths } = params;
  return `# Written by the rackseed agent of ${node}; use with: ceph -c ${paths.conf}
[global]
fsid = ${identity.fsid}
mon host = ${monHost(monAddrs)}
public addr = ${host}
cluster addr = ${host}
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = ${paths.adminKeyring}
run dir = ${paths.run}
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim allowed = false
client mount timeout = 30
rados mon op timeout = 30
rados osd op timeout = 30
[mon]
# A dead monitor holds every monitor command (an OSD marked down, a client blocklisted) until
# the others notice and elect a quorum without it: 2 x the lease, then the election timeout
# (Ceph's defaults, 5 s and 5 s: 15 s; here 3 s and 2 s: 8 s).
mon lease = 3
mon election timeout = 2
mon data = ${paths.mon}
keyring = ${paths.mon}/keyring
log file = ${paths.log}/$name.log
admin socket = ${paths.run}/$name.asok
[mgr]
mgr data = ${paths.mgr}
keyring = ${paths.mgr}/keyring
log file = ${paths.log}/$name.log
admin socket = ${paths.run}/$name.asok
[osd]
osd data = ${paths.osd}
keyring = ${paths.osd}/keyring
log file = ${paths.log}/$name.log
admin socket = ${paths.run}/$name.asok
crush location = root=default host=${node}
osd objectstore = bluestore
bluestore block create = true
bluestore block size = ${OSD_BLOCK_BYTES}
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 67108864
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2
`;
}

/** A keyring file: `[name]`, its key and caps. */
export function renderKeyring(
  entries: readonly { name: string; key: string; caps?: Record<string, string> }[],
): string {
  return entries
    .map(
      (e) =>
        `[${e.name}]\n\tkey = ${e.key}\n${Object.entries(e.caps ?? {})
          .map(([what, cap]) => `\tcaps ${what} = "${cap}"\n`)
          .join('')}`,
    )
    .join('');
}

/** client.admin's caps. */
export const ADMIN_CAPS = { mon: 'allow *', osd: 'allow *', mgr: 'allow *', mds: 'allow *' };
/** client.bootstrap-osd's caps: it may only create OSDs. */
export const BOOTSTRAP_OSD_CAPS = { mon: 'profile bootstrap-osd' };
