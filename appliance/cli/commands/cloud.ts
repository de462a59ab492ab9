import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { Command } from 'commander';
import { RackseedError } from '../../../agent/errors/index.js';
import type { NodeRecord, NodeTls } from '../../../agent/index.js';
import type { BlobStore } from '../../blobs/index.js';
import type { ApiMetrics, BootableImages, RackSource } from '../../api/index.js';
import type { ComputeDriver, ComputeHost, HostView, PlacementConfig } from '../../compute/index.js';
import type { CloudDb } from '../../db/index.js';
import { credentialKeyFrom } from '../../api/identity/credential-seal.js';
import { type ApiTls, apiTls } from '../api-tls.js';
import { defaultCloudsYaml, writeCloud } from '../clouds-yaml.js';
import { cephAccess, endpoints, loadAgent, nodeTls, TLS_OPTION } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report, untilSignal } from '../io.js';
import { readSecret } from '../secrets.js';
import {
  type SecurityComplianceFlags,
  securityComplianceOf,
  securityComplianceOptions,
} from '../security-compliance-flags.js';

class CloudServeError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('CLI_ERR_CLOUD_SERVE', message, { cause });
  }
}

interface ServeOptions extends SecurityComplianceFlags {
  dataDir?: string;
  etcd?: string;
  election: string;
  cephConf?: string;
  cephKeyring?: string;
  cephClient?: string;
  imagePool?: string;
  imageNamespace: string;
  adminPasswordFile?: string;
  credentialKeyFile?: string;
  port: string;
  host: string;
  cloudsYaml?: string;
  publicUrl?: string;
  computeDriver?: string;
  tls?: string;
  apiCert?: string;
  apiKey?: string;
}

/** How long a node waits at start for a DB master, and for the others to finish bootstrapping the cloud. */
const BOOTSTRAP_WAIT_MS = 120_000;

/**
 * What the API stands on: the database, the image bytes, the admin password (known to the
 * machine that bootstraps the cloud: one machine, or a cluster's seed), and how to let go of them.
 */
interface Backing {
  mode: 'embedded' | 'cluster';
  db: CloudDb;
  blobs: BlobStore;
  password?: string;
  passwordFile?: string;
  /** What Keystone credentials' blobs are sealed with in the database (credential-seal.ts). */
  credentialKey: Buffer;
  /** The machines servers go on: none known here (the driver's stand-in) or the cluster's live nodes. */
  hosts?: () => ComputeHost[];
  /** The host services' records, followed (a cluster node only). */
  hostView?: HostView;
  /** The node's certificate, for the internal planes (a cluster node only). */
  tls?: NodeTls;
  /** Glance's bootable copies of images on RBD (a cluster node only). */
  bootableImages?: BootableImages;
  /** The cluster's placement setting, followed (a cluster node only). */
  placement?: () => PlacementConfig;
  /** Where the dashboard reads the rack: the node's etcd client (a cluster node only). */
  rack?: RackSource;
  close(): Promise<void>;
}

/** The admin password: read from the data dir, or made and stored there (0600) on first start. */
async function adminPassword(dataDir: string): Promise<{ password: string; file: string }> {
  const file = join(dataDir, 'admin-password');
  try {
    return { password: (await readFile(file, 'utf8')).trim(), file };
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
    return { password, file };
  }
}

function parseCredentialKey(text: string): Buffer {
  try {
    return credentialKeyFrom(text);
  } catch {
    throw new CliUsageError('the credential key is not 64 hex characters (32 bytes)');
  }
}

/** One machine's credential key: read from the data dir, or made there (0600, 64 hex characters) on first start. */
async function localCredentialKey(dataDir: string): Promise<string> {
  const file = join(dataDir, 'credential.key');
  try {
    return await readFile(file, 'utf8');
  } catch {
    const key = randomBytes(32).toString('hex');
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  }
}

/**
 * One machine: SQLite and image files in `dataDir`, the admin password and the credential key
 * made there on first start.
 */
async function embedded(dataDir: string): Promise<Backing> {
  await mkdir(join(dataDir, 'images'), { recursive: true, mode: 0o700 });
  const { password, file } = await adminPassword(dataDir);
  const credentialKey = parseCredentialKey(await localCredentialKey(dataDir));
  const [{ bootstrapCloud }, { LocalBlobStore }, { openSqliteDb }] = await Promise.all([
    import('../../api/index.js'),
    import('../../blobs/index.js'),
    import('../../db/index.js'),
  ]);
  const db = openSqliteDb(join(dataDir, 'cloud.db'));
  await bootstrapCloud(db, password);
  return {
    mode: 'embedded',
    db,
    blobs: new LocalBlobStore(join(dataDir, 'images')),
    password,
    passwordFile: file,
    credentialKey,
    close: () => db.close(),
  };
}

