import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openRecord, parseClusterKey, sealRecord } from '../../agent/index.js';

const KEY = randomBytes(32);
const RECORD = { host: '10.0.1.11', port: 623, user: 'admin', password: 'hunter2-secret' };
const AT = '/rackseed/bmc/n1';
const code = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return 'no error';
};

describe('sealed records (AES-256-GCM with the etcd key as associated data)', () => {
  it('opens what it sealed, and the sealed value shows no trace of the password', () => {
    const sealed = sealRecord(KEY, AT, RECORD);
    expect(openRecord(KEY, AT, sealed)).toEqual(RECORD);
    for (const trace of ['hunter2', Buffer.from(RECORD.password).toString('base64'), 'admin', '10.0.1.11'])
      expect(sealed).not.toContain(trace);
  });

  it('uses a fresh nonce per record: the same record seals differently', () => {
    expect(sealRecord(KEY, AT, RECORD)).not.toBe(sealRecord(KEY, AT, RECORD));
  });

  it('refuses a wrong key, another etcd key, a tampered value or a truncated tag with SECRET_ERR_UNSEAL_FAILED', () => {
    const sealed = sealRecord(KEY, AT, RECORD);
    const parsed = JSON.parse(sealed) as { data: string; tag: string };
    const flipped = Buffer.from(parsed.data, 'base64');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(code(() => openRecord(randomBytes(32), AT, sealed))).toBe('SECRET_ERR_UNSEAL_FAILED');
    expect(code(() => openRecord(KEY, '/rackseed/bmc/n2', sealed))).toBe('SECRET_ERR_UNSEAL_FAILED');
    expect(code(() => openRecord(KEY, AT, JSON.stringify({ ...parsed, data: flipped.toString('base64') })))).toBe(
      'SECRET_ERR_UNSEAL_FAILED',
    );
    const short = Buffer.from(parsed.tag, 'base64').subarray(0, 4).toString('base64');
    expect(code(() => openRecord(KEY, AT, JSON.stringify({ ...parsed, tag: short })))).toBe('SECRET_ERR_UNSEAL_FAILED');
    expect(code(() => openRecord(KEY, AT, 'not json'))).toBe('SECRET_ERR_UNSEAL_FAILED');
  });

  it('round-trips any JSON value under any key name (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), (value, at) => {
        expect(openRecord(KEY, at, sealRecord(KEY, at, value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 200 },
    );
  });

  it('reads a cluster key as raw bytes, hex or base64, and refuses anything else with SECRET_ERR_BAD_KEY', () => {
    expect(parseClusterKey(KEY)).toEqual(KEY);
    expect(parseClusterKey(Buffer.from(`${KEY.toString('hex')}\n`))).toEqual(KEY);
    expect(parseClusterKey(Buffer.from(`${KEY.toString('base64')}\n`))).toEqual(KEY);
    expect(code(() => parseClusterKey(Buffer.from('too short')))).toBe('SECRET_ERR_BAD_KEY');
    expect(code(() => parseClusterKey(randomBytes(16)))).toBe('SECRET_ERR_BAD_KEY');
  });
});
