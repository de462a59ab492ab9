import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A `rackseed cloud serve` process on 127.0.0.1, with its data dir and clouds.yaml in a temp dir. */
export interface CloudProcess {
  url: string;
  dir: string;
  cloudsYaml: string;
  passwordFile: string;
  /** Environment for the openstack CLI: `OS_CLOUD=rackseed` with the test's clouds.yaml. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * Starts the compiled CLI (`make build` first) as `rackseed cloud serve` and waits until it
 * says it is serving. `stop()` sends SIGTERM to that pid, waits for the exit, removes the dir.
 */
export async function startCloud(): Promise<CloudProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-cloud-'));
  const port = await freePort();
  const cloudsYaml = join(dir, 'clouds.yaml');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      'bin/rackseed.js',
      'cloud',
      'serve',
      '--data-dir',
      join(dir, 'data'),
      '--port',
      String(port),
      '--clouds-yaml',
      cloudsYaml,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloud serve did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('serving the OpenStack API')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cloud serve exited with ${code}: ${output}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    cloudsYaml,
    passwordFile: join(dir, 'data', 'admin-password'),
    env: { ...process.env, OS_CLOUD: 'rackseed', OS_CLIENT_CONFIG_FILE: cloudsYaml },
    stop: async () => {
      if (child.exitCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The admin password the cloud wrote to its data dir. */
export function adminPasswordOf(cloud: CloudProcess): string {
  return readFileSync(cloud.passwordFile, 'utf8').trim();
}
