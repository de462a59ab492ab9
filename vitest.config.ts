import { defineConfig } from 'vitest/config';

// Three projects: unit (pure, fast), integration (real etcd, Ceph, ipmi_sim, netns, started by
// the tests themselves), e2e (the lab rack, QEMU). Real daemons and QEMU share 2 cores, so every
// test file runs on its own: one worker for all projects (a QEMU boot beside a six-agent etcd
// test starved both into timeouts).
export default defineConfig({
  test: {
    maxWorkers: 1,
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
