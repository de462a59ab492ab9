import type { Elections } from '../elections.js';
import {
  type CephMonRecord,
  type CephOsdRecord,
  type CephReplicas,
  type CephPoolStatus,
  type CephStatusRecord,
  type FenceRecord,
  keys,
  type NodeRecord,
} from '../keys.js';
import { parseJson, type Store } from '../store/store.js';
import { PrefixView } from '../store/view.js';
import { ensureCephIdentity } from './identity.js';
import type { LocalCeph } from './node.js';
import { monAddr } from './conf.js';
import type { MonCommand } from './monitors.js';
import { type CephAction, type CephView, planCeph } from './plan.js';

/** Between steps while things move, while Ceph is not healthy or a step is under way, and once all is settled (a change in etcd wakes it at once). */
const MOVING_MS = 1_000;
const UNSETTLED_MS = 2_000;
const STEADY_MS = 5_000;
/** The status record is rewritten when it changes, and at least this often (so its age says the keeper lives). */
const STATUS_REFRESH_MS = 30_000;
/** A change in the pools' use alone (every write makes one) is written at most this often. */
const USAGE_REFRESH_MS = 10_000;

/** `ceph status -f json`, the parts read here. */
interface CephStatusJson {
  health: { status: string; checks: Record<string, { summary: { message: string } }> };
  quorum_names: string[];
  monmap: { num_mons: number };
  osdmap: { num_osds: number; num_up_osds: number; num_in_osds: number };
  pgmap: { num_pgs: number };
}

/** `ceph df -f json`, the parts read here. */
interface DfJson {
  stats: { total_bytes: number; total_used_raw_bytes: number };
  pools: { name: string; stats: { stored: number; objects: number; max_avail: number } }[];
}

/** `ceph mon dump -f json`, the parts read here. */
interface MonDumpJson {
  mons: { name: string }[];
}

/** `ceph osd dump -f json`, the parts read here. */
interface OsdDumpJson {
  osds: { osd: number; up: number; in: number }[];
  pools: { pool_name: string; size: number; min_size: number }[];
}

/**
 * The `ceph-keeper` singleton: makes the cluster's Ceph identity if there is none, then at
 * each step (1 s after a change it made, 2 s while Ceph is not healthy, 5 s once it is, and
 * at once when a node machine, a monitor assignment or an OSD record changes in etcd) reads the monitors' view (`ceph status`, `ceph osd dump`, `ceph df`) and etcd's (nodes, monitor
 * assignments, OSDs, fences), publishes a status record, asks {@link planCeph} for one step
 * and takes it: assigns a monitor to a node (the node's agent makes and starts it), removes a
 * fenced node's monitor from the monmap, marks a fenced node's OSD down, then out, sets the
 * replica counts.
 */
export class CephKeeper {
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private ticking = false;
  private woken = false;
  private views: PrefixView[] = [];
  private lastReason = '';
  private lastStatus = '';
  private lastUsage = '';
  private lastStatusAt = 0;

  constructor(
    private readonly store: Store,
    private readonly elections: Elections,
    private readonly local: LocalCeph,
    private readonly clusterKey: Buffer,
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    this.active = true;
    this.lastReason = '';
    void Promise.all([
      PrefixView.open(this.store, keys.nodeMachines, () => this.wake()),
      PrefixView.open(this.store, keys.ceph, (key) => {
        if (key.startsWith(keys.cephMons) || key.startsWith(keys.cephOsds)) this.wake();
      }),
    ]).then(
      (views) => {
        if (this.active) this.views = views;
        else for (const view of views) void view.close();
      },
      (error: unknown) => this.note(`cannot watch etcd (steps on a timer only): ${String(error)}`),
    );
    void this.loop();
  }

  stop(): void {
    this.active = false;
    clearTimeout(this.timer);
    for (const view of this.views.splice(0)) void view.close();
  }

  /** Takes the next step now (or right after the one in progress). */
  private wake(): void {
    if (!this.active) return;
    if (this.ticking) {
      this.woken = true;
      return;
    }
    clearTimeout(this.timer);
    void this.loop();
  }

