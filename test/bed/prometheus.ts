import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { type Daemon, type Scope, waitFor } from '../../bootstrap/index.js';

/** A scrape job: HTTPS targets that want a client certificate from the cluster CA. */
export interface PrometheusJob {
  readonly name: string;
  readonly targets: readonly string[];
  /** The client's certificate directory (`ca.crt`, `node.crt`, `node.key`), as NodeTls keeps it. */
  readonly tlsDir: string;
  readonly metricsPath?: string;
}

/** One sample of an instant query: its labels and value. */
export interface PrometheusSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface Prometheus {
  readonly daemon: Daemon;
  /** An instant query (PromQL) at now. */
  query(expression: string): Promise<PrometheusSample[]>;
  /** Each target's last scrape, for a failing test to print: `job instance health duration error`. */
  targets(): Promise<string[]>;
}

/**
 * A real Prometheus (Debian's `prometheus`) in `scope`, scraping `jobs` every 2 s (a loaded machine's scrape can take over a second), in the
 * network namespace `netns` if given; it listens on that namespace's 127.0.0.1 (for the test's
 * queries only). Stopped with the scope.
 */
export async function startPrometheus(
  scope: Scope,
  jobs: readonly PrometheusJob[],
  options: { netns?: string } = {},
): Promise<Prometheus> {
  const port = await scope.port();
  const config = join(scope.dir, 'prometheus.yml');
  const yaml = [
    'global:',
    '  scrape_interval: 2s',
    '  scrape_timeout: 2s',
    'scrape_configs:',
    ...jobs.flatMap((job) => [
      `  - job_name: ${JSON.stringify(job.name)}`,
      '    scheme: https',
      `    metrics_path: ${JSON.stringify(job.metricsPath ?? '/metrics')}`,
      '    tls_config:',
      `      ca_file: ${JSON.stringify(join(job.tlsDir, 'ca.crt'))}`,
      `      cert_file: ${JSON.stringify(join(job.tlsDir, 'node.crt'))}`,
      `      key_file: ${JSON.stringify(join(job.tlsDir, 'node.key'))}`,
      '    static_configs:',
      `      - targets: ${JSON.stringify(job.targets)}`,
    ]),
  ].join('\n');
  writeFileSync(config, `${yaml}\n`);
  const daemon = scope.spawn(
    'prometheus',
    [
      'prometheus',
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(scope.dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    options.netns ? { netns: options.netns } : {},
  );
  /** Its API's answer: over HTTP from here, or with curl inside its namespace. */
  const get = async (url: string): Promise<string> => {
    if (!options.netns) return (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
    const argv = ['netns', 'exec', options.netns, 'curl', '-s', '--max-time', '5', url];
    return (await promisify(execFile)('ip', argv, { encoding: 'utf8' })).stdout;
  };
  const query = async (expression: string): Promise<PrometheusSample[]> => {
    const body = JSON.parse(
      await get(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expression)}`),
    ) as {
      status: string;
      error?: string;
      data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`prometheus query ${expression}: ${body.error ?? body.status}`);
    return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  await waitFor(
    'prometheus to answer queries',
    () =>
      query('vector(1)').then(
        () => true,
        () => false,
      ),
    30_000,
    200,
  );
  const targets = async (): Promise<string[]> => {
    const body = JSON.parse(await get(`http://127.0.0.1:${port}/api/v1/targets`)) as {
      data?: {
        activeTargets?: {
          labels: Record<string, string>;
          health: string;
          lastError: string;
          lastScrapeDuration: number;
        }[];
      };
    };
    return (body.data?.activeTargets ?? []).map(
      (t) =>
        `${t.labels.job ?? ''} ${t.labels.instance ?? ''} ${t.health} ${t.lastScrapeDuration.toFixed(3)}s ${t.lastError}`,
    );
  };
  return { daemon, query, targets };
}
