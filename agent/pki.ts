import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, hkdfSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { childEnv } from './process/index.js';
import { type NodeTls, TlsError } from './tls.js';

/**
 * A certificate authority: the cluster's (the seed makes it with the cluster's identity; the
 * provisioner, wherever it runs, holds a copy to certify nodes and their APIs, renew node
 * certificates and revoke them), or a one-machine cloud's own (its API's certificate). Its
 * private key is sealed at rest: an encrypted PKCS#8 file whose passphrase is derived from a
 * sealing key (the cluster key) and given to openssl on its stdin, never on disk, argv or in an
 * environment. Certificates are issued for a public key whose private half stays with its owner.
 * Signing is openssl's (Node has no X.509 writer, and openssl is on every node).
 */
export class CertificateAuthority {
  static readonly FILES = { cert: 'ca.crt', key: 'ca.key' } as const;

  readonly #passphrase: string;

  private constructor(
    readonly dir: string,
    passphrase: string,
  ) {
    this.#passphrase = passphrase;
  }

  /** The CA in `dir` (ca.crt, ca.key), made there on first use: P-256, ten years, signing only node and server certificates. */
  static async ensure(dir: string, commonName: string, sealingKey: Buffer): Promise<CertificateAuthority> {
    const ca = new CertificateAuthority(dir, caKeyPassphrase(sealingKey));
    if (existsSync(join(dir, CertificateAuthority.FILES.cert))) return ca;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const sealed = privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: ca.#passphrase,
    });
    writeFileSync(join(dir, CertificateAuthority.FILES.key), sealed, { mode: 0o600 });
    await ca.#openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      join(dir, CertificateAuthority.FILES.key),
      '-passin',
      'stdin',
      '-out',
      join(dir, CertificateAuthority.FILES.cert),
      '-days',
      '3650',
      '-subj',
      `/O=rackseed/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return ca;
  }

  /** A copy of the CA (its certificate and sealed key, as the provisioning record carries them) written to `dir`. */
  static install(dir: string, pems: { certPem: string; keyPem: string }, sealingKey: Buffer): CertificateAuthority {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, CertificateAuthority.FILES.cert), pems.certPem);
    writeFileSync(join(dir, CertificateAuthority.FILES.key), pems.keyPem, { mode: 0o600 });
    return new CertificateAuthority(dir, caKeyPassphrase(sealingKey));
  }

  get certPem(): string {
    return readFileSync(join(this.dir, CertificateAuthority.FILES.cert), 'utf8');
  }

  /** The sealed key file's text (what the provisioning record carries, sealed once more). */
  get sealedKeyPem(): string {
    return readFileSync(join(this.dir, CertificateAuthority.FILES.key), 'utf8');
  }

  /** A certificate (PEM) for `request`: its subject, hosts, usage and owner's public key. */
  async issue(request: CertificateRequest): Promise<string> {
    const usage = request.usage === 'node' ? 'serverAuth,clientAuth' : 'serverAuth';
    return this.#sign(request.commonName, request.publicKey, request.days, [
      `subjectAltName=${request.hosts.map(subjectAltName).join(',')}`,
      `extendedKeyUsage=${usage}`,
      'keyUsage=critical,digitalSignature',
      'basicConstraints=critical,CA:FALSE',
    ]);
  }

  /**
   * A node certificate: subject and addresses are the CA's choice (the node's name and the
   * address it enrolled from), never taken from the node; usable to serve and to connect
   * (etcd peers do both).
   */
  async issueNode(request: NodeCertificateRequest): Promise<string> {
    if (!NAME.test(request.name) || request.addresses.length === 0 || request.addresses.some((a) => !IPV4.test(a))) {
      throw new TlsError(
        'TLS_ERR_BAD_NAME',
        `refusing to certify ${request.name} at ${request.addresses.join(', ')}: not a node name and IPv4 addresses`,
      );
    }
    const { name, addresses, publicKey } = request;
    return this.issue({
      commonName: name,
      hosts: [...addresses, name],
      publicKey,
      usage: 'node',
      days: NODE_CERT_DAYS,
    });
  }

  /**
   * A public OpenStack API's certificate. Each node's API has its own, for the node's own key
   * (the one its node certificate certifies), rather than one certificate and key shared by
   * every node: it is issued where the node certificate is (by the provisioner at enrollment, by
   * the seed for itself), so no private key ever travels, and it names the cloud's public URL's
   * host (a VIP, a DNS name, the lab gateway that relays TLS unchanged) and the node's own
   * address, so a client may reach the cloud or any one node. A server certificate only.
   */
  async issueApi(request: { hosts: readonly string[]; publicKey: string; days: number }): Promise<string> {
    return this.issue({ commonName: request.hosts[0] ?? 'api', usage: 'server', ...request });
  }

  /** The same node's certificate again, for the same name, addresses and key, valid from now. */
  async renew(certPem: string): Promise<string> {
    const cert = new X509Certificate(certPem);
    if (!cert.verify(new X509Certificate(this.certPem).publicKey)) {
      throw new TlsError('TLS_ERR_BAD_NAME', 'refusing to renew a certificate this CA did not issue');
    }
    return this.issueNode({
      name: commonName(cert),
      addresses: (cert.subjectAltName ?? '')
        .split(', ')
        .filter((entry) => entry.startsWith('IP Address:'))
        .map((entry) => entry.slice('IP Address:'.length)),
      publicKey: cert.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
  }

  /** The same public API certificate again (same hosts and key, same length of life), valid from now. */
  async renewApi(certPem: string): Promise<string> {
    const cert = new X509Certificate(certPem);
    if (!cert.verify(new X509Certificate(this.certPem).publicKey)) {
      throw new TlsError('TLS_ERR_BAD_NAME', 'refusing to renew a certificate this CA did not issue');
    }
    const hosts = (cert.subjectAltName ?? '')
      .split(', ')
      .map((entry) => /^(?:DNS:|IP Address:)(.+)$/.exec(entry)?.[1])
      .filter((host): host is string => host !== undefined);
    const days = Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000);
    return this.issueApi({
      hosts,
      publicKey: cert.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      days,
    });
  }

  /** A TLS server certificate and its key for `ip` (the provisioner's enrollment endpoint, which booting nodes dial). */
  async issueServer(ip: string): Promise<{ key: string; cert: string }> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    const cert = await this.issue({ commonName: ip, hosts: [ip], publicKey, usage: 'server', days: 825 });
    return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert };
  }

  /**
   * A certificate revocation list naming `serials` (hex), signed now. It is pushed to every
   * node through etcd rather than fetched, so it is made valid for a long time: freshness comes
   * from the push, and a lapsed list would make every TLS handshake fail.
   */
  async revocationList(serials: readonly string[]): Promise<string> {
    const work = mkdtempSync(join(this.dir, 'crl-'));
    try {
      const at = asn1Time(new Date());
      const index = [...new Set(serials.map((s) => s.toUpperCase()))]
        .map((serial) => `R\t491231235959Z\t${at}\t${serial}\tunknown\t/O=rackseed/CN=revoked\n`)
        .join('');
      writeFileSync(join(work, 'index.txt'), index);
      writeFileSync(join(work, 'crlnumber'), `${Date.now().toString(16).padStart(16, '0')}\n`);
      writeFileSync(
        join(work, 'ca.cnf'),
        [
          '[ca]',
          'default_ca = cluster',
          '[cluster]',
          `database = ${join(work, 'index.txt')}`,
          `crlnumber = ${join(work, 'crlnumber')}`,
          `certificate = ${join(this.dir, CertificateAuthority.FILES.cert)}`,
          `private_key = ${join(this.dir, CertificateAuthority.FILES.key)}`,
          'default_md = sha256',
          `default_crl_days = ${CRL_DAYS}`,
          '',
        ].join('\n'),
      );
      const out = join(work, 'crl.pem');
      await this.#openssl(['ca', '-config', join(work, 'ca.cnf'), '-gencrl', '-passin', 'stdin', '-out', out]);
      return readFileSync(out, 'utf8');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** The serials (hex, upper case) a revocation list names, once its signature by this CA is checked. */
  async revokedSerials(crlPem: string): Promise<string[]> {
    const work = mkdtempSync(join(this.dir, 'crl-'));
    try {
      writeFileSync(join(work, 'crl.pem'), crlPem);
      const text = await this.#openssl(
        [
          'crl',
          '-in',
          join(work, 'crl.pem'),
          '-CAfile',
          join(this.dir, CertificateAuthority.FILES.cert),
          '-noout',
          '-text',
        ],
        false,
      );
      return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1] as string);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  async #sign(subject: string, publicKey: string, days: number, extensions: readonly string[]): Promise<string> {
    const work = mkdtempSync(join(this.dir, 'issue-'));
    try {
      writeFileSync(join(work, 'subject.pub'), publicKey);
      writeFileSync(join(work, 'ext'), `${extensions.join('\n')}\n`);
      await this.#openssl([
        'x509',
        '-new',
        '-subj',
        `/O=rackseed/CN=${subject}`,
        '-force_pubkey',
        join(work, 'subject.pub'),
        '-CA',
        join(this.dir, CertificateAuthority.FILES.cert),
        '-CAkey',
        join(this.dir, CertificateAuthority.FILES.key),
        '-passin',
        'stdin',
        '-days',
        String(days),
        '-extfile',
        join(work, 'ext'),
        '-out',
        join(work, 'subject.crt'),
      ]);
      return readFileSync(join(work, 'subject.crt'), 'utf8');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** Runs openssl with the key's passphrase on its stdin (or nothing); its stdout. */
  #openssl(args: readonly string[], withPassphrase = true): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('openssl', args, { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', (error) =>
        reject(new TlsError('TLS_ERR_OPENSSL', `openssl ${args[0]} failed; is Debian's openssl installed?`, error)),
      );
      child.on('close', (code) =>
        code === 0
          ? resolve(stdout)
          : reject(new TlsError('TLS_ERR_OPENSSL', `openssl ${args[0]} failed (exit ${code}): ${stderr.trim()}`)),
      );
      child.stdin.end(withPassphrase ? `${this.#passphrase}\n` : '');
    });
  }
}

