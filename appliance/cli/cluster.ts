import { readFile } from 'node:fs/promises';
import type { CephConnect, Store } from '../../agent/index.js';
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

/** A store on the cluster's etcd: `--etcd URLS`, else RACKSEED_ETCD. */
export async function connectStore(etcd: string | undefined, io: CliIo): Promise<Store> {
  const list = endpoints(etcd ?? io.env.RACKSEED_ETCD);
  if (list.length === 0) throw new CliUsageError('no etcd endpoints: pass --etcd URLS or set RACKSEED_ETCD');
  const { Store } = await loadAgent();
  return Store.connect(list);
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
