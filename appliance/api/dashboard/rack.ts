/**
 * The rack as the dashboard shows it ({@link readRack}): `rackseed status` (agent's
 * `readStatus` through the cluster's Store: nodes, fences, services' health, etcd members and
 * leader, singletons with the DB master's election, Ceph), what each node is still doing (its
 * etcd join, its OSD, its monitor), and the servers on each node from the cloud database. Only
 * a cluster node's API has one (loaded on use: the agent's code is not the embedded mode's).
 */
import {
  type CephMonRecord,
  type ClusterStatus,
  type Entry,
  keys,
  listEvents,
  type NodeRecord,
  parseJson,
  readStatus,
  type Store,
} from '../../../agent/index.js';
import type { CloudDb, Server } from '../../db/index.js';
import { statusOf } from '../compute/views.js';
import { type NodeFacts, nodeTile } from './tiles.js';
import type { EtcdRole, RackEvent, RackMember, RackNode, RackServer, RackSingleton, RackSnapshot } from './web/wire.js';

/** Where a cluster node's API reads the rack from. */
export interface RackSource {
  /** The node's client of the cluster's etcd (`cloud serve`'s `nodeStore`). */
  readonly store: Store;
  /** Elections the services run themselves, reported among the singletons (the DB master's: `db-master`). */
  readonly elections: readonly string[];
}

/** Where etcd's join instructions live (keys.etcdJoin's prefix). */
const ETCD_JOINS = keys.etcdJoin('');

/**
 * The etcd prefixes whose changes change the rack view: node machines, registrations,
 * singleton claims, fences, services' health, etcd membership, Ceph (monitors, OSDs, the
 * keeper's status), and each of `elections` (etcd3's election keys, `election/NAME/`).
 */
export function rackPrefixes(elections: readonly string[]): string[] {
  return [
    keys.machines,
    keys.nodes,
    keys.singletons,
    keys.fencedAll,
    keys.healthAll,
    keys.etcd,
    keys.ceph,
    ...elections.map((name) => `election/${name}/`),
  ];
}

const byName = (entries: readonly Entry[], prefix: string) =>
  new Map(entries.map((e) => [e.key.slice(prefix.length), e]));

const rackServer = (s: Server): RackServer => ({
  id: s.id,
  name: s.name,
  status: statusOf(s).view.status,
  project: s.projectId,
});

/** Every node's etcd role: by member name, or by peer URL for a learner added but not started (no name yet). */
function etcdRoles(status: ClusterStatus, records: ReadonlyMap<string, NodeRecord>, joins: ReadonlySet<string>) {
  const roles = new Map<string, EtcdRole | 'joining'>();
  for (const node of status.nodes) {
    const peer = records.get(node.name)?.etcd?.peerUrl;
    const member = status.etcd.members.find((m) => m.name === node.name || (peer && m.peerUrls.includes(peer)));
    if (member && member.name !== '' && !member.learner) roles.set(node.name, member.leader ? 'leader' : 'voter');
    else if (member?.learner) roles.set(node.name, member.name === '' ? 'joining' : 'learner');
    else if (joins.has(node.name)) roles.set(node.name, 'joining');
    else roles.set(node.name, null);
  }
  return roles;
}

/** Reads the whole rack now. */
export async function readRack(source: RackSource, db: CloudDb): Promise<RackSnapshot> {
  const { store } = source;
  const [status, live, osds, mons, joins, servers] = await Promise.all([
    readStatus(store, source.elections),
    store.list(keys.nodes),
    store.list(keys.cephOsds),
    store.list(keys.cephMons),
    store.list(ETCD_JOINS),
    db.servers.list({}, { limit: Number.MAX_SAFE_INTEGER }),
  ]);
  const records = new Map([...byName(live.entries, keys.nodes)].map(([n, e]) => [n, parseJson<NodeRecord>(e)]));
  const osdOf = byName(osds.entries, keys.cephOsds);
  const monOf = new Map([...byName(mons.entries, keys.cephMons)].map(([n, e]) => [n, parseJson<CephMonRecord>(e)]));
  const roles = etcdRoles(status, records, new Set(byName(joins.entries, ETCD_JOINS).keys()));

  const singletons: RackSingleton[] = [
    ...Object.entries(status.claims).map(([service, claim]) => ({
      service,
      holder: claim.live ? claim.node : null,
      claimedBy: claim.node,
      since: claim.since,
    })),
    ...source.elections.map((name) => ({
      service: name,
      holder: status.singletons[name] ?? null,
      claimedBy: null,
      since: null,
    })),
  ].sort((a, b) => a.service.localeCompare(b.service));

  const names = new Set(status.nodes.map((n) => n.name));
  const serversOn = new Map<string, RackServer[]>();
  const unplaced: RackServer[] = [];
  for (const s of [...servers].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!names.has(s.host)) {
      unplaced.push(rackServer(s));
      continue;
    }
    const list = serversOn.get(s.host) ?? [];
    serversOn.set(s.host, list);
    list.push(rackServer(s));
  }

  const quorum = new Set(status.ceph?.quorum ?? []);
  const nodes = status.nodes.map((n): RackNode => {
    const record = records.get(n.name);
    const facts: NodeFacts = {
      phase: n.state,
      registered: n.lease !== null,
      fenced: n.fenced,
      lastError: n.lastError,
      services: n.services,
      etcd: roles.get(n.name) ?? null,
      ceph: record?.ceph
        ? {
            osd: osdOf.has(n.name),
            monitor: !monOf.has(n.name) ? 'none' : quorum.has(n.name) ? 'in-quorum' : 'starting',
          }
        : null,
    };
    const role = facts.etcd === 'joining' ? null : facts.etcd;
    return {
      name: n.name,
      phase: n.state,
      ...nodeTile(facts),
      registered: facts.registered,
      fenced: n.fenced ? { method: n.fenced.method, at: n.fenced.at, by: n.fenced.by } : null,
      services: n.services,
      etcd: role,
      singletons: singletons.filter((s) => s.holder === n.name).map((s) => s.service),
      servers: serversOn.get(n.name) ?? [],
    };
  });

  const members: RackMember[] = status.etcd.members.map((m) => ({
    name: m.name,
    role: m.learner ? 'learner' : 'voter',
    leader: m.leader,
  }));
  return {
    at: new Date().toISOString(),
    nodes,
    etcd: { leader: status.etcd.leader, members },
    singletons,
    ceph: status.ceph,
    unplaced,
  };
}

/** The newest `limit` events of the cluster's log, oldest first. */
export async function recentEvents(source: RackSource, limit: number): Promise<RackEvent[]> {
  return (await listEvents(source.store, { limit })).events;
}
