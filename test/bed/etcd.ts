import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fetch } from 'undici';
import type { NodeTls } from '../../agent/index.js';
import { type Daemon, Scope, waitFor } from '../../bootstrap/index.js';

/** One member of a test etcd cluster. */
export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process, or undefined while the member is killed. */
  readonly daemon: Daemon | undefined;
}

/** A real etcd (Debian's etcd-server) of 1 or 3 members on free loopback ports. */
export interface EtcdCluster {
  /** Client URLs of every member, for `new Etcd3({ hosts })`. */
  readonly endpoints: readonly string[];
  readonly members: readonly EtcdMember[];
  /** kill -9 of member `index`. */
  kill(index: number): Promise<void>;
  /** Starts member `index` again on its data directory and waits until it is healthy. */
  restart(index: number): Promise<void>;
  /** The index of the member that is the raft leader now. */
  leader(): Promise<number>;
  /** Kills every member and removes the data. */
  stop(): Promise<void>;
}

interface StatusResponse {
  header: { member_id: string };
  leader: string;
}

async function healthy(clientUrl: string, tls?: NodeTls): Promise<boolean> {
  const response = await fetch(`${clientUrl}/health`, {
    signal: AbortSignal.timeout(1_000),
    ...(tls ? { dispatcher: tls.dispatcher() } : {}),
  });
  const body = (await response.json()) as { health?: string };
  return body.health === 'true';
}

async function status(clientUrl: string, tls?: NodeTls): Promise<StatusResponse> {
  const response = await fetch(`${clientUrl}/v3/maintenance/status`, {
    method: 'POST',
    body: '{}',
    signal: AbortSignal.timeout(1_000),
    ...(tls ? { dispatcher: tls.dispatcher() } : {}),
  });
  return (await response.json()) as StatusResponse;
}

/**
 * Starts an etcd cluster of `members` (1 or 3) with the research's timings (heartbeat
 * 100 ms, election 1 s) and resolves once every member reports healthy. With `tls` (a node
 * certificate for 127.0.0.1), it serves mutual TLS to clients and peers as a node's member
 * does (LocalEtcd), the revocation list included when `tls` has one.
 */
export async function startEtcd(options: { members: 1 | 3; tls?: NodeTls } = { members: 1 }): Promise<EtcdCluster> {
  const scope = Scope.open('etcd');
  const { tls } = options;
  const scheme = tls ? 'https' : 'http';
  try {
    const plan = [];
    for (let i = 1; i <= options.members; i++) {
      const clientUrl = `${scheme}://127.0.0.1:${await scope.port()}`;
      const peerUrl = `${scheme}://127.0.0.1:${await scope.port()}`;
      plan.push({ name: `m${i}`, clientUrl, peerUrl, dataDir: join(scope.dir, `m${i}.etcd`) });
    }
    const initialCluster = plan.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const members: { -readonly [K in keyof EtcdMember]: EtcdMember[K] }[] = plan.map((m) => ({
      ...m,
      daemon: undefined,
    }));
    let starts = 0;
    const launch = (index: number, state: 'new' | 'existing') => {
      const m = members[index];
      if (!m) throw new Error(`no etcd member ${index}`);
      m.daemon = scope.spawn(`etcd-${m.name}-${++starts}`, [
        'etcd',
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        `rackseed-bed-${scope.id}`,
        '--initial-cluster-state',
        state,
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '1000',
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
        ...(tls ? tlsFlags(tls) : []),
      ]);
      return m;
    };
    const waitHealthy = (m: EtcdMember) =>
      waitFor(
        `etcd member ${m.name} at ${m.clientUrl} to be healthy (log: ${m.daemon?.logFile})`,
        async () => {
          if (!m.daemon?.alive()) throw new Error('etcd exited');
          return healthy(m.clientUrl, tls);
        },
        30_000,
      );
    for (let i = 0; i < members.length; i++) launch(i, 'new');
    await Promise.all(members.map(waitHealthy));
    return {
      endpoints: members.map((m) => m.clientUrl),
      members,
      kill: async (index) => {
        await members[index]?.daemon?.stop();
        const m = members[index];
        if (m) m.daemon = undefined;
      },
      restart: async (index) => {
        await waitHealthy(launch(index, 'existing'));
      },
      leader: async () => {
        const statuses = await Promise.all(
          members.map((m) => (m.daemon?.alive() ? status(m.clientUrl, tls).catch(() => undefined) : undefined)),
        );
        const leaderId = statuses.find((s) => s !== undefined && s.leader !== '0')?.leader;
        const index = statuses.findIndex((s) => s !== undefined && s.header.member_id === leaderId);
        if (index < 0) throw new Error('no live etcd member names a live leader');
        return index;
      },
      stop: () => scope.close(),
    };
  } catch (error) {
    await scope.close();
    throw error;
  }
}

/** The flags of a node's etcd member (LocalEtcd's): mutual TLS for clients and peers, and the revocation list. */
function tlsFlags(tls: NodeTls): string[] {
  const { ca, cert, key, crl } = tls.paths;
  return [
    ...['--trusted-ca-file', ca, '--cert-file', cert, '--key-file', key, '--client-cert-auth'],
    ...['--peer-trusted-ca-file', ca, '--peer-cert-file', cert, '--peer-key-file', key, '--peer-client-cert-auth'],
    ...(existsSync(crl) ? ['--client-crl-file', crl, '--peer-crl-file', crl] : []),
  ];
}
