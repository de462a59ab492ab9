import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephCommandError } from '../../agent/index.js';
import { adminSocketCommand } from '../../agent/ceph/index.js';
import { type CephCluster, startCeph } from '../bed/index.js';

// The admin socket client against a real ceph-mon: what the agent asks its own monitor when a
// node left (power-watch.ts, LocalCeph.hurryMonitorElection), without the `ceph` CLI.
describe('Ceph admin socket (real ceph-mon)', () => {
  let ceph: CephCluster;
  let socket: string;

  beforeAll(async () => {
    ceph = await startCeph({ osds: 1 });
    socket = join(dirname(ceph.conf), 'run', 'mon.a.asok');
  }, 120_000);

  afterAll(async () => {
    await ceph?.stop();
  });

  const status = async () =>
    JSON.parse(await adminSocketCommand(socket, { prefix: 'mon_status' })) as {
      name: string;
      state: string;
      election_epoch: number;
      quorum: number[];
    };

  it('reads the monitor’s status and, asked to, makes it call an election', async () => {
    const before = await status();
    expect(before).toMatchObject({ name: 'a', state: 'leader', quorum: [0] });
    await adminSocketCommand(socket, { prefix: 'quorum enter' });
    // An election is two epochs (odd while electing, even once won).
    const settled = async () => {
      const now = await status();
      return now.state === 'leader' && now.election_epoch >= before.election_epoch + 2;
    };
    for (let i = 0; i < 50 && !(await settled()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await status();
    expect(after.election_epoch).toBeGreaterThanOrEqual(before.election_epoch + 2);
    expect(after.state).toBe('leader');
  });

  it('fails with CephCommandError for a command the monitor refuses and for a socket nobody listens on', async () => {
    await expect(adminSocketCommand(socket, { prefix: 'no such command' })).rejects.toThrow(
      /unknown command prefix no such command/,
    );
    await expect(adminSocketCommand(join(dirname(socket), 'nobody.asok'), { prefix: 'mon_status' })).rejects.toThrow(
      CephCommandError,
    );
  });
});
