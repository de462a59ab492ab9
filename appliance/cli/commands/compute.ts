import type { Command } from 'commander';
import { cephAccess, connectStore, loadAgent, nodeTls, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report, untilSignal } from '../io.js';

interface KeeperOptions {
  etcd?: string;
  election: string;
  cephConf: string;
  cephKeyring?: string;
  cephClient?: string;
  host?: string;
  tls?: string;
}

/**
 * `rackseed compute keeper`: the compute keeper (a singleton the agent runs): it restarts a
 * fenced node's servers on other nodes from their RBD disks, after blocklisting the dead host on
 * Ceph (see appliance/compute's Evacuation), moves a fenced node's routers to other nodes and
 * keeps every router on its home as the database says (RouterKeeper), and fails the
 * transitions no live process will finish (StuckServers).
 */
export function registerCompute(program: Command, io: CliIo): void {
  const compute = program.command('compute').description("the cloud's compute singletons");
  compute
    .command('keeper')
    .description(
      "restart a fenced node's servers and routers on other nodes (fence first: the dead host is blocklisted on Ceph)",
    )
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (default: $RACKSEED_ETCD)')
    .option('--election <name>', "the DB master's election", 'db-master')
    .requiredOption('--ceph-conf <file>', 'ceph.conf of the cluster (its monitors blocklist the dead host)')
    .option('--ceph-keyring <file>', 'cephx keyring (default: the one ceph.conf names)')
    .option(
      '--ceph-client <name>',
      "cephx client name (default client.admin; a node's agent gives client.rackseed-compute)",
    )
    .option('--host <address>', "this node's address (unused: accepted as the other cloud services take it)")
    .option(...TLS_OPTION)
    .action(async (options: KeeperOptions) => {
      const tls = await nodeTls(options.tls, io);
      const [agent, { DbClient }, { remoteCloudDb }, compute, { RadosCluster }] = await Promise.all([
        loadAgent(),
        import('../../dbmaster/index.js'),
        import('../../db/index.js'),
        import('../../compute/index.js'),
        import('../../rados/index.js'),
      ]);
      const store = await connectStore(options, io);
      const following = await agent.followEtcdEndpoints(store);
      const client = await DbClient.connect({ etcd: store.client, tls, electionName: options.election });
      // Bounded: a dead node's OSD must not hold a call for ever.
      const rados = await RadosCluster.connect({
        ...cephAccess(options.cephConf, options),
        options: { client_mount_timeout: '15', rados_mon_op_timeout: '15', rados_osd_op_timeout: '15' },
      });
      const db = remoteCloudDb(client);
      const hostView = await compute.watchHosts(store);
      const placement = await compute.watchPlacement(store);
      const log = (event: string, fields: Record<string, unknown>) =>
        io.stderr(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);
      const driver = new compute.HostComputeDriver(db, hostView, tls);
      const servers = new compute.ServerService(
        db,
        driver,
        { error: (fields, message) => log('compute.keeper.error', { ...fields, message }) },
        placement.current,
      );
      const evacuation = new compute.Evacuation({
        store,
        db,
        hosts: hostView,
        servers,
        driver,
        tls,
        placement: placement.current,
        // The whole address (any port, any nonce): every Ceph client the dead host had. The node
        // is powered off already (the first fence); this one waits for the monitors to commit
        // it, not for every OSD to see it: the dead node's own OSD, not yet marked down, would
        // hold the move for the barrier's whole timeout.
        blocklist: async (address) => {
          await rados.monCommand(
            `{"prefix":"osd blocklist","blocklistop":"add","addr":"${address}:0/0","expire":86400.0}`,
          );
          await rados.waitForLatestOsdmap();
        },
        log,
      });
      await evacuation.start();
      const routers = new compute.RouterKeeper({ store, db, hosts: hostView, homes: driver.routerHomes, log });
      await routers.start();
      const stuck = new compute.StuckServers(db, servers, log);
      stuck.start();
      log('compute.keeper.started', {});
      await untilSignal();
      stuck.close();
      await routers.close();
      await evacuation.close();
      await placement.close();
      await hostView.close();
      await rados.close();
      await client.close();
      await following.close();
      await store.close();
      await tls.close();
    });

  compute
    .command('placement')
    .description(
      "show or set the scheduler's allocation ratios and host reserves, cluster-wide (Nova's defaults until set)",
    )
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (default: $RACKSEED_ETCD)')
    .option(...TLS_OPTION)
    .option('--cpu-allocation-ratio <n>', 'vCPUs handed out per real CPU (Nova: 4.0)')
    .option('--ram-allocation-ratio <n>', 'memory handed out per real MB (Nova: 1.0)')
    .option('--disk-allocation-ratio <n>', 'disk handed out per real GB (Nova: 1.0)')
    .option('--reserved-host-memory-mb <n>', "memory kept for the node's own services (Nova: 512)")
    .option('--reserved-host-disk-gb <n>', "disk kept for the node's own use (Nova: 0)")
    .action(async (options: Record<string, string | undefined>, command: Command) => {
      const fields = [
        'cpuAllocationRatio',
        'ramAllocationRatio',
        'diskAllocationRatio',
        'reservedHostMemoryMb',
        'reservedHostDiskGb',
      ] as const;
      const change: Record<string, number> = {};
      for (const field of fields) {
        const given = options[field];
        if (given === undefined) continue;
        if (!/^\d+(\.\d+)?$/.test(given)) throw new CliUsageError(`${field}: ${given} is not a number`);
        change[field] = Number(given);
      }
      const [agent, compute] = await Promise.all([loadAgent(), import('../../compute/index.js')]);
      const store = await connectStore(options, io);
      try {
        const stored = await store.get(agent.keys.placement);
        const current = compute.mergePlacement(
          compute.DEFAULT_PLACEMENT,
          stored ? (JSON.parse(stored.value) as Record<string, unknown>) : {},
        );
        const next = compute.mergePlacement(current, change);
        if (Object.keys(change).length > 0) await store.put(agent.keys.placement, JSON.stringify(next));
        report(io, command.optsWithGlobals<GlobalOptions>(), next, (p) =>
          Object.entries(p)
            .map(([k, v]) => `${k} ${String(v)}`)
            .join('\n'),
        );
      } finally {
        await store.close();
      }
    });
}
