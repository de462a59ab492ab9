import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CephIdentity, type CephMonRecord, type CephOsdRecord, keys } from '../keys.js';
import type { Entry, Store } from '../store/store.js';
import { parseJson } from '../store/store.js';
import { PrefixView } from '../store/view.js';
import { KeptProcess } from '../kept-process.js';
import { commandService, type RunningService, type ServiceSpec } from '../supervisor.js';
import { adminSocketCommand } from './admin-socket.js';
import { cephTool } from './cli.js';
import {
  ADMIN_CAPS,
  BOOTSTRAP_OSD_CAPS,
  type CephPaths,
  cephPaths,
  checkCephConfig,
  renderCephConf,
  renderKeyring,
} from './conf.js';
import { clearOsdLabel, findOsdDisk, type OsdDisk, type OsdDiskPolicy } from './disk.js';
import { cephxKey, openCephIdentity } from './identity.js';
import { type CephConnect, CephMonitors, type MonCommand } from './monitors.js';
import { ensureCephUsers } from './users.js';

/** Where and how this node takes part in Ceph. */
export interface LocalCephOptions {
  readonly name: string;
  readonly dataDir: string;
  /** The address its daemons bind to. */
  readonly host: string;
  readonly store: Store;
  readonly clusterKey: Buffer;
  /** How to reach the monitors (librados, from whoever starts the agent). */
  readonly connect: CephConnect;
  /**
   * Where its OSD keeps its data: absent, a sparse file in the data dir; otherwise a whole disk
   * (see {@link OsdDiskPolicy}), and no OSD while there is none fit for it.
   */
  readonly osdDisk?: OsdDiskPolicy;
  /**
   * Ceph options added to `[global]` of its ceph.conf (the lab's health thresholds, see
   * bootstrap/lab); none of those rackseed sets itself (checked at once: CephConfigError).
   */
  readonly config?: Readonly<Record<string, string>>;
  readonly log: (message: string) => void;
}

const RETRY_MS = 2_000;

/**
 * This node's part of Ceph, as every agent with a Ceph address runs it: it follows
 * `/rackseed/ceph/` and, once the cluster has an identity, writes ceph.conf and the admin
 * keyring (0600) under `<dataDir>/ceph` for daemons and operators, runs a monitor while one
 * is assigned to it (made with `ceph-mon --mkfs` from a new monmap for the first, the
 * cluster's current monmap otherwise), and creates and runs its OSD (bluestore on a sparse
 * file, or on the disk `osdDisk` finds; made with the bootstrap-osd key) once there is a
 * monitor, and then the services' cephx users and their keyrings ({@link ensureCephUsers}: the
 * services never get client.admin's). Daemons are child processes with pid files (see killOrphans), on the node's own
 * address. The monitors are asked through librados ({@link CephMonitors}), never the `ceph`
 * CLI, which the netboot image does not have.
 */
export class LocalCeph {
  readonly paths: CephPaths;
  private view: PrefixView | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private mon: KeptProcess | undefined;
  /** The assignment (its record's `at`) the running monitor was made for. */
  private monFor: string | undefined;
  private osd: KeptProcess | undefined;
  private lastError = '';
  private readonly monitors: CephMonitors;
  private noDisk = '';

  constructor(private readonly options: LocalCephOptions) {
    if (options.config) checkCephConfig(options.config);
    this.paths = cephPaths(join(options.dataDir, 'ceph'));
    this.monitors = new CephMonitors(options.connect, { conf: this.paths.conf, keyring: this.paths.adminKeyring });
  }

  /**
   * Sends a monitor command as client.admin (this node's conf and keyring: use it once
   * {@link ready}); resolves its output. Throws CephCommandError.
   */
  command(command: MonCommand, input?: Buffer): Promise<Buffer> {
    return this.monitors.command(command, input);
  }

  /** True once the conf and admin keyring are written (the cluster has an identity and a monitor). */
  get ready(): boolean {
    return existsSync(this.paths.conf);
  }

