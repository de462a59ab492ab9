import { spawn } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { childEnv } from '../../../agent/index.js';
import { ApiError, badRequest } from '../faults.js';

const generateRsa = promisify(generateKeyPair);

const KEY_TYPES = new Set([
  'ssh-rsa',
  'ssh-ed25519',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
]);

/** RFC 4251 §5 `string`: uint32 length then the bytes. */
function sshString(data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}

/** RFC 4251 §5 `mpint`: two's complement, big-endian, a leading zero byte if the top bit is set. */
function sshMpint(unsigned: Buffer): Buffer {
  let bytes = unsigned;
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return sshString(bytes);
}

/** Nova's fingerprint: MD5 of the key blob, colon-separated hex (nova/crypto.py). */
export function fingerprintOf(blob: Buffer): string {
  return createHash('md5')
    .update(blob)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:');
}

/**
 * Checks an OpenSSH public key line (`type base64 [comment]`, RFC 4253 §6.6) and returns its
 * fingerprint; throws 400 when it is not one.
 */
export function checkPublicKey(line: string): string {
  const [type, data] = line.trim().split(/\s+/);
  if (!type || !data || !KEY_TYPES.has(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) {
    throw badRequest('Keypair data is invalid: failed to parse the public key');
  }
  const blob = Buffer.from(data, 'base64');
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (length <= 0 || blob.subarray(4, 4 + length).toString('latin1') !== type) {
    throw badRequest('Keypair data is invalid: the key blob does not match its type');
  }
  return fingerprintOf(blob);
}

/** Generates an RSA 2048 key pair: the OpenSSH public key line and a PKCS#1 PEM private key. */
export async function generateSshKeyPair(
  comment: string,
): Promise<{ publicKey: string; privateKey: string; fingerprint: string }> {
  const { publicKey, privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const jwk = createPublicKey(publicKey).export({ format: 'jwk' });
  // RFC 4253 §6.6: "ssh-rsa" e n
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    sshMpint(Buffer.from(jwk.e ?? '', 'base64url')),
    sshMpint(Buffer.from(jwk.n ?? '', 'base64url')),
  ]);
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} ${comment}`,
    privateKey,
    fingerprint: fingerprintOf(blob),
  };
}

/** Nova's x509 fingerprint: SHA-1 of the DER certificate, colon-separated lower-case hex. */
function x509Fingerprint(cert: X509Certificate): string {
  return createHash('sha1')
    .update(cert.raw)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:');
}

/** Checks a PEM X.509 certificate (an `x509` keypair's public key) and returns its fingerprint; 400 when it is not one. */
export function checkCertificate(pem: string): string {
  try {
    return x509Fingerprint(new X509Certificate(pem.trim()));
  } catch {
    throw badRequest('Keypair data is invalid: failed to parse the certificate');
  }
}

/**
 * Generates an `x509` keypair as Nova does for WinRM (nova/crypto.py): an RSA 2048 key and a
 * self-signed certificate for `/CN=<user>`, ten years, client authentication, with the user's
 * UPN `<user>@localhost`. openssl makes both (Node has no X.509 writer) and writes them to its
 * stdout, the only place the private key goes before it is returned: no file, no argv.
 */
export async function generateX509KeyPair(
  userId: string,
): Promise<{ publicKey: string; privateKey: string; fingerprint: string }> {
  if (!/^[\w-]+$/.test(userId)) throw badRequest('Keypair data is invalid: the user id cannot name a certificate');
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-noenc',
        '-keyout',
        '-',
        '-subj',
        `/CN=${userId}`,
        '-days',
        '3650',
        '-sha256',
        '-addext',
        'extendedKeyUsage=clientAuth',
        '-addext',
        `subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:${userId}@localhost`,
      ],
      { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (error) => reject(new ApiError(500, `openssl failed: ${error.message}`, 'API_ERR_KEYPAIR')));
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(
            new ApiError(
              500,
              `openssl req failed (exit ${code}): ${stderr.trim().split('\n').at(-1)}`,
              'API_ERR_KEYPAIR',
            ),
          ),
    );
  });
  const pem = (label: string) => new RegExp(`-----BEGIN ${label}-----[^-]+-----END ${label}-----\n`).exec(out)?.[0];
  const privateKey = pem('PRIVATE KEY');
  const publicKey = pem('CERTIFICATE');
  if (!privateKey || !publicKey)
    throw new ApiError(500, 'openssl req printed no key and certificate', 'API_ERR_KEYPAIR');
  return { publicKey, privateKey, fingerprint: checkCertificate(publicKey) };
}
