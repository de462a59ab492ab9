import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHosts, NodeTls, Store } from '../../agent/index.js';
import {
  type ClusterIdentity,
  ENROLL_KEYS,
  enroll,
  Enrollment,
  type EnrollmentServer,
  ensureIdentity,
  HOLD_TTL_MS,
  startEnrollmentServer,
  TOKEN_TTL_MS,
} from '../../bootstrap/seed/index.js';
import { type EtcdCluster, startEtcd } from '../bed/index.js';

const MAC = '52:54:00:aa:bb:01';
const GUID = '5a17ab000000000100000000000000a1';

// Enrollment against a real etcd: a token works once, only with its MAC and the GUID its DHCP
// request carried, for minutes (or for its hold), only through the pinned CA.
describe('seed enrollment', () => {
  let etcd: EtcdCluster;
  let store: Store;
  let dir: string;
  let identity: ClusterIdentity;
  let server: EnrollmentServer;
  let caServer: Server;
  /** The booting node's key (its tls directory), as `rackseed node boot` makes it. */
  let nodeTls: NodeTls;
  let caUrl: string;
  let enrollment: Enrollment;
  const events: { type: string; mac: string; detail: string }[] = [];

  beforeAll(async () => {
    etcd = await startEtcd({ members: 1 });
    store = Store.connect([...etcd.endpoints]);
    dir = mkdtempSync(join(tmpdir(), 'rackseed-seed-'));
    identity = await ensureIdentity(join(dir, 'cluster'), 'test');
    nodeTls = new NodeTls(join(dir, 'node-tls'));
    enrollment = new Enrollment(store, { autoAccept: false });
    await store.put(
      ENROLL_KEYS.inventory(GUID),
      JSON.stringify({ guid: GUID, name: 'node-1', bmc: { host: '10.0.0.11', port: 623 }, fru: {}, discoveredAt: '' }),
    );
    server = await startEnrollmentServer({
      host: '127.0.0.1',
      port: 0,
      tls: await identity.ca.issueServer('127.0.0.1'),
      enrollment,
      grant: async (name, request) => ({
        name,
        ca: identity.caCertPem,
        certificate: await identity.ca.issueNode({
          name,
          addresses: [request.address],
          publicKey: request.publicKey,
        }),
        crl: await identity.ca.revocationList([]),
        apiCertificate: await identity.ca.issueApi({
          hosts: apiHosts('https://cloud.example:5000', [request.address]),
          publicKey: request.publicKey,
          days: 1,
        }),
        cluster: { id: identity.id, name: identity.name },
        etcd: [...etcd.endpoints],
        clusterKey: identity.clusterKey.toString('base64'),
        leaseTtl: 3,
        services: [],
      }),
      onEvent: (e) => events.push(e),
    });
    caServer = createServer((_, res) => res.end(identity.caCertPem));
    await new Promise<void>((resolve) => caServer.listen(0, '127.0.0.1', resolve));
    const address = caServer.address();
    caUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/ca.crt`;
  });
  afterAll(async () => {
    await server?.close();
    caServer?.close();
    await store?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const attempt = (
    token: string,
    extra: { mac?: string; guid?: string; caFingerprint?: string; publicKey?: string } = {},
  ) =>
    enroll({
      url: server.url,
      caUrl,
      caFingerprint: extra.caFingerprint ?? identity.caFingerprint,
      token,
      mac: extra.mac ?? MAC,
      guid: extra.guid ?? GUID,
      publicKey: extra.publicKey ?? nodeTls.publicKey(),
      deadlineMs: 3_000,
    });

  it('keeps one identity across restarts of the seed', async () => {
    const again = await ensureIdentity(join(dir, 'cluster'), 'test');
    expect(again.id).toBe(identity.id);
    expect(again.caFingerprint).toBe(identity.caFingerprint);
    expect(again.clusterKey.equals(identity.clusterKey)).toBe(true);
    expect(identity.caFingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('grants a discovered server its node and a certificate for its own key, once', async () => {
    const token = await enrollment.issueToken(MAC);
    // A request without a usable public key is refused before the token is looked at.
    await expect(attempt(token, { publicKey: 'not a key' })).rejects.toMatchObject({
      code: 'ENROLL_ERR_REFUSED',
      message: expect.stringContaining('ENROLL_ERR_BAD_REQUEST'),
    });
    const grant = await attempt(token);
    expect(grant.name).toBe('node-1');
    expect(Buffer.from(grant.clusterKey, 'base64').equals(identity.clusterKey)).toBe(true);
    // The CA names the node and the address it enrolled from, for the key the node kept.
    const cert = new X509Certificate(grant.certificate);
    expect(cert.subject).toContain('CN=node-1');
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, DNS:node-1');
    expect(cert.verify(new X509Certificate(identity.caCertPem).publicKey)).toBe(true);
    expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(nodeTls.publicKey());
    expect(grant.ca).toBe(identity.caCertPem);
    // Its public API's certificate: the same key, the public URL's host and the node's address, serving only.
    const api = new X509Certificate(grant.apiCertificate);
    expect(api.subjectAltName).toBe('DNS:cloud.example, IP Address:127.0.0.1');
    expect(api.verify(new X509Certificate(identity.caCertPem).publicKey)).toBe(true);
    expect(api.publicKey.export({ type: 'spki', format: 'pem' })).toBe(nodeTls.publicKey());
    expect(api.toLegacyObject().ext_key_usage).toEqual(['1.3.6.1.5.5.7.3.1']);
    await expect(attempt(token)).rejects.toMatchObject({
      code: 'ENROLL_ERR_REFUSED',
      message: expect.stringContaining('ENROLL_ERR_BAD_TOKEN'),
    });
  });

  it('refuses a token presented with another MAC, and a CA that is not the pinned one', async () => {
    const token = await enrollment.issueToken(MAC);
    await expect(attempt(token, { mac: '52:54:00:aa:bb:99' })).rejects.toMatchObject({ code: 'ENROLL_ERR_REFUSED' });
    await expect(attempt(token, { caFingerprint: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({
      code: 'ENROLL_ERR_CA_MISMATCH',
    });
    // Neither attempt used the token up.
    expect((await attempt(token)).name).toBe('node-1');
  });

  it('holds an unannounced server until an operator accepts it', async () => {
    const mac = '52:54:00:aa:bb:02';
    const token = await enrollment.issueToken(mac);
    const pending = enroll({
      url: server.url,
      caUrl,
      caFingerprint: identity.caFingerprint,
      token,
      mac,
      guid: 'f'.repeat(32),
      publicKey: nodeTls.publicKey(),
      deadlineMs: 20_000,
    });
    await expect.poll(async () => (await enrollment.held()).map((h) => h.mac), { timeout: 10_000 }).toEqual([mac]);
    await enrollment.accept(mac);
    expect((await pending).name).toBe('node-aabb02');
    expect(await enrollment.held()).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['enroll.held', 'enroll.granted', 'enroll.refused']),
    );
  });

  // Issue #14: tokens short-lived and bound to the server that netbooted (MAC and GUID).
  it('binds a token to the SMBIOS GUID its DHCP lease recorded: another GUID is refused and uses nothing up', async () => {
    const token = await enrollment.issueToken(MAC, GUID);
    // A known server's GUID names its node: a token from another server's netboot cannot claim it.
    const mac = '52:54:00:aa:bb:03';
    const other = await enrollment.issueToken(mac, 'e'.repeat(32));
    await expect(attempt(other, { mac })).rejects.toMatchObject({
      code: 'ENROLL_ERR_REFUSED',
      message: expect.stringContaining('ENROLL_ERR_GUID_MISMATCH'),
    });
    await expect(attempt(token, { guid: 'e'.repeat(32) })).rejects.toMatchObject({
      message: expect.stringContaining('ENROLL_ERR_GUID_MISMATCH'),
    });
    expect((await attempt(token)).name).toBe('node-1');
  });

  it('keeps a token 5 minutes from its boot script, and a held server its token for the hold', async () => {
    expect(TOKEN_TTL_MS).toBe(5 * 60_000);
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clocked = new Enrollment(store, { autoAccept: false, now: () => now });
    const late = await clocked.issueToken('52:54:00:aa:bb:04');
    now += TOKEN_TTL_MS + 1;
    await expect(clocked.enroll({ token: late, mac: '52:54:00:aa:bb:04', guid: GUID })).rejects.toMatchObject({
      code: 'ENROLL_ERR_BAD_TOKEN',
    });

    // An unannounced server held for an operator: its token outlives its 5 minutes, up to the hold's end.
    const mac = '52:54:00:aa:bb:05';
    const guid = '5a17ab00000000010000000000000005';
    const held = await clocked.issueToken(mac, guid);
    now += 60_000;
    expect(await clocked.enroll({ token: held, mac, guid })).toEqual({ state: 'held' });
    now += 30 * 60_000;
    expect(await clocked.enroll({ token: held, mac, guid })).toEqual({ state: 'held' });
    await clocked.accept(mac);
    expect(await clocked.enroll({ token: held, mac, guid })).toEqual({ state: 'granted', name: 'node-aabb05' });

    const mac2 = '52:54:00:aa:bb:06';
    const expired = await clocked.issueToken(mac2);
    expect(await clocked.enroll({ token: expired, mac: mac2, guid })).toEqual({ state: 'held' });
    now += HOLD_TTL_MS + 1;
    await expect(clocked.enroll({ token: expired, mac: mac2, guid })).rejects.toMatchObject({
      code: 'ENROLL_ERR_BAD_TOKEN',
    });
  });
});
