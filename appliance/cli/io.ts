import { isRackseedError } from '../../agent/errors/index.js';
import { EXIT } from './errors.js';

/** Where a command writes and what it reads from its environment; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** The options every command shares, read with `command.optsWithGlobals()`. */
export interface GlobalOptions {
  json?: boolean;
}

/**
 * Prints a command's result: the value itself as one JSON document with `--json`, else the
 * human rendering. Every command that reports something goes through here.
 */
export function report<T>(io: CliIo, options: GlobalOptions, value: T, human: (value: T) => string): void {
  if (options.json) io.stdout(`${JSON.stringify(value)}\n`);
  else io.stdout(human(value).replace(/\n?$/, '\n'));
}

/**
 * Prints an error as one line with its stable code (or one JSON object with `--json`) and
 * returns the exit code. Unknown errors are bugs: they get a code too, never a stack dump.
 */
export function reportError(io: CliIo, options: GlobalOptions, error: unknown): number {
  const code = isRackseedError(error) ? error.code : 'CLI_ERR_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  const retryable = isRackseedError(error) && error.retryable;
  if (options.json) io.stderr(`${JSON.stringify({ error: { code, message, retryable } })}\n`);
  else io.stderr(`error ${code}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  return code === 'CLI_ERR_USAGE' ? EXIT.usage : EXIT.failure;
}

/**
 * For the long-running verbs (agent, node boot, seed): a promise rejection nobody handled is
 * logged with its stack and a stable code instead of ending the process (Node's default). An
 * agent that exits is a dead node to the cluster, which fences it: one forgotten `catch` must
 * not cost a server.
 */
export function logStrayRejections(io: CliIo): void {
  process.on('unhandledRejection', (reason) => {
    const detail = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
    io.stderr(`${new Date().toISOString()} error CLI_ERR_UNHANDLED_REJECTION: ${detail}\n`);
  });
}

/** Resolves on SIGTERM or SIGINT: how a verb that serves until stopped waits. */
export function untilSignal(): Promise<void> {
  return new Promise((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
