import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHosts, CertificateAuthority, ensureApiCertificate, NodeTls } from '../../agent/index.js';
import { needsRenewal, subjectAltName } from '../../agent/pki.js';

describe('the API certificate: what it names', () => {
  it("names the public URL's host first, then the node's addresses, once each", () => {
    expect(apiHosts('https://cloud.example.com:5000', ['10.0.0.5'])).toEqual(['cloud.example.com', '10.0.0.5']);
    expect(apiHosts('https://127.0.0.1:8443', ['127.0.0.1', 'localhost'])).toEqual(['127.0.0.1', 'localhost']);
    expect(apiHosts('https://[fd00::1]:5000', [])).toEqual(['fd00::1']);
    expect(apiHosts(undefined, ['10.0.0.5'])).toEqual(['10.0.0.5']);
  });

  it('makes IP and DNS entries, and refuses what is neither with TLS_ERR_BAD_NAME', () => {
    expect(subjectAltName('10.0.0.5')).toBe('IP:10.0.0.5');
    expect(subjectAltName('[fd00::1]')).toBe('IP:fd00::1');
    expect(subjectAltName('Cloud.Example.com')).toBe('DNS:cloud.example.com');
    for (const bad of ['', 'a b', 'x,IP:1.2.3.4', '-x.example', `${'a'.repeat(64)}.example`]) {
      expect(() => subjectAltName(bad)).toThrow(expect.objectContaining({ code: 'TLS_ERR_BAD_NAME' }));
    }
  });
});

describe('ensureApiCertificate', () => {
  let dir: string;
  let ca: CertificateAuthority;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-pki-'));
    ca = await CertificateAuthority.ensure(join(dir, 'ca'), 'test CA', Buffer.alloc(32, 3));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues once for the same hosts, and again when a host is added', async () => {
    const tls = new NodeTls(join(dir, 'tls'));
    await ensureApiCertificate(ca, tls, ['127.0.0.1', 'localhost'], 30);
    const first = tls.readApi().cert;
    const cert = new X509Certificate(first);
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(tls.publicKey());
    expect(needsRenewal(first, ['127.0.0.1'])).toBe(false);
    expect(needsRenewal(first, ['127.0.0.1'], Date.parse(cert.validTo) - 5 * 86_400_000)).toBe(true);
    await ensureApiCertificate(ca, tls, ['localhost', '127.0.0.1'], 30);
    expect(tls.readApi().cert).toBe(first);
    await ensureApiCertificate(ca, tls, ['127.0.0.1', 'localhost', 'cloud.test'], 30);
    expect(new X509Certificate(tls.readApi().cert).checkHost('cloud.test')).toBe('cloud.test');
  });

  it('says TLS_ERR_NO_CERTIFICATE where there is none', () => {
    expect(() => new NodeTls(join(dir, 'none')).readApi()).toThrow(
      expect.objectContaining({ code: 'TLS_ERR_NO_CERTIFICATE' }),
    );
  });
});
