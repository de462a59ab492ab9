import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labLogTails } from '../../bootstrap/index.js';

// What a failed lab (or a failed lab test) prints of its logs before the lab is removed.
describe('lab log tails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-lab-logs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, lines: number, tag: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), `${Array.from({ length: lines }, (_, i) => `${tag} ${i + 1}`).join('\n')}\n`);
  };

  it("gives the last 40 lines of each machine's logs, the seed's (bmc0) first, and the relay's", () => {
    write('bmc10/chassis/node.log', 3, 'ten');
    write('bmc2/chassis/node.log', 100, 'two');
    write('bmc2/chassis/console.log', 5, 'console');
    write('bmc0/chassis/node.log', 2, 'seed');
    write('gateway-relay.log', 1, 'relay');
    mkdirSync(join(dir, 'bmc3', 'chassis'), { recursive: true }); // powered off: no log
    const text = labLogTails(dir);
    const headers = text.split('\n').filter((l) => l.startsWith('--- '));
    expect(headers).toEqual([
      `--- ${join(dir, 'bmc0/chassis/node.log')} (last 2 of 2 lines)`,
      `--- ${join(dir, 'bmc2/chassis/node.log')} (last 40 of 100 lines)`,
      `--- ${join(dir, 'bmc2/chassis/console.log')} (last 5 of 5 lines)`,
      `--- ${join(dir, 'bmc10/chassis/node.log')} (last 3 of 3 lines)`,
      `--- ${join(dir, 'gateway-relay.log')} (last 1 of 1 lines)`,
    ]);
    expect(text).toContain('two 61\n');
    expect(text).toContain('two 100\n');
    expect(text).not.toContain('two 60\n');
  });

  it('gives nothing for a lab that is gone', () => {
    expect(labLogTails(join(dir, 'removed'))).toBe('');
  });
});
