import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canRunCeph, installed } from '../../bootstrap/seed/installed.js';

// What a node takes part in depends on the programs its image carries.
describe('programs this machine has', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-installed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = (...commands: string[]) => {
    for (const c of commands) writeFileSync(join(dir, c), '#!/bin/sh\n', { mode: 0o755 });
    return { PATH: dir };
  };

  it('finds a program on PATH and not one that is missing', () => {
    expect(installed('ceph-mon', env('ceph-mon'))).toBe(true);
    expect(installed('no-such-program-here', { PATH: dir })).toBe(false);
    expect(installed('ceph-mon', { PATH: '' })).toBe(false);
  });

  it('takes part in Ceph only with both daemons and the CLI the keeper drives', () => {
    const none = mkdtempSync(join(tmpdir(), 'rackseed-installed-none-'));
    try {
      expect(canRunCeph({ PATH: none })).toBe(false);
    } finally {
      rmSync(none, { recursive: true, force: true });
    }
    expect(canRunCeph(env('ceph-osd'))).toBe(false); // ceph-mon from above, no ceph CLI yet
    expect(canRunCeph(env('ceph'))).toBe(true);
  });
});
