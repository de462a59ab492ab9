import { spawn } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { keys, type NodeCertificates } from './keys.js';
import { childEnv } from './process/index.js';
import type { Entry, Store } from './store/store.js';
import { parseJson } from './store/store.js';
import { PrefixView } from './store/view.js';
import type { NodeTls } from './tls.js';

/**
 * Keeps a node's TLS files current from etcd: the certificates the provisioner renewed for it
 * (keys.pkiCert: the node's and its public API's) and the cluster's revocation list (keys.pkiCrl). Any node can write those
 * keys, so nothing is taken on trust: a certificate is stored only if the cluster CA signed it,
 * it names this node, it certifies this node's own key and it lasts at least as long as the one in use; a list
 * only if the CA signed it (openssl checks; a bad list in the files would fail every handshake).
 */
export class CertificateFollower {
  private constructor(private readonly views: readonly PrefixView[]) {}

  static async open(
    store: Store,
    name: string,
    tls: NodeTls,
    log: (message: string) => void,
  ): Promise<CertificateFollower> {
    const onCert = (entry: Entry | undefined) => {
      if (!entry) return;
      try {
        const record = parseJson<NodeCertificates>(entry);
        const newest = record.certs.at(-1);
        if (newest && acceptCertificate(tls, name, newest)) {
          tls.store({ ca: tls.read().ca, cert: newest });
          log(`node certificate renewed: valid until ${new X509Certificate(newest).validTo}`);
        }
        const newestApi = record.api?.at(-1);
        if (newestApi && tls.apiIssued && acceptApiCertificate(tls, newestApi)) {
          tls.storeApi({ ca: tls.read().ca, cert: newestApi });
          log(`API certificate renewed: valid until ${new X509Certificate(newestApi).validTo}`);
        }
      } catch (error) {
        log(`ignoring ${entry.key}: ${String(error)}`);
      }
    };
    let applied = '';
    const onCrl = (entry: Entry | undefined) => {
      if (!entry || entry.value === applied) return;
      const pem = entry.value;
      void signedByCa(tls.paths.ca, pem).then((signed) => {
        if (!signed) return log(`ignoring ${entry.key}: not a revocation list signed by the cluster CA`);
        if (pem === tls.read().crl) return;
        applied = pem;
        tls.storeCrl(pem);
        log('revocation list updated');
      });
    };
    const certView = await PrefixView.open(store, keys.pkiCert(name), (key, _previous, current) => {
      if (key === keys.pkiCert(name)) onCert(current);
    });
    const crlView = await PrefixView.open(store, keys.pkiCrl, (key, _previous, current) => {
      if (key === keys.pkiCrl) onCrl(current);
    });
    onCert(certView.entries.get(keys.pkiCert(name)));
    onCrl(crlView.entries.get(keys.pkiCrl));
    return new CertificateFollower([certView, crlView]);
  }

  async close(): Promise<void> {
    await Promise.all(this.views.map((view) => view.close()));
  }
}

/** Whether `pem` is a certificate this node should take in place of its own (see CertificateFollower). */
function acceptCertificate(tls: NodeTls, name: string, pem: string): boolean {
  const offered = new X509Certificate(pem);
  return offered.checkHost(name, { subject: 'never' }) !== undefined && replaces(tls, offered, tls.read().cert);
}

/**
 * Whether `pem` should replace this node's public API certificate: the names it gives are the
 * CA's (the public URL's host and the node's address); that it is the CA's and for this node's key is checked.
 */
function acceptApiCertificate(tls: NodeTls, pem: string): boolean {
  return replaces(tls, new X509Certificate(pem), tls.readApi().cert);
}

/** Whether `offered` is the CA's, for this node's own key, another than `currentPem` and not older. */
function replaces(tls: NodeTls, offered: X509Certificate, currentPem: string): boolean {
  const { ca, key } = tls.read();
  const current = new X509Certificate(currentPem);
  const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' });
  return (
    offered.verify(new X509Certificate(ca).publicKey) &&
    spki(offered.publicKey).equals(spki(createPublicKey(key))) &&
    offered.serialNumber !== current.serialNumber &&
    Date.parse(offered.validTo) >= Date.parse(current.validTo) // never an older one back (validity is to the second)
  );
}

/** Whether openssl finds `crlPem` signed by the CA in `caFile`. */
function signedByCa(caFile: string, crlPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['crl', '-CAfile', caFile, '-noout'], { env: childEnv(), timeout: 10_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0 && /verify OK/.test(stderr)));
    child.stdin.end(crlPem);
  });
}
