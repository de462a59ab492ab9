import { existsSync, readFileSync } from 'node:fs';

/** The rackseed package.json, found by walking up from this file (works from source and dist/). */
export function packageInfo(): { version: string; engines: { node: string } } {
  let dir = new URL('.', import.meta.url);
  while (!existsSync(new URL('package.json', dir))) {
    const parent = new URL('..', dir);
    if (parent.href === dir.href) throw new Error('package.json not found above the rackseed sources');
    dir = parent;
  }
  return JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
    version: string;
    engines: { node: string };
  };
}
