import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type Agent,
  AGENT_PORT,
  apiHosts,
  type CephConnect,
  commandService,
  ensureApiCertificate,
  NODE_CERT_DAYS,
  ensureCephIdentity,
  keys,
  NodeTls,
  parseJson,
  PrefixView,
  RackseedError,
  startAgent,
  writeDerivedSecret,
} from '../../agent/index.js';
import { IpmiPowerDriver } from '../ipmi/index.js';
import { dhcpServersOn, interfaceAddress } from '../netboot/index.js';
import type { EnrollmentGrant } from './enroll-http.js';
import { recordCertificate } from './certificate-keeper.js';
import { ensureIdentity, ensureNodeCertificate } from './identity.js';
import { type CloudServices, machineGuid } from './node-boot.js';
import type { BmcCredential } from './onboard.js';
import { provisionerService } from './provisioner.js';
import { publishProvisioning, sha256File } from './provisioning.js';

/** The seed's configuration (`rackseed seed --config FILE`, YAML). */
export interface SeedConfig {
  /** The cluster's name. */
  cluster: string;
  /** This server's node name (default `seed`). */
  name?: string;
  dataDir: string;
  provisioning: { interface: string; subnet: string; range: string; httpPort?: number; enrollPort?: number };
  /** What nodes netboot: a directory with the kernel and the initrd (`make image`). */
  image: { dir: string; kernel: string; initrd: string; cmdline?: string };
  bmc: { cidr: string; port?: number; factory: BmcCredential[]; rescanSeconds?: number };
  enrollment?: { autoAccept?: boolean };
  leaseTtl?: number;
  /** The service catalog every node runs. */
  services?: EnrollmentGrant['services'];
  /** The seed and every node take part in Ceph (an OSD each, monitors on three of them) and run the cloud over it. */
  ceph?: boolean;
  /**
   * Ceph options added to the ceph.conf of the seed and every node, beyond rackseed's own (which
   * they may not change): the lab gives its health thresholds here (bootstrap/lab).
   */
  cephConfig?: Record<string, string>;
  /** The URL the cloud's API advertises (a VIP, or the lab gateway); default: each node's own address. */
  publicUrl?: string;
}

/** One line of the seed's progress. */
export interface SeedEvent {
  readonly time: string;
  readonly type: string;
  readonly node?: string;
  readonly detail?: string;
}

export interface Seed {
  readonly agent: Agent;
  stop(): Promise<void>;
}

export class SeedError extends RackseedError {
  constructor(code: 'SEED_ERR_NETWORK_TAKEN', message: string) {
    super(code, message);
  }
}

/** Throws SEED_ERR_NETWORK_TAKEN when a DHCP server answers on the provisioning network. */
async function refuseProvisionedNetwork(prov: SeedConfig['provisioning']): Promise<void> {
  const mac = networkInterfaces()[prov.interface]?.find((a) => a.family === 'IPv4')?.mac ?? '02:00:00:00:00:01';
  const servers = await dhcpServersOn({ subnet: prov.subnet, mac, timeoutMs: 1_500 });
  if (servers.length > 0) {
    throw new SeedError(
      'SEED_ERR_NETWORK_TAKEN',
      `a DHCP server already answers on ${prov.subnet} (${servers.join(', ')}): another cluster provisions this network; netboot this server to join it, or give the seed a network of its own`,
    );
  }
}

/** The seed server's SMBIOS GUID, when it can be read (a BMC reports the same one). */
function ownGuid(): { guid?: string } {
  try {
    return { guid: machineGuid(process.env) };
  } catch {
    return {};
  }
}

/**
 * Runs the seed: the cluster's identity, the seed's own agent (which starts etcd's first
 * member), and the provisioning record in etcd, from which the provisioner singleton (held by
 * the seed first, by another node after the seed's death) serves netboot and enrollment and
 * takes charge of the BMCs it finds. Each node's progress goes to `onEvent` as its node machine
 * moves, and the provisioner's events while the seed holds it.
 */
