import { X509Certificate } from 'node:crypto';
import {
  type CertificateAuthority,
  type CertificateKind,
  keys,
  type NodeCertificates,
  needsRenewal,
  parseJson,
  type Store,
} from '../../agent/index.js';

/**
 * Records a certificate the CA issued to a node (the provisioner's at enrollment, the seed's
 * own; `kind` says whether it is the node's or its public API's): the node's record keeps its
 * certificates still valid, the newest last, so that the keeper can renew the newest and
 * revoke them all. Compare-and-swap: two writers never lose one.
 */
export async function recordCertificate(
  store: Store,
  name: string,
  certPem: string,
  kind: CertificateKind = 'node',
  now = Date.now(),
): Promise<void> {
  const key = keys.pkiCert(name);
  const field = kind === 'node' ? 'certs' : 'api';
  for (;;) {
    const entry = await store.get(key);
    const record: NodeCertificates = entry ? parseJson<NodeCertificates>(entry) : { certs: [] };
    const valid = (record[field] ?? []).filter(
      (c) => c !== certPem && Date.parse(new X509Certificate(c).validTo) > now,
    );
    const value = JSON.stringify({ ...record, [field]: [...valid, certPem] } satisfies NodeCertificates);
    const compare = entry
      ? { key, target: 'mod' as const, value: entry.modRevision }
      : { key, target: 'create' as const, value: 0 };
    if (await store.txn([compare], [{ put: key, value }])) return;
  }
}

/** What the keeper did, for the provisioner's events. */
export type CertificateEvent =
  | { type: 'pki.renewed'; node: string; detail: string }
  | { type: 'pki.revoked'; node: string; detail: string }
  | { type: 'pki.failed'; node?: string; detail: string };

/**
 * The CA's duties besides enrollment, run by the provisioner (the holder of the CA's key):
 * renews every node and API certificate with a third of its life left (same name, addresses and key:
 * the node's private key never travels, so anyone may ask and only the node can use the
 * result), and revokes a removed node's certificates into the cluster's revocation list, which
 * only grows (merged with the signed list in force, so a forged request cannot un-revoke).
 */
export class CertificateKeeper {
  #timer: NodeJS.Timeout | undefined;
  #work: Promise<void> = Promise.resolve();
  #stopped = false;
  #unwatch: (() => Promise<void>) | undefined;

  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private readonly onEvent: (event: CertificateEvent) => void,
    private readonly options: { renewCheckMs?: number; now?: () => number } = {},
  ) {}

  /** Publishes the revocation list if there is none, then renews and revokes as needed until stopped. */
  async start(): Promise<void> {
    if (!(await this.store.get(keys.pkiCrl))) await this.#publishCrl([]);
    const handle = await this.store.watchPrefix(keys.pkiRevokes, {
      onChange: (change) => {
        if (change.type === 'put') this.#queue(() => this.#revoke(change.entry.key.slice(keys.pkiRevokes.length)));
      },
      onResync: (entries) => {
        for (const entry of entries) this.#queue(() => this.#revoke(entry.key.slice(keys.pkiRevokes.length)));
      },
    });
    this.#unwatch = () => handle.close();
    for (const entry of (await this.store.list(keys.pkiRevokes)).entries) {
      this.#queue(() => this.#revoke(entry.key.slice(keys.pkiRevokes.length)));
    }
    const tick = () => {
      this.#queue(() => this.renewDue());
      if (!this.#stopped) this.#timer = setTimeout(tick, this.options.renewCheckMs ?? 3_600_000);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const unwatch = this.#unwatch;
    this.#unwatch = undefined;
    await unwatch?.();
    await this.#work;
  }

  /** Renews the newest certificate of each kind of every node whose certificate has a third of its life left. */
  async renewDue(): Promise<void> {
    const now = this.options.now?.() ?? Date.now();
    for (const entry of (await this.store.list(keys.pkiCerts)).entries) {
      const node = entry.key.slice(keys.pkiCerts.length);
      const record = parseJson<NodeCertificates>(entry);
      for (const [kind, newest] of [
        ['node', record.certs.at(-1)],
        ['api', record.api?.at(-1)],
      ] as const) {
        if (!newest || !needsRenewal(newest, [], now)) continue;
        try {
          const renewed = kind === 'node' ? await this.ca.renew(newest) : await this.ca.renewApi(newest);
          await recordCertificate(this.store, node, renewed, kind, now);
          this.onEvent({
            type: 'pki.renewed',
            node,
            detail: `${kind === 'node' ? 'node' : 'API'} certificate valid until ${new X509Certificate(renewed).validTo}`,
          });
        } catch (error) {
          this.onEvent({ type: 'pki.failed', node, detail: `${kind} certificate renewal: ${String(error)}` });
        }
      }
    }
  }

  async #revoke(node: string): Promise<void> {
    const entry = await this.store.get(keys.pkiCert(node));
    const record = entry ? parseJson<NodeCertificates>(entry) : undefined;
    const serials = [...(record?.certs ?? []), ...(record?.api ?? [])].map((c) => new X509Certificate(c).serialNumber);
    await this.#publishCrl(serials);
    if (entry)
      await this.store.txn(
        [{ key: keys.pkiCert(node), target: 'mod', value: entry.modRevision }],
        [{ delete: keys.pkiCert(node) }],
      );
    await this.store.delete(keys.pkiRevoke(node));
    this.onEvent({
      type: 'pki.revoked',
      node,
      detail: `${serials.length} certificate(s): ${serials.join(', ') || 'none'}`,
    });
  }

  /**
   * Publishes a list naming `serials` and every serial of the list in force; refuses (an error
   * event, the list left as it is) when the list in force is not the CA's.
   */
  async #publishCrl(serials: readonly string[]): Promise<void> {
    const current = await this.store.get(keys.pkiCrl);
    const revoked = current ? await this.ca.revokedSerials(current.value) : [];
    if (current && serials.every((s) => revoked.includes(s.toUpperCase()))) return;
    await this.store.put(keys.pkiCrl, await this.ca.revocationList([...revoked, ...serials]));
  }

  #queue(task: () => Promise<void>): void {
    this.#work = this.#work
      .then(task)
      .catch((error: unknown) => this.onEvent({ type: 'pki.failed', detail: String(error) }));
  }
}
