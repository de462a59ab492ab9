import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cephPaths, newCephIdentity, renderCephConf } from '../../agent/index.js';

// Ceph drops a value it refuses (out of an option's range, say) for the option's default, and
// says so only on stderr: a timing rackseed relies on would silently be Ceph's. Ceph's own
// `ceph-conf` reads the rendered ceph.conf back, as each kind of daemon and a client would.
describe('ceph.conf: Ceph takes every option as written (real ceph-conf)', () => {
  it('reads back each option of [global], [client], [mon], [mgr] and [osd] with the value written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rackseed-ceph-conf-'));
    try {
      const conf = renderCephConf({
        identity: newCephIdentity(),
        node: 'h1',
        host: '10.0.0.10',
        monAddrs: ['v2:10.0.0.10:3300'],
        paths: cephPaths(join(dir, 'ceph')),
      });
      const file = join(dir, 'ceph.conf');
      writeFileSync(file, conf);
      const who: Record<string, string> = { global: 'client.admin', client: 'client.admin', mon: 'mon.h1' };
      Object.assign(who, { mgr: 'mgr.h1', osd: 'osd.0' });
      let section = 'global';
      let checked = 0;
      for (const line of conf.split('\n')) {
        section = /^\[(\w+)\]$/.exec(line)?.[1] ?? section;
        const option = /^([a-z][a-z0-9 ]*?) = (.*)$/.exec(line);
        if (!option?.[1] || option[2] === undefined || option[2].includes('$')) continue;
        const name = option[1].replace(/ /g, '_');
        const read = execFileSync(
          'ceph-conf',
          ['-c', file, '--name', who[section] ?? '', '--show-config-value', name],
          {
            encoding: 'utf8',
          },
        ).trim();
        const written = option[2];
        // Addresses come back in Ceph's own form (`v2:IP:0/0`).
        if (/_addr$|^mon_host$/.test(name)) expect(`${name} = ${read}`).toContain(written.replace(/^\[v2:|\]$/g, ''));
        else if (Number.isNaN(Number(written))) expect(`${name} = ${read}`).toBe(`${name} = ${written}`);
        else expect(`${name} = ${Number(read)}`).toBe(`${name} = ${Number(written)}`);
        checked++;
      }
      expect(checked).toBeGreaterThan(30);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