export async function runSeed(
  config: SeedConfig,
  onEvent: (event: SeedEvent) => void,
  cloud?: CloudServices,
  cephConnect?: CephConnect,
): Promise<Seed> {
  const emit = (type: string, node?: string, detail?: string) =>
    onEvent({ time: new Date().toISOString(), type, ...(node ? { node } : {}), ...(detail ? { detail } : {}) });
  const dataDir = resolve(config.dataDir);
  const name = config.name ?? 'seed';
  const prov = config.provisioning;
  const leaseTtl = config.leaseTtl ?? 3;
  const services = config.services ?? [];
  const seedIp = interfaceAddress(prov.interface, prov.subnet);
  // A new cluster only where nobody provisions yet (a seed restarted on its own state goes on).
  if (!existsSync(join(dataDir, 'cluster', 'identity.json'))) await refuseProvisionedNetwork(prov);
  const identity = await ensureIdentity(join(dataDir, 'cluster'), config.cluster);
  emit('seed.identity', name, `cluster ${identity.name} ${identity.id}, CA ${identity.caFingerprint}`);
  // The seed's own node certificate, from its CA (a node gets its own at enrollment).
  const tls = new NodeTls(join(dataDir, 'tls'));
  await ensureNodeCertificate(identity.ca, tls, name, [seedIp]);
  await ensureApiCertificate(identity.ca, tls, apiHosts(config.publicUrl, [seedIp]), NODE_CERT_DAYS);
  // etcd enforces a revocation list from its first start (the provisioner publishes the
  // cluster's in etcd; the agent follows it from there).
  if (!tls.read().crl) tls.storeCrl(await identity.ca.revocationList([]));

  // The seed serves its configuration's image: links to it, checked like any node's copy.
  const filesDir = join(dataDir, 'netboot', 'files');
  mkdirSync(filesDir, { recursive: true });
  const sha256: Record<string, string> = {};
  for (const file of [config.image.kernel, config.image.initrd]) {
    if (!existsSync(join(filesDir, file))) symlinkSync(resolve(config.image.dir, file), join(filesDir, file));
    sha256[file] = await sha256File(join(filesDir, file));
  }

  const agent = await startAgent(
    {
      name,
      etcd: [`https://${seedIp}:2379`],
      dataDir: join(dataDir, 'agent'),
      clusterKey: identity.clusterKey,
      tls,
      etcdHost: seedIp,
      listen: `${seedIp}:${AGENT_PORT}`,
      etcdBootstrap: true,
      ...(config.ceph ? { cephHost: seedIp, ...(cephConnect ? { cephConnect } : {}) } : {}),
      ...(config.ceph && config.cephConfig ? { cephConfig: config.cephConfig } : {}),
      leaseTtl,
      log: (message) => emit('seed.agent', name, message),
    },
    [
      provisionerService({
        clusterKey: identity.clusterKey,
        filesDir,
        pkiDir: join(dataDir, 'netboot', 'pki'),
        interface: prov.interface,
        onEvent: (e) => emit(e.type, e.node, e.detail),
      }),
      ...services.map((s) => commandService(s.name, s.placement, s.command)),
      ...(config.ceph && cloud
        ? await cloud({
            adminPasswordFile: join(identity.dir, 'admin-password'),
            credentialKeyFile: writeDerivedSecret(
              identity.clusterKey,
              'api-credential-key',
              join(identity.dir, 'api-credential.key'),
            ),
            ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
          })
        : []),
    ],
    new IpmiPowerDriver(),
  );
  const store = agent.store;
  emit('seed.etcd', name, `etcd at https://${seedIp}:2379`);
  // The seed's certificates are renewed and revoked like any node's.
  await recordCertificate(store, name, tls.read().cert);
  await recordCertificate(store, name, tls.readApi().cert, 'api');
  // Ceph's identity under the seed's fsid, sealed in etcd; the Ceph keeper of the nodes builds on it.
  await ensureCephIdentity(store, identity.clusterKey, identity.cephFsid);
  await publishProvisioning(store, identity.clusterKey, {
    cluster: { id: identity.id, name: identity.name },
    seed: { name, ...ownGuid() },
    network: {
      subnet: prov.subnet,
      range: prov.range,
      httpPort: prov.httpPort ?? 8080,
      enrollPort: prov.enrollPort ?? 8443,
    },
    image: {
      kernel: config.image.kernel,
      initrd: config.image.initrd,
      cmdline: config.image.cmdline ?? 'console=ttyS0',
      sha256,
    },
    bmc: {
      cidr: config.bmc.cidr,
      port: config.bmc.port ?? 623,
      factory: config.bmc.factory,
      rescanSeconds: config.bmc.rescanSeconds ?? 30,
    },
    autoAccept: config.enrollment?.autoAccept ?? true,
    ca: {
      certPem: identity.caCertPem,
      keyPem: identity.ca.sealedKeyPem,
      fingerprint: identity.caFingerprint,
    },
    grant: {
      leaseTtl,
      services,
      ceph: config.ceph ?? false,
      ...(config.cephConfig ? { cephConfig: config.cephConfig } : {}),
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    },
  });

  // Progress: every transition of every node machine.
  const seen = new Map<string, string>();
  const progress = await PrefixView.open(store, keys.nodeMachines, (_key, _previous, current) => {
    if (!current) return;
    const envelope = parseJson<{ snapshot: { value: unknown; context: { name: string } } }>(current);
    const state = JSON.stringify(envelope.snapshot.value).replace(/"/g, '');
    const node = envelope.snapshot.context.name;
    if (seen.get(node) !== state) emit('node.state', node, `${seen.get(node) ?? '(new)'} → ${state}`);
    seen.set(node, state);
  });

  return {
    agent,
    stop: async () => {
      await progress.close();
      await agent.stop();
    },
  };
}
