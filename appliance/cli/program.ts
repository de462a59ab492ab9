import { Command, CommanderError } from 'commander';
import { registerAgent } from './commands/agent.js';
import { registerBmc } from './commands/bmc.js';
import { registerCloud } from './commands/cloud.js';
import { registerCompute } from './commands/compute.js';
import { registerDb } from './commands/db.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEvents } from './commands/events.js';
import { registerHost } from './commands/host.js';
import { registerLab } from './commands/lab.js';
import { registerNetboot } from './commands/netboot.js';
import { registerNode } from './commands/node.js';
import { registerSeed } from './commands/seed.js';
import { registerVersion } from './commands/version.js';
import { CliUsageError, EXIT } from './errors.js';
import { type CliIo, type GlobalOptions, reportError } from './io.js';

/** Each verb lives in `commands/<verb>.ts` and adds itself to the program here. */
const VERBS: ReadonlyArray<(program: Command, io: CliIo) => void> = [
  registerVersion,
  registerDoctor,
  registerBmc,
  registerNetboot,
  registerCloud,
  registerCompute,
  registerAgent,
  registerEvents,
  registerNode,
  registerSeed,
  registerLab,
  registerDb,
  registerHost,
];

function createProgram(io: CliIo): Command {
  const program = new Command('rackseed')
    .description('Turn a rack of bare servers into a self-assembling, OpenStack-compatible cloud.')
    .option('--json', 'print results (and errors) as JSON')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // Usage errors are reported by runCli with their stable code, as every other error.
      outputError: () => {},
    });
  for (const register of VERBS) register(program, io);
  program.commands.forEach((command) => {
    command.exitOverride();
  });
  return program;
}

/**
 * Runs the command line `argv` (without node and script) and returns the exit code:
 * 0 success, 1 operational failure, 2 usage error. It never throws and never exits the
 * process itself, so tests and the agent can call it in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  const options: GlobalOptions = { json: argv.includes('--json') };
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) {
        return EXIT.ok;
      }
      if (error.code === 'commander.help') return EXIT.usage; // `rackseed` alone: help on stderr
      const message = error.message.replace(/^error: /, '');
      return reportError(io, options, new CliUsageError(`${message} (see rackseed --help)`));
    }
    return reportError(io, options, error);
  }
}
