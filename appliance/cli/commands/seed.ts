import type { Command } from 'commander';
import type { SeedConfig, SeedEvent } from '../../../bootstrap/seed/index.js';
import { cephConnect, loadCloudServices, RACKSEED, readConfigFile } from '../cluster.js';
import { CliUsageError } from '../errors.js';
import { type CliIo, type GlobalOptions, logStrayRejections } from '../io.js';

/** `rackseed seed --config FILE`: make this server the seed of a new (or the same) cluster. */
export function registerSeed(program: Command, io: CliIo): void {
  program
    .command('seed')
    .description('seed a cluster: identity, etcd, netboot, BMC scan; power servers on and enroll them')
    .requiredOption('--config <file>', 'the seed configuration (YAML)')
    .action(async (flags: { config: string }, command: Command) => {
      logStrayRejections(io);
      const config = await readConfigFile<SeedConfig>(flags.config);
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
