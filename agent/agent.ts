import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_GENESIS_MACHINE, NODE_MACHINE } from '../statemachines/index.js';
import {
  CEPH_EXPORTER_URL,
  CEPH_MGR,
  type CephConnect,
  CephKeeper,
  cephMgrService,
  cephRoles,
  LocalCeph,
  markPoweredOffOsdsDown,
  type OsdDiskPolicy,
} from './ceph/index.js';
import { Elections } from './elections.js';
import { EventLog, TRIM_EVERY_MS } from './events.js';
import { EtcdLeadershipMover } from './etcd-leadership.js';
import { releaseLeases, watchNeighbourPower } from './power-watch.js';
import { RackseedError } from './errors/index.js';
import { followEtcdEndpoints } from './etcd-endpoints.js';
import { CertificateFollower } from './certificates.js';
import { type BmcPowerDriver, Fencer, readBmc } from './fencer.js';
import { type BmcRecord, type EtcdEndpoints, type EtcdJoin, keys, type NodeRecord } from './keys.js';
import { serveAgentEndpoint } from './listener.js';
import { LocalEtcd } from './local-etcd.js';
import { AgentMetrics } from './metrics.js';
import { MembershipKeeper } from './membership.js';
import { MachineHost } from './machine-host.js';
import { sealRecord } from './sealed.js';
import { followLease } from './singleton-lease.js';
import type { NodeTls } from './tls.js';
import { readStatus } from './status.js';
import type { Entry, KeptLease } from './store/store.js';
import { parseJson, Store } from './store/store.js';
import { PrefixView } from './store/view.js';
import { killOrphans, type RunningService, type ServiceSpec, Supervisor } from './supervisor.js';

/** How an agent is started (`rackseed agent …` or a config file). */
export interface AgentOptions {
  readonly name: string;
  readonly etcd: readonly string[];
  readonly dataDir: string;
  /** host:port for the agent's HTTPS endpoint (`/health`, `/status`, `/metrics`; mutual TLS, see serveAgentEndpoint). */
  readonly listen?: string;
  /** This node's BMC; stored in etcd sealed with the cluster key, for the fencer. */
  readonly bmc?: BmcRecord;
  /**
   * This node's certificate from the cluster CA: every connection it makes (over https etcd
   * URLs) or serves is mutual TLS. Required with an etcd member (`etcdHost`) or a `listen`
   * address; only an agent of a bare test etcd (http URLs) runs without.
   */
  readonly tls?: NodeTls;
  /** The cluster key (32 bytes) that seals secrets in etcd; never stored there. */
  readonly clusterKey: Buffer;
  /**
   * The address this node's etcd member listens on (client :2379, peer :2380), if the node
   * may host one: the membership singleton then makes it a member when the cluster needs one.
   */
  readonly etcdHost?: string;
  /**
   * The address this node's Ceph daemons bind to, if it takes part in Ceph: it then runs an
   * OSD, may hold the Ceph keeper, and, as its programs allow (cephRoles), hosts a monitor when
   * the keeper assigns one and may hold the manager.
   */
  readonly cephHost?: string;
  /** How this node's agent reaches the Ceph monitors (librados); required with `cephHost`. */
  readonly cephConnect?: CephConnect;
  /** Where its OSD keeps its data (see {@link OsdDiskPolicy}; default: a sparse file in the data dir). */
  readonly osdDisk?: OsdDiskPolicy;
  /** Ceph options added to this node's ceph.conf (see LocalCephOptions.config: the lab's). */
  readonly cephConfig?: Readonly<Record<string, string>>;
  /** The seed: start a new one-member etcd cluster here unless this node has member data already. */
  readonly etcdBootstrap?: boolean;
  /** Lease TTL in seconds (default 3): a dead node is noticed after at most this long. */
  readonly leaseTtl?: number;
  readonly log?: (message: string) => void;
}

/** The built-in singleton that fences dead nodes. */
export const FENCER = 'fencer';
/** The built-in singleton that grows etcd to 3, then 5 voting members and replaces dead ones. */
export const ETCD_MEMBERSHIP = 'etcd-membership';
/** The built-in singleton that places Ceph's monitors, marks fenced nodes' OSDs out and sets replicas. */
export const CEPH_KEEPER = 'ceph-keeper';

/** A running agent. */
export interface Agent {
  readonly name: string;
  readonly store: Store;
  /** Resolves when the agent has stopped. */
  readonly stopped: Promise<void>;
  /** Clean shutdown: stop services, resign singletons, leave as drained, revoke the lease. */
  stop(): Promise<void>;
}