/** How long a node certificate is valid; the CA renews it when a third of that is left. */
export const NODE_CERT_DAYS = 90;
const CRL_DAYS = 3650;

/** What the CA certifies for a node: its name and the addresses its listeners are reached at. */
export interface NodeCertificateRequest {
  readonly name: string;
  readonly addresses: readonly string[];
  /** The node's public key (PEM, SPKI); the node keeps the private half. */
  readonly publicKey: string;
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

/** The passphrase sealing the CA key at rest: derived from the sealing key, so it is never stored. */
function caKeyPassphrase(sealingKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', sealingKey, 'rackseed', 'cluster CA key', 32)).toString('base64url');
}

/** True unless `certPem` is valid for every one of `hosts` and has more than a third of its life left. */
export function needsRenewal(certPem: string, hosts: readonly string[] = [], now = Date.now()): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const covers = (host: string) => {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    return isIP(bare) ? cert.checkIP(bare) !== undefined : cert.checkHost(bare, { subject: 'never' }) !== undefined;
  };
  return !hosts.every(covers) || now > to - (to - from) / 3;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The subjectAltName entry for a host (an IP address, IPv6 with or without brackets, or a DNS name). */
export function subjectAltName(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return `IP:${bare}`;
  if (DNS_NAME.test(bare)) return `DNS:${bare.toLowerCase()}`;
  throw new TlsError('TLS_ERR_BAD_NAME', `refusing to certify "${host}": not an IP address or a DNS name`);
}

/** The hosts a node's API certificate names: the public URL's (when there is one), then the node's addresses. */
export function apiHosts(publicUrl: string | undefined, addresses: readonly string[]): string[] {
  const hosts = [...(publicUrl ? [new URL(publicUrl).hostname] : []), ...addresses];
  return [...new Set(hosts.map((h) => h.replace(/^\[(.*)\]$/, '$1')))];
}

/**
 * Gives `tls` a certificate for the public API from `ca`, valid for `hosts`, unless it has one
 * for them with more than a third of its life left.
 */
export async function ensureApiCertificate(
  ca: CertificateAuthority,
  tls: NodeTls,
  hosts: readonly string[],
  days: number,
): Promise<void> {
  const publicKey = tls.publicKey();
  if (tls.apiIssued && !needsRenewal(tls.readApi().cert, hosts)) return;
  tls.storeApi({ ca: ca.certPem, cert: await ca.issueApi({ hosts, publicKey, days }) });
}

/** The CN of a certificate's subject. */
export function commonName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? '';
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** openssl's index.txt time: YYMMDDHHMMSSZ. */
function asn1Time(date: Date): string {
  return `${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`;
}
