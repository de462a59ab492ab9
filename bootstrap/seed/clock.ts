/**
 * Steps a netbooted machine's clock to its boot server's before the node enrolls. The kernel
 * took the time from the RTC in whole seconds (a QEMU guest's RTC is off by up to its start's
 * fraction too: 0.4–0.9 s were seen), and Ceph's monitors warn past 0.05 s of skew. The node
 * runs no time daemon (the image has none), so it measures its offset from the boot server's
 * `GET /time` the way NTP does (the sample with the shortest round trip, its midpoint) and sets
 * the clock with `date -s @SECONDS` at the instant that second begins on the server's clock,
 * written to a shell that waits for it, and again, earlier by the latency the steps before left.
 * Only the netboot image asks for this (`node boot --set-clock`): a lab node in a namespace
 * shares this machine's clock.
 */
import { spawn } from 'node:child_process';
import { childEnv } from '../../agent/process/index.js';

export interface ClockOffset {
  /** Server time minus local time, ms (positive: this clock is behind). */
  readonly offsetMs: number;
  readonly rttMs: number;
}

/** The best of `samples` round trips to `timeUrl` (ms since the epoch as text). */
export async function clockOffset(timeUrl: string, samples = 5): Promise<ClockOffset> {
  let best: ClockOffset | undefined;
  for (let i = 0; i < samples; i++) {
    const sent = Date.now();
    const text = await (await fetch(timeUrl, { signal: AbortSignal.timeout(5_000) })).text();
    const received = Date.now();
    const server = Number(text.trim());
    if (!Number.isFinite(server)) throw new Error(`${timeUrl} did not answer a time: ${text.slice(0, 40)}`);
    const sample = { offsetMs: server + (received - sent) / 2 - received, rttMs: received - sent };
    if (!best || sample.rttMs < best.rttMs) best = sample;
  }
  if (!best) throw new Error('no time sample');
  return best;
}

/** Sets the clock to `@second` `leadMs` before the local instant that second begins on the server. */
async function stepAt(offsetMs: number, leadMs: number): Promise<void> {
  const shell = spawn('sh', ['-c', 'read s && date -u -s "@$s" >/dev/null'], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: childEnv(),
  });
  let stderr = '';
  shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => shell.on('exit', resolve));
  const second = Math.ceil((Date.now() + offsetMs) / 1000) + 1;
  await new Promise((resolve) => setTimeout(resolve, second * 1000 - offsetMs - leadMs - Date.now()));
  shell.stdin.end(`${second}\n`);
  const code = await exited;
  if (code !== 0) throw new Error(`date -s failed (${code}): ${stderr.trim()}`);
}

/**
 * Steps the clock when it is more than `toleranceMs` off, up to `steps` times: each step writes
 * the second earlier by what the steps before left (their own latency); resolves the offsets
 * before and after, and the round trip of the last measurement.
 */
export async function stepClock(
  timeUrl: string,
  toleranceMs = 10,
  steps = 4,
): Promise<{ before: number; after: number; rttMs: number }> {
  await clockOffset(timeUrl, 2); // warms the connection and the code paths up
  const first = await clockOffset(timeUrl, 8);
  let now = first;
  let leadMs = 0;
  for (let i = 0; i < steps && Math.abs(now.offsetMs) > toleranceMs; i++) {
    await stepAt(now.offsetMs, leadMs);
    now = await clockOffset(timeUrl, 8);
    leadMs += now.offsetMs;
  }
  return { before: first.offsetMs, after: now.offsetMs, rttMs: now.rttMs };
}
