import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdJoin, EtcdUrls } from './keys.js';
import { fetch } from 'undici';
import { KeptProcess } from './kept-process.js';
import type { NodeTls } from './tls.js';

/** Where and how this node's etcd member runs. */
export interface LocalEtcdOptions {
  readonly name: string;
  /** The agent's data dir: the member's data goes to `<dataDir>/etcd`. */
  readonly dataDir: string;
  /** The address etcd listens on (client port 2379, peer port 2380). */
  readonly host: string;
  /** The node's certificate: clients and peers must present one from the cluster CA. */
  readonly tls: NodeTls;
  readonly log: (message: string) => void;
}

/**
 * This node's etcd member (Debian's `etcd`), run by the agent as a child process with its pid
 * under the data dir (so a restarted agent kills what a crashed one left, like any service).
 * It is started in one of three ways: `bootstrap` (the seed's first start: a new one-member cluster),
 * `join` (told to by the membership singleton, which added it as a learner: `--initial-cluster-state
 * existing`), or `resume` (the agent restarted on existing member data). A member that exits
 * on its own is restarted with backoff (a {@link KeptProcess}), except when it was removed
 * from the cluster (demoted, or replaced while its node was away): then its data is deleted
 * and the node is an etcd client only, until the membership keeper adds it again (`join`).
 */
export class LocalEtcd {
  readonly urls: EtcdUrls;
  private process: KeptProcess | undefined;

  constructor(private readonly options: LocalEtcdOptions) {
    this.urls = { clientUrl: `https://${options.host}:2379`, peerUrl: `https://${options.host}:2380` };
  }

  private get dir(): string {
    return join(this.options.dataDir, 'etcd');
  }

  private get memberIdFile(): string {
    return join(this.options.dataDir, 'etcd-member-id');
  }

  /** True when this node has member data (it was a member before it restarted). */
  hasData(): boolean {
    return existsSync(join(this.dir, 'member'));
  }

  /** The member id the data belongs to, as the join instruction gave it ('' for the seed's own). */
  memberId(): string {
    try {
      return readFileSync(this.memberIdFile, 'utf8').trim();
    } catch {
      return '';
    }
  }

  get active(): boolean {
    return this.process?.running ?? false;
  }

  /** Starts a new one-member cluster (the seed). */
  bootstrap(): void {
    this.start(['--initial-cluster', `${this.options.name}=${this.urls.peerUrl}`, '--initial-cluster-state', 'new']);
  }

  /** Starts the member on its existing data (the initial-cluster flags are ignored then). */
  resume(): void {
    this.start([]);
  }

  /** Joins the cluster as the member `join` names: starts afresh unless already running as that member. */
  async join(join: EtcdJoin): Promise<void> {
    if (this.process?.running && this.memberId() === join.memberId) return;
    await this.stop();
    if (this.memberId() !== join.memberId) {
      rmSync(this.dir, { recursive: true, force: true }); // data of a removed member cannot rejoin
      writeFileSync(this.memberIdFile, `${join.memberId}\n`);
    }
    this.options.log(`starting etcd member ${join.memberId} (joining ${join.initialCluster})`);
    this.start(['--initial-cluster', join.initialCluster, '--initial-cluster-state', 'existing']);
  }

  private start(initial: readonly string[]): void {
    const tls = this.options.tls.paths;
    const argv = (initialFlags: readonly string[]) => [
      'etcd',
      '--name',
      this.options.name,
      '--data-dir',
      this.dir,
      '--listen-client-urls',
      this.urls.clientUrl,
      '--advertise-client-urls',
      this.urls.clientUrl,
      '--listen-peer-urls',
      this.urls.peerUrl,
      '--initial-advertise-peer-urls',
      this.urls.peerUrl,
      '--initial-cluster-token',
      'rackseed',
      ...initialFlags,
      // Mutual TLS for clients and peers: nothing without a certificate from the cluster CA.
      ...['--trusted-ca-file', tls.ca, '--cert-file', tls.cert, '--key-file', tls.key, '--client-cert-auth'],
      ...['--peer-trusted-ca-file', tls.ca, '--peer-cert-file', tls.cert, '--peer-key-file', tls.key],
      '--peer-client-cert-auth',
      // A revoked node is refused too: etcd reads the list on every new connection, so the
      // agent's updates to the file (CertificateFollower) count at once; certificates likewise.
      ...(existsSync(tls.crl) ? ['--client-crl-file', tls.crl, '--peer-crl-file', tls.crl] : []),
      // The research's timings: ~1.7 s leader failover.
      '--heartbeat-interval',
      '100',
      '--election-timeout',
      '1000',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
    ];
    // A restart resumes on the data the first start made: the initial-cluster flags are for a fresh member only.
    const kept = new KeptProcess(
      'etcd',
      () => argv(this.hasData() ? [] : initial),
      { node: this.options.name, dataDir: this.options.dataDir, log: this.options.log },
      2_000,
      (reason) => {
        // etcd exits with status 0 on its own only once its member is removed (etcdmain exits 0
        // when the server stops; fatal errors exit 1), at once or on a restart of the removed
        // member's data, which can never rejoin.
        if (reason !== 'exit code 0') return 'restart';
        rmSync(this.dir, { recursive: true, force: true });
        this.options.log('etcd member removed from the cluster: its data is deleted; this node is an etcd client');
        return 'done';
      },
    );
    this.process = kept;
    kept.start();
  }

  /** Resolves once the local member answers `/health` with true (or rejects after `timeoutMs`). */
  async healthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const response = await fetch(`${this.urls.clientUrl}/health`, {
          dispatcher: this.options.tls.dispatcher(),
          signal: AbortSignal.timeout(1_000),
        });
        if (((await response.json()) as { health?: string }).health === 'true') return;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`etcd at ${this.urls.clientUrl} is not healthy after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    const kept = this.process;
    this.process = undefined;
    await kept?.stop();
  }
}
