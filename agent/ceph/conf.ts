import { RackseedError } from '../errors/index.js';
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
 * What every rackseed daemon and client speaks (issue #14), in each node's ceph.conf, which the
 * daemons, librados (the agent, the DB master, the API's image store), the `rbd` CLI and QEMU's
 * rbd driver all read: cephx tickets are never reclaimed insecurely (CVE-2021-20288: a client
 * that cannot prove it held its global id is refused, not warned about), and msgr2 runs in
 * secure mode (AES-GCM, keys from cephx) on every connection — between daemons, to the
 * monitors, and from clients. A peer that offers only crc mode is refused. Set in the file, not
 * the monitors' config database: the messenger's modes are read before a daemon or client has
 * reached a monitor.
 */
export const CEPH_HARDENED: Readonly<Record<string, string>> = {
  auth_allow_insecure_global_id_reclaim: 'false',
  ms_cluster_mode: 'secure',
  ms_service_mode: 'secure',
  ms_client_mode: 'secure',
  ms_mon_cluster_mode: 'secure',
  ms_mon_service_mode: 'secure',
  ms_mon_client_mode: 'secure',
};

/** Extra Ceph options that cannot be written: a bad name or value, or one rackseed sets itself. */
export class CephConfigError extends RackseedError {
  constructor(message: string) {
    super('CEPH_ERR_CONFIG', message);
  }
}

/** `ms cluster mode` and `ms_cluster_mode` are the same option to Ceph. */
const optionName = (name: string) => name.trim().toLowerCase().replace(/[ -]+/g, '_');

/**
 * A node's ceph.conf: msgr v2 only, on the node's own address, cephx, hardened as
 * {@link CEPH_HARDENED} says, bluestore OSDs on a sparse file in the data dir (made at mkfs
 * unless LocalCeph put a disk at `<osd data>/block`), placed in CRUSH under `host=<node>`,
 * small memory and few PGs (2 cores, research/ceph-etcd-feasibility.md §2). Replica counts are
 * not here: the Ceph keeper sets them in the monitors' config database (a local file would
 * override it). No health check is muted or its threshold moved: `extra` options (the lab's,
 * see bootstrap/lab) go at the end of `[global]`, and may add options but not change one set
 * here; throws {@link CephConfigError} otherwise.
 */
export function renderCephConf(params: {
  identity: CephIdentity;
  node: string;
  host: string;
  monAddrs: readonly string[];
  paths: CephPaths;
  extra?: Readonly<Record<string, string>>;
}): string {
  const { identity, node, host, monAddrs, paths } = params;
  const hardened = Object.entries(CEPH_HARDENED)
    .map(([name, value]) => `${name.replace(/_/g, ' ')} = ${value}\n`)
    .join('');
  const conf = (extra: string) => `# Written by the rackseed agent of ${node}; use with: ceph -c ${paths.conf}
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
${hardened}# Each client's own keyring: client.admin's, and each service's (see users.ts).
keyring = ${paths.dir}/$cluster.$name.keyring
run dir = ${paths.run}
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
# A cluster of one host keeps one copy (the keeper sets size 1): health says so (POOL_NO_REDUNDANCY).
mon allow pool size one = true
client mount timeout = 30
# Every client of the monitors (daemons included) sends a keepalive each second (not every
# 10 s) and leaves a dead monitor's session once they have gone unanswered 2 s, not 30 s: a
# command sent after a monitor's node lost power (an OSD marked down, a client blocklisted)
# goes to a live one. A client that lost its monitor hunts for another every 0.5 s (not 3 s):
# the monitors answer no one while they elect, and a round that found none waited the whole
# interval before the next, past the quorum's return (the new DB master's fence waited 2 to 3 s).
mon client ping interval = 1
mon client ping timeout = 2
mon client hunt interval = 0.5
rados mon op timeout = 30
rados osd op timeout = 30
${extra}[client]
# Every client (the DB master's and libcephsqlite's, the API's, QEMU's rbd) calls an operation
# laggy after 1 s, not 10 s, and then asks the monitors for a newer osdmap, checking every
# 0.5 s (not 5 s): an operation sent to an OSD that died with its node is re-sent to the new
# primary as soon as the map marking it down is out, not 10 to 15 s later (issue #15).
objecter timeout = 1
objecter tick interval = 0.5
[mon]
# A dead monitor holds every monitor command (an OSD marked down, a client blocklisted) until
# the others notice and elect a quorum without it: a commit needs every monitor of the quorum
# to accept it, so the leader waits out the accept timeout (or a peon the lease, when the
# leader died), then the election timeout. Ceph's defaults: 2 x 5 s, then 5 s: 15 s. Here a
# lease of 1 s (renewed every 0.6 s), an accept late after 1 x the lease, a lease
# acknowledgement after 1.5 x (Ceph's least is just over 1), and an election of 0.5 s: 2 s,
# about when the DB master's own 2 s lease runs out (its successor's fence waits on the monitors:
# the blocklist and the dead node's OSD marked down). When an agent knows a monitor's node is
# off it calls the election at once (LocalCeph.hurryMonitorElection), and only the election's
# wait for the dead monitor's ack is left: the whole timeout, as every live monitor acks within
# milliseconds. A monitor that misses its lease or an election on a busy machine costs another
# election (a pause of commits), never data; 2 s left the quorum 3 to 4 s away.
mon lease = 1
mon accept timeout factor = 1
mon lease ack timeout factor = 1.5
mon election timeout = 0.5
# The monitors batch changes to a map (osdmap, and the rest) into one commit at most every
# \`paxos propose interval\` (1 s by default) after the last. After a power loss the surviving OSDs
# re-peer the dead one's PGs and must have their \`up_thru\` recorded in a new osdmap before they
# serve again: that commit came 1 s after the OSD's mark-down or the blocklist, and every
# operation on those PGs (the new DB master's first reads) waited for it. A commit every 0.2 s at
# most still batches a burst, and this cluster's maps change rarely.
paxos propose interval = 0.2
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
  const extra = Object.entries(params.extra ?? {});
  if (extra.length === 0) return conf('');
  // The warnings about insecure global id reclaim are never turned off (nor needed: it is refused).
  const set = new Set([
    'mon_warn_on_insecure_global_id_reclaim',
    'mon_warn_on_insecure_global_id_reclaim_allowed',
    ...conf('')
      .split('\n')
      .map((line) => /^([A-Za-z][A-Za-z0-9 _]*?) = /.exec(line)?.[1])
      .filter((name) => name !== undefined)
      .map(optionName),
  ]);
  for (const [name, value] of extra) {
    if (!/^[A-Za-z][A-Za-z0-9 _-]*$/.test(name))
      throw new CephConfigError(`not a Ceph option name: ${JSON.stringify(name)}`);
    if (typeof value !== 'string' || !/^[^\n\r#;[\]]*$/.test(value) || value.trim() === '')
      throw new CephConfigError(`Ceph option ${name}: not a one-line value: ${JSON.stringify(value)}`);
    if (set.has(optionName(name)))
      throw new CephConfigError(`Ceph option ${name} is set by rackseed itself (or twice): it cannot be changed`);
    set.add(optionName(name));
  }
  const lines = extra.map(([name, value]) => `${optionName(name).replace(/_/g, ' ')} = ${value.trim()}\n`);
  return conf(`# Given to this node's agent (cephConfig):\n${lines.join('')}`);
}

/** Throws {@link CephConfigError} if `extra` cannot go into a node's ceph.conf (see {@link renderCephConf}). */
export function checkCephConfig(extra: Readonly<Record<string, string>>): void {
  const identity = { fsid: '', monKey: '', adminKey: '', bootstrapOsdKey: '' };
  renderCephConf({ identity, node: 'check', host: '', monAddrs: [], paths: cephPaths('/check'), extra });
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
