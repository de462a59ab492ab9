import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The layering of DESIGN.md is enforced by eslint.config.js; these pin that it stays enforced.
const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message.split("'")[1] ?? '');
}

describe('layering rules', () => {
  it('keeps statemachines/ pure: xstate and its own files only', async () => {
    const code = [
      "import { setup } from 'xstate';",
      "import { getShortestPaths } from 'xstate/graph';",
      "import { NODE } from './node.js';",
      "import { readFileSync } from 'node:fs';",
      "import { RackseedError } from '../agent/index.js';",
      "import etcd from 'etcd3';",
      'export const all = [setup, getShortestPaths, NODE, readFileSync, RackseedError, etcd];',
    ].join('\n');
    expect(await restrictedImports('statemachines/probe.ts', code)).toEqual(['node:fs', '../agent/index.js', 'etcd3']);
  });

  it('points dependencies one way and through front doors', async () => {
    const agent = [
      "import { a } from '../statemachines/index.js';",
      "import { b } from '../statemachines/node.js';",
      "import { c } from '../appliance/index.js';",
      'export const all = [a, b, c];',
    ].join('\n');
    expect(await restrictedImports('agent/probe.ts', agent)).toEqual([
      '../statemachines/node.js',
      '../appliance/index.js',
    ]);
    const bootstrap =
      "import { d } from '../../appliance/index.js';\nimport { e } from '../../agent/index.js';\nexport const all = [d, e];";
    expect(await restrictedImports('bootstrap/ipmi/probe.ts', bootstrap)).toEqual(['../../appliance/index.js']);
  });

  it("keeps the dashboard's browser code to its own modules, and the browser's globals out of the rest", async () => {
    const web = [
      "import { h } from './dom.js';",
      "import { keys } from '../../../../agent/index.js';",
      "import { readFile } from 'node:fs';",
      'export const all = [h, keys, readFile];',
    ].join('\n');
    expect(await restrictedImports('appliance/api/dashboard/web/probe.ts', web)).toEqual([
      '../../../../agent/index.js',
      'node:fs',
    ]);
    const [node] = await eslint.lintText('export const title = () => document.title + String(window.name);', {
      filePath: 'appliance/api/probe.ts',
    });
    const globals = node?.messages.filter((m) => m.ruleId === 'no-restricted-globals').map((m) => m.message);
    expect(globals?.map((m) => /'(\w+)'/.exec(m)?.[1])).toEqual(['document', 'window']);
  });
});
