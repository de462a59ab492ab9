import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../agent/index.js';
import { CEPH_USERS, cephUserKeyring, installed } from '../../agent/index.js';
import {
  createNetworkLab,
  type Daemon,
  LAB_CEPH_CONFIG,
  type NetworkLab,
  Scope,
  testNodeTls,
  waitFor,
} from '../bed/index.js';
import { BIN, build, status, writeClusterKey } from './agent-helpers.js';

const PARENT_SECRET = 'parent-secret-0f3c';
const AGENT_SECRET = 'agent-secret-9a1e';

/** The environment of a running process, from /proc (NUL-separated NAME=value). */
const environ = (pid: number) =>
  new Map(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );

/** What the netboot image carries for Ceph (images/netboot/): the daemons and local tools, no `ceph` CLI. */
const IMAGE_PROGRAMS = ['ceph-mon', 'ceph-osd', 'monmaptool', 'ceph-authtool', 'etcd'];

// One node in its own namespace runs `rackseed agent` with a Ceph address and a PATH that holds
// only the programs the netboot image has: everything it asks the monitors (the monmap, `osd
// new` with its cephx secret, pools, replicas, the status) must go through librados.
describe('agent: Ceph without the ceph CLI (as on the netboot image)', () => {
  let lab: NetworkLab;
  let scope: Scope;
  let agent: Daemon;
  let etcdUrl: string;
  let bin: string;

  beforeAll(async () => {
    build();
    scope = Scope.open('agent-ceph-no-cli');
    lab = await createNetworkLab({ hosts: 1 });
    const ip = lab.host('h1').ip ?? '';
    etcdUrl = `https://${ip}:2379`;
    bin = join(scope.dir, 'bin');
    mkdirSync(bin);
    const where = (program: string) =>
      ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin', '/sbin'].map((d) => join(d, program)).find(existsSync);
    for (const program of IMAGE_PROGRAMS) symlinkSync(where(program) ?? program, join(bin, program));
    symlinkSync(process.execPath, join(bin, 'node'));
    const dir = join(scope.dir, 'h1');
    const config = join(scope.dir, 'h1.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        name: 'h1',
        etcd: [etcdUrl],
        dataDir: dir,
        leaseTtl: 5,
        clusterKeyFile: writeClusterKey(scope.dir),
        etcdListen: ip,
        tls: (await testNodeTls(join(scope.dir, 'pki'), 'h1', [ip])).dir,
        etcdBootstrap: true,
        cephListen: ip,
        cephConfig: LAB_CEPH_CONFIG,
      }),
    );
    // A secret in the test's environment must not reach the agent (the lab gives each child an
    // explicit environment), and one in the agent's must not reach its daemons.
    process.env.RACKSEED_HOST_TOKEN = PARENT_SECRET;
    try {
      agent = lab.spawn(lab.host('h1').netns, 'agent', [
        '/usr/bin/env',
        `PATH=${bin}`,
        `RACKSEED_BMC_PASSWORD=${AGENT_SECRET}`,
        'node',
        BIN,
        'agent',
        '--config',
        config,
      ]);
    } finally {
      delete process.env.RACKSEED_HOST_TOKEN;
    }
  });

  afterAll(async () => {
    await agent?.stop();
    await lab?.destroy();
    await scope?.close();
  });

  it('brings up a monitor and an OSD, and the keeper reports the health, with no ceph CLI on PATH', async () => {
    expect(installed('ceph', { PATH: bin })).toBe(false);
    expect(IMAGE_PROGRAMS.every((p) => installed(p, { PATH: bin }))).toBe(true);
    const t0 = Date.now();
    let last: ClusterStatus | undefined;
    await waitFor(
      'a monitor in quorum, one OSD up and in, the rackseed pool, a health status',
      () => {
        last = status([etcdUrl], lab.bridgeNetns, join(scope.dir, 'pki', 'h1')); // throws until etcd is up: waitFor retries
        const ceph = last.ceph;
        return (
          ceph !== null &&
          ceph.quorum.join() === 'h1' &&
          ceph.up === 1 &&
          ceph.in === 1 &&
          ceph.pools.some((p) => p.name === 'rackseed' && p.size === 1)
        );
      },
      240_000,
      1_000,
    );
    console.log(`agent-ceph-no-cli: monitor, OSD and pool in ${Date.now() - t0} ms; ${JSON.stringify(last?.ceph)}`);
    expect(last?.ceph).toMatchObject({ mons: 1, osds: 1, up: 1, in: 1 });
    expect(last?.ceph?.health).toMatch(/^HEALTH_(OK|WARN)$/);
    // The OSD was made with `osd new` (its key given as the command's input) and the monitor
    // holds that key: the osd's keyring authenticated it, or it would not be up.
    const osdKeyring = readFileSync(join(scope.dir, 'h1', 'ceph', 'osd', 'keyring'), 'utf8');
    expect(osdKeyring).toMatch(/\[osd\.0\]\n\s*key = AQ/);
    // Each service's cephx user, made by the agent as client.admin, its keyring 0600 beside the conf.
    const cephDir = join(scope.dir, 'h1', 'ceph');
    await waitFor(
      "the services' keyrings",
      () => Object.values(CEPH_USERS).every((user) => existsSync(cephUserKeyring(cephDir, user))),
      30_000,
      500,
    );
    for (const user of Object.values(CEPH_USERS)) {
      expect(statSync(cephUserKeyring(cephDir, user)).mode & 0o777).toBe(0o600);
      expect(readFileSync(cephUserKeyring(cephDir, user), 'utf8')).toMatch(
        new RegExp(`^\\[${user.name}\\]\\n\\s*key = AQ`),
      );
    }
    // No ceph-mgr here (the image has none, it is Python): the node does not run for the manager.
    expect(last?.singletons['ceph-mgr'] ?? null).toBeNull();
    expect(existsSync(join(scope.dir, 'h1', 'ceph', 'mgr'))).toBe(false);
    expect(readFileSync(agent.logFile, 'utf8')).not.toMatch(/spawn ceph ENOENT/);
  }, 300_000);

  it('runs Ceph hardened: no insecure global id reclaim, msgr2 secure mode everywhere (a crc-only client is refused), no health check muted', async () => {
    const conf = join(scope.dir, 'h1', 'ceph', 'ceph.conf');
    // The host's own ceph CLI (the agent's PATH has none), with the node's conf and admin keyring.
    const ceph = async (...args: string[]) =>
      (await lab.exec(lab.bridgeNetns, ['ceph', '-c', conf, '--connect-timeout', '20', ...args], 60_000)).stdout;
    const running = async (daemon: string, option: string) =>
      (JSON.parse(await ceph('tell', daemon, 'config', 'get', option, '-f', 'json')) as Record<string, string>)[option];
    // What the daemons run with (the file's settings), not the monitors' config database.
    expect(await running('mon.h1', 'auth_allow_insecure_global_id_reclaim')).toBe('false');
    for (const mode of ['ms_cluster_mode', 'ms_service_mode', 'ms_client_mode']) {
      expect(await running('osd.0', mode)).toBe('secure');
      expect(await running('mon.h1', mode.replace(/^ms_/, 'ms_mon_'))).toBe('secure');
    }
    // A client that offers only crc mode is refused by the monitor (EACCES), as one that
    // reclaims a global id insecurely would be.
    await expect(
      ceph('--ms-client-mode', 'crc', '--ms-mon-client-mode', 'crc', '--connect-timeout', '5', 'health'),
    ).rejects.toThrow(/permission denied/i);
    const health = JSON.parse(await ceph('health', 'detail', '-f', 'json')) as {
      checks: Record<string, unknown>;
      mutes: unknown[];
    };
    expect(health.mutes).toEqual([]);
    expect(Object.keys(health.checks).filter((c) => c.startsWith('AUTH_INSECURE_GLOBAL_ID'))).toEqual([]);
    // Every session at the monitor (the OSD's, the agent's librados, this CLI's) got a new global id or reclaimed one securely.
    const sessions = JSON.parse(await ceph('tell', 'mon.h1', 'sessions', '-f', 'json')) as {
      global_id_status?: string;
    }[];
    expect(sessions.length).toBeGreaterThan(1);
    expect(sessions.filter((x) => x.global_id_status === 'reclaim_insecure')).toEqual([]);
    // No option in the monitors' config database turns a warning off.
    const options = JSON.parse(await ceph('config', 'dump', '-f', 'json')) as { name: string }[];
    expect(options.map((o) => o.name).filter((n) => n.startsWith('mon_warn_on'))).toEqual([]);
  }, 120_000);

  it("gives its daemons an explicit environment: nothing of the agent's secrets, nor of the test's", () => {
    const pid = (file: string) => Number(readFileSync(file, 'utf8').split(' ')[0]);
    const agentEnv = environ(agent.pid);
    expect(agentEnv.get('RACKSEED_BMC_PASSWORD')).toBe(AGENT_SECRET);
    expect([...agentEnv.values()]).not.toContain(PARENT_SECRET);
    for (const daemon of ['ceph-mon', 'ceph-osd']) {
      const env = environ(pid(join(scope.dir, 'h1', 'services', `${daemon}.pid`)));
      expect(env.get('RACKSEED_NODE')).toBe('h1');
      expect(env.get('PATH')).toBe(bin);
      expect([...env.values()].filter((v) => v === AGENT_SECRET || v === PARENT_SECRET)).toEqual([]);
      expect(
        [...env.keys()].filter(
          (k) =>
            !/^(RACKSEED_(NODE|SERVICE|DATA_DIR|ADDRESS|ETCD)|PATH|HOME|TMPDIR|LANG|LC_ALL|LC_CTYPE|TZ|RACKSEED_LOG_LEVEL)$/.test(
              k,
            ),
        ),
      ).toEqual([]);
    }
  });

  it('stops on SIGTERM: no pending monitor call keeps the process alive', async () => {
    process.kill(agent.pid, 'SIGTERM');
    const code = await Promise.race([
      agent.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 90_000)),
    ]);
    expect(code).toBe(0);
    expect(readFileSync(agent.logFile, 'utf8')).toContain('stopping');
  }, 120_000);
});
