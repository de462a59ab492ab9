import { describe, expect, it } from 'vitest';
import { Tenure } from '../../appliance/dbmaster/tenure.js';

/** A clock the test moves, and a keepalive that takes `delay` ms and answers `answer`. */
function bed() {
  let now = 1_000;
  let answer: () => { ttlSeconds: number } = () => ({ ttlSeconds: 2 });
  let delay = 0;
  const tenure = new Tenure(
    async () => {
      now += delay;
      return answer();
    },
    500,
    () => now,
  );
  return {
    tenure,
    advance: (ms: number) => {
      now += ms;
    },
    answer: (f: () => { ttlSeconds: number }) => {
      answer = f;
    },
    delay: (ms: number) => {
      delay = ms;
    },
    now: () => now,
  };
}

describe('the DB master knows until when its election lease surely holds (Tenure)', () => {
  it('vouches for nothing before its first acknowledged keepalive', () => {
    expect(bed().tenure.holds()).toBe(false);
  });

  it('counts the TTL from when the keepalive was sent, not answered, and stops vouching a margin before', async () => {
    const b = bed();
    b.delay(300); // the answer takes 300 ms: etcd may have received it at once
    const sent = b.now();
    expect(await b.tenure.renew()).toBe('held');
    expect(b.tenure.validUntil).toBe(sent + 2_000);
    b.advance(2_000 - 500 - 300 - 1);
    expect(b.tenure.holds()).toBe(true);
    b.advance(1);
    expect(b.tenure.holds()).toBe(false); // inside the margin: refused
  });

  it('a master paused past its lease refuses when it wakes, before any keepalive', async () => {
    const b = bed();
    await b.tenure.renew();
    expect(b.tenure.holds()).toBe(true);
    b.advance(60_000); // SIGSTOP
    expect(b.tenure.holds()).toBe(false);
  });

  it('a keepalive etcd does not answer changes nothing; the margin runs out if that goes on', async () => {
    const b = bed();
    await b.tenure.renew();
    b.answer(() => {
      throw new Error('etcd unreachable');
    });
    b.advance(400);
    expect(await b.tenure.renew()).toBe('unknown');
    expect(b.tenure.holds()).toBe(true);
    b.advance(1_100);
    expect(b.tenure.holds()).toBe(false);
  });

  it('a lease etcd no longer knows is lost for good', async () => {
    const b = bed();
    await b.tenure.renew();
    b.answer(() => ({ ttlSeconds: 0 }));
    expect(await b.tenure.renew()).toBe('lost');
    b.answer(() => ({ ttlSeconds: 2 }));
    expect(await b.tenure.renew()).toBe('lost');
    expect(b.tenure.holds()).toBe(false);
  });

  it('lose() ends it at once (a master that resigns or stops)', async () => {
    const b = bed();
    await b.tenure.renew();
    b.tenure.lose();
    expect(b.tenure.holds()).toBe(false);
  });
});
