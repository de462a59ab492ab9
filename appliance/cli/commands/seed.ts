import type { Command } from 'commander';
import type { SeedConfig, SeedEvent } from '../../../bootstrap/seed/index.js';
import { cephConnect, loadCloudServices, RACKSEED, readConfigFile } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, logStrayRejections } from '../io.js';

interface SeedFlags {
  config: string;
  approveNodes?: boolean;
}

/**
 * The seed's configuration with its command line's say: `--approve-nodes` holds every
 * unannounced server for an operator, whatever the file's `enrollment.autoAccept`.
 */
export function seedConfigOf(config: SeedConfig, flags: Omit<SeedFlags, 'config'>): SeedConfig {
  return flags.approveNodes ? { ...config, enrollment: { ...config.enrollment, autoAccept: false } } : config;
}

/** `rackseed seed --config FILE`: make this server the seed of a new (or the same) cluster. */
export function registerSeed(program: Command, io: CliIo): void {
  program
    .command('seed')
    .description('seed a cluster: identity, etcd, netboot, BMC scan; power servers on and enroll them')
    .requiredOption('--config <file>', 'the seed configuration (YAML)')
    .option(
      '--approve-nodes',
      'operator approval: a server not found behind a BMC waits for `rackseed node accept MAC` (see `rackseed node held`) instead of joining at once (enrollment.autoAccept: false)',
    )
    .action(async (flags: SeedFlags, command: Command) => {
      logStrayRejections(io);
      const config = seedConfigOf(await readConfigFile<SeedConfig>(flags.config), flags);
      for (const key of ['cluster', 'dataDir', 'provisioning', 'image', 'bmc'] as const) {
        if (!config[key]) throw new CliUsageError(`the seed configuration ${flags.config} has no ${key}`);
      }
      const json = command.optsWithGlobals<GlobalOptions>().json;
      const print = (e: SeedEvent) =>
        io.stdout(
          json
            ? `${JSON.stringify(e)}\n`
            : `${e.time.slice(11, 19)} ${(e.node ?? '-').padEnd(12)} ${e.type}${e.detail ? `  ${e.detail}` : ''}\n`,
        );
      const { runSeed } = await import('../../../bootstrap/seed/index.js');
      const seed = await runSeed(
        config,
        print,
        async (cloud) => (await loadCloudServices()).cloudServices(RACKSEED, cloud),
        cephConnect,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await seed.stop();
    });
}
