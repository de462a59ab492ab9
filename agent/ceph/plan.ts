import type { CephReplicas } from '../keys.js';

/** A monitor assigned to a node, as the planner sees it. */
export interface CephMonView {
  readonly node: string;
  /** It is in the monitors' quorum now. */
  readonly inQuorum: boolean;
  /** How long ago its node was fenced (ms): it will not come back; undefined while the node is not fenced. */
  readonly fencedFor: number | undefined;
}

/** A monitor in the monmap, as the monitors answered. */
export interface CephMonmapEntry {
  readonly name: string;
  readonly inQuorum: boolean;
}

/** A live node that may host a monitor and does not. */
export interface CephMonCandidate {
  readonly node: string;
  readonly addr: string;
}

export interface CephOsdView {
  readonly id: number;
  readonly node: string;
  readonly up: boolean;
  readonly in: boolean;
  /** How long ago its node was fenced (ms); undefined while the node is not fenced. */
  readonly fencedFor: number | undefined;
}

export interface CephPoolView {
  readonly name: string;
  readonly size: number;
  readonly minSize: number;
}

/** What the Ceph keeper knows in one step. */
export interface CephView {
  /** The monitors answered (there is a quorum); the rest of the view is read from them. */
  readonly answering: boolean;
  readonly mons: readonly CephMonView[];
  /** The monmap's monitors (empty when the monitors do not answer). */
  readonly monmap: readonly CephMonmapEntry[];
  readonly candidates: readonly CephMonCandidate[];
  readonly osds: readonly CephOsdView[];
  readonly pools: readonly CephPoolView[];
  /** The replica counts last set as the cluster's defaults. */
  readonly replicas: CephReplicas | undefined;
}

/** The one step the Ceph keeper takes next. */
export type CephAction =
  /** Nothing to do; `waiting` when something is under way (a monitor joining, no quorum yet). */
  | { readonly type: 'none'; readonly reason: string; readonly waiting: boolean }
  | { readonly type: 'add-mon'; readonly node: string; readonly addr: string; readonly initial: boolean }
  /** `fenced`: its node died; `unassigned`: in the monmap and out of the quorum, but no node is to host it. */
  | { readonly type: 'remove-mon'; readonly node: string; readonly why: 'fenced' | 'unassigned' }
  | { readonly type: 'osd-down'; readonly id: number; readonly node: string }
  | { readonly type: 'osd-out'; readonly id: number; readonly node: string }
  | { readonly type: 'osd-in'; readonly id: number; readonly node: string }
  | { readonly type: 'replicas'; readonly replicas: CephReplicas }
  | { readonly type: 'create-pool'; readonly pool: string; readonly application: 'rados' | 'rbd' }
  | { readonly type: 'pool-size'; readonly pool: string; readonly fromSize: number; readonly replicas: CephReplicas };

/**
 * How long after its node's fence a fenced node's OSD goes out. That remaps its placement
 * groups (they peer again), which would hold the failover's own Ceph operations, all due within
 * seconds of the fence: the new DB master's fence and open, servers' disks reopened on other
 * nodes (issue #15). Ceph itself waits 10 min to mark a down OSD out.
 */
export const OSD_OUT_AFTER_FENCE_MS = 15_000;

/**
 * How long after its node's fence a fenced node's monitor leaves the monmap, and another node
 * is given one. The monitors elect again then, so not during the failover's first seconds (the
 * new DB master is usually open 2 s after the fence); but soon, since until its replacement is
 * in the quorum a second node's loss costs the quorum (2 of 3 monitors gone), and with it Ceph
 * (seen in CI with the 15 s of the OSD's delay: two servers lost 20 s apart stalled the cluster).
 */
export const MON_REPLACE_AFTER_FENCE_MS = 3_000;

/** How many monitors rackseed runs. */
export const MON_COUNT = 3;
/** The pool rackseed's own services use (RADOS objects, the DB master's SQLite). */
export const RACKSEED_POOL = 'rackseed';
/** Glance's images: raw RBD images, each with a protected snapshot its servers' disks are cloned from. */
export const IMAGES_POOL = 'images';
/** Servers' root disks: RBD clones of their images. */
export const VMS_POOL = 'vms';

/** The pools the keeper makes, in this order, with the application each is tagged for. */
const POOLS: readonly { readonly name: string; readonly application: 'rados' | 'rbd' }[] = [
  { name: RACKSEED_POOL, application: 'rados' },
  { name: IMAGES_POOL, application: 'rbd' },
  { name: VMS_POOL, application: 'rbd' },
];

/** Replicas for `hosts` OSD hosts that are in: one copy per host up to 3, and a write needs 2 once there are 3. */
export function replicasFor(hosts: number): CephReplicas {
  const size = Math.max(1, Math.min(3, hosts));
  return { size, minSize: size === 3 ? 2 : 1 };
}

