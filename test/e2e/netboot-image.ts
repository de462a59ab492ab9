import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The netboot image's directory (`.cache/images/netboot`: vmlinuz, initrd.img), (re)built by
 * `make image`'s script when it is missing or older than its recipe (~4 min; it builds dist/
 * too), else with dist/ rebuilt.
 */
export function netbootImage(): string {
  const dir = join(REPO, '.cache/images/netboot');
  const initrd = join(dir, 'initrd.img');
  const recipe = ['images/netboot/init', 'images/netboot/build.sh'].map((f) => statSync(join(REPO, f)).mtimeMs);
  if (!existsSync(initrd) || statSync(initrd).mtimeMs < Math.max(...recipe))
    execFileSync(join(REPO, 'images/netboot/build.sh'), { cwd: REPO });
  else execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
  return dir;
}
