import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cephUri, DbError, firstStripe } from '../../appliance/dbmaster/index.js';
import { blocklistAddress, RadosError } from '../../appliance/rados/index.js';
import { radosError } from '../../appliance/rados/errors.js';

describe('librados binding: pure parts', () => {
  it('turns the addresses librados prints into what osd blocklist add takes', () => {
    // Forms seen from rados_list_lockers and rados_getaddrs on Ceph 16 (research §4).
    expect(blocklistAddress('v1:127.0.0.1:0/2359432985')).toBe('127.0.0.1:0/2359432985');
    expect(blocklistAddress('[v2:127.0.0.1:0/1418428722,v1:127.0.0.1:0/1418428722]')).toBe('127.0.0.1:0/1418428722');
    expect(blocklistAddress('127.0.0.1:0/1')).toBe('127.0.0.1:0/1');
    expect(blocklistAddress('any:10.0.0.1:0/7')).toBe('10.0.0.1:0/7');
  });

  it('maps errno values to stable codes and retry policy', () => {
    const cases: [number, string, boolean][] = [
      [2, 'RADOS_ERR_NOT_FOUND', false],
      [1, 'RADOS_ERR_PERMISSION_DENIED', false],
      [13, 'RADOS_ERR_PERMISSION_DENIED', false],
      [16, 'RADOS_ERR_BUSY', true],
      [108, 'RADOS_ERR_BLOCKLISTED', false],
      [110, 'RADOS_ERR_TIMED_OUT', true],
      [9999, 'RADOS_ERR_FAILED', false],
    ];
    for (const [errno, code, retryable] of cases) {
      const error = radosError(Object.assign(new Error('read: x'), { errno, op: 'read' }));
      expect(error).toBeInstanceOf(RadosError);
      expect(error).toMatchObject({ code, retryable, errno, op: 'read' });
    }
  });

  it('regression: a thrown object without a prototype (String() throws on it) still becomes a RadosError', () => {
    expect(radosError(Object.create(null)).code).toBe('RADOS_ERR_FAILED');
    expect(radosError({ errno: 2, message: Object.create(null) }).code).toBe('RADOS_ERR_NOT_FOUND');
  });

  it('turns anything the addon throws into a RadosError, never throwing itself', () => {
    fc.assert(
      fc.property(fc.anything(), (thrown) => {
        expect(radosError(thrown)).toBeInstanceOf(RadosError);
      }),
    );
  });
});

describe('database master: pure parts', () => {
  it('names a Ceph database the way libcephsqlite expects, and refuses names it would reject', () => {
    const location = { kind: 'ceph' as const, conf: '/c', pool: 'rackseed', namespace: 'db', name: 'cloud' };
    expect(cephUri(location)).toBe('file:///rackseed:db/cloud?vfs=ceph');
    expect(firstStripe('cloud')).toBe('cloud.0000000000000000');
    expect(() => cephUri({ ...location, name: 'a/b' })).toThrow();
  });

  it('marks only failover-type errors retryable', () => {
    expect(new DbError('DB_ERR_NOT_MASTER', 'x').retryable).toBe(true);
    expect(new DbError('DB_ERR_STORAGE', 'x').retryable).toBe(true);
    expect(new DbError('DB_ERR_OPERATION_FAILED', 'x').retryable).toBe(false);
    expect(new DbError('DB_ERR_UNKNOWN_OPERATION', 'x').retryable).toBe(false);
  });
});
