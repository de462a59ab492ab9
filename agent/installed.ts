import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether `command` is on this machine's PATH (or in /usr/sbin, /sbin, where Debian puts daemons). */
export function installed(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].some(
    (dir) => dir !== '' && existsSync(join(dir, command)),
  );
}
