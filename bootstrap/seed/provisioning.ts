import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { join } from 'node:path';
import { RackseedError } from '../../agent/errors/index.js';
import { installed, openRecord, sealRecord, type Store } from '../../agent/index.js';
import type { Lease, LeaseStore } from '../netboot/index.js';
import type { EnrollmentGrant } from './enroll-http.js';
import type { BmcCredential } from './onboard.js';

/**
 * What the provisioner needs, wherever it runs, kept in etcd: the provisioning record (sealed
 * with the cluster key: it holds the CA's private key, the BMCs' factory passwords and the
 * cloud's admin password), the DHCP leases, the enrollment tokens (enrollment.ts). The seed
 * writes the record; every holder of the provisioner reads it.
 */

export const PROVISIONING_KEYS = {
  record: '/rackseed/provisioning/record',
  leases: '/rackseed/provisioning/leases/',
};

/** The provisioning network, the image, the BMC network and what an enrollment grants. */
export interface ProvisioningRecord {
  readonly cluster: { readonly id: string; readonly name: string };
  /** The seed's node name and SMBIOS GUID: the BMC with that GUID is the seed's own, never powered on for netboot. */
  readonly seed: { readonly name: string; readonly guid?: string };
  readonly network: {
    readonly subnet: string;
    readonly range: string;
    readonly httpPort: number;
    readonly enrollPort: number;
  };
  /** The netboot image: file names, the kernel command line, and each file's sha256 (hex). */
  readonly image: NetbootImage & { readonly cmdline: string };
  readonly bmc: {
    readonly cidr: string;
    readonly port: number;
    readonly factory: readonly BmcCredential[];
    readonly rescanSeconds: number;
  };
  readonly autoAccept: boolean;
  /** The cluster CA, which signs each holder's enrollment endpoint. */
  readonly ca: { readonly certPem: string; readonly keyPem: string; readonly fingerprint: string };
  /** What every grant carries besides the node's name, the cluster, etcd and the cluster key. */
  readonly grant: Pick<EnrollmentGrant, 'leaseTtl' | 'services' | 'ceph' | 'cephConfig' | 'publicUrl'>;
}

/** The files a node netboots, with their sha256, which a copy is checked against. */
export interface NetbootImage {
  readonly kernel: string;
  readonly initrd: string;
  readonly sha256: Readonly<Record<string, string>>;
}

export class ProvisioningError extends RackseedError {
  constructor(code: 'PROVISION_ERR_IMAGE' | 'PROVISION_ERR_PKI', message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

export async function publishProvisioning(store: Store, clusterKey: Buffer, record: ProvisioningRecord): Promise<void> {
  await store.put(PROVISIONING_KEYS.record, sealRecord(clusterKey, PROVISIONING_KEYS.record, record));
}

/** The provisioning record, or undefined before the seed has written it. */
export async function readProvisioning(store: Store, clusterKey: Buffer): Promise<ProvisioningRecord | undefined> {
  const entry = await store.get(PROVISIONING_KEYS.record);
  return entry ? openRecord<ProvisioningRecord>(clusterKey, PROVISIONING_KEYS.record, entry.value) : undefined;
}

/** The DHCP leases in etcd, one key per MAC: the server that takes over answers from the same table. */
export class EtcdLeaseStore implements LeaseStore {
  constructor(private readonly store: Store) {}

  async load(): Promise<Lease[]> {
    const { entries } = await this.store.list(PROVISIONING_KEYS.leases);
    return entries.map((e) => JSON.parse(e.value) as Lease);
  }

  /** Resolves once etcd has committed it (a majority of members has it on disk). */
  save(lease: Lease): Promise<void> {
    return this.store.put(PROVISIONING_KEYS.leases + lease.mac, JSON.stringify(lease));
  }

  remove(mac: string): Promise<void> {
    return this.store.delete(PROVISIONING_KEYS.leases + mac);
  }
}

/** The sha256 (hex) of a file, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Whether `dir` holds the image's files, whole: each file's sha256 is the recorded one. */
export async function hasImage(dir: string, image: NetbootImage): Promise<boolean> {
  for (const file of [image.kernel, image.initrd]) {
    if (!existsSync(join(dir, file)) || (await sha256File(join(dir, file))) !== image.sha256[file]) return false;
  }
  return true;
}

/**
 * Copies the image's files from `filesUrl` (the HTTP boot server this node booted from) into
 * `dir`, each checked against its sha256 before it takes its name: a node keeps the image so
 * that it can serve netboot when it holds the provisioner.
 */
export async function copyImage(filesUrl: string, dir: string, image: NetbootImage): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of [image.kernel, image.initrd]) {
    const url = new URL(file, filesUrl.endsWith('/') ? filesUrl : `${filesUrl}/`);
    const part = join(dir, `${file}.part`);
    const hash = createHash('sha256');
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const body = Readable.fromWeb(response.body as WebReadableStream);
      body.on('data', (chunk: Buffer) => hash.update(chunk));
      await pipeline(body, createWriteStream(part));
    } catch (error) {
      await rm(part, { force: true });
      throw new ProvisioningError('PROVISION_ERR_IMAGE', `cannot copy ${url}: ${(error as Error).message}`, error);
    }
    const digest = hash.digest('hex');
    if (digest !== image.sha256[file]) {
      await rm(part, { force: true });
      throw new ProvisioningError(
        'PROVISION_ERR_IMAGE',
        `${url} has sha256 ${digest}, not the recorded ${image.sha256[file]}`,
      );
    }
    await rename(part, join(dir, file));
  }
}

/** Debian's iPXE binaries, which the provisioner serves over TFTP. */
export const IPXE_DIR = '/usr/lib/ipxe';

/**
 * Whether this machine can serve netboot: Debian's `ipxe` (the binaries PXE ROMs fetch) and
 * `radvd` (so iPXE does not wait for IPv6) are installed. The netboot image carries neither, so
 * nodes booted from it are not candidates for the provisioner.
 */
export function canServeNetboot(env: NodeJS.ProcessEnv = process.env): boolean {
  return existsSync(join(IPXE_DIR, 'undionly.kpxe')) && installed('radvd', env);
}
