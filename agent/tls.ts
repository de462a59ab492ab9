import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  type FSWatcher,
  mkdirSync,
  readFileSync,
  renameSync,
  watch,
  writeFileSync,
} from 'node:fs';
import type { ServerOptions } from 'node:https';
import type { Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import { Agent as Dispatcher } from 'undici';
import { RackseedError } from './errors/index.js';

/**
 * A node's TLS credentials, for mutual TLS on every internal plane (etcd's client and peer
 * traffic, the database master's RPC, the host service's API, the agent's endpoint): the
 * cluster CA's certificate, this node's certificate (issued by the CA at enrollment, naming the
 * node and its address) and the node's private key, made here and never sent anywhere. Servers
 * require a client certificate from the cluster CA; clients present theirs and check the
 * server's against the CA and the address they dial.
 *
 * Kept as files in one directory (`ca.crt`, `node.crt`, `node.key` mode 0600, and `crl.pem`,
 * the cluster's revocation list): a child process (etcd, the cloud's services) is given the
 * directory's path, never the key itself. The agent replaces the certificate when the CA renews
 * it and the list when the CA revokes a node (see CertificateFollower); servers started with
 * {@link NodeTls.serve} and clients from {@link NodeTls.dispatcher} take the new files at once.
 * `api.crt` certifies the same key for the public OpenStack API: a server-only certificate
 * naming the address clients use (the cloud's public URL's host) besides the node's. The API
 * asks its clients for a certificate from the cluster CA without requiring one (only its
 * `/metrics` needs one).
 */
export class NodeTls {
  static readonly FILES = { ca: 'ca.crt', cert: 'node.crt', key: 'node.key', crl: 'crl.pem', api: 'api.crt' } as const;
  #dispatcher: Dispatcher | undefined;
  #watcher: FSWatcher | undefined;
  readonly #listeners = new Set<(file: string) => void>();

  constructor(readonly dir: string) {}

  /** The files' paths. */
  get paths(): { ca: string; cert: string; key: string; crl: string; api: string } {
    return {
      ca: join(this.dir, NodeTls.FILES.ca),
      cert: join(this.dir, NodeTls.FILES.cert),
      key: join(this.dir, NodeTls.FILES.key),
      crl: join(this.dir, NodeTls.FILES.crl),
      api: join(this.dir, NodeTls.FILES.api),
    };
  }

  /** Whether a certificate has been issued to this node (the key alone is not enough). */
  get issued(): boolean {
    return existsSync(this.paths.cert) && existsSync(this.paths.key) && existsSync(this.paths.ca);
  }

  /** The PEMs (the revocation list once the node has one); a TLS_ERR_NO_CERTIFICATE error when the node has no certificate yet. */
  read(): { ca: string; cert: string; key: string; crl?: string } {
    if (!this.issued) {
      throw new TlsError(
        'TLS_ERR_NO_CERTIFICATE',
        `no node certificate in ${this.dir} (ca.crt, node.crt, node.key): a node gets one when it enrolls`,
      );
    }
    const { ca, cert, key, crl } = this.paths;
    return {
      ca: readFileSync(ca, 'utf8'),
      cert: readFileSync(cert, 'utf8'),
      key: readFileSync(key, 'utf8'),
      ...(existsSync(crl) ? { crl: readFileSync(crl, 'utf8') } : {}),
    };
  }

  /** Whether a certificate for the public API has been issued to this node's key. */
  get apiIssued(): boolean {
    return existsSync(this.paths.api) && existsSync(this.paths.key) && existsSync(this.paths.ca);
  }

  /** The public API's certificate (PEM, with its chain if any) and the key; TLS_ERR_NO_CERTIFICATE when there is none. */
  readApi(): { cert: string; key: string } {
    if (!this.apiIssued) {
      throw new TlsError(
        'TLS_ERR_NO_CERTIFICATE',
        `no API certificate in ${this.dir} (ca.crt, api.crt, node.key): a node gets one when it enrolls`,
      );
    }
    return { cert: readFileSync(this.paths.api, 'utf8'), key: readFileSync(this.paths.key, 'utf8') };
  }

  /**
   * For `https.createServer` (and Fastify's `https`): only clients with a certificate from the
   * cluster CA, not revoked, get through. Pass the server to {@link NodeTls.serve} so that it
   * follows renewals and revocations.
   */
  serverOptions(): ServerOptions {
    const { ca, cert, key, crl } = this.read();
    return {
      ca,
      cert,
      key,
      ...(crl ? { crl } : {}),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    };
  }

  /**
   * For the public API's server: its certificate and this node's key, TLS 1.2 or later. On a
   * cluster node (the directory holds a node certificate) it also asks every client for a
   * certificate from the cluster CA, checked against the revocation list, but lets those without
   * one (or with another) in: OpenStack's clients present none, and the API serves `/metrics` only
   * on a connection whose certificate passed (`TLSSocket.authorized`). One machine's API
   * (`cloud serve --data-dir`: its CA issues no client certificates) asks none.
   */
  apiServerOptions(): ServerOptions {
    const served = { ...this.readApi(), minVersion: 'TLSv1.2' as const };
    if (!this.issued) return served;
    const { ca, crl } = this.read();
    return { ...served, ca, ...(crl ? { crl } : {}), requestCert: true, rejectUnauthorized: false };
  }

  /**
   * Keeps `server` on the current files: a node listener (made with {@link NodeTls.serverOptions})
   * or the public API's (`'api'`, made with {@link NodeTls.apiServerOptions}) takes each
   * replaced certificate, CA or revocation list from its next handshake on.
   */
  serve(server: TlsServer, kind: 'node' | 'api' = 'node'): void {
    const stop = this.onChange(() => {
      try {
        server.setSecureContext(kind === 'node' ? this.serverOptions() : this.apiServerOptions());
      } catch {
        // A file caught half-replaced cannot be: the rename that completes it calls again.
      }
    });
    server.once('close', stop);
  }

  /**
   * Calls `listener` with the file's name ({@link NodeTls.FILES}) each time a certificate, the CA
   * or the revocation list is replaced (a renewal, a revocation), for clients that hold
   * credentials of their own (the etcd client); returns how to stop.
   */
  onChange(listener: (file: string) => void): () => void {
    this.#listeners.add(listener);
    this.#watch();
    return () => this.#listeners.delete(listener);
  }

  /**
   * An HTTP client (undici's `fetch` `dispatcher`) that presents this node's certificate and
   * trusts only the CA (and refuses revoked servers); a new one after a renewal or revocation.
   */
  dispatcher(): Dispatcher {
    if (!this.#dispatcher) {
      const { ca, cert, key, crl } = this.read();
      this.#dispatcher = new Dispatcher({ connect: { ca, cert, key, ...(crl ? { crl } : {}), minVersion: 'TLSv1.3' } });
      this.#watch();
    }
    return this.#dispatcher;
  }

  /** etcd3's `credentials` (gRPC over TLS with this node's certificate). */
  etcdCredentials(): { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer } {
    const { ca, cert, key } = this.read();
    return { rootCertificate: Buffer.from(ca), certChain: Buffer.from(cert), privateKey: Buffer.from(key) };
  }

  /**
   * This node's public key (PEM), for the CA to certify; the private key is made on first use
   * (P-256) and written 0600 here, where it stays.
   */
  publicKey(): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { key } = this.paths;
    if (!existsSync(key)) {
      const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      writeFileAtomic(key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    }
    chmodSync(key, 0o600);
    return createPublicKey(readFileSync(key, 'utf8')).export({ type: 'spki', format: 'pem' }).toString();
  }

  /** Stores what the CA issued for this node's key (a renewal replaces the certificate in one rename). */
  store(issued: { ca: string; cert: string }): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.paths.ca, issued.ca, 0o644);
    writeFileAtomic(this.paths.cert, issued.cert, 0o644);
  }

  /** Stores the cluster's revocation list (signed by the CA; the caller has checked it names this CA). */
  storeCrl(pem: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.paths.crl, pem, 0o644);
  }

  /** Stores the public API's certificate for this node's key (and the CA that issued it). */
  storeApi(issued: { ca: string; cert: string }): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.paths.ca, issued.ca, 0o644);
    writeFileAtomic(this.paths.api, issued.cert, 0o644);
  }

  /** Releases the HTTP client's connections and stops following the files. */
  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#listeners.clear();
    await this.#dispatcher?.close();
    this.#dispatcher = undefined;
  }

  /** Follows the directory: a replaced certificate, CA or list drops the cached client and tells the listeners. */
  #watch(): void {
    if (this.#watcher) return;
    const followed: ReadonlySet<string> = new Set([
      NodeTls.FILES.ca,
      NodeTls.FILES.cert,
      NodeTls.FILES.crl,
      NodeTls.FILES.api,
    ]);
    this.#watcher = watch(this.dir, (_event, file) => {
      if (file === null || !followed.has(file)) return;
      const old = this.#dispatcher;
      this.#dispatcher = undefined;
      void old?.close().catch(() => undefined);
      for (const listener of this.#listeners) listener(file);
    });
    this.#watcher.unref();
  }
}

function writeFileAtomic(file: string, text: string, mode: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode });
  renameSync(temporary, file);
}

export class TlsError extends RackseedError {
  constructor(
    code: 'TLS_ERR_NO_CERTIFICATE' | 'TLS_ERR_OPENSSL' | 'TLS_ERR_BAD_NAME',
    message: string,
    cause?: unknown,
  ) {
    super(code, message, { cause });
  }
}
