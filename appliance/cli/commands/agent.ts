import { hostname } from 'node:os';
import { type Command, Option } from 'commander';
import type { BmcRecord, ServiceSpec } from '../../../agent/index.js';
import { DB_MASTER_ELECTION } from '../../dbmaster/location.js';
import { formatBytes } from '../../api/dashboard/web/units.js';
import { cephConnect, connectStore, endpoints, loadAgent, nodeTls, readConfigFile, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, logStrayRejections, report } from '../io.js';
import { readSecret } from '../secrets.js';

/** The agent's configuration file (YAML or JSON); command-line options win over it. */
interface AgentConfig {
  name?: string;
  etcd?: string[] | string;
  dataDir?: string;
  listen?: string;
  leaseTtl?: number;
  clusterKeyFile?: string;
  tls?: string;
  etcdListen?: string;
  etcdBootstrap?: boolean;
  cephListen?: string;
  /** Ceph options added to this node's ceph.conf (the lab's; rackseed's own cannot be changed). */
  cephConfig?: Record<string, string>;
  bmc?: { host: string; port?: number; user: string; passwordFile: string };
  services?: { name: string; placement: 'everywhere' | 'singleton'; command: string[] }[];
}

interface AgentFlags {
  name?: string;
  etcd?: string;
  dataDir?: string;
  listen?: string;
  bmc?: string;
  bmcUser?: string;
  bmcPasswordFile?: string;
  config?: string;
  leaseTtl?: string;
  clusterKeyFile?: string;
  tls?: string;
  etcdListen?: string;
  etcdBootstrap?: boolean;
  cephListen?: string;
}

async function loadConfig(file: string | undefined): Promise<AgentConfig> {
  return file ? readConfigFile<AgentConfig>(file) : {};
}

async function catalogOf(config: AgentConfig): Promise<ServiceSpec[]> {
  const { commandService } = await loadAgent();
  return (config.services ?? []).map((s) => {
    if (!s.name || !['everywhere', 'singleton'].includes(s.placement) || !Array.isArray(s.command)) {
      throw new CliUsageError(
        `service ${JSON.stringify(s)} needs a name, placement everywhere|singleton and a command list`,
      );
    }
    return commandService(s.name, s.placement, s.command);
  });
}

