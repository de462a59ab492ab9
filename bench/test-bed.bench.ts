/**
 * Start and stop times of the test bed's fixtures (the figures in README's developer section),
 * next to the reference the research measured for the same recipe by hand in shell scripts.
 */
import { createNetworkLab, startCeph, startEtcd, startSimulatedBmcs } from '../test/bed/index.js';
import { median, row, timeMs } from './stats.js';

const RUNS = 3;

async function measure(
  label: string,
  start: () => Promise<{ stop(): Promise<void> } | { destroy(): Promise<void> }>,
  reference?: string,
): Promise<void> {
  const starts: number[] = [];
  const stops: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let fixture: { stop(): Promise<void> } | { destroy(): Promise<void> } | undefined;
    starts.push(
      await timeMs(async () => {
        fixture = await start();
      }),
    );
    stops.push(
      await timeMs(() => (fixture && 'stop' in fixture ? fixture.stop() : (fixture?.destroy() ?? Promise.resolve()))),
    );
  }
  row(
    label,
    `start median ${(median(starts) / 1000).toFixed(2)} s`,
    `stop median ${(median(stops) / 1000).toFixed(2)} s`,
    reference ? `(research, by hand: ${reference})` : '',
  );
}

export default async function bench(): Promise<void> {
  console.log(`median of ${RUNS} runs each`);
  await measure('etcd, 1 member', () => startEtcd({ members: 1 }));
  await measure('etcd, 3 members', () => startEtcd({ members: 3 }), '0.5–2.9 s to healthy');
  await measure('Ceph: mon + 1 memstore OSD, no mgr', () => startCeph(), '6.0 s to rados put');
  await measure('Ceph: mon + mgr + 1 memstore OSD', () => startCeph({ mgr: true }), '5.8–7.6 s');
  await measure('Ceph: mon + 1 memstore OSD, cephx', () => startCeph({ auth: 'cephx' }), '6.5–7.6 s');
  await measure('ipmi_sim BMCs x4', () => startSimulatedBmcs({ count: 4 }));
  await measure('network lab, bridge + 4 hosts', () => createNetworkLab({ hosts: 4 }));
}
