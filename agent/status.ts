import type { NodeContext } from '../statemachines/index.js';
import type { Envelope, TransitionRecord } from './machine-host.js';
import { type CephStatusRecord, type FenceRecord, keys, type NodeRecord, type SingletonClaim } from './keys.js';
import { CEPH_MGR } from './ceph/index.js';
import type { Entry, Store } from './store/store.js';
import { parseJson } from './store/store.js';

/** One etcd member as `rackseed status` reports it. */
export interface MemberStatus {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly learner: boolean;
  readonly leader: boolean;
}

/** What `rackseed status` prints. */
export interface ClusterStatus {
  readonly nodes: readonly {
    name: string;
    state: string;
    /** The lease of its live registration, or null when its agent is not registered. */
    lease: string | null;
    /** The fence of its last incarnation (its machine's lease); null once an agent registered again. */
    fenced: FenceRecord | null;
    /** Its node machine's last error (why a fence failed), null when there is none. */
    lastError: string | null;
    services: Record<string, string>;
    /** Its agent's endpoint (`/metrics` for Prometheus) while it is registered, if it listens. */
    endpoint: string | null;
  }[];
  /**
   * Every singleton's holder (null when nobody holds it); `live` says whether the holder's
   * incarnation is registered. With them, the node that leads each election `readStatus` was
   * asked about (the DB master's: `db-master`).
   */
  readonly singletons: Record<string, string | null>;
  readonly claims: Record<string, SingletonClaim & { live: boolean }>;
  readonly etcd: { readonly members: readonly MemberStatus[]; readonly leader: string | null };
  readonly transitions: readonly (TransitionRecord & { machine: string })[];
  /** Ceph as the Ceph keeper last saw it (null before it has run). */
  readonly ceph: CephStatusRecord | null;
  /** Ceph's Prometheus exporter: on the manager's node's agent (null while no live node runs the manager). */
  readonly cephExporter: string | null;
  /** Each node that runs guests (its host service's records): what it offers, its guests by power state, what they take. */
  readonly hosts: readonly HostStatus[];
}

/** A node's guests as its host service records them (`/rackseed/hosts/<node>/`). */
export interface HostStatus {
  readonly node: string;
  /** What its host service offers while it is up (its inventory is leased); null when it is not. */
  readonly offers: { readonly vcpus: number; readonly memoryMb: number } | null;
  /** How many of its guests are in each power state (building, running, shutoff, crashed). */
  readonly guests: Readonly<Record<string, number>>;
  /** What its guests were given, all power states together. */
  readonly allocated: { readonly vcpus: number; readonly memoryMb: number };
}

/** The host services' records under `/rackseed/hosts/`, by node. */
function hostsOf(entries: readonly Entry[]): HostStatus[] {
  const hosts = new Map<string, { -readonly [K in keyof HostStatus]: HostStatus[K] }>();
  const host = (node: string) => {
    let h = hosts.get(node);
    if (!h) hosts.set(node, (h = { node, offers: null, guests: {}, allocated: { vcpus: 0, memoryMb: 0 } }));
    return h;
  };
  for (const entry of entries) {
    const [node, kind] = entry.key.slice(keys.hosts.length).split('/');
    if (!node) continue;
    if (kind === 'inventory') {
      const inventory = parseJson<{ vcpus: number; memoryMb: number }>(entry);
      host(node).offers = { vcpus: inventory.vcpus, memoryMb: inventory.memoryMb };
    } else if (kind === 'guests') {
      const guest = parseJson<{ power: string; request: { vcpus: number; memoryMb: number } }>(entry);
      const h = host(node);
      h.guests = { ...h.guests, [guest.power]: (h.guests[guest.power] ?? 0) + 1 };
      h.allocated = {
        vcpus: h.allocated.vcpus + guest.request.vcpus,
        memoryMb: h.allocated.memoryMb + guest.request.memoryMb,
      };
    }
  }
  return [...hosts.values()].sort((a, b) => a.node.localeCompare(b.node));
}

const exporterOf = (endpoint: string | undefined) => (endpoint ? `${endpoint}/metrics/ceph` : null);

