import { join } from 'node:path';
import type { CephService, ServiceContext, ServiceSpec } from '../../agent/index.js';
import { loadAgent } from './cluster.js';
import { DB_MASTER_ELECTION } from '../dbmaster/location.js';

/** Where a node's OpenStack API listens. */
export const API_PORT = 5000;
/** Where a node's database master candidate serves its RPC. */
export const DB_MASTER_PORT = 5001;
/** Where a node's host service answers (its guests' API, for the compute service). */
export const HOST_SERVICE_PORT = 5002;

/**
 * The cloud's services, as the CLI adds them to the catalog of an agent whose node runs Ceph:
 * - `db-master` on every node: a candidate for the cloud database master (`rackseed db master`);
 *   its own election in etcd picks one, which fences the previous master on Ceph, and the others
 *   stand by, so a dead master is replaced in seconds;
 * - `api` on every node: the OpenStack API (`rackseed cloud serve --etcd`) over that database,
 *   image bytes in RADOS, bootstrapped with the cluster's admin password, advertising the cloud's
 *   public URL (a VIP, or the lab gateway) when there is one; its servers run on the host services;
 * - `host` on every node that has QEMU: the host service (`rackseed host serve`), which alone
 *   runs the node's guests, on its provider uplink (`RACKSEED_PROVIDER_UPLINK`) when it has one;
 * - `compute-keeper`, a singleton: restarts a fenced node's servers on other nodes
 *   (`rackseed compute keeper`).
 * Each takes the node's address, its Ceph client files (`<dataDir>/ceph/`: the conf names each
 * client's keyring), its own cephx user (`CEPH_USERS`: the least caps it needs; the DB master
 * not yet) and the agent's etcd endpoints when it starts. `rackseed` is how to run this very CLI (node and its script).
 */
export async function cloudServices(
  rackseed: readonly string[],
  cloud: { adminPasswordFile?: string; credentialKeyFile: string; publicUrl?: string },
): Promise<ServiceSpec[]> {
  const { commandService, installed, CEPH_USERS, RACKSEED_POOL, DB_NAMESPACE, BLOB_NAMESPACE } = await loadAgent();
  const uplink = process.env.RACKSEED_PROVIDER_UPLINK;
  const common = (c: ServiceContext, service?: CephService) => [
    ...['--etcd', (c.etcd?.() ?? []).join(',')],
    ...['--ceph-conf', join(c.dataDir, 'ceph', 'ceph.conf')],
    ...(service ? ['--ceph-client', CEPH_USERS[service].name] : []),
    ...['--host', c.address ?? '127.0.0.1'],
    ...(c.tls ? ['--tls', c.tls.dir] : []),
  ];
  return [
    {
      ...commandService('db-master', 'everywhere', (c) => [
        ...rackseed,
        ...['db', 'master', ...common(c, 'db')],
        ...['--pool', RACKSEED_POOL, '--namespace', DB_NAMESPACE, '--port', String(DB_MASTER_PORT), '--node', c.node],
      ]),
      election: DB_MASTER_ELECTION,
    },
    commandService('api', 'everywhere', (c) => [
      ...rackseed,
      ...['cloud', 'serve', ...common(c, 'api')],
      ...['--image-pool', RACKSEED_POOL, '--image-namespace', BLOB_NAMESPACE, '--port', String(API_PORT)],
      ...['--credential-key-file', cloud.credentialKeyFile],
      ...(cloud.adminPasswordFile
        ? ['--admin-password-file', cloud.adminPasswordFile, '--clouds-yaml', join(c.dataDir, 'clouds.yaml')]
        : []),
      ...(cloud.publicUrl ? ['--public-url', cloud.publicUrl] : []),
    ]),
    commandService('compute-keeper', 'singleton', (c) => [
      ...rackseed,
      ...['compute', 'keeper', ...common(c, 'compute')],
    ]),
    // A node runs guests when it has QEMU (the netboot image for QEMU lab nodes has none).
    ...(installed('qemu-system-x86_64')
      ? [
          commandService('host', 'everywhere', (c) => [
            ...rackseed,
            ...['host', 'serve', ...common(c, 'host'), '--node', c.node, '--port', String(HOST_SERVICE_PORT)],
            ...['--run-dir', join(c.dataDir, 'guests')],
            ...(uplink ? ['--provider-uplink', uplink] : []),
          ]),
        ]
      : []),
  ];
}
