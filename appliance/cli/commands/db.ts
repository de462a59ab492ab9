import { readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { DbClient } from '../../dbmaster/index.js';
import { cephAccess, endpoints, nodeTls, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report } from '../io.js';

interface DbOptions {
  etcd?: string;
  tls?: string;
  election?: string;
  deadline: string;
}

interface MasterOptions {
  cephConf: string;
  cephKeyring?: string;
  cephClient?: string;
  pool: string;
  namespace: string;
  name: string;
  host?: string;
  port?: string;
  node?: string;
}

const etcdOf = (io: CliIo, options: DbOptions) =>
  endpoints(options.etcd ?? (io.env.RACKSEED_ETCD || undefined) ?? 'https://127.0.0.1:2379');

/** Opens a client to the elected database master, runs `use`, and closes everything. */
async function withClient<T>(io: CliIo, options: DbOptions, use: (client: DbClient) => Promise<T>): Promise<T> {
  const hosts = etcdOf(io, options);
  const deadlineMs = Number(options.deadline) * 1000;
  if (hosts.length === 0) throw new CliUsageError('--etcd needs at least one endpoint');
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0)
    throw new CliUsageError('--deadline must be a number of seconds');
  const tls = await nodeTls(options.tls, io);
  // etcd3 and the database client load on use, so other verbs do not pay for them.
  const [{ Store }, { DbClient }] = await Promise.all([
    import('../../../agent/index.js'),
    import('../../dbmaster/index.js'),
  ]);
  const store = Store.connect(hosts, tls);
  try {
    const client = await DbClient.connect({
      etcd: store.client,
      tls,
      electionName: options.election ?? 'db-master',
      deadlineMs,
    });
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  } finally {
    await store.close();
    await tls.close();
  }
}

/**
 * `rackseed db master` (a candidate for the database master), and `rackseed db backup FILE` and
 * `rackseed db restore FILE`, through the elected master.
 */
export function registerDb(program: Command, io: CliIo): void {
  const db = program
    .command('db')
    .description("run a database master candidate; back up or restore the cloud's database through the master")
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (default: $RACKSEED_ETCD, else 127.0.0.1:2379)')
    .option(...TLS_OPTION)
    .option('--election <name>', "the database master's election", 'db-master')
    .option('--deadline <seconds>', 'how long to wait for a master (through a failover)', '30');

  db.command('backup')
    .description('write a consistent copy of the whole database to FILE (a plain SQLite file)')
    .argument('<file>', 'where to write the backup')
    .action(async (file: string, _options: object, command: Command) => {
      const options = command.optsWithGlobals<DbOptions & GlobalOptions>();
      const bytes = await withClient(io, options, (client) => client.backup());
      // Write beside, then rename: a crash never leaves half a backup under FILE.
      await writeFile(`${file}.partial`, bytes);
      await rename(`${file}.partial`, file);
      report(io, options, { file, bytes: bytes.length }, (v) => `backed up ${v.bytes} bytes to ${v.file}`);
    });

  db.command('restore')
    .description("replace the database's content with a backup made by `db backup`")
    .argument('<file>', 'the backup to restore')
    .action(async (file: string, _options: object, command: Command) => {
      const options = command.optsWithGlobals<DbOptions & GlobalOptions>();
      const bytes = await readFile(file).catch((error: unknown) => {
        throw new CliUsageError(`cannot read ${file}: ${(error as Error).message}`);
      });
      if (bytes.subarray(0, 16).toString('latin1') !== 'SQLite format 3\0') {
        throw new CliUsageError(`${file} is not an SQLite database (make it with rackseed db backup)`);
      }
      await withClient(io, options, (client) => client.restore(bytes));
      report(io, options, { file, bytes: bytes.length }, (v) => `restored ${v.bytes} bytes from ${v.file}`);
    });

  db.command('master')
    .description(
      'run a candidate for the cloud database master (SQLite on Ceph): once elected it fences the previous master and serves the database; until then it stands by',
    )
    .requiredOption('--ceph-conf <file>', 'ceph.conf of the cluster holding the database')
    .option('--ceph-keyring <file>', 'cephx keyring (default: the admin keyring ceph.conf names)')
    .option('--ceph-client <name>', "cephx client name (default client.admin; a node's agent gives client.rackseed-db)")
    .option('--pool <pool>', 'RADOS pool of the database', 'rackseed')
    .option('--namespace <ns>', 'RADOS namespace of the database', 'db')
    .option('--name <name>', 'database name', 'cloud')
    .option('--host <address>', 'address to serve on and advertise (default: $RACKSEED_ADDRESS, else 127.0.0.1)')
    .option('--port <port>', 'TCP port (default: a free one)')
    .option('--node <name>', 'this node’s name (default: $RACKSEED_NODE, else the host name)')
    .action(async (_options: object, command: Command) => {
      const options = command.optsWithGlobals<MasterOptions & DbOptions>();
      const port = options.port === undefined ? undefined : Number(options.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
        throw new CliUsageError(`--port ${options.port} is not a TCP port`);
      const hosts = etcdOf(io, options);
      if (hosts.length === 0) throw new CliUsageError('--etcd needs at least one endpoint');
      const tlsDir = (await nodeTls(options.tls, io)).dir;
      const [{ runMasterProcess }, { CLOUD_SCHEMA_MODULE }] = await Promise.all([
        import('../../dbmaster/index.js'),
        import('../../db/index.js'),
      ]);
      await runMasterProcess({
        etcd: hosts,
        tlsDir,
        location: {
          kind: 'ceph',
          ...cephAccess(options.cephConf, options),
          pool: options.pool,
          namespace: options.namespace,
          name: options.name,
        },
        schemaModule: CLOUD_SCHEMA_MODULE,
        node: options.node ?? (io.env.RACKSEED_NODE || hostname()),
        electionName: options.election ?? 'db-master',
        host: options.host ?? (io.env.RACKSEED_ADDRESS || '127.0.0.1'),
        ...(port === undefined ? {} : { port }),
      });
    });
}
