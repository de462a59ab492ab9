import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { Scope, waitFor } from '../../bootstrap/index.js';
import { BED_SECURITY_COMPLIANCE_ARGS } from './security-compliance.js';

/** A `rackseed cloud serve` process on 127.0.0.1, with its data dir and clouds.yaml in its scope. */
export interface CloudProcess {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  dir: string;
  cloudsYaml: string;
  passwordFile: string;
  /** The CA certificate its API's certificate is from (clouds.yaml's `cacert`). */
  ca: string;
  /** fetch's `dispatcher` for its API: trusts that CA only. */
  dispatcher: Agent;
  /** Environment for the openstack CLI: `OS_CLOUD=rackseed` with the test's clouds.yaml (which names the CA). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** A cluster node's `cloud serve`: the database through the DB master elected in `etcd`, image bytes in RADOS. */
export interface ClusterCloudOptions {
  etcd: readonly string[];
  cephConf: string;
  imagePool: string;
  /** The admin password's file (every node of a cloud is given the same). */
  adminPasswordFile: string;
  /** The credential key's file (64 hex characters; every node of a cloud is given the same). */
  credentialKeyFile: string;
  /** The node certificate's directory (the DB master's RPC is mutual TLS; see testNodeTls). */
  tlsDir: string;
}

/** An HTTP client (fetch's `dispatcher`) that trusts only the CA certificate in `caFile`: a cloud's API is HTTPS. */
export function trusting(caFile: string): Agent {
  return new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } });
}

/**
 * Starts the compiled CLI (`make build` first) as `rackseed cloud serve` on a free port and
 * resolves once the identity endpoint answers: embedded (a data dir in its scope), or as a
 * cluster node with `cluster`, with tempest's security compliance flags
 * ({@link BED_SECURITY_COMPLIANCE_ARGS}); `args` are added to its command line after them (a
 * flag given again wins), and `ca` is the CA its
 * certificate is from when not the cloud's own (an operator's, with `--api-cert`). `stop()`
 * sends SIGTERM (SIGKILL after 5 s) and removes the data.
 */
export async function startCloud(
  options: { cluster?: ClusterCloudOptions; args?: readonly string[]; ca?: string } = {},
): Promise<CloudProcess> {
  const scope = Scope.open('cloud');
  try {
    const port = await scope.port();
    const url = `https://127.0.0.1:${port}`;
    const cloudsYaml = join(scope.dir, 'clouds.yaml');
    const bin = new URL('../../bin/rackseed.js', import.meta.url).pathname;
    const { cluster } = options;
    const backing = cluster
      ? [
          '--etcd',
          cluster.etcd.join(','),
          '--ceph-conf',
          cluster.cephConf,
          '--image-pool',
          cluster.imagePool,
          '--admin-password-file',
          cluster.adminPasswordFile,
          '--credential-key-file',
          cluster.credentialKeyFile,
          '--tls',
          cluster.tlsDir,
          // No host services here: the cloud's API and database are what this bed serves.
          '--compute-driver',
          'fake',
        ]
      : ['--data-dir', join(scope.dir, 'data')];
    // A cluster node serves its API certificate from the cluster CA; one machine, from its own CA.
    const ca = options.ca ?? (cluster ? join(cluster.tlsDir, 'ca.crt') : join(scope.dir, 'data', 'tls', 'ca.crt'));
    let dispatcher: Agent | undefined;
    const daemon = scope.spawn('cloud-serve', [
      process.execPath,
      bin,
      'cloud',
      'serve',
      ...backing,
      '--port',
      String(port),
      '--clouds-yaml',
      cloudsYaml,
      ...BED_SECURITY_COMPLIANCE_ARGS,
      ...(options.args ?? []),
    ]);
    await waitFor(
      `rackseed cloud serve on ${url} (log: ${daemon.logFile})`,
      async () => {
        if (!daemon.alive()) throw new Error(readFileSync(daemon.logFile, 'utf8'));
        // It writes clouds.yaml once it serves: both, or a test may read a file not there yet.
        if (!existsSync(cloudsYaml)) return false;
        dispatcher ??= trusting(ca);
        return (await fetch(`${url}/identity`, { dispatcher })).status === 300;
      },
      30_000,
    );
    const client = dispatcher ?? trusting(ca);
    return {
      url,
      dir: scope.dir,
      cloudsYaml,
      ca,
      dispatcher: client,
      passwordFile: cluster?.adminPasswordFile ?? join(scope.dir, 'data', 'admin-password'),
      env: { ...process.env, OS_CLOUD: 'rackseed', OS_CLIENT_CONFIG_FILE: cloudsYaml },
      stop: async () => {
        await client.close();
        await daemon.stop(5_000);
        await scope.close();
      },
    };
  } catch (error) {
    await scope.close();
    throw error;
  }
}

/** The admin password the cloud wrote to its data dir. */
export function adminPasswordOf(cloud: CloudProcess): string {
  return readFileSync(cloud.passwordFile, 'utf8').trim();
}

/**
 * A token of the cloud's `admin` (scoped to the admin project) from the API at `url`, through
 * `dispatcher` (one that trusts the cloud's CA; see {@link trusting}); throws unless Keystone answers 201.
 */
export async function adminToken(
  url: string,
  password: string,
  options: { dispatcher?: Agent; timeoutMs?: number } = {},
): Promise<string> {
  const response = await fetch(`${url}/identity/v3/auth/tokens`, {
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  if (response.status !== 201) throw new Error(`admin token from ${url}: ${response.status} ${await response.text()}`);
  return response.headers.get('x-subject-token') ?? '';
}

/** curl's flags to present the node certificate in `tlsDir` (a NodeTls directory): the internal planes are mutual TLS. */
export function curlNodeCert(tlsDir: string): string[] {
  return ['--cacert', join(tlsDir, 'ca.crt'), '--cert', join(tlsDir, 'node.crt'), '--key', join(tlsDir, 'node.key')];
}
