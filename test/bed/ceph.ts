import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CEPH_HARDENED } from '../../agent/index.js';
import { type Daemon, Scope, waitFor } from '../../bootstrap/index.js';

const run = promisify(execFile);

export interface CephOptions {
  /** Object store of the OSDs: memstore (default; fast, cannot restart) or bluestore on a sparse file. */
  store?: 'memstore' | 'bluestore';
  /** How many OSDs (default 1); with 3, pools keep 3 replicas (min 2) across them. */
  osds?: 1 | 2 | 3;
  /** Start a ceph-mgr (default false: RADOS works without one, mgr commands like `ceph df` hang). */
  mgr?: boolean;
  /** `none` (default) or `cephx`, with an admin keyring next to the conf. */
  auth?: 'none' | 'cephx';
  /** A pool created and proven writable before the cluster is handed over (default `rackseed`). */
  pool?: string;
}

/** A real single-host Ceph cluster (Debian's ceph-mon/ceph-osd/ceph-mgr, Ceph 16 pacific). */
export interface CephCluster {
  /** Path of ceph.conf: give it to clients as CEPH_CONF (or `-c`). */
  readonly conf: string;
  /** The admin keyring (cephx only, also named in the conf). */
  readonly keyring: string | undefined;
  readonly fsid: string;
  /** The monitor's address, `v2:127.0.0.1:PORT`. */
  readonly monHost: string;
  readonly pool: string;
  readonly daemons: readonly Daemon[];
  /** Runs the `ceph` CLI against this cluster and returns its stdout. */
  ceph(args: readonly string[]): Promise<string>;
  /** Runs the `rados` CLI against this cluster and returns its stdout. */
  rados(args: readonly string[]): Promise<string>;
  /** Kills every daemon and removes the cluster's data. */
  stop(): Promise<void>;
}

/**
 * Starts a Ceph mini-cluster (one monitor on a free loopback port, msgr v2 only, OSDs and
 * optionally a manager) from nothing, following the recipe measured in
 * shared/research/ceph-etcd-feasibility.md §2, and resolves once its pool takes a write.
 */