/**
 * Decides the keeper's next step, one at a time (pure: the same view gives the same step).
 * 1. No monitor yet: the first candidate (by name) makes the cluster's first monitor.
 * 2. Nothing else without a quorum to ask.
 * 3. The OSD of a fenced node is marked down, first: until it is down, every write to a
 *    placement group it is primary for waits (the servers moving off its node among them;
 *    Ceph itself would notice only after its heartbeat grace). The fencer marks it down
 *    itself the moment the BMC says the node is off; this is the keeper's catch-up.
 * 4. {@link OSD_OUT_AFTER_FENCE_MS} after the fence, the OSD is marked out (its data
 *    re-replicates then, not after Ceph's 10 min); {@link MON_REPLACE_AFTER_FENCE_MS} after it,
 *    the monitor is removed from the monmap (the others keep the quorum); so is a monitor in the monmap that no node is assigned and that is out of the quorum (a
 *    removal that did not take, or a monitor left from an earlier assignment): a dead monitor
 *    left in the monmap is counted against the quorum and keeps health at MON_DOWN. Then a
 *    live node's OSD that is up again is marked in.
 * 5. Monitors grow to 3 on live nodes, each waited for until it is in the quorum.
 * 6. Replicas follow the OSDs that are in: the defaults first, then the pools are made
 *    (rackseed's own, and RBD's for images and servers' disks), then every pool is set to them.
 * A monitor still joining holds back only the next monitor, not the OSD and pool steps.
 */
export function planCeph(view: CephView): CephAction {
  const candidates = [...view.candidates].sort((a, b) => a.node.localeCompare(b.node));
  const first = candidates[0];
  if (view.mons.length === 0) {
    return first
      ? { type: 'add-mon', node: first.node, addr: first.addr, initial: true }
      : { type: 'none', reason: 'no live node to host the first monitor yet', waiting: true };
  }
  if (!view.answering) return { type: 'none', reason: 'the monitors have no quorum (yet)', waiting: true };
  const dead = (fencedFor: number | undefined) => fencedFor !== undefined;
  const since = (fencedFor: number | undefined, ms: number) => fencedFor !== undefined && fencedFor >= ms;
  const up = view.osds.find((o) => dead(o.fencedFor) && o.up);
  if (up) return { type: 'osd-down', id: up.id, node: up.node };
  const out = view.osds.find((o) => since(o.fencedFor, OSD_OUT_AFTER_FENCE_MS) && o.in);
  if (out) return { type: 'osd-out', id: out.id, node: out.node };
  const gone = view.mons.find((m) => since(m.fencedFor, MON_REPLACE_AFTER_FENCE_MS));
  if (gone && view.mons.length > 1) return { type: 'remove-mon', node: gone.node, why: 'fenced' };
  const stray = view.monmap.find((m) => !m.inQuorum && !view.mons.some((a) => a.node === m.name));
  if (stray && view.monmap.length > 1) return { type: 'remove-mon', node: stray.name, why: 'unassigned' };
  const back = view.osds.find((o) => !dead(o.fencedFor) && o.up && !o.in);
  if (back) return { type: 'osd-in', id: back.id, node: back.node };
  const monStep = growMons(view, first);
  if (monStep.type !== 'none') return monStep;
  const poolStep = planPools(view);
  if (poolStep.type !== 'none') return poolStep;
  const settling = [...view.osds.filter((o) => o.in), ...view.mons].find((x) => dead(x.fencedFor));
  const after = settling
    ? `; fenced ${settling.node} leaves the cluster after its fence (its monitor ${MON_REPLACE_AFTER_FENCE_MS / 1000} s, its OSD ${OSD_OUT_AFTER_FENCE_MS / 1000} s)`
    : '';
  return {
    type: 'none',
    reason: `${monStep.reason}; ${poolStep.reason}${after}`,
    waiting:
      settling !== undefined ||
      (monStep.type === 'none' && monStep.waiting) ||
      (poolStep.type === 'none' && poolStep.waiting),
  };
}

function growMons(view: CephView, first: CephMonCandidate | undefined): CephAction {
  const joining = view.mons.find((m) => !m.inQuorum && m.fencedFor === undefined);
  if (joining) return { type: 'none', reason: `monitor ${joining.node} is not in the quorum yet`, waiting: true };
  if (view.mons.length < MON_COUNT && first)
    return { type: 'add-mon', node: first.node, addr: first.addr, initial: false };
  return { type: 'none', reason: `${view.mons.length} monitor(s)`, waiting: false };
}

function planPools(view: CephView): CephAction {
  const inHosts = new Set(view.osds.filter((o) => o.in).map((o) => o.node)).size;
  if (inHosts === 0) return { type: 'none', reason: 'no OSD in yet', waiting: true };
  const replicas = replicasFor(inHosts);
  if (view.replicas?.size !== replicas.size || view.replicas.minSize !== replicas.minSize) {
    return { type: 'replicas', replicas };
  }
  const missing = POOLS.find((pool) => !view.pools.some((p) => p.name === pool.name));
  if (missing) return { type: 'create-pool', pool: missing.name, application: missing.application };
  const off = [...view.pools]
    .sort((a, b) => a.name.localeCompare(b.name))
    .find((p) => p.size !== replicas.size || p.minSize !== replicas.minSize);
  if (off) return { type: 'pool-size', pool: off.name, fromSize: off.size, replicas };
  return { type: 'none', reason: `${inHosts} OSD host(s) in, size ${replicas.size}`, waiting: false };
}