/** `rackseed agent` and `rackseed status`. */
export function registerAgent(program: Command, io: CliIo): void {
  program
    .command('agent')
    .description('run the node agent: register, run services, elect singletons, fence dead nodes')
    .option('--name <name>', 'this node’s name (default: the host name)')
    .option('--etcd <urls>', 'comma-separated etcd client URLs')
    .option('--data-dir <dir>', 'where the agent keeps its state')
    .option('--listen <addr>', 'host:port for /health and /status')
    .option('--bmc <host[:port]>', 'this node’s BMC, for fencing it if it dies')
    .option('--bmc-user <user>', 'BMC user')
    .option('--bmc-password-file <file>', 'file holding the BMC password')
    .option('--etcd-listen <host>', 'this node may host an etcd member, listening on HOST (:2379 client, :2380 peer)')
    .option('--etcd-bootstrap', 'the seed: start a new one-member etcd cluster here (needs --etcd-listen)')
    .option('--ceph-listen <host>', 'this node takes part in Ceph (an OSD, maybe a monitor), its daemons on HOST')
    .option('--cluster-key-file <file>', 'the cluster key (32 bytes, raw/hex/base64) that seals BMC passwords in etcd')
    .option(...TLS_OPTION)
    .option('--config <file>', 'YAML config file with the same settings and the service catalog')
    .addOption(new Option('--lease-ttl <seconds>', 'lease TTL').default(undefined))
    .action(async (flags: AgentFlags) => {
      logStrayRejections(io);
      const config = await loadConfig(flags.config);
      const name = flags.name ?? config.name ?? hostname();
      const etcd = endpoints(flags.etcd ?? config.etcd ?? io.env.RACKSEED_ETCD);
      const dataDir = flags.dataDir ?? config.dataDir;
      if (etcd.length === 0) throw new CliUsageError('no etcd endpoints: pass --etcd URLS');
      if (!dataDir) throw new CliUsageError('no data dir: pass --data-dir DIR');
      let bmc: BmcRecord | undefined;
      const bmcAddress = flags.bmc ?? (config.bmc ? `${config.bmc.host}:${config.bmc.port ?? 623}` : undefined);
      if (bmcAddress) {
        const [host = '', port = '623'] = bmcAddress.split(':');
        const user = flags.bmcUser ?? config.bmc?.user;
        if (!user) throw new CliUsageError('--bmc needs --bmc-user');
        const password = await readSecret(io, {
          file: flags.bmcPasswordFile ?? config.bmc?.passwordFile,
          env: 'RACKSEED_BMC_PASSWORD',
          what: 'BMC password',
        });
        bmc = { host, port: Number(port), user, password };
      }
      const leaseTtl = Number(flags.leaseTtl ?? config.leaseTtl ?? 3);
      if (!Number.isInteger(leaseTtl) || leaseTtl < 1)
        throw new CliUsageError('--lease-ttl must be a whole number ≥ 1');
      const listen = flags.listen ?? config.listen;
      const keyFile = flags.clusterKeyFile ?? config.clusterKeyFile;
      if (!keyFile) throw new CliUsageError('no cluster key: pass --cluster-key-file FILE (every agent gets the same)');
      const etcdHost = flags.etcdListen ?? config.etcdListen;
      const etcdBootstrap = flags.etcdBootstrap ?? config.etcdBootstrap ?? false;
      if (etcdBootstrap && !etcdHost) throw new CliUsageError('--etcd-bootstrap needs --etcd-listen HOST');
      const cephHost = flags.cephListen ?? config.cephListen;
      // Required where it listens or hosts etcd, or reaches etcd over https; a bare test etcd (http) needs none.
      const tlsDir = flags.tls ?? config.tls;
      const tls =
        tlsDir || etcdHost || listen || etcd.some((url) => url.startsWith('https://'))
          ? await nodeTls(tlsDir, io)
          : undefined;
      const [{ startAgent, readClusterKey }, { IpmiPowerDriver }] = await Promise.all([
        loadAgent(),
        import('../../../bootstrap/ipmi/index.js'),
      ]);
      const agent = await startAgent(
        {
          name,
          etcd,
          dataDir,
          leaseTtl,
          clusterKey: readClusterKey(keyFile),
          ...(tls ? { tls } : {}),
          etcdBootstrap,
          ...(etcdHost ? { etcdHost } : {}),
          ...(cephHost ? { cephHost, cephConnect } : {}),
          ...(cephHost && config.cephConfig ? { cephConfig: config.cephConfig } : {}),
          ...(bmc ? { bmc } : {}),
          ...(listen ? { listen } : {}),
        },
        await catalogOf(config),
        new IpmiPowerDriver(),
      );
      const shutdown = () => void agent.stop();
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      await agent.stopped;
    });

  program
    .command('status')
    .description(
      'nodes and their states, etcd members and leader, singleton holders, Ceph health and its exporter, recent transitions',
    )
    .option('--etcd <urls>', 'comma-separated etcd client URLs (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .action(async (flags: { etcd?: string; tls?: string }, command: Command) => {
      const store = await connectStore(flags, io);
      try {
        const { readStatus } = await loadAgent();
        const status = await readStatus(store, [DB_MASTER_ELECTION]);
        report(io, command.optsWithGlobals<GlobalOptions>(), status, (s) =>
          [
            'nodes:',
            ...s.nodes.map(
              (n) =>
                `  ${n.name.padEnd(12)} ${n.state.padEnd(12)} ${n.lease ? 'registered' : 'not registered'}${n.fenced ? `, fenced (${n.fenced.method})` : ''}`,
            ),
            'singletons:',
            ...Object.entries(s.claims).map(
              ([service, c]) => `  ${service.padEnd(16)} ${c.live ? c.node : `${c.node} (dead, awaiting fencing)`}`,
            ),
            `  ${DB_MASTER_ELECTION.padEnd(16)} ${s.singletons[DB_MASTER_ELECTION] ?? 'none elected'}`,
            `etcd (leader ${s.etcd.leader ?? 'none'}):`,
            ...s.etcd.members.map(
              (m) => `  ${m.name || '(unstarted)'} ${m.learner ? 'learner' : 'voter'} ${m.clientUrls.join(',')}`,
            ),
            s.ceph
              ? `ceph: ${s.ceph.health}, ${s.ceph.mons} mon(s) (quorum ${s.ceph.quorum.join(',')}), ${s.ceph.osds} OSD(s): ${s.ceph.up} up, ${s.ceph.in} in, ${s.ceph.pgs} PGs (as of ${s.ceph.at})`
              : 'ceph: not running',
            ...(s.ceph?.capacity
              ? [`  raw: ${formatBytes(s.ceph.capacity.usedBytes)} used of ${formatBytes(s.ceph.capacity.totalBytes)}`]
              : []),
            ...(s.ceph?.pools ?? []).map(
              (p) =>
                `  pool ${p.name}: size ${p.size}, min_size ${p.minSize}` +
                (p.usage
                  ? `, ${formatBytes(p.usage.storedBytes)} in ${p.usage.objects} object(s), ${formatBytes(p.usage.maxAvailBytes)} available`
                  : ''),
            ),
            ...(s.ceph?.checks ?? []).map((c) => `  ${c}`),
            ...(s.cephExporter ? [`  exporter (Prometheus): ${s.cephExporter}`] : []),
            'recent transitions:',
            ...s.transitions.map((t) => `  ${t.at} ${t.machine}: ${String(t.from)} → ${String(t.to)} (${t.event})`),
          ].join('\n'),
        );
      } finally {
        await store.close();
      }
    });
}
