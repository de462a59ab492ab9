import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FenceOutcome } from './fencer.js';
import type { ClusterStatus } from './status.js';

/** How long one read of the cluster's state serves the scrape's gauges (they all read it). */
const STATUS_FRESH_MS = 1_000;

/**
 * An agent's Prometheus metrics (npm `prom-client`, one registry per agent), served on its
 * mutual-TLS listener at `/metrics`. Names follow Prometheus's conventions: one `rackseed_`
 * prefix, seconds, `_total` counters.
 * - What this agent did: fences (`rackseed_fences_total{result}`, `result` is `fenced` or the
 *   failure's stable code; `rackseed_fence_duration_seconds`), singletons it won
 *   (`rackseed_singleton_elections_total{service,failover}`: `failover="true"` when it took over
 *   from another node), the provisioner's DHCP/TFTP/HTTP and enrollment events while it holds
 *   it (`rackseed_provisioner_events_total{type}`).
 * - The cluster as etcd says at the scrape (every agent reports it, so any one answers after a
 *   loss): `rackseed_node_phase{node,phase}` (1 for each node's phase), `rackseed_node_registered{node}`,
 *   `rackseed_singleton_holder{service,node}`, `rackseed_etcd_members{role}`, `rackseed_etcd_has_leader`,
 *   Ceph's OSDs and monitors as the Ceph keeper last saw them, each host's guests by power state
 *   and its vCPUs and memory offered and allocated (`rackseed_host_guests{node,power}`,
 *   `rackseed_host_vcpus{node,kind}`, `rackseed_host_memory_bytes{node,kind}`).
 * - The process's own (`process_*`, `nodejs_*`).
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly fences: Counter<'result'>;
  private readonly fenceSeconds: Histogram;
  private readonly elections: Counter<'service' | 'failover'>;
  private readonly provisioner: Counter<'type'>;
  private status: { at: number; read: Promise<ClusterStatus | undefined> } | undefined;

  constructor(readStatus: () => Promise<ClusterStatus>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.fences = new Counter({
      name: 'rackseed_fences_total',
      help: 'Fences this agent made (result="fenced") or failed to make (result=the error code)',
      labelNames: ['result'],
      registers,
    });
    this.fenceSeconds = new Histogram({
      name: 'rackseed_fence_duration_seconds',
      help: "Time from the start of a fence to the BMC's confirmation that the node is off",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    this.elections = new Counter({
      name: 'rackseed_singleton_elections_total',
      help: 'Singletons this agent won; failover="true" when it took over from another node',
      labelNames: ['service', 'failover'],
      registers,
    });
    this.provisioner = new Counter({
      name: 'rackseed_provisioner_events_total',
      help: "The provisioner's events on this node (DHCP, TFTP, HTTP boot, enrollment, BMC onboarding)",
      labelNames: ['type'],
      registers,
    });
    const cluster = () => {
      if (!this.status || Date.now() - this.status.at > STATUS_FRESH_MS) {
        this.status = { at: Date.now(), read: readStatus().catch(() => undefined) };
      }
      return this.status.read;
    };
    /** A gauge set from the cluster's state at each scrape (left empty when etcd does not answer). */
    const clusterGauge = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (s: ClusterStatus, set: (labels: Partial<Record<L, string>>, value: number) => void) => void,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          const s = await cluster();
          if (s) fill(s, (labels, value) => this.set(labels, value));
        },
      });
    clusterGauge('rackseed_node_phase', "Each node's lifecycle phase (1)", ['node', 'phase'], (s, set) => {
      for (const n of s.nodes) set({ node: n.name, phase: n.state }, 1);
    });
    clusterGauge('rackseed_node_registered', "Whether the node's agent holds a live lease", ['node'], (s, set) => {
      for (const n of s.nodes) set({ node: n.name }, n.lease ? 1 : 0);
    });
    clusterGauge('rackseed_singleton_holder', "Each singleton's holder (1)", ['service', 'node'], (s, set) => {
      for (const [service, node] of Object.entries(s.singletons)) if (node) set({ service, node }, 1);
    });
    clusterGauge('rackseed_etcd_members', 'etcd members by role', ['role'], (s, set) => {
      set({ role: 'voter' }, s.etcd.members.filter((m) => !m.learner).length);
      set({ role: 'learner' }, s.etcd.members.filter((m) => m.learner).length);
    });
    clusterGauge('rackseed_etcd_has_leader', 'Whether etcd has a leader', [], (s, set) => {
      set({}, s.etcd.leader ? 1 : 0);
    });
    clusterGauge(
      'rackseed_ceph_osds',
      "Ceph's OSDs by state, as the Ceph keeper last saw them",
      ['state'],
      (s, set) => {
        if (!s.ceph) return;
        set({ state: 'total' }, s.ceph.osds);
        set({ state: 'up' }, s.ceph.up);
        set({ state: 'in' }, s.ceph.in);
      },
    );
    clusterGauge('rackseed_ceph_monitors_in_quorum', "Ceph's monitors in the quorum", [], (s, set) => {
      if (s.ceph) set({}, s.ceph.quorum.length);
    });
    clusterGauge('rackseed_host_guests', "Each host's guests by power state", ['node', 'power'], (s, set) => {
      for (const h of s.hosts)
        for (const [power, count] of Object.entries(h.guests)) set({ node: h.node, power }, count);
    });
    clusterGauge(
      'rackseed_host_vcpus',
      "Each host's vCPUs: offered by its host service, allocated to its guests",
      ['node', 'kind'],
      (s, set) => {
        for (const h of s.hosts) {
          if (h.offers) set({ node: h.node, kind: 'offered' }, h.offers.vcpus);
          set({ node: h.node, kind: 'allocated' }, h.allocated.vcpus);
        }
      },
    );
    clusterGauge(
      'rackseed_host_memory_bytes',
      "Each host's memory: offered by its host service, allocated to its guests",
      ['node', 'kind'],
      (s, set) => {
        for (const h of s.hosts) {
          if (h.offers) set({ node: h.node, kind: 'offered' }, h.offers.memoryMb * 2 ** 20);
          set({ node: h.node, kind: 'allocated' }, h.allocated.memoryMb * 2 ** 20);
        }
      },
    );
  }

  fence(outcome: FenceOutcome): void {
    if (outcome.type === 'fenced') {
      this.fences.inc({ result: 'fenced' });
      this.fenceSeconds.observe(outcome.durationMs / 1000);
    } else {
      this.fences.inc({ result: outcome.code });
    }
  }

  elected(service: string, failover: boolean): void {
    this.elections.inc({ service, failover: String(failover) });
  }

  provisionerEvent(type: string): void {
    this.provisioner.inc({ type });
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
