import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** The guest image (`make guest-image`), built when its inputs changed since the last build. */
export function guestImage(): { path: string; sha256: string; bytes: number } {
  execFileSync(join(REPO, 'images/guest/build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = join(REPO, '.cache/images/guest');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    image: { file: string; sha256: string; bytes: number };
  };
  return { path: join(dir, manifest.image.file), sha256: manifest.image.sha256, bytes: manifest.image.bytes };
}
