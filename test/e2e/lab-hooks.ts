import { existsSync, readdirSync, rmSync } from 'node:fs';
import { afterAll, afterEach, expect } from 'vitest';
import { type LabInfo, labDown, labLogTails } from '../../bootstrap/index.js';

/**
 * The end of a lab e2e file: a failed test prints the tails of the lab's logs (CI keeps only
 * what a run prints), and after the file the lab is removed with its directory and namespaces. `current` gives
 * the file's lab directory and lab as they are when the hook runs.
 */
export function removeLabAfterAll(current: () => { dir: string | undefined; lab: LabInfo | undefined }): void {
  afterEach(({ task }) => {
    const { lab } = current();
    if (task.result?.state === 'fail' && lab) console.log(labLogTails(lab.scopeDir));
  });
  afterAll(async () => {
    const { dir, lab } = current();
    if (!dir) return;
    await labDown(dir);
    rmSync(dir, { recursive: true, force: true });
    // No namespace of the lab is left: its machines', nor those their host services made.
    const prefix = lab?.bridgeNetns.replace(/br$/, '');
    if (prefix && existsSync('/run/netns'))
      expect(readdirSync('/run/netns').filter((name) => name.startsWith(prefix))).toEqual([]);
  });
}
