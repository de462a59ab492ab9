import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { childEnv } from './process/index.js';
import { type NodeTls, TlsError } from './tls.js';

/**
 * The certificate authority's operations, with Debian's openssl: a CA (the cluster's, made by
 * the seed; or a one-machine cloud's own), and certificates it signs for a public key whose
 * private half stays with its owner. Used by the seed and the provisioner (node and API
 * certificates at enrollment) and by `cloud serve --data-dir` (its API's certificate).
 */

const run = promisify(execFile);

/** Runs openssl; a TLS_ERR_OPENSSL error names the subcommand that failed. */
export async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000, env: childEnv() });
  } catch (error) {
    throw new TlsError('TLS_ERR_OPENSSL', `openssl ${args[0]} failed; is Debian's openssl installed?`, error);
  }
}

/** A new CA in `dir` (ca.crt, and ca.key 0600): P-256, ten years, for node and server certificates only. */
export async function createCa(dir: string, commonName: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '3650',
    '-subj',
    `/O=rackseed/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The subjectAltName entry for a host (an IP address, IPv6 with or without brackets, or a DNS name). */
export function subjectAltName(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return `IP:${bare}`;
  if (DNS_NAME.test(bare)) return `DNS:${bare.toLowerCase()}`;
  throw new TlsError('TLS_ERR_BAD_NAME', `refusing to certify "${host}": not an IP address or a DNS name`);
}

/** What a CA certifies: a subject, the hosts it is valid for, and whose key. */
export interface CertificateRequest {
  readonly commonName: string;
  /** IP addresses and DNS names (see {@link subjectAltName}). */
  readonly hosts: readonly string[];
  /** The owner's public key (PEM, SPKI); the owner keeps the private half. */
  readonly publicKey: string;
  /** `node`: serves and connects (mutual TLS on internal planes); `server`: serves only (the public API). */
  readonly usage: 'node' | 'server';
  readonly days: number;
}

/** A certificate (PEM) signed by the CA in `caDir` (ca.crt, ca.key). */
export async function issueCertificate(caDir: string, request: CertificateRequest): Promise<string> {
  const names = request.hosts.map(subjectAltName).join(',');
  const usage = request.usage === 'node' ? 'serverAuth,clientAuth' : 'serverAuth';
  const work = mkdtempSync(join(caDir, 'issue-'));
  try {
    writeFileSync(join(work, 'owner.pub'), request.publicKey);
    writeFileSync(
      join(work, 'ext'),
      `subjectAltName=${names}\nextendedKeyUsage=${usage}\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n`,
    );
    await openssl([
      'x509',
      '-new',
      '-subj',
      `/O=rackseed/CN=${request.commonName}`,
      '-force_pubkey',
      join(work, 'owner.pub'),
      '-CA',
      join(caDir, 'ca.crt'),
      '-CAkey',
      join(caDir, 'ca.key'),
      '-days',
      String(request.days),
      '-extfile',
      join(work, 'ext'),
      '-out',
      join(work, 'owner.crt'),
    ]);
    return readFileSync(join(work, 'owner.crt'), 'utf8');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** True unless `certPem` is valid for every one of `hosts` and has more than a third of its life left. */
export function needsRenewal(certPem: string, hosts: readonly string[], now = Date.now()): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const covers = (host: string) => {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    return isIP(bare) ? cert.checkIP(bare) !== undefined : cert.checkHost(bare, { subject: 'never' }) !== undefined;
  };
  return !hosts.every(covers) || now > to - (to - from) / 3;
}

/**
 * The public OpenStack API's certificates. Each node's API has its own, for the node's own key
 * (the one its node certificate certifies), rather than one certificate and key shared by every
 * node: it is issued where the node certificate is (by the provisioner at enrollment, by the seed
 * for itself), so no private key ever travels, and it names the node's own address besides the
 * cloud's public URL's host (a VIP, a DNS name, the lab gateway that relays TLS unchanged), so a
 * client may reach any one node directly as well as the cloud. It is a server certificate only.
 */
export async function issueApiCertificate(
  caDir: string,
  request: { hosts: readonly string[]; publicKey: string; days: number },
): Promise<string> {
  return issueCertificate(caDir, { commonName: request.hosts[0] ?? 'api', usage: 'server', ...request });
}

/** The hosts a node's API certificate names: the public URL's (when there is one), then the node's addresses. */
export function apiHosts(publicUrl: string | undefined, addresses: readonly string[]): string[] {
  const hosts = [...(publicUrl ? [new URL(publicUrl).hostname] : []), ...addresses];
  return [...new Set(hosts.map((h) => h.replace(/^\[(.*)\]$/, '$1')))];
}

/**
 * Gives `tls` a certificate for the public API from the CA in `caDir`, valid for `hosts`, unless
 * it has one for them with more than a third of its life left.
 */
export async function ensureApiCertificate(
  caDir: string,
  tls: NodeTls,
  hosts: readonly string[],
  days: number,
): Promise<void> {
  const publicKey = tls.publicKey();
  if (tls.apiIssued && !needsRenewal(tls.readApi().cert, hosts)) return;
  const cert = await issueApiCertificate(caDir, { hosts, publicKey, days });
  tls.storeApi({ ca: readFileSync(join(caDir, 'ca.crt'), 'utf8'), cert });
}