  private async loop(): Promise<void> {
    if (!this.active || this.ticking) return;
    this.ticking = true;
    let delay = UNSETTLED_MS;
    try {
      delay = await this.tick();
    } catch (error) {
      this.note(`ceph step failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.ticking = false;
    if (this.active) this.timer = setTimeout(() => void this.loop(), this.woken ? 0 : delay);
    this.woken = false;
  }

  private note(reason: string): void {
    if (reason !== this.lastReason) this.log(`ceph-keeper: ${reason}`);
    this.lastReason = reason;
  }

  /** One step; resolves how long to wait before the next. */
  private async tick(): Promise<number> {
    await ensureCephIdentity(this.store, this.clusterKey);
    // The monitors are asked first (slow, seconds under load), etcd after: the view is as fresh as it can be.
    const mons = (await this.store.list(keys.cephMons)).entries.map((e) => parseJson<CephMonRecord>(e));
    let status: CephStatusJson | undefined;
    let dump: OsdDumpJson | undefined;
    let monmap: MonDumpJson | undefined;
    let df: DfJson | undefined;
    if (mons.length > 0 && this.local.ready) {
      try {
        [status, dump, monmap, df] = await Promise.all([
          this.json<CephStatusJson>({ prefix: 'status', format: 'json' }),
          this.json<OsdDumpJson>({ prefix: 'osd dump', format: 'json' }),
          this.json<MonDumpJson>({ prefix: 'mon dump', format: 'json' }),
          // What the pools hold is for the operator only: the step goes on without it.
          this.json<DfJson>({ prefix: 'df', format: 'json' }).catch(() => undefined),
        ]);
      } catch (error) {
        this.note(`the monitors do not answer: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const [osdEntries, machines, replicasEntry, fences] = await Promise.all([
      this.store.list(keys.cephOsds),
      this.store.list(keys.nodeMachines),
      this.store.get(keys.cephReplicas),
      this.store.list(keys.fencedAll),
    ]);
    const osdOf = new Map<number, string>();
    for (const entry of osdEntries.entries) {
      osdOf.set(parseJson<CephOsdRecord>(entry).id, entry.key.slice(keys.cephOsds.length));
    }
    const state = new Map<string, string>();
    for (const entry of machines.entries) {
      const envelope = parseJson<{ snapshot: { value: unknown } }>(entry);
      state.set(entry.key.slice(keys.nodeMachines.length), String(envelope.snapshot.value));
    }
    const records = [...this.elections.nodes.entries.values()].map((e) => parseJson<NodeRecord>(e));
    const fencedAt = new Map(
      fences.entries.map((e) => [e.key.slice(keys.fencedAll.length), Date.parse(parseJson<FenceRecord>(e).at)]),
    );
    // A fenced node with no fence record (or a bad date) was fenced long ago.
    const fencedFor = (node: string) =>
      state.get(node) === 'fenced' ? Date.now() - (fencedAt.get(node) || 0) : undefined;

    if (status && dump) await this.publish(status, dump, df);
    const assigned = new Set(mons.map((m) => m.node));
    const quorum = new Set(status?.quorum_names);
    const view: CephView = {
      answering: status !== undefined && dump !== undefined && monmap !== undefined,
      mons: mons.map((m) => ({
        node: m.node,
        inQuorum: quorum.has(m.node),
        fencedFor: fencedFor(m.node),
      })),
      monmap: (monmap?.mons ?? []).map((m) => ({ name: m.name, inQuorum: quorum.has(m.name) })),
      candidates: records.flatMap((r) =>
        r.ceph?.monitor && !assigned.has(r.name) && state.get(r.name) === 'ready'
          ? [{ node: r.name, addr: monAddr(r.ceph.host) }]
          : [],
      ),
      osds: (dump?.osds ?? []).flatMap((o) => {
        const node = osdOf.get(o.osd);
        return node === undefined
          ? []
          : [{ id: o.osd, node, up: o.up === 1, in: o.in === 1, fencedFor: fencedFor(node) }];
      }),
      pools: (dump?.pools ?? []).map((p) => ({ name: p.pool_name, size: p.size, minSize: p.min_size })),
      replicas: replicasEntry ? parseJson<CephReplicas>(replicasEntry) : undefined,
    };
    const action = planCeph(view);
    await this.take(action);
    if (action.type !== 'none') return MOVING_MS;
    return status?.health.status === 'HEALTH_OK' && !action.waiting ? STEADY_MS : UNSETTLED_MS;
  }

  /** A monitor command's JSON output. */
  private async json<T>(command: MonCommand): Promise<T> {
    return JSON.parse((await this.local.command(command)).toString()) as T;
  }

  private async take(action: CephAction): Promise<void> {
    const ceph = (command: MonCommand) => this.local.command(command);
    switch (action.type) {
      case 'none':
        this.note(action.reason);
        return;
      case 'add-mon': {
        const record: CephMonRecord = {
          node: action.node,
          addr: action.addr,
          initial: action.initial,
          at: new Date().toISOString(),
        };
        await this.store.put(keys.cephMon(action.node), JSON.stringify(record));
        this.note(`monitor assigned to ${action.node} (${action.addr})${action.initial ? ': the first' : ''}`);
        return;
      }
      case 'remove-mon':
        await ceph({ prefix: 'mon remove', name: action.node });
        await this.store.delete(keys.cephMon(action.node));
        this.note(
          `removed monitor ${action.node}: ${action.why === 'fenced' ? 'its node is fenced' : 'no node hosts it and it is out of the quorum'}`,
        );
        return;
      case 'osd-down':
        await ceph({ prefix: 'osd down', ids: [String(action.id)] });
        this.note(`marked osd.${action.id} of fenced ${action.node} down`);
        return;
      case 'osd-out':
        await ceph({ prefix: 'osd out', ids: [String(action.id)] });
        this.note(`marked osd.${action.id} of fenced ${action.node} out`);
        return;
      case 'osd-in':
        await ceph({ prefix: 'osd in', ids: [String(action.id)] });
        this.note(`marked osd.${action.id} of ${action.node} in`);
        return;
      case 'replicas': {
        const { size, minSize } = action.replicas;
        const set = (name: string, value: number) =>
          ceph({ prefix: 'config set', who: 'global', name, value: String(value) });
        await set('osd_pool_default_size', size);
        await set('osd_pool_default_min_size', minSize);
        await this.store.put(keys.cephReplicas, JSON.stringify(action.replicas));
        this.note(`replicas: size ${size}, min_size ${minSize}`);
        return;
      }
      case 'create-pool':
        await ceph({ prefix: 'osd pool create', pool: action.pool, pg_num: 8, pgp_num: 8 });
        await ceph({ prefix: 'osd pool application enable', pool: action.pool, app: action.application });
        this.note(`created pool ${action.pool}`);
        return;
      case 'pool-size': {
        const { size, minSize } = action.replicas;
        const set = (name: string, value: number) =>
          ceph({
            prefix: 'osd pool set',
            pool: action.pool,
            var: name,
            val: String(value),
            yes_i_really_mean_it: true,
          });
        const setSize = () => set('size', size);
        const setMin = () => set('min_size', minSize);
        // min_size may not exceed size: growing, size goes first; shrinking, min_size does.
        if (size >= action.fromSize) {
          await setSize();
          await setMin();
        } else {
          await setMin();
          await setSize();
        }
        this.note(`pool ${action.pool}: size ${size}, min_size ${minSize}`);
        return;
      }
    }
  }

  /**
   * Writes the status record when Ceph's state changed, when only the pools' use did and
   * {@link USAGE_REFRESH_MS} passed, or every {@link STATUS_REFRESH_MS}.
   */
  private async publish(status: CephStatusJson, dump: OsdDumpJson, df: DfJson | undefined): Promise<void> {
    const state = {
      health: status.health.status,
      checks: Object.entries(status.health.checks).map(([code, c]) => `${code}: ${c.summary.message}`),
      mons: status.monmap.num_mons,
      quorum: status.quorum_names,
      osds: status.osdmap.num_osds,
      up: status.osdmap.num_up_osds,
      in: status.osdmap.num_in_osds,
      pgs: status.pgmap.num_pgs,
      pools: dump.pools.map((p) => ({ name: p.pool_name, size: p.size, minSize: p.min_size })),
    };
    const usageOf = new Map(df?.pools.map((p) => [p.name, p.stats]));
    const pools: CephPoolStatus[] = state.pools.map((pool) => {
      const stats = usageOf.get(pool.name);
      return stats
        ? { ...pool, usage: { storedBytes: stats.stored, objects: stats.objects, maxAvailBytes: stats.max_avail } }
        : pool;
    });
    const capacity = df && { totalBytes: df.stats.total_bytes, usedBytes: df.stats.total_used_raw_bytes };
    const text = JSON.stringify(state);
    const usage = JSON.stringify({ pools, capacity });
    const age = Date.now() - this.lastStatusAt;
    const changed = text !== this.lastStatus || (usage !== this.lastUsage && age >= USAGE_REFRESH_MS);
    if (!changed && age < STATUS_REFRESH_MS) return;
    const record: CephStatusRecord = {
      ...state,
      pools,
      ...(capacity ? { capacity } : {}),
      at: new Date().toISOString(),
    };
    await this.store.put(keys.cephStatus, JSON.stringify(record));
    if (state.health !== JSON.parse(this.lastStatus || '{}').health) this.log(`ceph-keeper: ${state.health}`);
    this.lastStatus = text;
    this.lastUsage = usage;
    this.lastStatusAt = Date.now();
  }
}
