import { createPublicKey } from 'node:crypto';
import { request } from 'node:https';
import Fastify from 'fastify';
import { RackseedError } from '../../agent/errors/index.js';
import { type Enrollment, EnrollmentError } from './enrollment.js';
import { certificateFingerprint } from './identity.js';
import type { NetbootImage } from './provisioning.js';

/**
 * Enrollment over HTTPS. The seed serves `POST /v1/enroll` with a certificate signed by the
 * cluster CA. A booting node cannot know that CA yet, so its kernel command line (from the
 * per-MAC boot script) carries the CA's fingerprint: the node fetches the CA certificate over
 * plain HTTP, checks the fingerprint, and then trusts only that CA for the enrollment call,
 * which is where the cluster key travels. The node sends the public half of a key it made; the
 * grant carries its certificate (its name, the address it enrolled from), for mutual TLS on
 * every internal plane, and its public API's certificate for the same key.
 */

/** What an enrolled node needs to run its agent. */
export interface EnrollmentGrant {
  readonly name: string;
  /** The cluster CA's certificate (PEM): the only issuer the node trusts on internal planes. */
  readonly ca: string;
  /** The node's certificate (PEM) for the key it enrolled with. */
  readonly certificate: string;
  /** The cluster's certificate revocation list in force (PEM): the node's etcd member and listeners enforce it from the start. */
  readonly crl: string;
  /** Its public API's certificate (PEM) for the same key: the public URL's host and the node's address. */
  readonly apiCertificate: string;
  readonly cluster: { readonly id: string; readonly name: string };
  /** etcd client URLs to start from (the agent follows the membership afterwards). */
  readonly etcd: readonly string[];
  /** The cluster key, base64: seals secrets in etcd. */
  readonly clusterKey: string;
  readonly leaseTtl: number;
  /** The service catalog every node runs (placement `everywhere` or `singleton`). */
  readonly services: readonly { name: string; placement: 'everywhere' | 'singleton'; command: string[] }[];
  /** The node takes part in Ceph, its daemons on its provisioning address (absent from older seeds: no). */
  readonly ceph?: boolean;
  /** Ceph options added to every node's ceph.conf (the lab's health thresholds; see LocalCephOptions.config). */
  readonly cephConfig?: Readonly<Record<string, string>>;
  /** The URL the cloud's API advertises, when not each node's own address. */
  readonly publicUrl?: string;
  /** The netboot image, which a node that can serve netboot copies to be a provisioner candidate. */
  readonly image?: NetbootImage;
}

export interface EnrollmentServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the enrollment endpoint; `grant(name)` builds a granted node's configuration. */
export async function startEnrollmentServer(options: {
  host: string;
  port: number;
  tls: { key: string; cert: string };
  enrollment: Enrollment;
  grant: (
    name: string,
    request: { mac: string; guid: string; address: string; publicKey: string },
  ) => Promise<EnrollmentGrant>;
  onEvent: (event: { type: string; mac: string; detail: string }) => void;
}): Promise<EnrollmentServer> {
  const app = Fastify({ logger: false, https: options.tls, bodyLimit: 4096 });
  app.post('/v1/enroll', async (req, reply) => {
    const body = (req.body ?? {}) as { token?: unknown; mac?: unknown; guid?: unknown; publicKey?: unknown };
    const mac = typeof body.mac === 'string' ? body.mac : '';
    try {
      const publicKey = publicKeyOf(body.publicKey);
      const outcome = await options.enrollment.enroll(body);
      if (outcome.state === 'held') {
        options.onEvent({ type: 'enroll.held', mac, detail: 'waiting for rackseed node accept' });
        return reply.code(202).send({ state: 'held', retryAfterMs: 3000 });
      }
      const address = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      const grant = await options.grant(outcome.name, { mac, guid: String(body.guid), address, publicKey });
      options.onEvent({ type: 'enroll.granted', mac, detail: outcome.name });
      return reply.code(200).send(grant);
    } catch (error) {
      if (error instanceof EnrollmentError) {
        options.onEvent({ type: 'enroll.refused', mac, detail: error.code });
        return reply.code(error.status).send({ error: { code: error.code, message: error.message } });
      }
      throw error;
    }
  });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { url: `https://${options.host}:${port}`, close: () => app.close() };
}

/** The node's public key from the request: a PEM SPKI key, or ENROLL_ERR_BAD_REQUEST. */
function publicKeyOf(value: unknown): string {
  try {
    if (typeof value !== 'string') throw new Error('absent');
    const key = createPublicKey(value);
    if (key.type !== 'public') throw new Error('not a public key');
    return key.export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    throw new EnrollmentError(
      'ENROLL_ERR_BAD_REQUEST',
      'send "publicKey": the PEM public key the node certificate is for',
      400,
    );
  }
}

export class EnrollClientError extends RackseedError {
  constructor(
    code: 'ENROLL_ERR_CA_MISMATCH' | 'ENROLL_ERR_REFUSED' | 'ENROLL_ERR_UNREACHABLE',
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

function post(url: string, ca: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca, headers: { 'content-type': 'application/json' }, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Enrolls this node: pins the CA by its fingerprint, then presents token, MAC and GUID.
 * While the seed holds the node for an operator, or cannot be reached, it keeps asking until
 * `deadlineMs`; a refused token ends it (the node must netboot again for a new one).
 */
export async function enroll(options: {
  url: string;
  caUrl: string;
  caFingerprint: string;
  token: string;
  mac: string;
  guid: string;
  /** The public half of the node's key (PEM): the grant's certificate is for it. */
  publicKey: string;
  deadlineMs?: number;
  onWait?: (why: string) => void;
}): Promise<EnrollmentGrant> {
  const deadline = Date.now() + (options.deadlineMs ?? 10 * 60_000);
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let ca: string | undefined;
  for (;;) {
    try {
      ca ??= await (await fetch(options.caUrl, { signal: AbortSignal.timeout(10_000) })).text();
      if (certificateFingerprint(ca) !== options.caFingerprint) {
        throw new EnrollClientError(
          'ENROLL_ERR_CA_MISMATCH',
          `the CA at ${options.caUrl} is not the one the boot script names; refusing to enroll`,
        );
      }
      const body = JSON.stringify({
        token: options.token,
        mac: options.mac,
        guid: options.guid,
        publicKey: options.publicKey,
      });
      const { status, text } = await post(`${options.url}/v1/enroll`, ca, body);
      if (status === 200) return JSON.parse(text) as EnrollmentGrant;
      if (status === 202) {
        options.onWait?.('held until an operator accepts this node (rackseed node accept)');
      } else {
        const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        throw new EnrollClientError(
          'ENROLL_ERR_REFUSED',
          `the seed refused enrollment: ${error?.code ?? status} ${error?.message ?? ''}`.trim(),
        );
      }
    } catch (error) {
      if (error instanceof EnrollClientError) throw error;
      ca = undefined;
      options.onWait?.(`cannot reach the seed: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (Date.now() > deadline)
      throw new EnrollClientError('ENROLL_ERR_UNREACHABLE', `no enrollment from ${options.url} before the deadline`, {
        retryable: true,
      });
    await pause(2_000);
  }
}
