import { EtcdLeaseInvalidError, type Lease } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { KeptLease } from '../../agent/index.js';

/**
 * etcd3's Lease as KeptLease uses it (keepaliveOnce with a deadline): the first `hanging` calls
 * wait until their deadline and fail, as a keepalive caught by a silent etcd leader does; the
 * others answer at once with the TTL.
 */
function leaseWhoseFirstKeepalivesHang(hanging: number, ttlSeconds: number) {
  const calls: number[] = [];
  const started = performance.now();
  const lease = {
    keepaliveOnce: ({ deadline }: { deadline: Date }) => {
      calls.push(Math.round(performance.now() - started));
      if (calls.length > hanging) return Promise.resolve({ TTL: String(ttlSeconds) });
      return new Promise((_, reject) =>
        setTimeout(() => reject(new Error('4 DEADLINE_EXCEEDED')), deadline.getTime() - Date.now()),
      );
    },
    revoke: () => Promise.resolve(),
    release: () => {},
  };
  return { lease: lease as unknown as Lease, calls };
}

describe('KeptLease', () => {
  // With one keepalive at a time, the one caught by a silent leader held the next back until its
  // deadline (TTL/2): past the margin, every loss of etcd's leader made the lease `expiring`.
  it('does not let a keepalive that hangs hold the next one back: the lease stays healthy', async () => {
    const { lease, calls } = leaseWhoseFirstKeepalivesHang(1, 3);
    const kept = new KeptLease(lease, '1', 3_000, performance.now(), 900);
    const events: string[] = [];
    for (const event of ['expiring', 'renewed', 'lost'] as const) kept.on(event, () => events.push(event));
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_600));
      expect(calls.length).toBeGreaterThanOrEqual(3);
      expect(calls[1]).toBeLessThan((calls[0] ?? 0) + 1_500); // the second went out while the first still hung
      expect(events).toEqual([]);
      expect(kept.healthy).toBe(true);
    } finally {
      await kept.revoke();
    }
  });

  it('sends keepalives every TTL/8 once none has come back for TTL·0.4, and at most 4 wait at once', async () => {
    const { lease, calls } = leaseWhoseFirstKeepalivesHang(Infinity, 3);
    const kept = new KeptLease(lease, '1', 3_000, performance.now(), 900);
    const events: string[] = [];
    for (const event of ['expiring', 'renewed', 'lost'] as const) kept.on(event, () => events.push(event));
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      // Every 750 ms at first; from +1.2 s (no answer for 0.4 TTL) every 375 ms, 4 waiting at most.
      expect(calls.filter((at) => at < 1_150)).toHaveLength(1);
      expect(calls.length).toBe(4);
      expect(events).toEqual([]);
      // Past its TTL on our clock, the lease is not given up: only etcd may say it is gone.
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      expect(events).toEqual(['expiring']);
      expect(kept.lost).toBe(false);
      expect(calls.filter((at) => at > 3_000).length).toBeGreaterThanOrEqual(1);
    } finally {
      await kept.revoke();
    }
  });

  // A member's power loss can hold etcd's election past the TTL; the new leader extends every
  // lease, so the first keepalive it answers proves the lease (and the keys under it) lived on.
  it('is renewed, not lost, when etcd answers again after the TTL ran out on our clock', async () => {
    const { lease, calls } = leaseWhoseFirstKeepalivesHang(9, 3);
    const kept = new KeptLease(lease, '1', 3_000, performance.now(), 900);
    const events: string[] = [];
    for (const event of ['expiring', 'renewed', 'lost'] as const) kept.on(event, () => events.push(event));
    try {
      await new Promise((resolve) => setTimeout(resolve, 5_500));
      expect(calls.length).toBeGreaterThan(9);
      expect(events).toEqual(['expiring', 'renewed']);
      expect(kept.healthy).toBe(true);
    } finally {
      await kept.revoke();
    }
  }, 10_000);

  it('is lost when etcd says the lease is gone', async () => {
    const lease = {
      keepaliveOnce: () => Promise.reject(new EtcdLeaseInvalidError('1')),
      revoke: () => Promise.resolve(),
      release: () => {},
    } as unknown as Lease;
    const kept = new KeptLease(lease, '1', 3_000, performance.now(), 900);
    const events: string[] = [];
    for (const event of ['expiring', 'renewed', 'lost'] as const) kept.on(event, () => events.push(event));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(events).toEqual(['expiring', 'lost']);
    expect(kept.lost).toBe(true);
  });
});
