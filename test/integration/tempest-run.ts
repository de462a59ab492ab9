import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CloudProcess } from '../bed/index.js';

// Runs tempest (test/tempest/run.sh) against a `rackseed cloud serve` and reads its results: the
// embedded cloud's test (api-tempest.test.ts) and the cluster node's (cloud-clustered.test.ts).

const run = promisify(execFile);

/** Where tempest's logs outlive the tests' directories: `.bed/artifacts/tempest/`, or RACKSEED_ARTIFACTS. */
const ARTIFACTS = join(
  process.env.RACKSEED_ARTIFACTS ?? fileURLToPath(new URL('../../.bed/artifacts/', import.meta.url)),
  'tempest',
);

/**
 * The compute tests tempest 33 cannot check at the newest microversion, whatever the cloud
 * answers: it validates the instance action list with its 2.1 schema at every version (2.58
 * added `updated_at`, which Nova and rackseed send).
 */
const NEWEST_SCHEMA_GAPS = [
  'servers\\.test_instance_actions\\.InstanceActionsTestJSON\\.test_list_instance_actions\\[',
  'servers\\.test_instance_actions\\.InstanceActionsV221TestJSON\\.test_get_list_deleted_instance_actions\\[',
];

/**
 * The network classes the cluster node leaves to the embedded cloud: the slowest (tempest sleeps
 * 10 s in each subnet delete of their fixtures; ports and routers take 90 s each on a worker of
 * their own, the run's longest path). The network classes that stay (routers' admin side, floating
 * IPs, security groups, quotas) make networks, subnets, ports and routers through the DB master.
 */
const CLUSTER_NODE_LEAVES = ['test_ports', 'test_routers', 'test_networks', 'test_networks_negative'];

/**
 * Writes the cluster node's include list to `path`: include-list.txt with its compute line
 * narrowed for a run at the newest microversion (`COMPUTE_MIN_MICROVERSION: 'max'`: all of it but
 * {@link NEWEST_SCHEMA_GAPS}) and without the network classes of {@link CLUSTER_NODE_LEAVES}.
 */
export function clusterNodeIncludeList(path: string): string {
  const list = readFileSync(fileURLToPath(new URL('../tempest/include-list.txt', import.meta.url)), 'utf8');
  const compute = '^tempest\\.api\\.compute\\.';
  const lines = list.split('\n');
  if (!lines.includes(compute)) throw new Error(`include-list.txt has no line ${compute}`);
  const left = new Set(CLUSTER_NODE_LEAVES.map((c) => `^tempest\\.api\\.network\\.${c}\\.`));
  for (const line of left) if (!lines.includes(line)) throw new Error(`include-list.txt has no line ${line}`);
  const kept = lines
    .filter((line) => !left.has(line))
    .map((line) => (line === compute ? `${compute}(?!${NEWEST_SCHEMA_GAPS.join('|')})` : line));
  writeFileSync(path, kept.join('\n'));
  return path;
}

export type Tally = Record<'passed' | 'failed' | 'skipped', number>;

/** Passed, failed and skipped per module (`compute`, `identity`, `image`), from tempest's progress lines. */
export function tallies(output: string): Record<string, Tally> {
  const out: Record<string, Tally> = {};
  for (const m of output.matchAll(/tempest\.api\.(\w+)\.\S*(?: \[[\d.]+s\])? \.\.\. (ok|FAILED|SKIPPED)/g)) {
    const tally = (out[m[1] ?? ''] ??= { passed: 0, failed: 0, skipped: 0 });
    tally[m[2] === 'ok' ? 'passed' : m[2] === 'FAILED' ? 'failed' : 'skipped'] += 1;
  }
  return out;
}

/** The tests tempest reported failed. */
export const failedTests = (output: string): string[] => output.split('\n').filter((l) => /\.\.\. FAILED$/.test(l));

/**
 * Runs test/tempest/run.sh against `cloud` in `workspace` (under the cloud's directory) with
 * `env` added; prints the per-module tallies under `title`, and keeps its output (with every
 * request and answer of a failed test) as `<ARTIFACTS>/<name>.log`, the cloud's log beside it. Its output and tallies, and
 * whether it exited non-zero.
 */
export async function runTempest(
  cloud: CloudProcess,
  workspace: string,
  title: string,
  name: string,
  env: Record<string, string> = {},
): Promise<{ output: string; failedRun: boolean; tally: Record<string, Tally> }> {
  let output: string;
  let failedRun = false;
  try {
    const r = await run('test/tempest/run.sh', [cloud.url, cloud.passwordFile, join(cloud.dir, workspace)], {
      env: { ...process.env, OS_CACERT: cloud.ca, ...env },
      timeout: 900_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    output = r.stdout + r.stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    failedRun = true;
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, `${name}.log`), output);
  const serverLog = join(cloud.dir, 'cloud-serve.log');
  if (existsSync(serverLog)) cpSync(serverLog, join(ARTIFACTS, `${name}.cloud-serve.log`));
  const tally = tallies(output);
  console.log(
    `tempest ${title}:\n${Object.entries(tally)
      .map(([m, n]) => `  ${m}: ${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped`)
      .join('\n')}`,
  );
  return { output, failedRun, tally };
}
