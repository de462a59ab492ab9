import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Etcd3, type Lease } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type NodeRecord } from '../../agent/index.js';
import { type GatewayProcess, runGatewayRelay } from '../../bootstrap/lab/index.js';
import { type EtcdCluster, Scope, startEtcd, waitFor } from '../bed/index.js';

/** One connection through the relay's socket: what the backend said (its name) before closing. */
const through = (socket: string) =>
  new Promise<string>((resolve, reject) => {
    const c = createConnection(socket);
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    c.on('end', () => resolve(text));
    c.on('error', reject);
  });

// The relay finds the nodes where the lab's agents register them: their live node records in
// a real etcd (each under its node's lease). Its backends here are two loopback addresses
// (127.0.0.2 and .3) whose listeners answer with their name.
describe('lab gateway relay: the nodes from the cluster', () => {
  let etcd: EtcdCluster;
  let client: Etcd3;
  let scope: Scope;
  let relay: GatewayProcess;
  const servers: Server[] = [];
  const leases = new Map<string, Lease>();
  const lines: string[] = [];
  let socket = '';

  const register = async (name: string, host: string) => {
    const lease = client.lease(30);
    const record: NodeRecord = {
      name,
      lease: await lease.grant(),
      startedAt: new Date().toISOString(),
      etcd: { clientUrl: `http://${host}:2379`, peerUrl: `http://${host}:2380` },
    };
    await lease.put(keys.node(name)).value(JSON.stringify(record));
    leases.set(name, lease);
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: [...etcd.endpoints] });
    scope = Scope.open('gateway-etcd-test');
    const port = await scope.port();
    for (const [name, host] of [
      ['n1', '127.0.0.2'],
      ['n2', '127.0.0.3'],
    ] as const) {
      const server = createServer((c) => c.end(name));
      await new Promise<void>((resolve) => server.listen(port, host, resolve));
      servers.push(server);
      await register(name, host);
    }
    socket = join(scope.dir, 'relay.sock');
    relay = await runGatewayRelay({
      socket,
      backends: { etcd: etcd.endpoints },
      apiPort: port,
      refreshMs: 200,
      log: (line) => lines.push(line),
    });
  });

  afterAll(async () => {
    await relay?.close();
    for (const s of servers) s.close();
    for (const lease of leases.values()) await lease.revoke().catch(() => {});
    client?.close();
    await etcd?.stop();
    await scope?.close();
  });

  it('goes round-robin over the live nodes', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await through(socket));
    expect([...answers].sort()).toEqual(['n1', 'n1', 'n2', 'n2']);
    expect(answers[0]).not.toBe(answers[1]);
  });

  it('goes on after clients that hang up at once or send garbage', async () => {
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const c = createConnection(socket);
            c.resume();
            c.on('error', () => resolve());
            c.on('close', () => resolve());
            c.on('connect', () => (i % 2 ? c.destroy() : c.end(Buffer.from([0, 255, 13, 10, 13, 10]))));
          }),
      ),
    );
    expect(['n1', 'n2']).toContain(await through(socket));
  });

  it('drops a node whose record went with its lease, without trying it', async () => {
    await leases.get('n1')?.revoke();
    await waitFor('the relay to drop n1', () => lines.some((l) => /^backends: 127\.0\.0\.3:\d+$/.test(l)), 10_000);
    for (let i = 0; i < 4; i++) expect(await through(socket)).toBe('n2');
    expect(lines.join('\n')).not.toMatch(/skipped/);
  });

  it('keeps its last list and goes on when etcd is gone', async () => {
    await etcd.stop();
    await waitFor(
      'the relay to see etcd gone',
      () => lines.some((l) => /cannot read the nodes from etcd/.test(l)),
      20_000,
    );
    for (let i = 0; i < 2; i++) expect(await through(socket)).toBe('n2');
  });
});
