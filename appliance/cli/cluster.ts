import { readFile } from 'node:fs/promises';
import type { CephConnect, NodeTls, Store } from '../../agent/index.js';
import { CliUsageError } from './errors.js';
import type { CliIo } from './io.js';

/** The agent (etcd3, gRPC) loads on use, so verbs that do not talk to the cluster do not pay for it. */
export const loadAgent = () => import('../../agent/index.js');
/** The cloud's services for an agent's catalog (see cloud-services.ts), loaded on use. */
export const loadCloudServices = () => import('./cloud-services.js');
/** How an agent started here reaches the Ceph monitors: librados (appliance/rados), loaded on first use. */
export const cephConnect: CephConnect = async (options) =>
  (await import('../rados/index.js')).connectCephMonitors(options);
/** How to run this very CLI again (the node binary and its script), for the services an agent starts. */
export const RACKSEED: readonly string[] = [process.execPath, process.argv[1] ?? 'rackseed'];

/** A list of URLs from a config list or a comma-separated option. */
export function endpoints(value: readonly string[] | string | undefined): string[] {
  const list = typeof value === 'string' ? value.split(',') : [...(value ?? [])];
  return list.map((s) => s.trim()).filter(Boolean);
}

/** How `--ceph-conf` (`conf`), `--ceph-keyring` and `--ceph-client` reach Ceph (keyring and client: ceph.conf's, client.admin by default). */
export function cephAccess(
  conf: string,
  options: { cephKeyring?: string; cephClient?: string },
): { conf: string; keyring?: string; clientName?: string } {
  return {
    conf,
    ...(options.cephKeyring ? { keyring: options.cephKeyring } : {}),
    ...(options.cephClient ? { clientName: options.cephClient } : {}),
  };
}

/** The `--tls DIR` option of every command that reaches the cluster's internal planes. */
export const TLS_OPTION = [
  '--tls <dir>',
  "this node's certificate from the cluster CA: a directory with ca.crt, node.crt, node.key (default: $RACKSEED_TLS)",
] as const;

/** The node certificate of `--tls DIR`, else RACKSEED_TLS: every internal plane is mutual TLS. */
export async function nodeTls(dir: string | undefined, io: CliIo): Promise<NodeTls> {
  const chosen = dir ?? (io.env.RACKSEED_TLS || undefined);
  if (!chosen)
    throw new CliUsageError("no node certificate: pass --tls DIR or set RACKSEED_TLS (a node's tls directory)");
  const { NodeTls } = await loadAgent();
  const tls = new NodeTls(chosen);
  tls.read(); // a clear error now rather than a failed handshake later
  return tls;
}

/**
 * A store on the cluster's etcd: `--etcd URLS`, else RACKSEED_ETCD, over https with the node
 * certificate of `--tls` (a cluster's etcd); a bare etcd's http URLs take none.
 */
export async function connectStore(flags: { etcd?: string; tls?: string }, io: CliIo): Promise<Store> {
  const list = endpoints(flags.etcd ?? io.env.RACKSEED_ETCD);
  if (list.length === 0) throw new CliUsageError('no etcd endpoints: pass --etcd URLS or set RACKSEED_ETCD');
  const tls = list.some((url) => url.startsWith('https://')) ? await nodeTls(flags.tls, io) : undefined;
  const { Store } = await loadAgent();
  return Store.connect(list, tls);
}

/** A YAML (or JSON) configuration file, as an object; a usage error names what is wrong with it. */
export async function readConfigFile<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliUsageError(`cannot read the config file ${file}: ${(error as NodeJS.ErrnoException).code}`);
  }
  try {
    const { parse } = await import('yaml');
    return (parse(text) ?? {}) as T;
  } catch (error) {
    throw new CliUsageError(`the config file ${file} is not valid YAML: ${(error as Error).message}`);
  }
}