/**
 * Starts the agent of one node: it kills what a crashed predecessor left running, registers
 * under a lease (and re-registers under a new one if it loses it), keeps its node machine
 * current, runs its services (the catalog it is given, plus the fencer), campaigns for every
 * singleton, stops its singletons at once when its lease is about to expire, and fences dead
 * nodes while it holds the fencer.
 */
export async function startAgent(
  options: AgentOptions,
  catalog: readonly ServiceSpec[],
  driver: BmcPowerDriver,
): Promise<Agent> {
  const log = options.log ?? ((message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`));
  if (options.cephHost && !options.cephConnect) {
    throw new RackseedError(
      'AGENT_ERR_OPTIONS',
      'an agent with a Ceph address (cephHost) needs a monitor client (cephConnect)',
    );
  }
  const { tls } = options;
  if ((options.etcdHost || options.listen) && !tls) {
    throw new RackseedError(
      'AGENT_ERR_OPTIONS',
      'an agent that hosts an etcd member or listens (etcdHost, listen) needs its node certificate (tls): every listener is mutual TLS',
    );
  }
  const { name } = options;
  mkdirSync(options.dataDir, { recursive: true });
  const orphans = killOrphans(options.dataDir);
  if (orphans > 0) log(`killed ${orphans} service process(es) left by a previous incarnation`);
  const local =
    options.etcdHost && tls
      ? new LocalEtcd({ name, dataDir: options.dataDir, host: options.etcdHost, tls, log })
      : undefined;
  // The voters last published (see MembershipKeeper), so a restart does not depend on the seed alone.
  const endpointsFile = join(options.dataDir, 'etcd-endpoints.json');
  if (local?.hasData()) {
    local.resume(); // it was a member: rejoin (the cluster may need it for quorum)
  } else if (local && options.etcdBootstrap && !existsSync(endpointsFile) && local.memberId() === '') {
    // Only on a node that never saw a cluster: a seed restarted later must not start a second one.
    local.bootstrap();
    await local.healthy(30_000);
  }
  const known = (() => {
    try {
      return (JSON.parse(readFileSync(endpointsFile, 'utf8')) as EtcdEndpoints).clientUrls;
    } catch {
      return [];
    }
  })();
  const store = Store.connect([...new Set([...options.etcd, ...known])], tls);
  let lease: KeptLease | undefined;
  let stopping = false;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));

  // eslint-disable-next-line prefer-const
  let supervisor: Supervisor;
  const later: { fencer?: Fencer; ceph?: LocalCeph } = {};
  const serviceElections = catalog.flatMap((service) => (service.election ? [service.election] : []));
  const metrics = new AgentMetrics(() => readStatus(store, serviceElections));
  const events = new EventLog(store, name, log);
  /**
   * A node is off: fenced, or gone with its BMC saying so (a registration that vanished
   * otherwise, such as an agent's restart, leaves the monitors alone). If this node's monitor
   * still counts the node's in its quorum, it calls an election now.
   */
  const hurryMonitorElection = (node: string, knownOff: boolean) => {
    const ceph = later.ceph;
    if (!ceph?.runsMonitor) return;
    const off = async () => {
      if (knownOff) return true;
      const bmc = await readBmc(store, options.clusterKey, node);
      return bmc !== undefined && (await driver.powerState(bmc)) === 'off';
    };
    off()
      .then(async (isOff) => isOff && (await ceph.hurryMonitorElection(node)))
      .then(
        (called) => called && log(`${node} is off: this node's monitor called an election without its monitor`),
        (error: unknown) => log(`could not hurry the monitors' election after ${node} left: ${String(error)}`),
      );
  };
  const elections = await Elections.open(store, name, {
    elected: (service, failover) => {
      log(`elected for ${service}`);
      metrics.elected(service, failover);
      supervisor.send(service, { type: 'service.elected' });
    },
    deposed: (service) => {
      log(`no longer holds ${service}: stopping it`);
      void supervisor.disable(service).then(() => enableIfHealthy(service));
    },
    nodeGone: (node, gone) => {
      void later.fencer?.nodeGone(node, gone);
      hurryMonitorElection(node, false);
    },
    fenced: (node) => hurryMonitorElection(node, true),
    changed: () => {},
  });
  const roles = cephRoles();
  const ceph =
    options.cephHost && options.cephConnect
      ? new LocalCeph({
          name,
          dataDir: options.dataDir,
          host: options.cephHost,
          ...(options.osdDisk ? { osdDisk: options.osdDisk } : {}),
          ...(options.cephConfig ? { config: options.cephConfig } : {}),
          store,
          clusterKey: options.clusterKey,
          connect: options.cephConnect,
          log,
        })
      : undefined;
  /**
   * A node is off (its BMC says so): its OSDs are marked down at once (definitely dead), and its
   * leases revoked (its registration's, when the power watch saw it first).
   */
  const poweredOff = (node: string, registration?: string) => {
    releaseLeases(store, node, serviceElections, registration).then(
      (count) => count > 0 && log(`${node} is off: revoked its ${count} leases`),
      (error: unknown) => log(`could not revoke the leases of powered-off ${node}: ${String(error)}`),
    );
    if (!ceph) return;
    const started = Date.now();
    markPoweredOffOsdsDown(store, ceph, node).then(
      (ids) => {
        for (const id of ids)
          log(`marked osd.${id} of powered-off ${node} down, definitely dead, in ${Date.now() - started} ms`);
      },
      (error: unknown) =>
        log(`could not mark the OSD of powered-off ${node} down (the Ceph keeper will): ${String(error)}`),
    );
  };
  later.ceph = ceph;
  const fencer = new Fencer(
    store,
    name,
    driver,
    options.clusterKey,
    elections,
    (fence) => new MachineHost(store, NODE_MACHINE, { fence: fence as never }, name),
    () => lease?.id ?? '0',
    { log, poweredOff: (node) => poweredOff(node), observe: (outcome) => metrics.fence(outcome) },
  );
  later.fencer = fencer;
  const genesis = new MachineHost(
    store,
    CLUSTER_GENESIS_MACHINE,
    {
      // No result event (a seed's log returns what its writer returns: not an event).
      announce: async (params: { phase: string; voters: number }) => {
        log(`etcd ${params.phase}: ${params.voters} voters`);
      },
    },
    name,
  );
  const keeper = new MembershipKeeper(store, elections, genesis, log);

  // Membership, as every agent follows it: the voters are its endpoints, and a join instruction
  // under its name starts its etcd member.
  const endpoints = await followEtcdEndpoints(store, (urls, record) => {
    writeFileSync(endpointsFile, record.value);
    log(`etcd endpoints: ${urls.join(', ')}`);
  });
  // The membership keeper asks this node to start its member (keys.etcdJoin).
  const joinRequest = (key: string, entry: Entry | undefined) => {
    if (!entry || !local || key !== keys.etcdJoin(name)) return;
    try {
      void local.join(parseJson<EtcdJoin>(entry));
    } catch (error) {
      log(`ignoring ${key}: ${String(error)}`);
    }
  };
  // Renewals and revocations reach this node's TLS files (and, through them, every listener).
  const certificates = tls ? await CertificateFollower.open(store, name, tls, log) : undefined;
  const membership = await PrefixView.open(store, keys.etcdJoin(name), (key, _previous, current) =>
    joinRequest(key, current),
  );
  for (const [key, entry] of membership.entries) joinRequest(key, entry);

  const fencerService: ServiceSpec = {
    name: FENCER,
    placement: 'singleton',
    start: () => {
      fencer.start();
      return { exited: new Promise<string>(() => {}), stop: async () => fencer.stop() } satisfies RunningService;
    },
  };
  const keeperService: ServiceSpec = {
    name: ETCD_MEMBERSHIP,
    placement: 'singleton',
    start: () => {
      keeper.start();
      return { exited: new Promise<string>(() => {}), stop: async () => keeper.stop() } satisfies RunningService;
    },
  };
  const cephServices: ServiceSpec[] = [];
  if (ceph) {
    const cephKeeper = new CephKeeper(store, elections, ceph, options.clusterKey, log);
    cephServices.push(
      {
        name: CEPH_KEEPER,
        placement: 'singleton',
        start: () => {
          cephKeeper.start();
          return {
            exited: new Promise<string>(() => {}),
            stop: async () => cephKeeper.stop(),
          } satisfies RunningService;
        },
      },
      ...(roles.manager ? [cephMgrService(ceph)] : []),
    );
  }
  /** The last health write of each service, which the next one waits for. */
  const healthWrites = new Map<string, Promise<void>>();
  supervisor = new Supervisor(
    [fencerService, keeperService, ...cephServices, ...catalog],
    {
      node: name,
      dataDir: options.dataDir,
      address: options.etcdHost,
      etcd: () => store.endpoints,
      ...(tls ? { tls } : {}),
      store,
      metrics,
      log,
    },
    {
      resign: (service) => void elections.resign(service),
      changed: (service, health) => {
        log(`service ${service}: ${health.state}`);
        const spec = supervisor?.specs.find((s) => s.name === service);
        if (spec?.placement === 'singleton') elections.campaign(service, health.state === 'candidate');
        if (lease && !lease.lost) {
          // One write at a time per service: two puts in flight may land out of order, and a
          // service that went starting → running in a microtask stayed `starting` in etcd.
          const leaseId = lease.id;
          const put = () => store.put(keys.health(name, service), JSON.stringify(health), leaseId);
          healthWrites.set(
            service,
            (healthWrites.get(service) ?? Promise.resolve()).then(put).catch(() => {}),
          );
        }
      },
    },
  );
  const singletons = () => supervisor.specs.filter((s) => s.placement === 'singleton').map((s) => s.name);
  const enableIfHealthy = (service: string) => {
    if (!stopping && lease?.healthy) supervisor.send(service, { type: 'service.enable' });
  };

  const nodeMachine = fencer.nodeMachines;
  const register = async (): Promise<void> => {
    for (let attempt = 0; !stopping; attempt++) {
      try {
        const next = await store.grantLease(options.leaseTtl ?? 3);
        const record: NodeRecord = {
          name,
          lease: next.id,
          startedAt: new Date().toISOString(),
          ...(local ? { etcd: local.urls } : {}),
          ...(options.cephHost ? { ceph: { host: options.cephHost, monitor: roles.monitor } } : {}),
          ...(options.listen && tls ? { endpoint: `https://${options.listen}` } : {}),
        };
        await store.put(keys.node(name), JSON.stringify(record), next.id);
        lease = next;
        followLease(next, {
          elections,
          supervisor,
          singletons,
          enable: enableIfHealthy,
          register,
          log,
        });
        await nodeMachine.create(keys.nodeMachine(name), { name });
        await nodeMachine.apply(
          keys.nodeMachine(name),
          { type: 'node.registered', lease: next.id },
          { eventId: `registered:${next.id}` },
        );
        await nodeMachine.apply(keys.nodeMachine(name), { type: 'node.joined' }, { eventId: `joined:${next.id}` });
        elections.setLease(next.id, true);
        log(`registered as ${name} under lease ${next.id}`);
        for (const spec of supervisor.specs) enableIfHealthy(spec.name);
        return;
      } catch (error) {
        log(`registration failed (${String(error)}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 200 * 2 ** attempt)));
      }
    }
  };
  if (options.bmc) await store.put(keys.bmc(name), sealRecord(options.clusterKey, keys.bmc(name), options.bmc));
  await register();
  await ceph?.start();
  const leadership = new EtcdLeadershipMover(
    store,
    name,
    () => (local?.active ? local.urls.clientUrl : undefined),
    serviceElections,
    log,
  );
  leadership.start();
  const powerWatch = watchNeighbourPower({
    self: name,
    nodes: elections.nodes,
    bmc: (node) => readBmc(store, options.clusterKey, node),
    driver,
    log,
    lost: (node, registration) => {
      log(`${node}'s BMC says it is off while it is registered`);
      events.record({ type: 'node.power.lost', node, detail: 'its BMC says it is off while it is registered' });
      poweredOff(node, registration);
    },
  });

  const trimming = setInterval(
    () => void events.trim().catch((error: unknown) => log(`could not trim the event log: ${String(error)}`)),
    TRIM_EVERY_MS,
  );
  const server =
    options.listen && tls
      ? await serveAgentEndpoint(tls, options.listen, {
          health: () => ({ name, lease: lease?.id ?? null, healthy: lease?.healthy ?? false }),
          status: () => readStatus(store, serviceElections),
          metrics,
          cephMetrics: async () => {
            const claim = elections.claim(CEPH_MGR);
            if (!ceph || claim?.node !== name || claim.lease !== lease?.id) return '';
            const response = await fetch(CEPH_EXPORTER_URL, { signal: AbortSignal.timeout(5_000) });
            if (!response.ok) throw new Error(`ceph-mgr's exporter answered ${response.status}`);
            return response.text();
          },
        })
      : undefined;

  return {
    name,
    store,
    stopped,
    stop: async () => {
      if (stopping) return stopped;
      stopping = true;
      log('stopping');
      leadership.stop();
      await powerWatch.close();
      clearInterval(trimming);
      await supervisor.disableAll();
      await ceph?.stop();
      await Promise.all(singletons().map((s) => elections.resign(s)));
      try {
        await nodeMachine.apply(keys.nodeMachine(name), { type: 'node.drain' });
        await nodeMachine.apply(keys.nodeMachine(name), { type: 'node.drained' });
      } catch (error) {
        log(`could not record the drain: ${String(error)}`);
      }
      await lease?.revoke();
      await elections.close();
      await membership.close();
      await certificates?.close();
      await endpoints.close();
      server?.close();
      await store.close();
      await local?.stop();
      resolveStopped();
      return stopped;
    },
  };
}
