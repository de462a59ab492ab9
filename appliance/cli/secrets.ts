import { readFile } from 'node:fs/promises';
import { CliSecretError, CliUsageError } from './errors.js';
import type { CliIo } from './io.js';

/**
 * Reads a secret from a file (first line, trailing newline dropped) or else from an
 * environment variable. Secrets never come from the command line, where `ps` would show
 * them, and no error message ever contains one.
 */
export async function readSecret(
  io: CliIo,
  from: {
    file?: string;
    env: string;
    what: string;
    /** The file's option (default --password-file). */ option?: string;
  },
): Promise<string> {
  if (from.file !== undefined) {
    let text: string;
    try {
      text = await readFile(from.file, 'utf8');
    } catch (error) {
      throw new CliSecretError(
        `cannot read the ${from.what} file ${from.file}: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`,
        error,
      );
    }
    const secret = text.split(/\r?\n/, 1)[0] ?? '';
    if (secret === '') throw new CliSecretError(`the ${from.what} file ${from.file} is empty`);
    return secret;
  }
  const fromEnv = io.env[from.env];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  throw new CliUsageError(`no ${from.what} given: pass ${from.option ?? '--password-file'} or set ${from.env}`);
}
