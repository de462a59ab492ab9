import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RackseedError } from '../../agent/errors/index.js';
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
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-days',
      '3650',
      '-subj',
      `/O=rackseed/CN=rackseed cluster ${name} CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
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
