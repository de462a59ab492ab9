import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RackseedError } from '../../../agent/errors/index.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, report } from '../io.js';

class CloudServeError extends RackseedError {
  constructor(message: string, cause?: unknown) {
    super('CLI_ERR_CLOUD_SERVE', message, { cause });
  }
}

interface ServeOptions {
  dataDir: string;
  port: string;
  host: string;
  cloudsYaml?: string;
}

/** The admin password: read from the data dir, or made and stored there (0600) on first start. */
async function adminPassword(dataDir: string): Promise<{ password: string; file: string }> {
  const file = join(dataDir, 'admin-password');
  try {
    return { password: (await readFile(file, 'utf8')).trim(), file };
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
    return { password, file };
  }
}

/** Adds or replaces the `rackseed` cloud in a clouds.yaml, keeping every other entry and comment. */
async function writeCloudsYaml(path: string, authUrl: string, password: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  }
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(text || 'clouds: {}\n');
  if (doc.errors.length > 0) throw new CloudServeError(`${path} is not valid YAML; fix or move it, then start again`);
  if (!doc.has('clouds')) doc.set('clouds', {});
  doc.setIn(['clouds', 'rackseed'], {
    auth: {
      auth_url: authUrl,
      username: 'admin',
      password,
      project_name: 'admin',
      user_domain_name: 'Default',
      project_domain_name: 'Default',
    },
    region_name: 'RegionOne',
    interface: 'public',
    identity_api_version: 3,
  });
  // Beside, then rename: the user's clouds.yaml is never seen half written.
  await writeFile(`${path}.rackseed-tmp`, doc.toString(), { mode: 0o600 });
  await chmod(`${path}.rackseed-tmp`, 0o600);
  await rename(`${path}.rackseed-tmp`, path);
}

/** `rackseed cloud serve`: the whole OpenStack-compatible API on this machine. */
export function registerCloud(program: Command, io: CliIo): void {
  const cloud = program.command('cloud').description('run the OpenStack-compatible cloud');
  cloud
    .command('serve')
    .description('serve the OpenStack-compatible API on this machine (database and image store in --data-dir)')
    .requiredOption('--data-dir <dir>', 'where the cloud database, image bytes and admin password live')
    .option('--port <port>', 'TCP port', '5000')
    .option('--host <address>', 'address to listen on and advertise', '127.0.0.1')
    .option(
      '--clouds-yaml <file>',
      'clouds.yaml to add the rackseed entry to (default ~/.config/openstack/clouds.yaml)',
    )
    .action(async (options: ServeOptions, command: Command) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new CliUsageError(`--port ${options.port} is not a TCP port`);
      const dataDir = resolve(options.dataDir);
      await mkdir(join(dataDir, 'images'), { recursive: true, mode: 0o700 });
      const { password, file } = await adminPassword(dataDir);
      // The API stack (fastify, SQLite) is loaded on use, so other verbs do not pay for it.
      const [{ bootstrapCloud, createApi }, { LocalBlobStore }, { FakeDriver }, { openSqliteDb }] = await Promise.all([
        import('../../api/index.js'),
        import('../../blobs/index.js'),
        import('../../compute/index.js'),
        import('../../db/index.js'),
      ]);
      const db = openSqliteDb(join(dataDir, 'cloud.db'));
      await bootstrapCloud(db, password);
      const publicUrl = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
      const api = await createApi({
        db,
        blobs: new LocalBlobStore(join(dataDir, 'images')),
        driver: new FakeDriver(),
        publicUrl,
        logLevel: io.env.RACKSEED_LOG_LEVEL ?? 'warn',
      });
      try {
        await api.app.listen({ port, host: options.host });
      } catch (error) {
        await api.app.close();
        await db.close();
        throw new CloudServeError(
          `cannot listen on ${options.host}:${port}: ${(error as Error).message}; pick another --port`,
          error,
        );
      }
      const cloudsYaml = resolve(
        options.cloudsYaml ?? join(io.env.HOME ?? homedir(), '.config', 'openstack', 'clouds.yaml'),
      );
      await writeCloudsYaml(cloudsYaml, `${publicUrl}/identity`, password);
      const value = {
        url: publicUrl,
        authUrl: `${publicUrl}/identity`,
        cloud: 'rackseed',
        cloudsYaml,
        passwordFile: file,
        driver: 'fake',
      };
      report(io, command.optsWithGlobals<GlobalOptions>(), value, (v) =>
        [
          `rackseed cloud serving the OpenStack API on ${v.url} (compute driver: ${v.driver})`,
          `  cloud "rackseed" written to ${v.cloudsYaml}; admin password in ${v.passwordFile}`,
          `  try:  OS_CLOUD=rackseed openstack server list`,
          `  stop with Ctrl-C`,
        ].join('\n'),
      );
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await api.app.close();
      await db.close();
    });
}
