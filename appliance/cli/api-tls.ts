import { createPrivateKey, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeTls } from '../../agent/index.js';
import { CliUsageError } from './errors.js';
import { loadAgent } from './cluster.js';

/**
 * The public API's TLS (`cloud serve`): the certificate and key it serves with, and the CA file
 * its clients trust (clouds.yaml's `cacert`), as Keystone's public endpoint behind Kolla's
 * HAProxy has. By default the certificate comes from a CA the cloud has:
 * - a cluster node serves the API certificate its node got with its node certificate (from the
 *   cluster CA at enrollment; the seed's from its own CA): the public URL's host and the node's
 *   address, for the node's own key (agent/pki.ts says why each node has its own);
 * - one machine (`--data-dir`) makes a CA of its own in its data dir the first time (`ca/`) and a
 *   certificate from it (`tls/api.crt`) for 127.0.0.1, localhost and the public URL's host.
 * An operator's certificate (`--api-cert`, `--api-key`) replaces either; its CA is the
 * operator's, known to their clients (clouds.yaml then names none).
 */
export interface ApiTls {
  readonly cert: string;
  readonly key: string;
  /** The CA certificate's file, for clouds.yaml's `cacert` (0644: not secret); none for an operator's certificate. */
  readonly caFile: string | undefined;
  /** The files the certificate comes from, which the server follows (the CA renews a node's); none for an operator's. */
  readonly files: NodeTls | undefined;
}

/** How long the certificate of a one-machine cloud lasts; a start with less than a third of it left makes a new one. */
const EMBEDDED_CERT_DAYS = 825;

/** The operator's certificate (PEM, the chain after it) and its key, checked to belong together. */
async function operatorTls(certFile: string, keyFile: string): Promise<ApiTls> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new CliUsageError(`cannot read the API's ${what} ${file}: ${(error as NodeJS.ErrnoException).code}`);
    }
  };
  const [cert, key] = await Promise.all([read(certFile, 'certificate'), read(keyFile, 'key')]);
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (error) {
    throw new CliUsageError(
      `--api-cert ${certFile} and --api-key ${keyFile} must be PEM (a certificate, then its chain; an unencrypted key): ${(error as Error).message}`,
    );
  }
  if (!matches) throw new CliUsageError(`--api-key ${keyFile} is not the key of --api-cert ${certFile}`);
  return { cert, key, caFile: undefined, files: undefined };
}

/** Addresses that mean "every interface": no client dials them. */
const WILDCARD = new Set(['0.0.0.0', '::']);

/**
 * The API's TLS: the operator's (`operator`: a certificate and a key file), else the node's
 * (`node`: a cluster node's credentials), else a one-machine cloud's own in `dataDir`, valid for
 * `publicUrl`'s host, the address it listens on (`host`), 127.0.0.1 and localhost.
 */
export async function apiTls(options: {
  operator: { certFile: string; keyFile: string } | undefined;
  node?: NodeTls;
  dataDir?: string;
  publicUrl: string;
  host: string;
}): Promise<ApiTls> {
  if (options.operator) return operatorTls(options.operator.certFile, options.operator.keyFile);
  const { apiHosts, CertificateAuthority, ensureApiCertificate, NodeTls } = await loadAgent();
  let tls = options.node;
  if (!tls) {
    const dataDir = options.dataDir ?? '';
    const caDir = join(dataDir, 'ca');
    // One machine has no cluster key: its CA key is sealed with a key of its own, kept 0600 in
    // the data dir beside the admin password (a copy of ca/ alone does not sign).
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const sealingKeyFile = join(dataDir, 'ca-sealing.key');
    if (!existsSync(sealingKeyFile)) writeFileSync(sealingKeyFile, randomBytes(32), { mode: 0o600 });
    // Named apart from any other one-machine cloud's CA that a client may trust too.
    const ca = await CertificateAuthority.ensure(
      caDir,
      `rackseed cloud CA ${randomUUID().slice(0, 8)}`,
      readFileSync(sealingKeyFile),
    );
    tls = new NodeTls(join(dataDir, 'tls'));
    const own = WILDCARD.has(options.host) ? [] : [options.host];
    const hosts = apiHosts(options.publicUrl, [...own, '127.0.0.1', 'localhost']);
    await ensureApiCertificate(ca, tls, hosts, EMBEDDED_CERT_DAYS);
  }
  return { ...tls.readApi(), caFile: tls.paths.ca, files: tls };
}
