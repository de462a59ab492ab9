import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority, type NodeTls, needsRenewal } from '../../agent/index.js';

/** The cluster's identity, created once by the seed and kept in its data directory. */
export interface ClusterIdentity {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  /** The cluster CA (its key sealed here and, sealed once more, in etcd for the provisioner). */
  readonly ca: CertificateAuthority;
  /** PEM of the cluster CA certificate. */
  readonly caCertPem: string;
  /** `sha256:<hex>` of the CA certificate (DER): what a booting node checks the CA against. */
  readonly caFingerprint: string;
  /** 32 bytes that encrypt the cluster's secrets (BMC passwords) at rest in etcd. */
  readonly clusterKey: Buffer;
  /** The cloud's `admin` password. */
  readonly adminPassword: string;
  /** Ceph's fsid for the cluster's storage. */
  readonly cephFsid: string;
  /** Where the files are: ca.crt, ca.key (sealed), cluster.key, admin-password, identity.json. */
  readonly dir: string;
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
    writeFileSync(file('cluster.key'), randomBytes(32), { mode: 0o600 });
    await CertificateAuthority.ensure(dir, `rackseed cluster ${name} CA`, readFileSync(file('cluster.key')));
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
  const clusterKey = readFileSync(file('cluster.key'));
  const ca = await CertificateAuthority.ensure(dir, `rackseed cluster ${meta.name} CA`, clusterKey);
  return {
    ...meta,
    ca,
    caCertPem: ca.certPem,
    caFingerprint: certificateFingerprint(ca.certPem),
    clusterKey,
    adminPassword: readFileSync(file('admin-password'), 'utf8').trim(),
    dir,
  };
}

/**
 * Gives `tls` (the seed's own credentials) a certificate from the cluster CA, unless it has one
 * valid for its name and addresses with more than a third of its life left.
 */
export async function ensureNodeCertificate(
  ca: CertificateAuthority,
  tls: NodeTls,
  name: string,
  addresses: readonly string[],
): Promise<void> {
  const publicKey = tls.publicKey();
  if (tls.issued && !needsRenewal(tls.read().cert, [...addresses, name])) return;
  tls.store({ ca: ca.certPem, cert: await ca.issueNode({ name, addresses, publicKey }) });
}
