import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import {
  type Agent,
  AGENT_PORT,
  type CephConnect,
  cephRoles,
  commandService,
  NodeTls,
  type OsdDiskPolicy,
  RackseedError,
  type ServiceSpec,
  startAgent,
  writeDerivedSecret,
} from '../../agent/index.js';
import { IpmiPowerDriver } from '../ipmi/index.js';
import { stepClock } from './clock.js';
import { enroll, type EnrollmentGrant } from './enroll-http.js';
import { provisionerService } from './provisioner.js';
import { canServeNetboot, copyImage, hasImage } from './provisioning.js';

/** What the seed's boot script put on the kernel command line for this node. */
export interface BootParameters {
  readonly enrollUrl: string;
  readonly caFingerprint: string;
  readonly caUrl: string;
  readonly mac: string;
  readonly token: string;
}

export class NodeBootError extends RackseedError {
  constructor(message: string) {
    super('NODE_BOOT_ERR_CMDLINE', message);
  }
}

/** Reads `rackseed.*` parameters from a kernel command line. */
export function parseBootCmdline(cmdline: string): BootParameters {
  const params = new Map<string, string>();
  for (const word of cmdline.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (word.startsWith('rackseed.') && eq > 0) params.set(word.slice(9, eq), word.slice(eq + 1));
  }
  const need = (key: string) => {
    const value = params.get(key);
    if (!value)
      throw new NodeBootError(
        `the kernel command line has no rackseed.${key}=; was this node booted by a rackseed seed?`,
      );
    return value;
  };
  return {
    enrollUrl: need('enroll'),
    caFingerprint: need('ca'),
    caUrl: need('ca-url'),
    mac: need('mac').toLowerCase(),
    token: need('token'),
  };
}

/** The IPv4 address of the interface with `mac` (the one the node netbooted from). */
function addressOf(mac: string): string {
  for (const addresses of Object.values(networkInterfaces())) {
    const found = addresses?.find((a) => a.mac.toLowerCase() === mac && a.family === 'IPv4');
    if (found) return found.address;
  }
  throw new NodeBootError(`no IPv4 address on the interface with MAC ${mac}`);
}

/**
 * The cloud's services (the API, the database master candidates), which the CLI makes: bootstrap/
 * cannot depend on appliance/. They run on every node that takes part in Ceph, over it; given the
 * URL the API advertises (default: the node's) and, on the seed only, the file holding the cloud's
 * admin password, with which the seed's API bootstraps the cloud (a node's grant carries none).
 */
export type CloudServices = (cloud: {
  adminPasswordFile?: string;
  /** The API's credential key (derived from the cluster key, the same on every node), as a 0600 file. */
  credentialKeyFile: string;
  publicUrl?: string;
}) => Promise<readonly ServiceSpec[]>;

/**
 * A netbooted node's start: enrolls with the provisioner (once; the grant is kept, 0600, in the
 * data directory, so a restart does not need the single-use token again), then runs the agent
 * with the grant's cluster, catalog and key, this node's address for its etcd member (and its
 * Ceph daemons and `cloud` services, when the grant says the cluster runs Ceph and this machine
 * has Ceph; its OSD on the disk `osdDisk` names, else on a sparse file), and the provisioner
 * when it can serve netboot.
 */