export async function startCeph(options: CephOptions = {}): Promise<CephCluster> {
  const store = options.store ?? 'memstore';
  const osdCount = options.osds ?? 1;
  const auth = options.auth ?? 'none';
  const pool = options.pool ?? 'rackseed';
  const scope = Scope.open('ceph');
  try {
    const dir = scope.dir;
    mkdirSync(join(dir, 'run'), { recursive: true });
    mkdirSync(join(dir, 'log'), { recursive: true });
    const fsid = randomUUID();
    const monHost = `v2:127.0.0.1:${await scope.port()}`;
    const conf = join(dir, 'ceph.conf');
    const keyring = auth === 'cephx' ? join(dir, 'keyring') : undefined;
    const authMode = auth === 'cephx' ? 'cephx' : 'none';
    const replicas = osdCount >= 3 ? { size: 3, min: 2 } : { size: 1, min: 1 };
    // Hardened as rackseed's nodes are; msgr2's secure mode needs a cephx session key, so under
    // auth none only insecure global id reclaim is refused and connections stay in crc mode.
    const hardened = Object.entries(CEPH_HARDENED)
      .filter(([name]) => auth === 'cephx' || !name.startsWith('ms_'))
      .map(([name, value]) => `${name} = ${value}`)
      .join('\n');
    writeFileSync(
      conf,
      `[global]
fsid = ${fsid}
mon host = ${monHost}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = ${authMode}
auth service required = ${authMode}
auth client required = ${authMode}
run dir = ${dir}/run
keyring = ${dir}/keyring
osd pool default size = ${replicas.size}
osd pool default min size = ${replicas.min}
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
${hardened}
# A test cluster of one OSD has pools of size 1, and its monitor's data on this machine's disk:
# neither is a fault of the cluster under test.
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
client mount timeout = 30
rados mon op timeout = 30
rados osd op timeout = 30
[mon]
mon data = ${dir}/mon.$id
keyring = ${dir}/mon.$id/keyring
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
[mgr]
mgr data = ${dir}/mgr.$id
keyring = ${dir}/mgr.$id/keyring
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
[osd]
osd data = ${dir}/osd.$id
keyring = ${dir}/osd.$id/keyring
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
osd objectstore = ${store}
memstore device bytes = 2147483648
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mkfs = false
osd memory target = 939524096
`,
    );
    // Admin sockets and log files are set per daemon only: in [global] they would also apply to
    // clients, and a killed client's socket file then breaks every later one (research §2.6).
    const tool = async (command: string, args: readonly string[]) =>
      (await run(command, ['-c', conf, ...args], { timeout: 60_000, cwd: dir })).stdout;
    const ceph = (args: readonly string[]) => tool('ceph', ['--connect-timeout', '20', ...args]);
    const daemons: Daemon[] = [];
    const startDaemon = (name: string, argv: string[]) => {
      const daemon = scope.spawn(name, [...argv, '-f', '-c', conf]);
      daemons.push(daemon);
      return daemon;
    };

    // Monitor.
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[${monHost}]`, join(dir, 'monmap')]);
    const monMkfs = ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')];
    if (keyring) {
      const monKeyring = join(dir, 'mon.keyring');
      await run('ceph-authtool', [
        '--create-keyring',
        monKeyring,
        '--gen-key',
        '-n',
        'mon.',
        '--cap',
        'mon',
        'allow *',
      ]);
      await run('ceph-authtool', [
        '--create-keyring',
        keyring,
        '--gen-key',
        '-n',
        'client.admin',
        '--cap',
        'mon',
        'allow *',
        '--cap',
        'osd',
        'allow *',
        '--cap',
        'mgr',
        'allow *',
        '--cap',
        'mds',
        'allow *',
      ]);
      await run('ceph-authtool', [monKeyring, '--import-keyring', keyring]);
      monMkfs.push('--keyring', monKeyring);
    }
    await tool('ceph-mon', monMkfs);
    const mon = startDaemon('ceph-mon.a', ['ceph-mon', '-i', 'a']);
    await waitFor(
      `ceph-mon.a to form a quorum (log: ${mon.logFile})`,
      async () => {
        if (!mon.alive()) throw new Error('ceph-mon exited');
        await run('ceph', ['-c', conf, '--connect-timeout', '3', 'health'], { timeout: 10_000 });
        return true;
      },
      60_000,
      200,
    );

    if (options.mgr) {
      mkdirSync(join(dir, 'mgr.x'), { recursive: true });
      if (keyring) {
        await ceph([
          'auth',
          'get-or-create',
          'mgr.x',
          'mon',
          'allow profile mgr',
          'osd',
          'allow *',
          'mds',
          'allow *',
          '-o',
          join(dir, 'mgr.x', 'keyring'),
        ]);
      }
      startDaemon('ceph-mgr.x', ['ceph-mgr', '-i', 'x']);
    }

    for (let id = 0; id < osdCount; id++) {
      const uuid = randomUUID();
      const osdDir = join(dir, `osd.${id}`);
      mkdirSync(osdDir, { recursive: true });
      const assigned = (await ceph(['osd', 'new', uuid])).trim();
      if (assigned !== String(id)) throw new Error(`ceph assigned osd id ${assigned}, expected ${id}`);
      if (keyring) {
        await ceph([
          'auth',
          'get-or-create',
          `osd.${id}`,
          'osd',
          'allow *',
          'mon',
          'allow profile osd',
          'mgr',
          'allow profile osd',
          '-o',
          join(osdDir, 'keyring'),
        ]);
      }
      await tool('ceph-osd', ['-i', String(id), '--mkfs', '--osd-uuid', uuid]);
      startDaemon(`ceph-osd.${id}`, ['ceph-osd', '-i', String(id)]);
    }
    await waitFor(
      `${osdCount} OSD(s) up`,
      async () => {
        const stat = JSON.parse(await ceph(['osd', 'stat', '-f', 'json'])) as { num_up_osds: number };
        return stat.num_up_osds === osdCount;
      },
      120_000,
      250,
    );

    await ceph(['osd', 'pool', 'create', pool, '8', '8']);
    await ceph(['osd', 'pool', 'application', 'enable', pool, 'rados']);
    const probe = join(dir, 'ready-probe');
    writeFileSync(probe, 'ok');
    await waitFor(
      `pool ${pool} to take a write`,
      async () => {
        await run('rados', ['-c', conf, '-p', pool, 'put', '__ready', probe], { timeout: 10_000 });
        return true;
      },
      120_000,
      250,
    );
    await tool('rados', ['-p', pool, 'rm', '__ready']);

    return {
      conf,
      keyring,
      fsid,
      monHost,
      pool,
      daemons,
      ceph,
      rados: (args) => tool('rados', args),
      stop: () => scope.close(),
    };
  } catch (error) {
    await scope.close();
    throw error;
  }
}
