import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { KeptLease } from '../../../agent/index.js';
import { childEnv } from '../../../agent/process/index.js';
import { cephAccess, connectStore, loadAgent, nodeTls, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, untilSignal } from '../io.js';

interface ServeOptions {
  node?: string;
  etcd?: string;
  cephConf: string;
  cephKeyring?: string;
  cephClient?: string;
  host?: string;
  port: string;
  tls?: string;
  runDir: string;
  providerUplink?: string;
  vmsPool: string;
}

/** How long the host service's inventory outlives it in etcd (a dead host offers nothing after this). */
const INVENTORY_TTL_SECONDS = 5;

/** The provider network's services namespace of this node (the others' names start with it): named after the namespace the host service runs in, if any. */
function servicesNetns(): string {
  try {
    const own = execFileSync('ip', ['netns', 'identify', String(process.pid)], {
      encoding: 'utf8',
      env: childEnv(),
    }).trim();
    return own ? `${own}-guests` : 'rackseed-guests';
  } catch {
    return 'rackseed-guests';
  }
}

/** `rackseed host serve`: a node's host service (its guests, their ports, their DHCP and metadata). */
export function registerHost(program: Command, io: CliIo): void {
  const host = program.command('host').description("a node's host service: the only code that runs its guests");
  host
    .command('serve')
    .description('run this node’s guests (QEMU on RBD disks, their ports) behind the host API')
    .option('--node <name>', 'this node’s name (default: $RACKSEED_NODE)')
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (default: $RACKSEED_ETCD)')
    .requiredOption('--ceph-conf <file>', 'ceph.conf of the cluster whose RBD pools hold the disks')
    .option('--ceph-keyring <file>', 'cephx keyring (default: the one ceph.conf names)')
    .option(
      '--ceph-client <name>',
      "cephx client name (default client.admin; a node's agent gives client.rackseed-host)",
    )
    .option('--host <address>', 'the address the API listens on and is reached at (default: $RACKSEED_ADDRESS)')
    .option('--port <port>', 'TCP port of the API', '5002')
    .option(...TLS_OPTION)
    .requiredOption('--run-dir <dir>', 'where guests’ run directories (QMP sockets, console logs) go')
    .option('--provider-uplink <interface>', 'the interface that carries the provider network to the other nodes')
    .option('--vms-pool <pool>', 'the RBD pool of the guests’ disks', 'vms')
    .action(async (options: ServeOptions) => {
      const node = options.node ?? io.env.RACKSEED_NODE;
      const address = options.host ?? io.env.RACKSEED_ADDRESS;
      if (!node) throw new CliUsageError('--node NAME (or RACKSEED_NODE) is required');
      if (!address) throw new CliUsageError('--host ADDRESS (or RACKSEED_ADDRESS) is required');
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new CliUsageError(`--port ${options.port} is not a TCP port`);
      const tls = await nodeTls(options.tls, io);
      const runDir = resolve(options.runDir);
      mkdirSync(runDir, { recursive: true, mode: 0o700 });
      const [agent, hostModule, { Rbd }, { RadosCluster }] = await Promise.all([
        loadAgent(),
        import('../../host/index.js'),
        import('../../rbd/index.js'),
        import('../../rados/index.js'),
      ]);
      const log = (event: string, fields: Record<string, unknown>) =>
        io.stderr(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);
      const access = cephAccess(options.cephConf, options);
      const clientId = (access.clientName ?? 'client.admin').replace(/^client\./, '');
      const rbd = new Rbd({ conf: access.conf, id: clientId, ...(access.keyring ? { keyring: access.keyring } : {}) });
      const store = await connectStore(options, io);
      const following = await agent.followEtcdEndpoints(store);
      const accel = hostModule.accelFor();
      const { vcpus, memoryMb } = hostModule.machineSize();
      const rados = await RadosCluster.connect(access);
      const diskGb = await vmsPoolGb(rados, options.vmsPool).catch(() => 0);
      let inventory = {
        node,
        url: `https://${address.includes(':') ? `[${address}]` : address}:${port}`,
        vcpus,
        memoryMb,
        diskGb,
        accel,
        hypervisorVersion: await hostModule.qemuVersion(),
      };
      const network = new hostModule.GuestNetwork({
        servicesNetns: servicesNetns(),
        tunnelAddress: address,
        ...(options.providerUplink ? { uplink: options.providerUplink } : {}),
      });
      await network.setup();
      const service = new hostModule.HostService({
        node,
        store,
        runtime: new hostModule.QemuRuntime({ accel, ceph: { conf: access.conf, user: clientId } }),
        disks: new hostModule.RbdGuestDisks(rbd, options.vmsPool),
        ports: network,
        routers: network,
        runDir: join(runDir, 'guests'),
        inventory,
        log,
      });
      const adopted = await service.adoptAll();
      // This host's Ceph clients were blocklisted if it was fenced; the QEMUs of that time are
      // gone (a fenced node was powered off, and guests moved away lose their records here).
      await rados.unblocklist(`${address}:0/0`).catch(() => undefined);
      await network.serveGuests(service, log);
      const api = hostModule.hostApi(service, tls);
      await api.listen({ host: address, port });
      // The inventory lives under a lease of its own: a dead host service offers nothing.
      const publish = async (): Promise<KeptLease> => {
        const kept = await store.grantLease(INVENTORY_TTL_SECONDS);
        kept.on('lost', () => {
          publish()
            .then((fresh) => (lease = fresh))
            .catch((error: unknown) => log('host.inventory.error', { error: String(error) }));
        });
        await store.put(agent.keys.hostInventory(node), JSON.stringify(inventory), kept.id);
        return kept;
      };
      let lease = await publish();
      // What the pool can hold changes (it may not exist yet when the node starts): every 15 s.
      const refresh = setInterval(() => {
        void vmsPoolGb(rados, options.vmsPool)
          .then(async (gb) => {
            if (gb === inventory.diskGb) return;
            inventory = { ...inventory, diskGb: gb };
            await store.put(agent.keys.hostInventory(node), JSON.stringify(inventory), lease.id);
          })
          .catch((error: unknown) => log('host.inventory.error', { error: String(error) }));
      }, 15_000);
      log('host.serving', { node, url: inventory.url, accel, vcpus, memoryMb, diskGb, ...adopted });
      await untilSignal();
      // Guests go on running: the next incarnation adopts them.
      clearInterval(refresh);
      service.close();
      await api.close();
      await network.stopServing();
      await lease.revoke().catch(() => undefined);
      await rados.close();
      await following.close();
      await store.close();
      await tls.close();
    });
}

/** What the guests' pool can hold, in GiB (stored + max available, as `ceph df` reports it). */
async function vmsPoolGb(
  rados: { monCommand(command: Readonly<Record<string, unknown>>): Promise<{ output: Buffer }> },
  pool: string,
): Promise<number> {
  const df = JSON.parse((await rados.monCommand({ prefix: 'df', format: 'json' })).output.toString()) as {
    pools: { name: string; stats: { stored: number; max_avail: number } }[];
  };
  const stats = df.pools.find((p) => p.name === pool)?.stats;
  return stats ? Math.floor((stats.stored + stats.max_avail) / 1024 ** 3) : 0;
}
