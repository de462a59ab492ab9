// Starts database master candidates as processes of their own, so that tests can kill -9 and
// SIGSTOP them: of any schema (appliance/dbmaster/main.ts under tsx), or of the cloud's as
// operators and agents run one (`rackseed db master`).
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fetch } from 'undici';
import type { NodeTls } from '../../agent/index.js';
import type { DbLocation } from '../../appliance/dbmaster/index.js';
import { type Daemon, type Scope, waitFor } from '../../bootstrap/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../appliance/dbmaster/main.ts', import.meta.url));
const RACKSEED = fileURLToPath(new URL('../../bin/rackseed.js', import.meta.url));
export const JOURNAL_SCHEMA = pathToFileURL(fileURLToPath(new URL('./journal-schema.ts', import.meta.url))).href;
/** A schema whose first migration takes 1.5 s (a master stays `opening` that long). */
export const SLOW_OPEN_SCHEMA = pathToFileURL(fileURLToPath(new URL('./slow-open-schema.ts', import.meta.url))).href;

export interface MasterProcess {
  readonly daemon: Daemon;
  readonly node: string;
  /** The events it printed so far (one JSON object per line). */
  events(): { event: string; at: number; [field: string]: unknown }[];
  url(): Promise<string>;
  status(): Promise<{ role: string; lockAddress: string | null }>;
}

/** A candidate of any schema (default: the test journal): appliance/dbmaster/main.ts under tsx, lease TTL 2 s. */
export function spawnMaster(
  scope: Scope,
  config: {
    etcd: readonly string[];
    location: DbLocation;
    node: string;
    /** The node certificate it serves its RPC with (mutual TLS; see testNodeTls). */
    tls: NodeTls;
    electionName?: string;
    /** The schema it hosts (default: the test journal; the cloud's is `CLOUD_SCHEMA_MODULE`). */
    schemaModule?: string;
  },
): MasterProcess {
  const { tls, ...rest } = config;
  const json = JSON.stringify({ leaseTtlSeconds: 2, schemaModule: JOURNAL_SCHEMA, ...rest, tlsDir: tls.dir });
  const daemon = scope.spawn(
    `db-master-${config.electionName ?? 'default'}-${config.node}`,
    ['node', '--import', 'tsx', MAIN, json],
    { cwd: REPO },
  );
  return masterProcess(daemon, config.node, tls);
}

/** A candidate for the cloud's database as operators and agents run one: `rackseed db master` (needs `make build`). */
export function spawnCloudMaster(
  scope: Scope,
  config: { etcd: readonly string[]; cephConf: string; pool: string; namespace: string; node: string; tls: NodeTls },
): MasterProcess {
  const daemon = scope.spawn(`db-master-cloud-${config.node}`, [
    'node',
    RACKSEED,
    'db',
    'master',
    ...['--etcd', config.etcd.join(','), '--ceph-conf', config.cephConf],
    ...['--pool', config.pool, '--namespace', config.namespace, '--node', config.node],
    ...['--tls', config.tls.dir],
  ]);
  return masterProcess(daemon, config.node, config.tls);
}

function masterProcess(daemon: Daemon, node: string, tls: NodeTls): MasterProcess {
  const events = () =>
    readFileSync(daemon.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { event: string; at: number; [field: string]: unknown });
  const url = () =>
    waitFor(`${node} to listen (log: ${daemon.logFile})`, () => {
      if (!daemon.alive()) throw new Error('exited');
      return events().find((e) => e.event === 'db.master.listening')?.url as string | undefined;
    });
  return {
    daemon,
    node,
    events,
    url,
    status: async () =>
      (await (
        await fetch(`${await url()}/v1/status`, { signal: AbortSignal.timeout(2_000), dispatcher: tls.dispatcher() })
      ).json()) as {
        role: string;
        lockAddress: string | null;
      },
  };
}