  async start(): Promise<void> {
    for (const dir of [this.paths.dir, this.paths.run, this.paths.log]) mkdirSync(dir, { recursive: true });
    this.view = await PrefixView.open(this.options.store, keys.ceph, () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.view?.close();
    await this.busy;
    await Promise.all([this.mon?.stop(), this.osd?.stop(), this.monitors.close()]);
  }

  /** Whether this node runs a monitor now. */
  get runsMonitor(): boolean {
    return this.mon?.active ?? false;
  }

  /**
   * `node` is off (its BMC says so, or it was fenced). If this node runs a monitor whose quorum
   * still counts `node`'s, that monitor is asked through its admin socket to call an election
   * now (`quorum enter`). Otherwise every commit (an OSD's mark-down, a blocklist) waits on the
   * dead peer's acceptance until the leader's lease acknowledgement times out and elects on its
   * own, 1.5 to 2.1 s after the death (`mon lease` 1 s); the election itself still waits `mon
   * election timeout` (0.5 s) for the dead monitor. Only for a node that is surely off: an
   * election stops every commit while it lasts. Resolves whether an election was called.
   */
  async hurryMonitorElection(node: string): Promise<boolean> {
    if (!this.runsMonitor || node === this.options.name) return false;
    const socket = join(this.paths.run, `mon.${this.options.name}.asok`);
    const status = JSON.parse(await adminSocketCommand(socket, { prefix: 'mon_status' })) as {
      quorum?: number[];
      monmap?: { mons?: { name: string; rank: number }[] };
    };
    const rank = status.monmap?.mons?.find((mon) => mon.name === node)?.rank;
    if (rank === undefined || !(status.quorum ?? []).includes(rank)) return false;
    await adminSocketCommand(socket, { prefix: 'quorum enter' });
    return true;
  }

  /** Reconciles now, or again right after the round in progress. */
  private kick(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.busy = this.reconcile()
      .then(
        () => {
          this.lastError = '';
        },
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (message !== this.lastError) this.options.log(`ceph: ${message}; retrying`);
          this.lastError = message;
        },
      )
      .finally(() => {
        this.busy = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        } else if (!this.stopped) this.timer = setTimeout(() => this.kick(), RETRY_MS);
      });
  }

  private entries(prefix: string): Entry[] {
    return [...(this.view?.entries ?? new Map<string, Entry>()).entries()]
      .filter(([key]) => key.startsWith(prefix))
      .map(([, entry]) => entry);
  }

  private async reconcile(): Promise<void> {
    const identity = openCephIdentity(this.options.clusterKey, this.view?.entries.get(keys.cephIdentity)?.value);
    const mons = this.entries(keys.cephMons).map((e) => parseJson<CephMonRecord>(e));
    if (!identity || mons.length === 0) return;
    this.writeFiles(identity, mons);
    const mine = mons.find((m) => m.node === this.options.name);
    // Only the cluster's very first monitor makes a new monmap: the first one made again (its data
    // lost) while others exist joins them like any other, or it would found a second cluster.
    if (mine && this.mon?.active && this.monFor !== mine.at) {
      this.options.log('ceph: this node was assigned a monitor anew: making it again');
      await this.mon.stop();
      this.mon = undefined;
    }
    if (mine && !this.mon?.active) await this.startMon(identity, mine, mine.initial && mons.length === 1);
    else if (!mine && (this.mon?.active || existsSync(this.paths.mon))) {
      this.options.log('ceph: this node no longer hosts a monitor: removing its data');
      await this.mon?.stop();
      this.mon = undefined;
      rmSync(this.paths.mon, { recursive: true, force: true });
    }
    if (!this.osd?.active) await this.startOsd();
    await ensureCephUsers(this.paths.dir, (command) => this.command(command));
  }

  private writeFiles(identity: CephIdentity, mons: readonly CephMonRecord[]): void {
    const write = (file: string, content: string, mode: number) => {
      let current: string | undefined;
      try {
        current = readFileSync(file, 'utf8');
      } catch {
        current = undefined;
      }
      if (current !== content) writeFileSync(file, content, { mode });
    };
    const { name, host } = this.options;
    write(
      this.paths.conf,
      renderCephConf({
        identity,
        node: name,
        host,
        monAddrs: mons.map((m) => m.addr),
        paths: this.paths,
        ...(this.options.config ? { extra: this.options.config } : {}),
      }),
      0o644,
    );
    write(
      this.paths.adminKeyring,
      renderKeyring([{ name: 'client.admin', key: identity.adminKey, caps: ADMIN_CAPS }]),
      0o600,
    );
    write(
      this.paths.bootstrapOsdKeyring,
      renderKeyring([{ name: 'client.bootstrap-osd', key: identity.bootstrapOsdKey, caps: BOOTSTRAP_OSD_CAPS }]),
      0o600,
    );
  }

  private daemon(name: string, argv: readonly string[]): KeptProcess {
    const { name: node, dataDir, log } = this.options;
    return new KeptProcess(name, () => [...argv, '-f', '-c', this.paths.conf], { node, dataDir, log }, 3_000);
  }

  private async startMon(identity: CephIdentity, record: CephMonRecord, initial: boolean): Promise<void> {
    const { name } = this.options;
    // Data made for an older assignment is a monitor the cluster removed since: it is not in the
    // monmap, and `ceph-mon` on it would exit at once, again and again. It is made anew.
    const done = join(this.paths.mon, 'rackseed-done');
    if (!existsSync(done) || readFileSync(done, 'utf8').trim() !== record.at) {
      rmSync(this.paths.mon, { recursive: true, force: true });
      const monmap = join(this.paths.dir, 'monmap');
      if (initial) {
        await cephTool(['monmaptool', '--create', '--fsid', identity.fsid, '--addv', name, `[${record.addr}]`, monmap]);
      } else {
        writeFileSync(monmap, await this.command({ prefix: 'mon getmap' }));
      }
      // The first monitor's auth database is seeded from this keyring; later ones sync it from the quorum.
      const keyring = join(this.paths.dir, 'mon-mkfs.keyring');
      writeFileSync(
        keyring,
        renderKeyring([
          { name: 'mon.', key: identity.monKey, caps: { mon: 'allow *' } },
          { name: 'client.admin', key: identity.adminKey, caps: ADMIN_CAPS },
          { name: 'client.bootstrap-osd', key: identity.bootstrapOsdKey, caps: BOOTSTRAP_OSD_CAPS },
        ]),
        { mode: 0o600 },
      );
      try {
        await cephTool([
          'ceph-mon',
          '-c',
          this.paths.conf,
          '--mkfs',
          '-i',
          name,
          '--monmap',
          monmap,
          '--keyring',
          keyring,
        ]);
      } finally {
        rmSync(keyring, { force: true });
      }
      writeFileSync(done, `${record.at}\n`);
      this.options.log(`ceph: made monitor ${name} (${initial ? 'new cluster' : 'joining'}) at ${record.addr}`);
    }
    this.mon = this.daemon('ceph-mon', ['ceph-mon', '-i', name, '--public-addr', record.addr]);
    this.monFor = record.at;
    this.mon.start();
  }

  private async startOsd(): Promise<void> {
    const ready = join(this.paths.osd, 'rackseed-ready');
    if (!existsSync(ready)) {
      mkdirSync(this.paths.osd, { recursive: true });
      // The uuid and key are kept before `osd new`, which is idempotent for them: a retry after a
      // crash gets the same id instead of a second OSD (and takes back the disk it labelled).
      const intentFile = join(this.paths.dir, 'osd-intent.json');
      if (!existsSync(intentFile)) {
        writeFileSync(intentFile, JSON.stringify({ uuid: randomUUID(), key: cephxKey() }), { mode: 0o600 });
      }
      const intent = JSON.parse(readFileSync(intentFile, 'utf8')) as { uuid: string; key: string };
      const disk = this.osdDisk(intent.uuid);
      if (disk === null) return;
      // As client.bootstrap-osd (its caps allow `osd new` and little else), the secret as the input.
      const out = await this.monitors.commandAs(
        { name: 'client.bootstrap-osd', keyring: this.paths.bootstrapOsdKeyring },
        { prefix: 'osd new', uuid: intent.uuid, format: 'json' },
        Buffer.from(JSON.stringify({ cephx_secret: intent.key })),
      );
      const id = (JSON.parse(out.toString()) as { osdid?: unknown }).osdid;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new Error(`ceph osd new gave no OSD id`);
      rmSync(this.paths.osd, { recursive: true, force: true });
      mkdirSync(this.paths.osd, { recursive: true });
      writeFileSync(join(this.paths.osd, 'keyring'), renderKeyring([{ name: `osd.${id}`, key: intent.key }]), {
        mode: 0o600,
      });
      // On a disk, bluestore opens `<osd data>/block` as it finds it: the conf's block file is not made.
      if (disk) {
        clearOsdLabel(disk);
        symlinkSync(disk.device, join(this.paths.osd, 'block'));
      }
      await cephTool(
        [
          'ceph-osd',
          '-c',
          this.paths.conf,
          '-i',
          String(id),
          '--mkfs',
          '--osd-uuid',
          intent.uuid,
          ...(disk ? ['--bluestore-block-create=false'] : []),
        ],
        120_000,
      );
      const record: CephOsdRecord = { id, uuid: intent.uuid };
      writeFileSync(ready, JSON.stringify(record));
      this.options.log(
        `ceph: made osd.${id} (bluestore on ${disk ? `${disk.device}, ${(disk.bytes / 1024 ** 3).toFixed(1)} GiB, ${disk.state === 'blank' ? 'blank' : 'its own unfinished one, blanked'}` : 'a sparse file'})`,
      );
    }
    const record = JSON.parse(readFileSync(ready, 'utf8')) as CephOsdRecord;
    await this.options.store.put(keys.cephOsd(this.options.name), JSON.stringify(record));
    this.osd = this.daemon('ceph-osd', ['ceph-osd', '-i', String(record.id)]);
    this.osd.start();
  }

  /**
   * The disk for this node's OSD under the `osdDisk` policy: undefined for none (a sparse file),
   * null while no disk is fit for it (said once, with why, until that changes).
   */
  private osdDisk(osdUuid: string): OsdDisk | undefined | null {
    if (!this.options.osdDisk) return undefined;
    const { disk, rejected } = findOsdDisk(this.options.osdDisk, { osdUuid });
    const why = disk ? '' : rejected.join('; ');
    if (why && why !== this.noDisk)
      this.options.log(`ceph: no OSD on this node: no disk fit for it (${this.options.osdDisk}: ${why})`);
    this.noDisk = why;
    return disk ?? null;
  }

  /**
   * Turns on ceph-mgr's own Prometheus exporter (its `prometheus` module), bound to the node's
   * loopback ({@link CEPH_EXPORTER_URL}): it has no authentication of its own, so only the node's
   * agent reads it and serves it on its mutual-TLS listener (`/metrics/ceph`). Idempotent.
   */
  async enableExporter(): Promise<void> {
    const [host, port] = new URL(CEPH_EXPORTER_URL).host.split(':');
    for (const [name, value] of [
      ['mgr/prometheus/server_addr', host],
      ['mgr/prometheus/server_port', port],
    ]) {
      await this.command({ prefix: 'config set', who: 'mgr', name, value });
    }
    await this.command({ prefix: 'mgr module enable', module: 'prometheus' });
  }

  /** Makes (or fetches) the keyring of a manager named after this node; resolves its path. */
  async mgrKeyring(): Promise<string> {
    mkdirSync(this.paths.mgr, { recursive: true });
    const file = join(this.paths.mgr, 'keyring');
    const out = await this.command({
      prefix: 'auth get-or-create',
      entity: `mgr.${this.options.name}`,
      caps: ['mon', 'allow profile mgr', 'osd', 'allow *', 'mds', 'allow *'],
    });
    writeFileSync(file, out, { mode: 0o600 });
    return file;
  }
}

