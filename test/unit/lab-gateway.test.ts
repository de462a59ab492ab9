import fc from 'fast-check';
import { votersOf } from '../../agent/index.js';
import { describe, expect, it } from 'vitest';
import {
  apiBackendsOf,
  BackendPool,
  type Endpoint,
  formatEndpoint,
  GatewayError,
  parseEndpoint,
} from '../../bootstrap/lab/index.js';

const e = (host: string, port = 5000): Endpoint => ({ host, port });
const names = (list: readonly Endpoint[]) => list.map(formatEndpoint);

describe('lab gateway: backend order', () => {
  it('goes round-robin over the backends, one step per connection', () => {
    const pool = new BackendPool({ downMs: 5_000 });
    pool.set([e('10.0.0.1'), e('10.0.0.2'), e('10.0.0.3')]);
    const firsts = Array.from({ length: 6 }, () => formatEndpoint(pool.candidates(0)[0] as Endpoint));
    expect(firsts).toEqual([
      '10.0.0.1:5000',
      '10.0.0.2:5000',
      '10.0.0.3:5000',
      '10.0.0.1:5000',
      '10.0.0.2:5000',
      '10.0.0.3:5000',
    ]);
    expect(names(pool.candidates(0))).toEqual(['10.0.0.1:5000', '10.0.0.2:5000', '10.0.0.3:5000']);
  });

  it('tries a backend that failed only after the live ones, until downMs has passed', () => {
    const pool = new BackendPool({ downMs: 5_000 });
    pool.set([e('10.0.0.1'), e('10.0.0.2')]);
    pool.markDown(e('10.0.0.1'), 1_000);
    expect(names(pool.candidates(2_000))).toEqual(['10.0.0.2:5000', '10.0.0.1:5000']);
    expect(names(pool.candidates(2_000))).toEqual(['10.0.0.2:5000', '10.0.0.1:5000']);
    // Its time out is over: back in the rotation.
    expect(names(pool.candidates(6_001))).toEqual(['10.0.0.1:5000', '10.0.0.2:5000']);
    pool.markDown(e('10.0.0.2'), 7_000);
    pool.markUp(e('10.0.0.2'));
    expect(names(pool.candidates(7_000))).toEqual(['10.0.0.2:5000', '10.0.0.1:5000']);
  });

  it('still tries every backend when all of them failed, and none when there are none', () => {
    const pool = new BackendPool({ downMs: 5_000 });
    expect(pool.candidates(0)).toEqual([]);
    pool.set([e('10.0.0.1'), e('10.0.0.2')]);
    pool.markDown(e('10.0.0.1'), 0);
    pool.markDown(e('10.0.0.2'), 0);
    expect(names(pool.candidates(1)).sort()).toEqual(['10.0.0.1:5000', '10.0.0.2:5000']);
  });

  it('keeps the down mark of a backend still there after a refresh, forgets the others', () => {
    const pool = new BackendPool({ downMs: 5_000 });
    pool.set([e('10.0.0.1'), e('10.0.0.2')]);
    pool.markDown(e('10.0.0.1'), 0);
    pool.markDown(e('10.0.0.2'), 0);
    pool.set([e('10.0.0.1'), e('10.0.0.3')]);
    pool.set([e('10.0.0.1'), e('10.0.0.3'), e('10.0.0.2')]);
    const order = names(pool.candidates(1));
    expect(order.at(-1)).toBe('10.0.0.1:5000');
    expect(order).toHaveLength(3);
  });

  it('always offers every backend once, the live ones first (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(20), fc.nat(10_000)), { maxLength: 20 }),
        fc.nat(20_000),
        fc.nat(10),
        (octets, marks, now, spins) => {
          const backends = octets.map((o) => e(`10.1.0.${o}`));
          const pool = new BackendPool({ downMs: 3_000 });
          pool.set(backends);
          const downUntil = new Map<string, number>();
          for (const [i, at] of marks) {
            const b = backends[i % backends.length] as Endpoint;
            pool.markDown(b, at);
            downUntil.set(formatEndpoint(b), at + 3_000);
          }
          for (let i = 0; i < spins; i++) pool.candidates(now);
          const order = names(pool.candidates(now));
          expect([...order].sort()).toEqual(names(backends).sort());
          const down = order.map((n) => (downUntil.get(n) ?? 0) > now);
          expect(down).toEqual([...down].sort((a, b) => Number(a) - Number(b)));
        },
      ),
    );
  });
});

describe('lab gateway: where the backends come from', () => {
  it("takes each live node's address from its etcd member URL, once, with the API port", () => {
    const records = [
      JSON.stringify({ name: 'node-2', lease: '1', startedAt: '', etcd: { clientUrl: 'http://10.9.0.102:2379' } }),
      JSON.stringify({ name: 'node-1', lease: '2', startedAt: '', etcd: { clientUrl: 'http://10.9.0.101:2379' } }),
      JSON.stringify({ name: 'seed', lease: '3', startedAt: '', etcd: { clientUrl: 'http://10.9.0.101:2379' } }),
      JSON.stringify({ name: 'v6', lease: '4', startedAt: '', etcd: { clientUrl: 'http://[fd00::5]:2379' } }),
    ];
    expect(names(apiBackendsOf(records, 5000))).toEqual(['[fd00::5]:5000', '10.9.0.101:5000', '10.9.0.102:5000']);
  });

  it('leaves out records that are not JSON or name no address', () => {
    const records = ['{', 'null', '42', JSON.stringify({ name: 'n' }), JSON.stringify({ etcd: { clientUrl: 'x y' } })];
    expect(apiBackendsOf(records, 5000)).toEqual([]);
  });

  it('parses host:port, with a default port and IPv6 in brackets', () => {
    expect(parseEndpoint('10.0.0.5:8000')).toEqual(e('10.0.0.5', 8000));
    expect(parseEndpoint('10.0.0.5', 5000)).toEqual(e('10.0.0.5', 5000));
    expect(parseEndpoint('[fd00::1]:80')).toEqual(e('fd00::1', 80));
    expect(formatEndpoint(e('fd00::1', 80))).toBe('[fd00::1]:80');
  });

  it.each(['', '10.0.0.5', '10.0.0.5:0', '10.0.0.5:65536', 'a b:1', '10.0.0.5:x', 'fd00::1:80'])(
    'refuses "%s" with GATEWAY_ERR_BAD_ADDRESS',
    (text) => {
      expect(() => parseEndpoint(text)).toThrow(GatewayError);
      expect(() => parseEndpoint(text)).toThrow(/is not host:port/);
    },
  );
});

describe('etcd endpoints record (the gateway, the agent and the services follow it)', () => {
  it("reads the voters' client URLs from the etcd endpoints record, and nothing from a bad one", () => {
    expect(votersOf(JSON.stringify({ clientUrls: ['http://10.9.0.10:2379', 'http://10.9.0.100:2379'] }))).toEqual([
      'http://10.9.0.10:2379',
      'http://10.9.0.100:2379',
    ]);
    expect(votersOf(JSON.stringify({ clientUrls: ['http://10.9.0.10:2379', 7, 'ftp://x'] }))).toEqual([
      'http://10.9.0.10:2379',
    ]);
    for (const bad of ['', '{', 'null', '[]', JSON.stringify({ clientUrls: 'http://x' })])
      expect(votersOf(bad)).toEqual([]);
  });
});