export async function bootNode(options: {
  cmdline: string;
  guid: string;
  dataDir: string;
  log: (line: string) => void;
  cloud?: CloudServices;
  /** How the agent reaches the Ceph monitors (librados, which bootstrap/ cannot depend on). */
  cephConnect?: CephConnect;
  /** Step this machine's clock to its boot server's first (the netboot image; never a lab node in a namespace). */
  setClock?: boolean;
  /** The netboot image's /init says `auto` (RACKSEED_OSD_DISK); lab nodes in namespaces never set it. */
  osdDisk?: OsdDiskPolicy;
}): Promise<Agent> {
  const boot = parseBootCmdline(options.cmdline);
  if (options.setClock) {
    const timeUrl = new URL('/time', boot.caUrl).href;
    try {
      const { before, after, rttMs } = await stepClock(timeUrl);
      options.log(
        `clock: ${before.toFixed(0)} ms off ${timeUrl}, ${after.toFixed(0)} ms after the step (round trip ${rttMs} ms)`,
      );
    } catch (error) {
      options.log(`clock: not set from ${timeUrl}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const grantFile = join(options.dataDir, 'grant.json');
  const tls = new NodeTls(join(options.dataDir, 'tls'));
  let grant: EnrollmentGrant;
  if (existsSync(grantFile) && tls.issued) {
    grant = JSON.parse(readFileSync(grantFile, 'utf8')) as EnrollmentGrant;
    options.log(`enrolled before as ${grant.name}`);
  } else {
    grant = await enroll({
      url: boot.enrollUrl,
      caUrl: boot.caUrl,
      caFingerprint: boot.caFingerprint,
      token: boot.token,
      mac: boot.mac,
      guid: options.guid,
      publicKey: tls.publicKey(),
      onWait: (why) => options.log(why),
    });
    tls.store({ ca: grant.ca, cert: grant.certificate });
    tls.storeCrl(grant.crl);
    tls.storeApi({ ca: grant.ca, cert: grant.apiCertificate });
    writeFileSync(grantFile, JSON.stringify(grant), { mode: 0o600 });
    options.log(`enrolled as ${grant.name} in cluster ${grant.cluster.name}`);
  }
  const provisioner = await provisionerCandidate(grant, boot, options.dataDir, options.log);
  const ceph = grant.ceph === true && cephRoles().osd;
  if (grant.ceph && !ceph) options.log('not taking part in Ceph: no ceph-osd here');
  let cloud: readonly ServiceSpec[] = [];
  if (ceph && options.cloud) {
    cloud = await options.cloud({
      credentialKeyFile: writeDerivedSecret(
        Buffer.from(grant.clusterKey, 'base64'),
        'api-credential-key',
        join(options.dataDir, 'api-credential.key'),
      ),
      ...(grant.publicUrl ? { publicUrl: grant.publicUrl } : {}),
    });
  }
  return startAgent(
    {
      name: grant.name,
      etcd: grant.etcd,
      dataDir: join(options.dataDir, 'agent'),
      clusterKey: Buffer.from(grant.clusterKey, 'base64'),
      tls,
      etcdHost: addressOf(boot.mac),
      listen: `${addressOf(boot.mac)}:${AGENT_PORT}`,
      ...(ceph
        ? { cephHost: addressOf(boot.mac), ...(options.cephConnect ? { cephConnect: options.cephConnect } : {}) }
        : {}),
      ...(ceph && options.osdDisk ? { osdDisk: options.osdDisk } : {}),
      ...(ceph && grant.cephConfig ? { cephConfig: grant.cephConfig } : {}),
      leaseTtl: grant.leaseTtl,
      log: options.log,
    },
    [...provisioner, ...grant.services.map((s) => commandService(s.name, s.placement, s.command)), ...cloud],
    new IpmiPowerDriver(),
  );
}

/**
 * The provisioner, when this node can hold it: it can serve netboot (Debian's iPXE and radvd)
 * and keeps a copy of the image, made from the HTTP boot server it booted from (the one that
 * serves the CA certificate), so it can take over once the seed is gone.
 */
async function provisionerCandidate(
  grant: EnrollmentGrant,
  boot: BootParameters,
  dataDir: string,
  log: (line: string) => void,
): Promise<ServiceSpec[]> {
  if (!grant.image || !canServeNetboot()) {
    log('not a provisioner candidate: no netboot image in the grant, or no iPXE binaries and radvd here');
    return [];
  }
  const filesDir = join(dataDir, 'netboot', 'files');
  try {
    if (!(await hasImage(filesDir, grant.image))) await copyImage(new URL('.', boot.caUrl).href, filesDir, grant.image);
  } catch (error) {
    log(`not a provisioner candidate: ${error instanceof Error ? error.message : String(error)}`);
    return [];
  }
  return [
    provisionerService({
      clusterKey: Buffer.from(grant.clusterKey, 'base64'),
      filesDir,
      pkiDir: join(dataDir, 'netboot', 'pki'),
      onEvent: (e) => log(`provisioner: ${e.type}${e.node ? ` ${e.node}` : ''}${e.detail ? `  ${e.detail}` : ''}`),
    }),
  ];
}

/** This machine's SMBIOS GUID as 32 hex digits (lab nodes get it in RACKSEED_GUID from their firmware). */
export function machineGuid(env: NodeJS.ProcessEnv): string {
  if (env.RACKSEED_GUID) return env.RACKSEED_GUID.toLowerCase();
  return readFileSync('/sys/class/dmi/id/product_uuid', 'utf8').trim().replace(/-/g, '').toLowerCase();
}