/** Which node leads the etcd election `name`: its leader's value names it (`{ "node": … }`). */
export async function electionLeader(store: Store, name: string): Promise<string | null> {
  const value = await store.client.election(name).leader();
  if (value === undefined) return null;
  try {
    const { node } = JSON.parse(value) as { node?: unknown };
    return typeof node === 'string' ? node : null;
  } catch {
    return null;
  }
}

/**
 * Reads the cluster's state from etcd: nodes, singleton holders, etcd members and leader, Ceph,
 * recent transitions; and the leader of each of `elections` (singletons elected by the
 * services themselves, such as the DB master), reported among the singletons.
 */
export async function readStatus(store: Store, elections: readonly string[] = []): Promise<ClusterStatus> {
  const [machines, live, claims, fenced, health, members, ceph, leaders, hosts] = await Promise.all([
    store.list(keys.machines),
    store.list(keys.nodes),
    store.list(keys.singletons),
    store.list(keys.fencedAll),
    store.list(keys.healthAll),
    store.client.cluster.memberList({}),
    store.get(keys.cephStatus),
    Promise.all(elections.map((name) => electionLeader(store, name))),
    store.list(keys.hosts),
  ]);
  const records = new Map(live.entries.map((e) => [e.key.slice(keys.nodes.length), parseJson<NodeRecord>(e)]));
  const fences = new Map(fenced.entries.map((e) => [e.key.slice(keys.fencedAll.length), parseJson<FenceRecord>(e)]));
  const transitions: (TransitionRecord & { machine: string })[] = [];
  const nodes: ClusterStatus['nodes'][number][] = [];
  for (const entry of machines.entries) {
    const envelope = parseJson<Envelope>(entry);
    const machine = entry.key.slice(keys.machines.length);
    for (const t of envelope.history) transitions.push({ machine, ...t });
    if (!entry.key.startsWith(keys.nodeMachines)) continue;
    const name = entry.key.slice(keys.nodeMachines.length);
    const fence = fences.get(name);
    const services: Record<string, string> = {};
    for (const h of health.entries) {
      const [node, service] = h.key.slice(keys.healthAll.length).split('/');
      if (node === name && service) services[service] = parseJson<{ state: string }>(h).state;
    }
    const context = envelope.snapshot.context as unknown as NodeContext;
    nodes.push({
      name,
      state: String(envelope.snapshot.value),
      lease: records.get(name)?.lease ?? null,
      // A record of an older incarnation is history: the node registered again since (a new lease).
      fenced: fence?.lease === context.lease ? fence : null,
      lastError: context.lastError ?? null,
      services,
      endpoint: records.get(name)?.endpoint ?? null,
    });
  }
  const singletons: Record<string, string | null> = {};
  const claimed: ClusterStatus['claims'] = {};
  for (const entry of claims.entries) {
    const service = entry.key.slice(keys.singletons.length);
    const claim = parseJson<SingletonClaim>(entry);
    const isLive = records.get(claim.node)?.lease === claim.lease;
    singletons[service] = isLive ? claim.node : null;
    claimed[service] = { ...claim, live: isLive };
  }
  elections.forEach((name, index) => (singletons[name] = leaders[index] ?? null));
  let leaderId: string | null = null;
  const statuses = await Promise.all(
    members.members.flatMap((m) => m.clientURLs.slice(0, 1).map((url) => store.memberStatus(url, 1_000))),
  );
  leaderId = statuses.find((s) => s?.leader && s.leader !== '0')?.leader ?? null;
  return {
    nodes: nodes.sort((a, b) => a.name.localeCompare(b.name)),
    singletons,
    claims: claimed,
    etcd: {
      members: members.members.map((m) => ({
        id: m.ID,
        name: m.name,
        peerUrls: m.peerURLs,
        clientUrls: m.clientURLs,
        learner: m.isLearner,
        leader: m.ID === leaderId,
      })),
      leader: members.members.find((m) => m.ID === leaderId)?.name ?? null,
    },
    transitions: transitions.sort((a, b) => b.at.localeCompare(a.at)).slice(0, 20),
    ceph: ceph ? parseJson<CephStatusRecord>(ceph) : null,
    cephExporter: exporterOf(records.get(singletons[CEPH_MGR] ?? '')?.endpoint),
    hosts: hostsOf(hosts.entries),
  };
}
