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

  describe('keep', () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    // One renewal at a time, a keepalive caught by the loss of etcd's leader (it waits until its
    // deadline) held back the ones that the new leader would have answered.
    it('does not let a renewal that waits hold the next back', async () => {
      let calls = 0;
      const tenure = new Tenure(async () => {
        calls += 1;
        if (calls === 1) {
          await sleep(3_000);
          throw new Error('4 DEADLINE_EXCEEDED');
        }
        return { ttlSeconds: 2 };
      }, 100);
      const stop = tenure.keep(100, () => {});
      try {
        await sleep(600);
        expect(calls).toBeGreaterThanOrEqual(2);
        expect(tenure.holds()).toBe(true);
      } finally {
        stop();
      }
    });

    it('waits for at most 4 at once', async () => {
      let calls = 0;
      const tenure = new Tenure(async () => {
        calls += 1;
        await sleep(10_000);
        return { ttlSeconds: 2 };
      }, 100);
      const stop = tenure.keep(20, () => {});
      await sleep(300);
      stop();
      expect(calls).toBe(4);
    });

    it('tells a lost lease once and renews no more; lose() and the returned function stop it too', async () => {
      let calls = 0;
      let lost = 0;
      const gone = new Tenure(async () => ((calls += 1), { ttlSeconds: 0 }), 100);
      gone.keep(20, () => (lost += 1));
      await sleep(150);
      expect([calls, lost, gone.holds()]).toEqual([1, 1, false]);

      let renewed = 0;
      const resigned = new Tenure(async () => ((renewed += 1), { ttlSeconds: 2 }), 100);
      resigned.keep(20, () => {});
      await sleep(70);
      resigned.lose();
      const atLose = renewed;
      await sleep(100);
      expect(renewed).toBe(atLose);

      let kept = 0;
      const stopped = new Tenure(async () => ((kept += 1), { ttlSeconds: 2 }), 100);
      const stop = stopped.keep(20, () => {});
      await sleep(70);
      stop();
      const atStop = kept;
      await sleep(100);
      expect(kept).toBe(atStop);
    });
  });
});
