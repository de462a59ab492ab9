import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, fetch } from 'undici';
import type { ClusterStatus, NodeTls } from '../../agent/index.js';
import { type Daemon, type EtcdCluster, Scope, startEtcd, testNodeTls, waitFor } from '../bed/index.js';
import { BIN, build, writeClusterKey } from './agent-helpers.js';

/** An operator's certificate from the agent's CA: the endpoint is mutual TLS. */
let operator: NodeTls;
const get = async (url: string) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000), dispatcher: operator.dispatcher() });
  return { status: response.status, body: response.status === 404 ? null : ((await response.json()) as unknown) };
};

// One agent with `--listen` against a real etcd; cutting etcd away (kill -9 of its only member)
// must turn /health from 200 to 503 once the agent's lease is no longer surely valid.
describe('agent: --listen serves /health and /status', () => {
  let etcd: EtcdCluster;
  let scope: Scope;
  let agent: Daemon;
  let base: string;

  beforeAll(async () => {
    build();
    scope = Scope.open('agent-listen');
    etcd = await startEtcd({ members: 1 });
    base = `https://127.0.0.1:${await scope.port()}`;
    operator = await testNodeTls(join(scope.dir, 'pki'), 'operator');
    const dir = join(scope.dir, 'l1');
    mkdirSync(dir, { recursive: true });
    agent = scope.spawn('agent-l1', [
      'node',
      BIN,
      'agent',
      '--name',
      'l1',
      '--etcd',
      etcd.endpoints.join(','),
      '--data-dir',
      dir,
      '--listen',
      base.slice('https://'.length),
      '--tls',
      (await testNodeTls(join(scope.dir, 'pki'), 'l1')).dir,
      '--lease-ttl',
      '2',
      '--cluster-key-file',
      writeClusterKey(scope.dir),
    ]);
    await waitFor(
      'the agent to answer /health',
      () =>
        get(`${base}/health`).then(
          (r) => r.status === 200,
          () => false,
        ),
      30_000,
      200,
    );
  });

  afterAll(async () => {
    await agent?.stop(2_000);
    await operator?.close();
    await etcd?.stop();
    await scope?.close();
  });

  it('answers nothing to a client without a certificate from the cluster CA', async () => {
    const ca = operator.read().ca;
    await expect(
      fetch(`${base}/health`, { dispatcher: new Agent({ connect: { ca } }), signal: AbortSignal.timeout(5_000) }),
    ).rejects.toThrow();
    const stranger = await testNodeTls(join(scope.dir, 'other-pki'), 'operator');
    await expect(
      fetch(`${base}/health`, {
        dispatcher: new Agent({ connect: { ca, cert: stranger.read().cert, key: stranger.read().key } }),
        signal: AbortSignal.timeout(5_000),
      }),
    ).rejects.toThrow();
    await stranger.close();
  });

  it('answers /health with 200 and its lease while the lease is valid', async () => {
    const health = await get(`${base}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ name: 'l1', healthy: true, lease: expect.stringMatching(/^\d+$/) });
  });

  it('serves the cluster status as JSON on /status, and 404 elsewhere', async () => {
    await waitFor(
      'l1 ready in /status',
      async () => ((await get(`${base}/status`)).body as ClusterStatus).nodes.some((n) => n.state === 'ready'),
      10_000,
      200,
    );
    const { status, body } = await get(`${base}/status`);
    expect(status).toBe(200);
    const s = body as ClusterStatus;
    expect(s.nodes).toEqual([expect.objectContaining({ name: 'l1', state: 'ready' })]);
    expect(Object.keys(s.singletons).sort()).toEqual(['etcd-membership', 'fencer']);
    expect(s.etcd.members).toHaveLength(1);
    expect((await get(`${base}/nope`)).status).toBe(404);
  });

  it('answers 503 once the agent is cut off from etcd and its lease is no longer surely valid', async () => {
    await etcd.kill(0);
    await waitFor('/health to turn 503', async () => (await get(`${base}/health`)).status === 503, 15_000, 100);
    const health = await get(`${base}/health`);
    expect(health).toMatchObject({ status: 503, body: { name: 'l1', healthy: false } });
    expect((await get(`${base}/status`)).status).toBe(503);
    expect(agent.alive()).toBe(true); // cut off, not crashed
  });
});
