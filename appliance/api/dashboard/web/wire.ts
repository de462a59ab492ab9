/**
 * What the dashboard's rack API sends (`GET /dashboard/api/rack` and the frames of
 * `/dashboard/api/rack/stream`): types only, shared by the server (appliance/api/dashboard/)
 * and the browser code of this folder, so that both sides speak one format. Type-only: it
 * compiles to an empty module, and nothing imports it at run time.
 */

/**
 * A node's power as the cluster knows it, never asked of its BMC by the API: a node the cluster
 * powered on (powering-on … ready, draining) is on; a fenced node was powered off by the
 * fencer (or confirmed off by an operator); a discovered node has not been powered on yet; a
 * failed node is unknown until its fence says.
 */
export type Power = 'on' | 'off' | 'unknown';

/** A node's place in etcd: a voter (the leader among them), a learner catching up, or a plain client. */
export type EtcdRole = 'leader' | 'voter' | 'learner' | null;

/** One server, as the rack view lists it under its node. */
export interface RackServer {
  readonly id: string;
  readonly name: string;
  /** Nova's status (ACTIVE, BUILD, SHUTOFF, ERROR…). */
  readonly status: string;
  readonly project: string;
}

/** One node's tile. */
export interface RackNode {
  readonly name: string;
  /** Its node machine's state: discovered, powering-on, netbooting, joining, ready, draining, failed, fenced. */
  readonly phase: string;
  readonly power: Power;
  /** Ready and nothing under way (no etcd join, OSD, monitor or service still starting). */
  readonly ready: boolean;
  /** In plain words, why it is not ready (or what it is still doing); null when it is. */
  readonly why: string | null;
  /** Its agent is registered under a live lease. */
  readonly registered: boolean;
  /** The fence of its current incarnation, if it was fenced. */
  readonly fenced: { readonly method: string; readonly at: string; readonly by: string } | null;
  /** Each service's state on it (running, candidate, starting, backoff…). */
  readonly services: Readonly<Record<string, string>>;
  readonly etcd: EtcdRole;
  /** The singletons it holds (the DB master's election included, as `db-master`). */
  readonly singletons: readonly string[];
  readonly servers: readonly RackServer[];
}

/** One etcd member. */
export interface RackMember {
  /** Empty for a learner added but not started yet. */
  readonly name: string;
  readonly role: 'voter' | 'learner';
  readonly leader: boolean;
}

/** Who holds a singleton. */
export interface RackSingleton {
  readonly service: string;
  /** The live holder, or null (nobody, or a dead holder not fenced yet: see `claimedBy`). */
  readonly holder: string | null;
  /** The node named by the claim, live or not (null for an election such as the DB master's). */
  readonly claimedBy: string | null;
  readonly since: string | null;
}

/** A pool: replicas, and (when `ceph df` answered) one copy's bytes and objects, and what it can still take. */
export interface RackPool {
  readonly name: string;
  readonly size: number;
  readonly minSize: number;
  readonly usage?: { readonly storedBytes: number; readonly objects: number; readonly maxAvailBytes: number };
}

/** Ceph as the Ceph keeper last saw it. */
export interface RackCeph {
  readonly health: string;
  readonly checks: readonly string[];
  readonly mons: number;
  readonly quorum: readonly string[];
  readonly osds: number;
  readonly up: number;
  readonly in: number;
  readonly pgs: number;
  readonly pools: readonly RackPool[];
  /** The OSDs' raw space, when `ceph df` answered. */
  readonly capacity?: { readonly totalBytes: number; readonly usedBytes: number };
  /** When the keeper looked. */
  readonly at: string;
}

/** The whole rack at one moment. */
export interface RackSnapshot {
  /** When it was read (ISO 8601). */
  readonly at: string;
  readonly nodes: readonly RackNode[];
  readonly etcd: { readonly leader: string | null; readonly members: readonly RackMember[] };
  readonly singletons: readonly RackSingleton[];
  readonly ceph: RackCeph | null;
  /** Servers on no node of the rack (not placed yet, or on a host that left). */
  readonly unplaced: readonly RackServer[];
}

/** One event of the cluster's log (agent/events.ts's ClusterEvent). */
export interface RackEvent {
  readonly at: string;
  readonly type: string;
  readonly node?: string;
  readonly by: string;
  readonly code?: string;
  readonly durationMs?: number;
  readonly detail: string;
}

/**
 * The stream's frames, by SSE event name: `snapshot` (the whole rack, at once and after each
 * change), `events` (the newest events of the log, once, first), `event` (each new one),
 * `end` (the server closes the stream: the token expired or was revoked, or it shuts down).
 */
export interface RackFrames {
  snapshot: RackSnapshot;
  events: readonly RackEvent[];
  event: RackEvent;
  end: { readonly reason: 'unauthorized' | 'shutdown' | 'slow'; readonly message: string };
}

/** `GET /dashboard/api/rack`'s answer. */
export interface RackAnswer {
  readonly rack: RackSnapshot;
  readonly events: readonly RackEvent[];
}