/** The Ceph manager singleton's name. */
export const CEPH_MGR = 'ceph-mgr';

/** Where the manager's Prometheus exporter listens, on the manager's node only (see {@link LocalCeph.enableExporter}). */
export const CEPH_EXPORTER_URL = 'http://127.0.0.1:9283/metrics';

/**
 * The Ceph manager as a singleton service (`ceph -s` is HEALTH_OK only with an active one):
 * once elected it waits until this node can reach the monitors, makes `mgr.<node>`'s keyring
 * and runs `ceph-mgr` on the node's address; then turns on its Prometheus exporter (on the
 * node's loopback) once the monitors know the module (the manager told them).
 */
export function cephMgrService(local: LocalCeph): ServiceSpec {
  return {
    name: CEPH_MGR,
    placement: 'singleton',
    start: (context) => {
      let stopped = false;
      let inner: RunningService | undefined;
      /** Retries `step` every RETRY_MS until it succeeds or the service stops; says each new failure once. */
      const until = async (what: string, step: () => Promise<unknown>): Promise<boolean> => {
        let said = '';
        for (;;) {
          if (stopped) return false;
          try {
            await step();
            return true;
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            if (message !== said) context.log(`ceph-mgr ${what}: ${message}`);
            said = message;
          }
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      };
      const exited = (async () => {
        const keyed = await until('waits for the monitors', async () => {
          if (!local.ready) throw new Error('this node does not reach them yet');
          await local.mgrKeyring();
        });
        if (!keyed) return 'stopped before it started';
        inner = commandService(CEPH_MGR, 'singleton', ['ceph-mgr', '-f', '-c', local.paths.conf, '-i', context.node], {
          graceMs: 3_000,
        }).start(context);
        // The monitors know a module's options only once a manager has told them its modules.
        void until('exporter not on yet', () => local.enableExporter());
        return inner.exited;
      })();
      return {
        exited,
        stop: async () => {
          stopped = true;
          await inner?.stop();
        },
      };
    },
  };
}
