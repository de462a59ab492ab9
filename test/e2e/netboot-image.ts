import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** What the images are made of: their recipes and the code they carry. */
const INPUTS = ['images', 'agent', 'bootstrap', 'appliance', 'statemachines', 'bin', 'package-lock.json'];

function newestInput(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newestInput(join(path, entry))));
}

/** Runs `script` (a `make image` recipe) when `output` is missing or older than any input. */
function builtImage(output: string, script: string): void {
  const stale =
    !existsSync(output) || Math.max(...INPUTS.map((p) => newestInput(join(REPO, p)))) > statSync(output).mtimeMs;
  if (stale) execFileSync(join(REPO, script), { cwd: REPO, stdio: 'ignore', timeout: 900_000 });
}

/**
 * The netboot image's directory (`.cache/images/netboot`: vmlinuz, initrd.img), (re)built by
 * `make image`'s script when it is missing or older than its recipe or the code it carries (~2–9
 * min; it builds dist/ too); dist/ is rebuilt either way (the lab's servers run it).
 */
export function netbootImage(): string {
  const dir = join(REPO, '.cache/images/netboot');
  builtImage(join(dir, 'initrd.img'), 'images/netboot/build.sh');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
  return dir;
}

/** The USB seed image (`.cache/images/usb/rackseed-seed.img`), (re)built like {@link netbootImage}. */
export function usbImage(): string {
  const image = join(REPO, '.cache/images/usb/rackseed-seed.img');
  builtImage(image, 'images/usb/build.sh');
  return image;
}
