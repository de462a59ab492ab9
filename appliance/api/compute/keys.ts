import { createHash, createPublicKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { badRequest } from '../faults.js';

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
