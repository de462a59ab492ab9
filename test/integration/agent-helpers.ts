import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterStatus } from '../../agent/index.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${REPO}bin/rackseed.js`;
export const RECORDER = fileURLToPath(new URL('./fixtures/claim-recorder.sh', import.meta.url));

/** Compiles dist/ so that agents run the code under test (`node bin/rackseed.js`). */
export function build(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'ignore' });
}

/** Writes a fresh cluster key (hex) into `dir` for the agents' `clusterKeyFile`; returns its path. */
export function writeClusterKey(dir: string): string {
  const file = join(dir, 'cluster.key');
  writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return file;
}

/** etcdctl's flags to present the node certificate in `dir` (the cluster's etcd is mutual TLS). */
export const etcdctlTls = (dir: string): string[] => [
  ...['--cacert', join(dir, 'ca.crt'), '--cert', join(dir, 'node.crt'), '--key', join(dir, 'node.key')],
];

/** `rackseed status --json` against `etcd`, run as the operator would (with a node certificate's `tls` directory for https etcd). */
export function status(etcd: readonly string[], netns?: string, tls?: string): ClusterStatus {
  const argv = ['node', BIN, 'status', '--json', '--etcd', etcd.join(','), ...(tls ? ['--tls', tls] : [])];
  const [command, ...args] = (netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv) as [string, ...string[]];
  return JSON.parse(execFileSync(command, args, { encoding: 'utf8', timeout: 15_000 })) as ClusterStatus;
}

export interface Claim {
  node: string;
  start: number;
  stop: number | undefined;
}

/** Reads the recorder's log: every run of the singleton, per node, with start and stop times (ms). */
export function claims(log: string): Claim[] {
  const runs: Claim[] = [];
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const [kind, node = '', nanos = '0'] = line.split(' ');
    const at = Number(BigInt(nanos) / 1_000_000n);
    if (kind === 'start') runs.push({ node, start: at, stop: undefined });
    else {
      const run = runs.findLast((r) => r.node === node && r.stop === undefined);
      if (run) run.stop = at;
    }
  }
  return runs;
}

/** Pairs of runs on different nodes that overlap in time (`killedAt` ends runs whose node was killed). */
export function overlaps(runs: readonly Claim[], killedAt: Record<string, number> = {}): [Claim, Claim][] {
  const end = (r: Claim) => r.stop ?? killedAt[r.node] ?? Number.POSITIVE_INFINITY;
  const found: [Claim, Claim][] = [];
  for (const a of runs) for (const b of runs) if (a !== b && a.start <= b.start && b.start < end(a)) found.push([a, b]);
  return found;
}
