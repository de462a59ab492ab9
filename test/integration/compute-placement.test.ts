import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../agent/index.js';
import { DEFAULT_PLACEMENT, watchPlacement } from '../../appliance/compute/index.js';
import { type EtcdCluster, startEtcd, waitFor } from '../bed/index.js';
import { BIN, build } from './agent-helpers.js';

// `rackseed compute placement` on a real etcd: the setting is cluster-wide, and every API node
// and the compute keeper follow it live (watchPlacement).
let etcd: EtcdCluster;
let store: Store;
const placement = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, '--json', 'compute', 'placement', '--etcd', etcd.endpoints.join(','), ...args], {
    encoding: 'utf8',
  });

beforeAll(async () => {
  build();
  etcd = await startEtcd();
  store = Store.connect(etcd.endpoints);
}, 180_000);
afterAll(async () => {
  await store?.close();
  await etcd?.stop();
});

describe('the placement setting (allocation ratios, host reserves)', () => {
  it("is Nova's until set; a set is seen live by a follower, merged field by field; bad values are refused", async () => {
    const followed = await watchPlacement(store);
    try {
      const shown = placement();
      expect(shown.status).toBe(0);
      expect(JSON.parse(shown.stdout)).toEqual(DEFAULT_PLACEMENT);
      const set = placement('--cpu-allocation-ratio', '8', '--reserved-host-memory-mb', '1024');
      expect(set.status).toBe(0);
      expect(JSON.parse(set.stdout)).toEqual({
        ...DEFAULT_PLACEMENT,
        cpuAllocationRatio: 8,
        reservedHostMemoryMb: 1024,
      });
      await waitFor('the follower sees the ratio', async () => followed.current().cpuAllocationRatio === 8, 10_000, 50);
      expect(followed.current().reservedHostMemoryMb).toBe(1024);
      expect(JSON.parse(placement('--ram-allocation-ratio', '1.5').stdout)).toMatchObject({
        cpuAllocationRatio: 8,
        ramAllocationRatio: 1.5,
      });
      const bad = placement('--cpu-allocation-ratio', '0');
      expect(bad.status).not.toBe(0);
      expect(JSON.parse(bad.stderr).error.code).toBe('COMPUTE_ERR_PLACEMENT_CONFIG');
      const notNumber = placement('--disk-allocation-ratio', 'lots');
      expect(JSON.parse(notNumber.stderr).error.code).toBe('CLI_ERR_USAGE');
      expect(followed.current().cpuAllocationRatio).toBe(8);
    } finally {
      await followed.close();
    }
  });
});