/**
 * A cluster node: the database through the elected DB master (found in etcd), image bytes in
 * RADOS. A node given the admin password (the seed's) bootstraps the cloud at start, under an
 * etcd lock, so that two such nodes starting together never both create the admin user or the
 * provider network; the others (every enrolled node: its grant has no admin password) only serve.
 */
async function clustered(
  io: CliIo,
  options: ServeOptions,
  etcdOption: string,
  metrics: ApiMetrics | undefined,
): Promise<Backing> {
  const hosts = endpoints(etcdOption);
  if (hosts.length === 0) throw new CliUsageError('--etcd needs at least one endpoint');
  if (!options.cephConf || !options.imagePool) {
    throw new CliUsageError('--etcd needs --ceph-conf FILE and --image-pool POOL: image bytes live in RADOS');
  }
  const password = options.adminPasswordFile
    ? await readSecret(io, { file: options.adminPasswordFile, env: 'RACKSEED_ADMIN_PASSWORD', what: 'admin password' })
    : undefined;
  const credentialKey = parseCredentialKey(
    await readSecret(io, {
      file: options.credentialKeyFile,
      env: 'RACKSEED_CREDENTIAL_KEY',
      what: 'credential key',
      option: '--credential-key-file',
    }),
  );
  const tls = await nodeTls(options.tls, io);
  const [
    { EtcdLockFailedError },
    { DbClient, openBlobStore },
    { remoteCloudDb },
    { bootstrapCloud },
    { clusterBlobStore },
    { watchHosts, watchPlacement },
    { Rbd, RbdBootableImages },
    agent,
  ] = await Promise.all([
    import('etcd3'),
    import('../../dbmaster/index.js'),
    import('../../db/index.js'),
    import('../../api/index.js'),
    import('../../blobs/index.js'),
    import('../../compute/index.js'),
    import('../../rbd/index.js'),
    loadAgent(),
  ]);
  // One etcd client for everything: following the master, the bootstrap lock, the nodes.
  const nodeStore = agent.Store.connect(hosts, tls);
  const etcd = nodeStore.client;
  const closers: (() => Promise<unknown> | void)[] = [() => tls.close(), () => nodeStore.close()];
  // Started with the endpoints of one moment; it follows the voters as the membership changes.
  const following = await agent.followEtcdEndpoints(nodeStore);
  closers.push(() => following.close());
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    const client = await DbClient.connect({
      etcd,
      tls,
      electionName: options.election,
      onCall: metrics?.dbCall,
    });
    closers.push(() => client.close());
    const store = await openBlobStore({
      kind: 'ceph',
      ...cephAccess(options.cephConf, options),
      pool: options.imagePool,
      namespace: options.imageNamespace,
    });
    closers.push(() => store.close());
    // The hypervisors: every live node (its registration in etcd), followed as nodes come and go.
    const nodes = await agent.PrefixView.open(nodeStore, agent.keys.nodes, () => {});
    closers.push(() => nodes.close());
    // The host services: their inventories (the hypervisors) and what their guests do.
    const hostView = await watchHosts(nodeStore);
    closers.push(() => hostView.close());
    const placement = await watchPlacement(nodeStore);
    closers.push(() => placement.close());
    const liveNodes = () =>
      [...nodes.entries.values()].map((entry) => {
        const record = agent.parseJson<NodeRecord>(entry);
        return { name: record.name, ip: record.etcd ? new URL(record.etcd.clientUrl).hostname : '' };
      });
    const db = remoteCloudDb(client);
    // At start, the first master may still be being elected: bootstrap waits for it longer
    // than a request would.
    const patient = remoteCloudDb(client, { deadlineMs: BOOTSTRAP_WAIT_MS });
    // etcd3's lock does not wait: whoever finds it held tries again until the holder is done.
    const deadline = Date.now() + BOOTSTRAP_WAIT_MS;
    while (password !== undefined) {
      try {
        await etcd
          .lock(agent.keys.cloudBootstrapLock)
          .ttl(30)
          .do(() => bootstrapCloud(patient, password));
        break;
      } catch (error) {
        if (!(error instanceof EtcdLockFailedError)) throw error;
        if (Date.now() > deadline) {
          throw new CloudServeError(
            `another node held the cloud's bootstrap lock (${agent.keys.cloudBootstrapLock}) for over ${BOOTSTRAP_WAIT_MS / 1000} s; start again`,
            error,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    return {
      mode: 'cluster',
      db,
      blobs: clusterBlobStore(store),
      ...(password !== undefined && options.adminPasswordFile
        ? { password, passwordFile: resolve(options.adminPasswordFile) }
        : {}),
      credentialKey,
      hosts: liveNodes,
      hostView,
      tls,
      placement: placement.current,
      rack: { store: nodeStore, elections: [options.election] },
      bootableImages: new RbdBootableImages(
        new Rbd({
          conf: options.cephConf,
          id: (options.cephClient ?? 'client.admin').replace(/^client\./, ''),
          ...(options.cephKeyring ? { keyring: options.cephKeyring } : {}),
        }),
        agent.IMAGES_POOL,
        agent.VMS_POOL,
      ),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** `--public-url`: an absolute https URL without query or fragment, returned without a trailing slash. */
function parsePublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliUsageError(`--public-url ${text} is not a URL (e.g. https://cloud.example.com:5000)`);
  }
  if (url.protocol !== 'https:' || url.search || url.hash || url.username) {
    throw new CliUsageError(
      `--public-url ${text}: give an https URL (the API serves TLS only) without credentials, query or fragment`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/** `rackseed cloud serve`: the whole OpenStack-compatible API on this machine. */
export function registerCloud(program: Command, io: CliIo): void {
  const cloud = program.command('cloud').description('run the OpenStack-compatible cloud');
  securityComplianceOptions(
    cloud
      .command('serve')
      .description(
        'serve the OpenStack-compatible API: on one machine (--data-dir) or as a cluster node over the DB master (--etcd)',
      )
      .option('--data-dir <dir>', 'one machine: where the cloud database, image bytes and admin password live')
      .option('--etcd <urls>', "a cluster node: etcd client URLs, comma-separated (the DB master's election)")
      .option('--election <name>', "the DB master's election", 'db-master')
      .option('--ceph-conf <file>', 'with --etcd: ceph.conf of the cluster whose RADOS holds the image bytes')
      .option('--ceph-keyring <file>', 'with --etcd: cephx keyring (default: the one ceph.conf names)')
      .option(
        '--ceph-client <name>',
        "with --etcd: cephx client name (default client.admin; a node's agent gives client.rackseed-api)",
      )
      .option('--image-pool <pool>', 'with --etcd: RADOS pool of the image bytes')
      .option('--image-namespace <ns>', 'with --etcd: RADOS namespace of the image bytes', 'images')
      .option(
        '--admin-password-file <file>',
        "with --etcd: the admin's password (first line): this node bootstraps the cloud (the seed's; other nodes only serve)",
      )
      .option(
        '--credential-key-file <file>',
        "with --etcd: the key Keystone credentials are sealed with in the database (64 hex characters; every node of a cloud the same: the node's agent derives it from the cluster key)",
      )
      .option('--port <port>', 'TCP port (HTTPS only)', '5000')
      .option('--host <address>', 'address to listen on and advertise', '127.0.0.1')
      .option(
        '--public-url <url>',
        'URL to advertise in the catalog and links instead of https://HOST:PORT (a gateway or VIP every node shares)',
      )
      .option(
        '--api-cert <file>',
        "an operator's certificate for the API (PEM, its chain after it), with --api-key (default: one from the cluster's CA, or on one machine from a CA of its own in --data-dir)",
      )
      .option('--api-key <file>', "with --api-cert: the certificate's private key (PEM, unencrypted)")
      .option(
        '--compute-driver <name>',
        'qemu (servers are QEMU guests on the nodes’ host services; the default with --etcd) or fake (instant, nothing runs; the default with --data-dir, for API conformance and scale benchmarks)',
      )
      .option(TLS_OPTION[0], `with --etcd: ${TLS_OPTION[1]}`)
      .option(
        '--clouds-yaml <file>',
        'clouds.yaml to add the rackseed entry to (default ~/.config/openstack/clouds.yaml)',
      ),
  ).action(async (options: ServeOptions, command: Command) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new CliUsageError(`--port ${options.port} is not a TCP port`);
    if ((options.dataDir === undefined) === (options.etcd === undefined)) {
      throw new CliUsageError('give either --data-dir DIR (one machine) or --etcd URLS (a cluster node)');
    }
    if ((options.apiCert === undefined) !== (options.apiKey === undefined))
      throw new CliUsageError('give --api-cert FILE and --api-key FILE together (an operator’s certificate)');
    const securityCompliance = securityComplianceOf(options);
    const publicUrl = options.publicUrl
      ? parsePublicUrl(options.publicUrl)
      : `https://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
    // The API stack (fastify, SQLite, etcd3, RADOS) is loaded on use, so other verbs do not pay for it.
    const [{ ApiMetrics, createApi }, compute] = await Promise.all([
      import('../../api/index.js'),
      import('../../compute/index.js'),
    ]);
    // A cluster node serving its own API certificate asks clients for one from the cluster CA
    // (NodeTls.apiServerOptions) and serves its metrics to those that present one. One machine
    // has no such CA, and a listener with an operator's certificate asks for none: no metrics.
    const metrics = options.etcd !== undefined && options.apiCert === undefined ? new ApiMetrics() : undefined;
    const backing = options.etcd
      ? await clustered(io, options, options.etcd, metrics)
      : await embedded(resolve(options.dataDir ?? ''));
    const { db, password } = backing;
    const driverName = options.computeDriver ?? (backing.hostView ? 'qemu' : 'fake');
    let driver: ComputeDriver;
    let tls: ApiTls;
    // A refusal here closes what the backing opened, so that the process ends with its error.
    try {
      tls = await apiTls({
        operator:
          options.apiCert !== undefined && options.apiKey !== undefined
            ? { certFile: options.apiCert, keyFile: options.apiKey }
            : undefined,
        ...(backing.tls ? { node: backing.tls } : { dataDir: resolve(options.dataDir ?? '') }),
        publicUrl,
        host: options.host,
      });
      if (driverName === 'fake') {
        driver = new compute.FakeDriver(backing.hosts);
      } else if (driverName === 'qemu' && backing.hostView && backing.tls) {
        driver = new compute.HostComputeDriver(db, backing.hostView, backing.tls);
      } else {
        throw new CliUsageError(
          driverName === 'qemu'
            ? '--compute-driver qemu needs a cluster node (--etcd): its servers run on the nodes’ host services'
            : `--compute-driver ${driverName}: give qemu or fake`,
        );
      }
    } catch (error) {
      await backing.close();
      throw error;
    }
    const api = await createApi({
      db,
      blobs: backing.blobs,
      ...(backing.bootableImages ? { bootableImages: backing.bootableImages } : {}),
      driver,
      credentialKey: backing.credentialKey,
      publicUrl,
      tls: tls.files?.apiServerOptions() ?? { cert: tls.cert, key: tls.key },
      ...(metrics ? { metrics } : {}),
      logLevel: io.env.RACKSEED_LOG_LEVEL ?? 'warn',
      securityCompliance,
      ...(backing.placement ? { placement: backing.placement } : {}),
      dashboard: backing.rack ? { rack: backing.rack } : {},
    });
    backing.hostView?.reportTo(api.servers);
    try {
      await api.app.listen({ port, host: options.host });
      tls.files?.serve(api.app.server as unknown as TlsServer, 'api');
    } catch (error) {
      await api.app.close();
      await backing.close();
      throw new CloudServeError(
        `cannot listen on ${options.host}:${port}: ${(error as Error).message}; pick another --port`,
        error,
      );
    }
    // A cluster node writes a clouds.yaml only when asked: its operator's is on another machine.
    const cloudsYaml =
      options.cloudsYaml !== undefined || backing.mode === 'embedded'
        ? options.cloudsYaml !== undefined
          ? resolve(options.cloudsYaml)
          : defaultCloudsYaml(io.env)
        : undefined;
    if (cloudsYaml && password !== undefined)
      await writeCloud(cloudsYaml, 'rackseed', { authUrl: `${publicUrl}/identity`, password, cacert: tls.caFile });
    const value = {
      url: publicUrl,
      listen: `${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
      authUrl: `${publicUrl}/identity`,
      cloud: 'rackseed',
      mode: backing.mode,
      cloudsYaml: cloudsYaml && password !== undefined ? cloudsYaml : null,
      cacert: tls.caFile ?? null,
      passwordFile: backing.passwordFile ?? null,
      driver: driver.name,
    };
    report(io, command.optsWithGlobals<GlobalOptions>(), value, (v) =>
      [
        `rackseed cloud serving the OpenStack API on ${v.url} (compute driver: ${v.driver})`,
        `  dashboard: ${v.url}/dashboard/`,
        ...(options.publicUrl ? [`  listening on ${v.listen}`] : []),
        `  TLS: ${v.cacert ? `certificate from the CA in ${v.cacert}` : "the operator's certificate"}`,
        `  database: ${v.mode === 'cluster' ? 'the elected DB master, image bytes in RADOS' : 'this machine'}`,
        v.cloudsYaml
          ? `  cloud "rackseed" written to ${v.cloudsYaml}; admin password in ${v.passwordFile}`
          : v.passwordFile
            ? `  admin password in ${v.passwordFile}`
            : '  serving only: the cloud is bootstrapped by the node that has the admin password',
        `  try:  OS_CLOUD=rackseed openstack server list`,
        `  stop with Ctrl-C`,
      ].join('\n'),
    );
    await untilSignal();
    await api.app.close();
    await backing.close();
  });
}
