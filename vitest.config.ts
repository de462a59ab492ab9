import { defineConfig } from 'vitest/config';

// Three projects: unit (pure, fast), integration (real etcd, Ceph, ipmi_sim, netns, started by
// the tests themselves), e2e (the lab rack). Real daemons share 2 cores, so integration and
// e2e files run one at a time.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
