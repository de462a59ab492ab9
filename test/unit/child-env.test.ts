import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, commandService, INHERITED_ENV, serviceEnv } from '../../agent/index.js';

const context = {
  node: 'n1',
  dataDir: '/data/n1',
  address: '10.0.0.5',
  etcd: () => ['http://a:2379', 'http://b:2379'],
  log: () => {},
};

describe('child environments (issue #14)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    delete process.env.RACKSEED_BMC_PASSWORD;
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('a child gets PATH, locale, HOME, TMPDIR and the log level of its parent, then what the caller sets; nothing else', () => {
    const parent = {
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      TMPDIR: '/tmp/x',
      RACKSEED_LOG_LEVEL: 'info',
      RACKSEED_BMC_PASSWORD: 'hunter2',
      RACKSEED_HOST_TOKEN: 'token',
      OS_PASSWORD: 'admin',
      CEPH_ARGS: '--id admin',
      NODE_OPTIONS: '--require /tmp/evil.js',
      SSH_AUTH_SOCK: '/tmp/agent.sock',
    };
    expect(childEnv({ IPMI_PASSWORD: 'for-this-one', LANG: undefined }, parent)).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      TMPDIR: '/tmp/x',
      RACKSEED_LOG_LEVEL: 'info',
      IPMI_PASSWORD: 'for-this-one',
    });
    expect(Object.keys(childEnv({}, parent)).every((k) => INHERITED_ENV.includes(k))).toBe(true);
  });

  it("a service's environment: its node, service, data dir, address and etcd endpoints, over what its spec sets", () => {
    const env = serviceEnv(
      'api',
      context,
      { EXTRA: '1', RACKSEED_NODE: 'spoofed' },
      {
        PATH: '/bin',
        RACKSEED_BMC_PASSWORD: 'hunter2',
      },
    );
    expect(env).toEqual({
      PATH: '/bin',
      EXTRA: '1',
      RACKSEED_NODE: 'n1',
      RACKSEED_SERVICE: 'api',
      RACKSEED_DATA_DIR: '/data/n1',
      RACKSEED_ADDRESS: '10.0.0.5',
      RACKSEED_ETCD: 'http://a:2379,http://b:2379',
    });
  });

  it("a command service's process does not see the agent's BMC password (it prints its environment)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rackseed-child-env-'));
    dirs.push(dataDir);
    process.env.RACKSEED_BMC_PASSWORD = 'hunter2-in-the-agent';
    const running = commandService('printenv', 'everywhere', ['env']).start({ ...context, dataDir });
    expect(await running.exited).toBe('exit code 0');
    const printed = readFileSync(join(dataDir, 'services', 'printenv.log'), 'utf8');
    const names = printed
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(0, line.indexOf('=')));
    expect(printed).not.toContain('hunter2-in-the-agent');
    expect(names).not.toContain('RACKSEED_BMC_PASSWORD');
    expect(printed).toContain('RACKSEED_NODE=n1\n');
    expect(printed).toContain(`PATH=${process.env.PATH}\n`);
    expect(names.filter((n) => !INHERITED_ENV.includes(n) && !n.startsWith('RACKSEED_'))).toEqual([]);
  });
});
