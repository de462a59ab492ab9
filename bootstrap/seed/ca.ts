import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, hkdfSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RackseedError } from '../../agent/errors/index.js';
import { childEnv } from '../../agent/process/index.js';

/**
 * The cluster's certificate authority: the seed makes it with the cluster's identity; the
 * provisioner (wherever it runs) holds a copy to certify nodes, renew their certificates and
 * revoke them. Its private key is sealed at rest: an encrypted PKCS#8 file whose passphrase is
 * derived from the cluster key and given to openssl on its stdin, never on disk, argv or in an
 * environment. Signing is openssl's (Node has no X.509 writer, and openssl is on every node).
 */
export class ClusterCa {
  static readonly FILES = { cert: 'ca.crt', key: 'ca.key' } as const;

  readonly #passphrase: string;

  private constructor(
    readonly dir: string,
    passphrase: string,
  ) {
    this.#passphrase = passphrase;
  }

  /** The CA in `dir` (ca.crt, ca.key), made there on first use: P-256, ten years, signing only node and server certificates. */
  static async ensure(dir: string, commonName: string, clusterKey: Buffer): Promise<ClusterCa> {
    const ca = new ClusterCa(dir, caKeyPassphrase(clusterKey));
    if (existsSync(join(dir, ClusterCa.FILES.cert))) return ca;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const sealed = privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: ca.#passphrase,
    });
    writeFileSync(join(dir, ClusterCa.FILES.key), sealed, { mode: 0o600 });
    await ca.#openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      join(dir, ClusterCa.FILES.key),
      '-passin',
      'stdin',
      '-out',
      join(dir, ClusterCa.FILES.cert),
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
  static install(dir: string, pems: { certPem: string; keyPem: string }, clusterKey: Buffer): ClusterCa {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, ClusterCa.FILES.cert), pems.certPem);
    writeFileSync(join(dir, ClusterCa.FILES.key), pems.keyPem, { mode: 0o600 });
    return new ClusterCa(dir, caKeyPassphrase(clusterKey));
  }

  get certPem(): string {
    return readFileSync(join(this.dir, ClusterCa.FILES.cert), 'utf8');
  }

  /** The sealed key file's text (what the provisioning record carries, sealed once more). */
  get sealedKeyPem(): string {
    return readFileSync(join(this.dir, ClusterCa.FILES.key), 'utf8');
  }

  /**
   * A node certificate: subject and addresses are the CA's choice (the node's name and the
   * address it enrolled from), never taken from the node; usable to serve and to connect
   * (etcd peers do both).
   */
  async issueNode(request: NodeCertificateRequest): Promise<string> {
    if (!NAME.test(request.name) || request.addresses.length === 0 || request.addresses.some((a) => !IPV4.test(a))) {
      throw new CaError(
        'CA_ERR_REQUEST',
        `refusing to certify ${request.name} at ${request.addresses.join(', ')}: not a node name and IPv4 addresses`,
      );
    }
    const names = [...request.addresses.map((a) => `IP:${a}`), `DNS:${request.name}`].join(',');
    return this.#sign(request.name, request.publicKey, NODE_CERT_DAYS, [
      `subjectAltName=${names}`,
      'extendedKeyUsage=serverAuth,clientAuth',
      'keyUsage=critical,digitalSignature',
      'basicConstraints=critical,CA:FALSE',
    ]);
  }

  /** The same node's certificate again, for the same name, addresses and key, valid from now. */
  async renew(certPem: string): Promise<string> {
    const cert = new X509Certificate(certPem);
    if (!cert.verify(new X509Certificate(this.certPem).publicKey)) {
      throw new CaError('CA_ERR_REQUEST', 'refusing to renew a certificate this CA did not issue');
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

  /** A TLS server certificate and its key for `ip` (the provisioner's enrollment endpoint, which booting nodes dial). */
  async issueServer(ip: string): Promise<{ key: string; cert: string }> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    const cert = await this.#sign(ip, publicKey, 825, [`subjectAltName=IP:${ip}`, 'extendedKeyUsage=serverAuth']);
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
          `certificate = ${join(this.dir, ClusterCa.FILES.cert)}`,
          `private_key = ${join(this.dir, ClusterCa.FILES.key)}`,
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
        ['crl', '-in', join(work, 'crl.pem'), '-CAfile', join(this.dir, ClusterCa.FILES.cert), '-noout', '-text'],
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
        join(this.dir, ClusterCa.FILES.cert),
        '-CAkey',
        join(this.dir, ClusterCa.FILES.key),
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
        reject(new CaError('CA_ERR_OPENSSL', `openssl ${args[0]} failed; is Debian's openssl installed?`, error)),
      );
      child.on('close', (code) =>
        code === 0
          ? resolve(stdout)
          : reject(new CaError('CA_ERR_OPENSSL', `openssl ${args[0]} failed (exit ${code}): ${stderr.trim()}`)),
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

export class CaError extends RackseedError {
  constructor(code: 'CA_ERR_REQUEST' | 'CA_ERR_OPENSSL', message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

/** The passphrase sealing the CA key at rest: derived from the cluster key, so it is never stored. */
export function caKeyPassphrase(clusterKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', clusterKey, 'rackseed', 'cluster CA key', 32)).toString('base64url');
}

/** True when `certPem` has less than a third of its life left at `now`. */
export function needsRenewal(certPem: string, now = Date.now()): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return now > to - (to - from) / 3;
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
