import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cephRoles, installed } from '../../agent/index.js';

// What a node takes part in depends on the programs its image carries.
describe('programs this machine has', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-installed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = (...commands: string[]) => {
    for (const c of commands) writeFileSync(join(dir, c), '#!/bin/sh\n', { mode: 0o755 });
    return { PATH: dir };
  };

  it('finds a program on PATH and not one that is missing', () => {
    expect(installed('ceph-osd', env('ceph-osd'))).toBe(true);
    expect(installed('no-such-program-here', { PATH: dir })).toBe(false);
    expect(installed('ceph-osd', { PATH: '' })).toBe(false);
  });

  it('gives Ceph roles by the daemons there: an OSD, a monitor with monmaptool too, the manager', () => {
    const none = mkdtempSync(join(tmpdir(), 'rackseed-installed-none-'));
    try {
      expect(cephRoles({ PATH: none })).toEqual({ osd: false, monitor: false, manager: false });
    } finally {
      rmSync(none, { recursive: true, force: true });
    }
    // The netboot image: the daemons, no ceph-mgr (Python), no `ceph` CLI.
    expect(cephRoles(env('ceph-osd', 'ceph-mon'))).toEqual({ osd: true, monitor: false, manager: false });
    expect(cephRoles(env('monmaptool'))).toEqual({ osd: true, monitor: true, manager: false });
    expect(cephRoles(env('ceph-mgr'))).toEqual({ osd: true, monitor: true, manager: true });
  });
});
