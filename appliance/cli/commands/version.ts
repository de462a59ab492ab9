import type { Command } from 'commander';
import { type CliIo, type GlobalOptions, report } from '../io.js';
import { packageInfo } from '../package-info.js';

/** `rackseed version`: the release of rackseed and the runtime it runs on. */
export function registerVersion(program: Command, io: CliIo): void {
  program
    .command('version')
    .description('print the rackseed version and its runtime')
    .action((_options: object, command: Command) => {
      const value = {
        rackseed: packageInfo().version,
        node: process.versions.node,
        platform: `${process.platform}-${process.arch}`,
      };
      report(
        io,
        command.optsWithGlobals<GlobalOptions>(),
        value,
        (v) => `rackseed ${v.rackseed} (node ${v.node}, ${v.platform})`,
      );
    });
}
