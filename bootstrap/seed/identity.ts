import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCa, issueCertificate, type NodeTls, RackseedError } from '../../agent/index.js';
import { childEnv } from '../../agent/process/index.js';

const run = promisify(execFile);

/** The cluster's identity, created once by the seed and kept in its data directory. */
export interface ClusterIdentity {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  /** PEM of the cluster CA certificate; its private key is kept here and, sealed, in etcd (for the provisioner). */
  readonly caCertPem: string;
  /** `sha256:<hex>` of the CA certificate (DER): what a booting node checks the CA against. */
  readonly caFingerprint: string;
  /** 32 bytes that encrypt the cluster's secrets (BMC passwords) at rest in etcd. */
  readonly clusterKey: Buffer;
  /** The cloud's `admin` password. */
  readonly adminPassword: string;
  /** Ceph's fsid for the cluster's storage. */
  readonly cephFsid: string;
  /** Where the files are: ca.crt, ca.key, cluster.key, admin-password, identity.json. */
  readonly dir: string;
}

export class IdentityError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('SEED_ERR_IDENTITY', message, { cause });
  }
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000, env: childEnv() });
  } catch (error) {
    throw new IdentityError(`openssl ${args[0]} failed; is Debian's openssl installed?`, error);
  }
}

/** The `sha256:<hex>` fingerprint of a PEM certificate (over its DER bytes). */
export function certificateFingerprint(pem: string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')}`;
}

/**
 * Creates the cluster's identity in `dir` on the first run (a CA, a cluster key, the admin
 * password, the cluster and Ceph ids) and reads it back on later runs, so a restarted seed is
 * the same cluster. Secrets are written mode 0600.
 */
export async function ensureIdentity(dir: string, name: string): Promise<ClusterIdentity> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (f: string) => join(dir, f);
  if (!existsSync(file('identity.json'))) {
    const id = randomUUID();
    await createCa(dir, `rackseed cluster ${name} CA`);
    writeFileSync(file('cluster.key'), randomBytes(32), { mode: 0o600 });
    writeFileSync(file('admin-password'), `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
    // Written last: its presence means the identity is complete.
    writeFileSync(
      file('identity.json'),
      `${JSON.stringify({ id, name, createdAt: new Date().toISOString(), cephFsid: randomUUID() }, null, 2)}\n`,
    );
  }
  const meta = JSON.parse(readFileSync(file('identity.json'), 'utf8')) as {
    id: string;
    name: string;
    createdAt: string;
    cephFsid: string;
  };
  const caCertPem = readFileSync(file('ca.crt'), 'utf8');
  return {
    ...meta,
    caCertPem,
    caFingerprint: certificateFingerprint(caCertPem),
    clusterKey: readFileSync(file('cluster.key')),
    adminPassword: readFileSync(file('admin-password'), 'utf8').trim(),
    dir,
  };
}

/**
 * A TLS server certificate for `ip`, signed by the cluster CA whose ca.crt and ca.key are in
 * `dir` (for the provisioner's enrollment endpoint); made once, kept next to the CA.
 */
export async function ensureServerCertificate(
  identity: Pick<ClusterIdentity, 'dir'>,
  ip: string,
): Promise<{ key: string; cert: string }> {
  const key = join(identity.dir, `server-${ip}.key`);
  const cert = join(identity.dir, `server-${ip}.crt`);
  if (!existsSync(cert)) {
    const csr = join(identity.dir, `server-${ip}.csr`);
    const ext = join(identity.dir, `server-${ip}.ext`);
    await openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/O=rackseed/CN=${ip}`,
    ]);
    writeFileSync(ext, `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(identity.dir, 'ca.crt'),
      '-CAkey',
      join(identity.dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '825',
      '-extfile',
      ext,
    ]);
  }
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

/** How long a node certificate is valid; its agent renews it when a third of that is left. */
export const NODE_CERT_DAYS = 90;

/** What the CA certifies for a node: its name and the addresses its listeners are reached at. */
export interface NodeCertificateRequest {
  readonly name: string;
  readonly addresses: readonly string[];
  /** The node's public key (PEM, SPKI); the node keeps the private half. */
  readonly publicKey: string;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * A node certificate signed by the cluster CA in `caDir` (ca.crt, ca.key): subject and
 * addresses are the CA's choice (the node's name and the address it enrolled from), never
 * taken from the node; usable to serve and to connect (etcd peers do both).
 */
export async function issueNodeCertificate(caDir: string, request: NodeCertificateRequest): Promise<string> {
  if (!NAME.test(request.name) || request.addresses.some((a) => !IPV4.test(a))) {
    throw new IdentityError(
      `refusing to certify ${request.name} at ${request.addresses.join(', ')}: not a node name and IPv4 addresses`,
    );
  }
  return issueCertificate(caDir, {
    commonName: request.name,
    hosts: [...request.addresses, request.name],
    publicKey: request.publicKey,
    usage: 'node',
    days: NODE_CERT_DAYS,
  });
}

/**
 * Gives `tls` (the seed's own credentials) a certificate from the CA in `identity.dir`, unless
 * it has one for the same name and addresses with more than a third of its life left.
 */
export async function ensureNodeCertificate(
  identity: Pick<ClusterIdentity, 'dir' | 'caCertPem'>,
  tls: NodeTls,
  name: string,
  addresses: readonly string[],
): Promise<void> {
  const publicKey = tls.publicKey();
  if (tls.issued && !needsRenewal(tls.read().cert, name, addresses)) return;
  tls.store({ ca: identity.caCertPem, cert: await issueNodeCertificate(identity.dir, { name, addresses, publicKey }) });
}

/** True when `certPem` does not name `name` and `addresses`, or has less than a third of its life left. */
export function needsRenewal(certPem: string, name: string, addresses: readonly string[], now = Date.now()): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const wanted = [...addresses.map((a) => `IP Address:${a}`), `DNS:${name}`].sort().join(', ');
  const named = (cert.subjectAltName ?? '').split(', ').sort().join(', ');
  return named !== wanted || now > to - (to - from) / 3;
}
