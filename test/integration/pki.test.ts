import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateFollower,
  CertificateAuthority,
  keys,
  NodeTls,
  removeByOperator,
  Store,
} from '../../agent/index.js';
import { type CertificateEvent, CertificateKeeper, recordCertificate } from '../../bootstrap/seed/index.js';
import { type EtcdCluster, Scope, startEtcd, TEST_CLUSTER_KEY, testCa, testNodeTls, waitFor } from '../bed/index.js';

const DAY = 86_400_000;

/** An https server of `tls` (mutual TLS, following renewals and revocations) answering its name. */
async function serve(tls: NodeTls, name: string): Promise<{ server: Server; url: string }> {
  const server = createServer(tls.serverOptions(), (_request, response) => response.end(name));
  tls.serve(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/` };
}

/** Whether `client` gets an answer from `url` on a new connection (a refused certificate fails its handshake). */
async function answers(client: NodeTls, url: string): Promise<boolean> {
  const { ca, cert, key } = client.read();
  const dispatcher = new Agent({ connect: { ca, cert, key } });
  try {
    const response = await fetch(url, { dispatcher, signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  } finally {
    await dispatcher.close();
  }
}

/** The serial of the certificate `url` presents (upper-case hex, as X509Certificate gives it). */
function servedSerial(client: NodeTls, url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const { ca, cert, key } = client.read();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, cert, key, timeout: 5_000 }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.end();
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('no handshake in 5 s')));
  });
}

// The cluster PKI's life after enrollment, on a real etcd and openssl: the CA key is sealed at
// rest, the provisioner's keeper renews certificates that the node's follower takes only if
// they are its own, and a removed node's certificates are revoked into a list that every
// listener — and etcd itself — enforces at once.
describe('cluster PKI: sealed CA key, renewal, revocation', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let scope: Scope;
  let ca: CertificateAuthority;
  let keeper: CertificateKeeper;
  const events: CertificateEvent[] = [];
  let now = Date.now();

  beforeAll(async () => {
    scope = Scope.open('pki');
    etcd = await startEtcd({ members: 1 });
    store = Store.connect([...etcd.endpoints]);
    ca = await testCa(scope.dir);
    keeper = new CertificateKeeper(store, ca, (e) => events.push(e), { renewCheckMs: 3_600_000, now: () => now });
    await keeper.start();
  });
  afterAll(async () => {
    await keeper?.stop();
    await store?.close();
    await etcd?.stop();
    await scope?.close();
  });

  it('keeps the CA key sealed: encrypted on disk, unusable without the cluster key', async () => {
    const file = join(ca.dir, CertificateAuthority.FILES.key);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(() =>
      execFileSync('openssl', ['pkey', '-in', file, '-passin', 'pass:', '-noout'], { stdio: 'ignore' }),
    ).toThrow();
    const wrong = CertificateAuthority.install(
      join(scope.dir, 'wrong'),
      { certPem: ca.certPem, keyPem: ca.sealedKeyPem },
      Buffer.alloc(32, 1),
    );
    const tls = new NodeTls(join(scope.dir, 'wrong-node'));
    await expect(
      wrong.issueNode({ name: 'n', addresses: ['10.0.0.9'], publicKey: tls.publicKey() }),
    ).rejects.toMatchObject({
      code: 'TLS_ERR_OPENSSL',
    });
    // The keeper has published an empty list in force, signed with the sealed key.
    expect(await ca.revokedSerials((await store.get(keys.pkiCrl))?.value ?? '')).toEqual([]);
  });

  it('renews a certificate with a third of its life left; the node takes it and its server presents it', async () => {
    const node = await testNodeTls(scope.dir, 'renew-1');
    const client = await testNodeTls(scope.dir, 'client-1');
    const first = new X509Certificate(node.read().cert);
    await recordCertificate(store, 'renew-1', node.read().cert);
    const follower = await CertificateFollower.open(store, 'renew-1', node, () => {});
    const { server, url } = await serve(node, 'renew-1');
    try {
      expect(await servedSerial(client, url)).toBe(first.serialNumber);
      await keeper.renewDue(); // nothing is due yet
      expect(events.filter((e) => e.type === 'pki.renewed')).toEqual([]);

      now = Date.now() + 70 * DAY; // past two thirds of 90 days
      await keeper.renewDue();
      expect(events).toContainEqual(expect.objectContaining({ type: 'pki.renewed', node: 'renew-1' }));
      await waitFor(
        'the node to store its renewed certificate',
        () => node.read().cert !== first.toString(),
        10_000,
        100,
      );
      const renewed = new X509Certificate(node.read().cert);
      expect(renewed.serialNumber).not.toBe(first.serialNumber);
      expect(renewed.subjectAltName).toBe(first.subjectAltName);
      expect(renewed.publicKey.export({ type: 'spki', format: 'pem' })).toBe(
        first.publicKey.export({ type: 'spki', format: 'pem' }),
      );
      await waitFor(
        'the server to present the renewed certificate',
        async () => (await servedSerial(client, url)) === renewed.serialNumber,
        10_000,
        100,
      );
      expect(await answers(client, url)).toBe(true);
    } finally {
      now = Date.now();
      server.close();
      await follower.close();
      await node.close();
      await client.close();
    }
  });

  it("renews a node's API certificate and its etcd client's: the API presents the new one, and etcd takes the client after the old one is revoked", async () => {
    const etcdNode = await testNodeTls(scope.dir, 'etcd-1');
    etcdNode.storeCrl(await ca.revocationList([]));
    const etcdTls = await startEtcd({ members: 1, tls: etcdNode });
    const node = await testNodeTls(scope.dir, 'renew-2');
    node.storeApi({
      ca: ca.certPem,
      cert: await ca.issueApi({ hosts: ['127.0.0.1'], publicKey: node.publicKey(), days: 90 }),
    });
    const firstNode = new X509Certificate(node.read().cert);
    const firstApi = new X509Certificate(node.readApi().cert);
    await recordCertificate(store, 'renew-2', firstNode.toString());
    await recordCertificate(store, 'renew-2', firstApi.toString(), 'api');
    const follower = await CertificateFollower.open(store, 'renew-2', node, () => {});
    const nodeStore = Store.connect([...etcdTls.endpoints], node);
    const api = createServer(node.apiServerOptions(), (_request, response) => response.end('api'));
    node.serve(api, 'api');
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const apiUrl = `https://127.0.0.1:${(api.address() as { port: number }).port}/`;
    try {
      await nodeStore.put('/renew-2/before', 'x');
      expect(await servedSerial(node, apiUrl)).toBe(firstApi.serialNumber);
      now = Date.now() + 70 * DAY;
      await keeper.renewDue();
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'pki.renewed', node: 'renew-2', detail: expect.stringMatching(/^API/) }),
      );
      await waitFor(
        'the node to store both renewals',
        () => node.read().cert !== firstNode.toString() && node.readApi().cert !== firstApi.toString(),
        10_000,
        100,
      );
      const renewedApi = new X509Certificate(node.readApi().cert);
      expect(renewedApi.subjectAltName).toBe(firstApi.subjectAltName);
      expect(renewedApi.checkPrivateKey(createPrivateKey(node.read().key))).toBe(true);
      await waitFor(
        'the API to present the renewed certificate',
        async () => (await servedSerial(node, apiUrl)) === renewedApi.serialNumber,
        10_000,
        100,
      );

      // etcd refuses the old node certificate from now on; a restart drops the store's connections.
      etcdNode.storeCrl(await ca.revocationList([firstNode.serialNumber]));
      await etcdTls.kill(0);
      await etcdTls.restart(0);
      await waitFor(
        'the store to write again, with its renewed certificate',
        async () => {
          await nodeStore.put('/renew-2/after', 'y');
          return true;
        },
        20_000,
        200,
      );
      expect((await nodeStore.get('/renew-2/after'))?.value).toBe('y');
    } finally {
      now = Date.now();
      api.close();
      await nodeStore.close();
      await follower.close();
      await etcdTls.stop();
      await node.close();
      await etcdNode.close();
    }
  });

  it('takes no certificate that is not its own: another key, another name, another CA', async () => {
    const node = await testNodeTls(scope.dir, 'victim');
    const held = node.read().cert;
    const follower = await CertificateFollower.open(store, 'victim', node, () => {});
    const inForce = (await store.get(keys.pkiCrl))?.value;
    try {
      await waitFor('the node to take the list in force', () => node.read().crl === inForce, 10_000, 100);
      const attacker = new NodeTls(join(scope.dir, 'attacker'));
      const otherCa = await CertificateAuthority.ensure(join(scope.dir, 'other-ca'), 'other', TEST_CLUSTER_KEY);
      const forged = [
        await ca.issueNode({ name: 'victim', addresses: ['127.0.0.1'], publicKey: attacker.publicKey() }),
        await ca.issueNode({ name: 'intruder', addresses: ['127.0.0.1'], publicKey: node.publicKey() }),
        await otherCa.issueNode({ name: 'victim', addresses: ['127.0.0.1'], publicKey: node.publicKey() }),
      ];
      for (const cert of forged) {
        // Issued later, so each would outlive the one in use: only who it is for and who signed it refuse it.
        await store.put(keys.pkiCert('victim'), JSON.stringify({ certs: [cert] }));
      }
      await store.put(keys.pkiCrl, await otherCa.revocationList([new X509Certificate(held).serialNumber]));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(node.read().cert).toBe(held);
      expect(node.read().crl).toBe(inForce);
      await store.put(keys.pkiCrl, inForce ?? ''); // the CA's own again, for the next test
    } finally {
      await follower.close();
      await node.close();
    }
  });

  it('revokes a removed node: its certificate is refused by every listener and by etcd, others still pass', async () => {
    const dir = join(scope.dir, 'cluster');
    const server = await testNodeTls(dir, 'server-1');
    const removed = await testNodeTls(dir, 'gone-1');
    const other = await testNodeTls(dir, 'other-1');
    // The test CA of `dir` is another than the keeper's: the keeper of this test signs with it.
    const clusterCa = await testCa(dir);
    const clusterKeeper = new CertificateKeeper(store, clusterCa, (e) => events.push(e));
    await keeper.stop(); // one keeper per cluster
    await store.delete(keys.pkiCrl);
    await clusterKeeper.start();
    server.storeCrl((await store.get(keys.pkiCrl))?.value ?? '');
    await recordCertificate(store, 'gone-1', removed.read().cert);
    const follower = await CertificateFollower.open(store, 'server-1', server, () => {});
    const { server: https, url } = await serve(server, 'server-1');
    const etcdTls = await startEtcd({ members: 1, tls: server });
    const etcdVersion = `${etcdTls.endpoints[0]}/version`;
    try {
      expect(await answers(removed, url)).toBe(true);
      expect(await answers(removed, etcdVersion)).toBe(true);

      // Removing needs a fenced, dead node.
      await expect(removeByOperator(store, 'gone-1')).rejects.toMatchObject({ code: 'REMOVE_ERR_NOT_FENCED' });
      await store.put(keys.fenced('gone-1'), JSON.stringify({ lease: '1', method: 'operator', at: '', by: 'test' }));
      await removeByOperator(store, 'gone-1');

      await waitFor('the revoked certificate to be refused', async () => !(await answers(removed, url)), 15_000, 200);
      expect(await answers(other, url)).toBe(true);
      expect(await answers(removed, etcdVersion)).toBe(false);
      expect(await answers(other, etcdVersion)).toBe(true);
      expect(events).toContainEqual(expect.objectContaining({ type: 'pki.revoked', node: 'gone-1' }));
      expect(await store.get(keys.pkiCert('gone-1'))).toBeUndefined();
      expect(await store.get(keys.pkiRevoke('gone-1'))).toBeUndefined();
      expect(await store.get(keys.fenced('gone-1'))).toBeUndefined();
      expect(await store.get(keys.removed('gone-1'))).toBeDefined(); // the BMC scan leaves it alone

      // The list only grows: another revocation keeps the first.
      await recordCertificate(store, 'gone-2', other.read().cert);
      await store.put(keys.pkiRevoke('gone-2'), '{}');
      await waitFor('the second revocation', async () => !(await answers(other, url)), 15_000, 200);
      expect(await answers(removed, url)).toBe(false);
    } finally {
      https.close();
      await etcdTls.stop();
      await clusterKeeper.stop();
      await follower.close();
      for (const tls of [server, removed, other]) await tls.close();
    }
  });
});
