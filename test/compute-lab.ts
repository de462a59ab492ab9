import type { ClusterStatus } from '../agent/index.js';
import { inSeed, type LabInfo, labUp, waitFor } from '../bootstrap/index.js';

/**
 * A lab rack of 3 servers with Ceph, ready for servers: every node ready, Ceph HEALTH_OK with
 * the pools Glance's images and servers' disks live in (the compute e2e test and bench).
 */
export async function computeLabUp(
  dir: string,
  rackseed: readonly string[],
): Promise<{ lab: LabInfo; status: () => Promise<ClusterStatus> }> {
  const lab = await labUp({ dir, servers: 3, rackseed, ceph: true, readyTimeoutMs: 180_000 });
  const status = async () => JSON.parse(await inSeed(lab, rackseed, ['--json', 'status'])) as ClusterStatus;
  await waitFor(
    'Ceph HEALTH_OK with the images and vms pools',
    async () => {
      const ceph = (await status()).ceph;
      return ceph?.health === 'HEALTH_OK' && ['images', 'vms'].every((p) => ceph.pools.some((q) => q.name === p));
    },
    300_000,
    2_000,
  );
  return { lab, status };
}
