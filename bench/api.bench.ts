import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapCloud, createApi, NOVA_MAX_MICROVERSION } from '../appliance/api/index.js';
import { LocalBlobStore } from '../appliance/blobs/index.js';
import { FakeDriver } from '../appliance/compute/index.js';
import { openSqliteDb } from '../appliance/db/index.js';
import { median } from './stats.js';

const SERVERS = 1000;
const CONCURRENCY = 16;

/** Runs `count` calls of `call`, `concurrency` at a time; returns calls per second. */
async function rate(count: number, concurrency: number, call: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await call(next++);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function ok(response: Response, status: number): Promise<Response> {
  if (response.status !== status) throw new Error(`${response.url}: ${response.status} ${await response.text()}`);
  return response;
}

/**
 * The API over real HTTP on 127.0.0.1 (SQLite file, fake driver): token issues per second
 * (scrypt-bound by design), server list with 1,000 servers per second, and the time to
 * create 1,000 servers to ACTIVE. The reference is a trivial GET on the same server. The
 * server list and create at the newest compute microversion are timed against 2.1 in the
 * same run, in alternating rounds.
 */
export default async function apiBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rackseed-bench-api-'));
  const db = openSqliteDb(join(dir, 'cloud.db'));
  const password = 'bench-password';
  const { projectId } = await bootstrapCloud(db, password);
  await db.quotas.set(projectId, { instances: -1, cores: -1, ram: -1 });
  const api = await createApi({
    db,
    blobs: new LocalBlobStore(join(dir, 'images')),
    driver: new FakeDriver(),
    credentialKey: randomBytes(32),
    publicUrl: 'http://127.0.0.1',
    logLevel: 'warn',
  });
  const address = await api.app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const authBody = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password } } },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    });
    const issue = async () =>
      ok(
        await fetch(`${address}/identity/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: authBody,
        }),
        201,
      );
    const token = (await issue()).headers.get('x-subject-token') ?? '';
    const headers = { 'x-auth-token': token, 'content-type': 'application/json' };

    const reference = await rate(400, 4, async () => {
      await (await ok(await fetch(`${address}/compute/`), 200)).arrayBuffer();
    });
    const tokensPerSecond = await rate(40, 4, async () => {
      await (await issue()).arrayBuffer();
    });

    const image = (await (
      await ok(
        await fetch(`${address}/image/v2/images`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: 'bench', visibility: 'public' }),
        }),
        201,
      )
    ).json()) as { id: string };
    await ok(
      await fetch(`${address}/image/v2/images/${image.id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(1024),
      }),
      204,
    );

    const started = performance.now();
    await rate(SERVERS, CONCURRENCY, async (i) => {
      const body = JSON.stringify({ server: { name: `bench-${i}`, imageRef: image.id, flavorRef: '1' } });
      await (
        await ok(await fetch(`${address}/compute/v2.1/servers`, { method: 'POST', headers, body }), 202)
      ).arrayBuffer();
    });
    let active = 0;
    while (active < SERVERS) {
      const list = (await (
        await ok(await fetch(`${address}/compute/v2.1/servers/detail?status=ACTIVE`, { headers }), 200)
      ).json()) as { servers: unknown[] };
      active = list.servers.length;
      if (active < SERVERS) await new Promise((r) => setTimeout(r, 50));
    }
    const createSeconds = (performance.now() - started) / 1000;

    const listPerSecond = await rate(20, 2, async () => {
      await (await ok(await fetch(`${address}/compute/v2.1/servers/detail`, { headers }), 200)).arrayBuffer();
    });
    const basicListPerSecond = await rate(40, 2, async () => {
      await (await ok(await fetch(`${address}/compute/v2.1/servers`, { headers }), 200)).arrayBuffer();
    });

    // The newest microversion against 2.1: the same calls, in rounds whose order alternates
    // (A B, B A…); both lists of a round see the same servers, then both creates run.
    const at = (version: string) => ({ ...headers, 'openstack-api-version': `compute ${version}` });
    const versions = { old: '2.1', newest: NOVA_MAX_MICROVERSION } as const;
    const lists = { old: [] as number[], newest: [] as number[] };
    const creates = { old: [] as number[], newest: [] as number[] };
    let made = 0;
    for (let round = 0; round < 4; round++) {
      const order = round % 2 === 0 ? (['old', 'newest'] as const) : (['newest', 'old'] as const);
      for (const key of order) {
        lists[key].push(
          await rate(10, 2, async () => {
            const response = await fetch(`${address}/compute/v2.1/servers/detail`, { headers: at(versions[key]) });
            await (await ok(response, 200)).arrayBuffer();
          }),
        );
      }
      for (const key of order) {
        creates[key].push(
          await rate(50, 4, async () => {
            // From 2.37 a create names its networks (`auto`, as the openstack CLI sends it); before, it may not.
            const networks = key === 'newest' ? { networks: 'auto' } : {};
            const body = JSON.stringify({
              server: { name: `mv-${made++}`, imageRef: image.id, flavorRef: '1', ...networks },
            });
            const response = await fetch(`${address}/compute/v2.1/servers`, {
              method: 'POST',
              headers: at(versions[key]),
              body,
            });
            await (await ok(response, 202)).arrayBuffer();
          }),
        );
      }
    }
    await api.servers.idle();

    const line = (name: string, value: string, ratio?: number, against = 'reference') =>
      console.log(
        `api  ${name.padEnd(44)} ${value.padStart(12)}${ratio === undefined ? '' : `   (${ratio.toFixed(3)} × ${against})`}`,
      );
    line('reference: GET /compute/ (req/s)', reference.toFixed(0));
    line('token issue, scrypt N=2^15 (req/s)', tokensPerSecond.toFixed(1), tokensPerSecond / reference);
    line(`server list detail, ${SERVERS} servers (req/s)`, listPerSecond.toFixed(1), listPerSecond / reference);
    line(
      `server list basic, ${SERVERS} servers (req/s)`,
      basicListPerSecond.toFixed(1),
      basicListPerSecond / reference,
    );
    line(`create ${SERVERS} servers to ACTIVE (s, target < 60)`, createSeconds.toFixed(2));
    const listOld = median(lists.old);
    const listNewest = median(lists.newest);
    const bytesAt = async (version: string) =>
      (
        await (
          await ok(await fetch(`${address}/compute/v2.1/servers/detail`, { headers: at(version) }), 200)
        ).arrayBuffer()
      ).byteLength;
    const [bytesOld, bytesNewest] = [await bytesAt('2.1'), await bytesAt(NOVA_MAX_MICROVERSION)];
    line('server list detail at 2.1 (req/s)', listOld.toFixed(1));
    line(`server list detail at ${NOVA_MAX_MICROVERSION} (req/s)`, listNewest.toFixed(1), listNewest / listOld, '2.1');
    line('  its answer at 2.1, the cloud admin (kB)', (bytesOld / 1000).toFixed(0));
    line(
      `  its answer at ${NOVA_MAX_MICROVERSION}, the cloud admin (kB)`,
      (bytesNewest / 1000).toFixed(0),
      bytesNewest / bytesOld,
      '2.1',
    );
    const createOld = median(creates.old);
    const createNewest = median(creates.newest);
    line('server create at 2.1 (req/s)', createOld.toFixed(1));
    line(`server create at ${NOVA_MAX_MICROVERSION} (req/s)`, createNewest.toFixed(1), createNewest / createOld, '2.1');
  } finally {
    await api.app.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
