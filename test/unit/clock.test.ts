import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockOffset } from '../../bootstrap/seed/clock.js';

// The offset a netbooted node measures from its boot server's GET /time (stepping the clock is
// the netboot image's: test/e2e/lab-qemu.test.ts asserts what is left after the step).
describe('clock offset from the boot server', () => {
  let ahead = 0;
  let body: (() => string) | undefined;
  const server = createServer((_request, response) => {
    response.end(body ? body() : `${Date.now() + ahead}\n`);
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/time`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('measures how far the server is ahead or behind, within the round trip', async () => {
    for (ahead of [2_000, -750, 0]) {
      const { offsetMs, rttMs } = await clockOffset(url);
      expect(Math.abs(offsetMs - ahead)).toBeLessThanOrEqual(rttMs / 2 + 1);
    }
  });

  it('refuses an answer that is not a time', async () => {
    body = () => '<html>not a clock</html>';
    await expect(clockOffset(url, 1)).rejects.toThrow(/did not answer a time/);
    body = undefined;
  });
});
