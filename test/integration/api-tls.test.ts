import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, type PeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CertificateAuthority, NodeTls } from '../../agent/index.js';
import { adminPasswordOf, adminToken, type CloudProcess, startCloud } from '../bed/index.js';

const run = promisify(execFile);

/** The certificate a TLS handshake with 127.0.0.1:`port` presents, checked against `ca` for the name `servername`. */
function handshake(
  port: number,
  options: { ca: string; servername?: string; maxVersion?: 'TLSv1.1' },
): Promise<{ peer: PeerCertificate; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({
      host: '127.0.0.1',
      port,
      ca: readFileSync(options.ca, 'utf8'),
      ...(options.servername ? { servername: options.servername } : {}),
      ...(options.maxVersion ? { maxVersion: options.maxVersion, minVersion: 'TLSv1' } : {}),
    });
    socket.once('secureConnect', () => {
      resolve({ peer: socket.getPeerCertificate(), protocol: socket.getProtocol() });
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** What a plain-HTTP request to 127.0.0.1:`port` gets back before the server closes the connection. */
function plainHttp(port: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connectTcp({ host: '127.0.0.1', port }, () =>
      socket.write('GET /identity HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
    );
    socket.setTimeout(5_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(answer));
  });
}

const portOf = (cloud: CloudProcess) => Number(new URL(cloud.url).port);

// `rackseed cloud serve` serves its API over TLS only: a certificate from a CA of its own (one
// machine) that names the public URL's host, a clouds.yaml that names that CA, or the operator's
// certificate when given.
describe('the public API over TLS', () => {
  let cloud: CloudProcess;
  beforeAll(async () => {
    // Clients reach it as https://cloud.test:8443 (a name and a port in front of it, as a VIP would be).
    cloud = await startCloud({ args: ['--public-url', 'https://cloud.test:8443'] });
  });
  afterAll(async () => cloud?.stop());

  it('answers plain HTTP with nothing, and refuses TLS before 1.2', async () => {
    expect(await plainHttp(portOf(cloud))).not.toMatch(/^HTTP\//);
    await expect(handshake(portOf(cloud), { ca: cloud.ca, maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });

  it("presents a certificate from the CA clouds.yaml names, for the public URL's host and 127.0.0.1", async () => {
    const yaml = parse(readFileSync(cloud.cloudsYaml, 'utf8')) as {
      clouds: Record<string, { auth: { auth_url: string }; cacert?: string }>;
    };
    expect(yaml.clouds.rackseed?.cacert).toBe(cloud.ca);
    expect(yaml.clouds.rackseed?.auth.auth_url).toBe('https://cloud.test:8443/identity');
    // Node's TLS checks the chain against the CA and the name: both names verify, no client certificate asked.
    const asPublic = await handshake(portOf(cloud), { ca: cloud.ca, servername: 'cloud.test' });
    expect(asPublic.protocol).toMatch(/^TLSv1\.[23]$/);
    await handshake(portOf(cloud), { ca: cloud.ca });
    await expect(handshake(portOf(cloud), { ca: cloud.ca, servername: 'elsewhere.test' })).rejects.toThrow(
      /does not match|not in the cert's altnames/,
    );
    // The catalog's endpoints are the public URL's, https.
    const token = await adminToken(cloud.url, adminPasswordOf(cloud), { dispatcher: cloud.dispatcher });
    const response = await fetch(`${cloud.url}/identity/v3/auth/catalog`, {
      dispatcher: cloud.dispatcher,
      headers: { 'x-auth-token': token },
    });
    const urls = JSON.stringify(await response.json()).match(/"url":"[^"]+"/g) ?? [];
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((u) => !u.startsWith('"url":"https://cloud.test:8443/'))).toEqual([]);
  });

  it('serves no /metrics on one machine: 404, as a path that is not there', async () => {
    const response = await fetch(`${cloud.url}/metrics`, { dispatcher: cloud.dispatcher });
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('rackseed_');
  });

  it('made that certificate from its own CA, in its data dir', async () => {
    const cert = readFileSync(join(cloud.dir, 'data', 'tls', 'api.crt'), 'utf8');
    expect(new X509Certificate(cert).checkHost('cloud.test')).toBe('cloud.test');
    expect(new X509Certificate(cert).verify(new X509Certificate(readFileSync(cloud.ca)).publicKey)).toBe(true);
  });

  it('works with the openstack CLI and the clouds.yaml it wrote, with no other flag', async () => {
    // cloud.test resolves nowhere here: the copy reaches Keystone at the listening address, with the
    // same CA (a token needs Keystone only; api-openstack-cli runs a whole session on the file as written).
    const cloudsYaml = join(cloud.dir, 'local-clouds.yaml');
    writeFileSync(cloudsYaml, readFileSync(cloud.cloudsYaml, 'utf8').replace('https://cloud.test:8443', cloud.url));
    const env: NodeJS.ProcessEnv = { ...cloud.env, OS_CLIENT_CONFIG_FILE: cloudsYaml };
    delete env.OS_CACERT;
    const { stdout } = await run('openstack', ['token', 'issue', '-f', 'json'], { env, timeout: 120_000 });
    expect((JSON.parse(stdout) as { id: string }).id.length).toBeGreaterThan(20);
  });
});

describe("the public API over TLS with the operator's certificate", () => {
  let dir: string;
  let cloud: CloudProcess;
  let certFile: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-operator-'));
    // The operator's own CA and a certificate from it for their key (anything PEM would do).
    const operatorCa = await CertificateAuthority.ensure(join(dir, 'ca'), 'operator CA', randomBytes(32));
    const key = new NodeTls(join(dir, 'key'));
    certFile = join(dir, 'api.crt');
    const cert = await operatorCa.issueApi({
      hosts: ['127.0.0.1'],
      publicKey: key.publicKey(),
      days: 1,
    });
    writeFileSync(certFile, cert);
    cloud = await startCloud({
      args: ['--api-cert', certFile, '--api-key', key.paths.key],
      ca: join(dir, 'ca', 'ca.crt'),
    });
  });
  afterAll(async () => {
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves it, and clouds.yaml names no CA (the operator’s clients trust theirs)', async () => {
    const { peer } = await handshake(portOf(cloud), { ca: join(dir, 'ca', 'ca.crt') });
    expect(peer.fingerprint256).toBe(new X509Certificate(readFileSync(certFile)).fingerprint256);
    const yaml = parse(readFileSync(cloud.cloudsYaml, 'utf8')) as { clouds: Record<string, { cacert?: string }> };
    expect(yaml.clouds.rackseed).not.toHaveProperty('cacert');
  });
});
