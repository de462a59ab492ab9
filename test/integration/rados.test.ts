import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cephxKey, MON_TIMEOUT_SECONDS } from '../../agent/index.js';
import { blocklistAddress, connectCephMonitors, RadosCluster, type RadosPool } from '../../appliance/rados/index.js';
import { type CephCluster, startCeph } from '../bed/index.js';

// One cephx cluster for the whole file: the admin keyring for the CRUD, a restricted user for
// the permission errors. Under cephx the bed's cluster runs msgr2 in secure mode, as rackseed's.
let ceph: CephCluster;
let admin: RadosCluster;
let pool: RadosPool;

beforeAll(async () => {
  ceph = await startCeph({ auth: 'cephx' });
  admin = await RadosCluster.connect({ conf: ceph.conf, keyring: ceph.keyring });
  pool = await admin.openPool(ceph.pool);
});

afterAll(async () => {
  await admin?.close();
  await ceph?.stop();
});

describe('librados binding', () => {
  it('creates, lists and deletes pools', async () => {
    await admin.createPool('rados-test-pool');
    expect(await admin.listPools()).toContain('rados-test-pool');
    await expect(admin.createPool('rados-test-pool')).rejects.toMatchObject({ code: 'RADOS_ERR_EXISTS' });
    await admin.deletePool('rados-test-pool');
    expect(await admin.listPools()).not.toContain('rados-test-pool');
  });

  it('writes whole, at an offset and appended; reads ranges; stats and removes', async () => {
    await pool.writeFull('crud', Buffer.from('hello world'));
    await pool.write('crud', Buffer.from('W'), 6);
    await pool.append('crud', Buffer.from('!!'));
    expect((await pool.read('crud')).toString()).toBe('hello World!!');
    expect((await pool.read('crud', { offset: 6, length: 5 })).toString()).toBe('World');
    expect((await pool.read('crud', { offset: 11, length: 100 })).toString()).toBe('!!');
    const stat = await pool.stat('crud');
    expect(stat.size).toBe(13);
    expect(Math.abs(stat.mtime - Date.now())).toBeLessThan(120_000);
    await pool.writeFull('crud', Buffer.from('short'));
    expect((await pool.read('crud')).toString()).toBe('short');
    await pool.remove('crud');
    await expect(pool.stat('crud')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND', op: 'stat', errno: 2 });
  });

  it('reads whole objects and ranges of every size under msgr2 secure mode (rados_aio_read into our buffer failed with ERANGE there)', async () => {
    const mode = JSON.parse(
      await ceph.ceph(['tell', 'mon.a', 'config', 'get', 'ms_mon_service_mode', '-f', 'json']),
    ) as {
      ms_mon_service_mode: string;
    };
    expect(mode.ms_mon_service_mode).toBe('secure');
    for (const size of [1, 4095, 4097, 65_536 + 7, 1024 * 1024 + 3, 5 * 1024 * 1024]) {
      const data = randomBytes(size);
      await pool.writeFull(`secure-${size}`, data);
      expect((await pool.read(`secure-${size}`)).equals(data)).toBe(true);
      const offset = Math.floor(size / 3);
      expect((await pool.read(`secure-${size}`, { offset, length: size })).equals(data.subarray(offset))).toBe(true);
      await pool.remove(`secure-${size}`);
    }
  });

  it('keeps namespaces apart and lists one or all of them', async () => {
    const a = await admin.openPool(ceph.pool, { namespace: 'ns-a' });
    const b = await admin.openPool(ceph.pool, { namespace: 'ns-b' });
    try {
      await a.writeFull('same-name', Buffer.from('from a'));
      await b.writeFull('same-name', Buffer.from('from b'));
      await b.writeFull('only-b', Buffer.from('b'));
      expect((await a.read('same-name')).toString()).toBe('from a');
      await expect(a.read('only-b')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND' });
      expect((await a.list()).map((o) => o.oid)).toEqual(['same-name']);
      expect((await b.list()).map((o) => o.oid).sort()).toEqual(['only-b', 'same-name']);
      const all = (await a.list({ allNamespaces: true })).map((o) => `${o.namespace}/${o.oid}`).sort();
      expect(all).toEqual(expect.arrayContaining(['ns-a/same-name', 'ns-b/only-b', 'ns-b/same-name']));
    } finally {
      await a.close();
      await b.close();
    }
    await expect(a.read('same-name')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_CONNECTED' });
  });

  it('sets, reads, lists and removes xattrs', async () => {
    await pool.writeFull('attrs', Buffer.alloc(0));
    await pool.setXattr('attrs', 'owner', Buffer.from('node-1'));
    const big = randomBytes(10_000);
    await pool.setXattr('attrs', 'big', big);
    expect((await pool.getXattr('attrs', 'owner')).toString()).toBe('node-1');
    expect((await pool.getXattr('attrs', 'big')).equals(big)).toBe(true);
    const all = await pool.getXattrs('attrs');
    expect(Object.keys(all).sort()).toEqual(['big', 'owner']);
    await pool.removeXattr('attrs', 'owner');
    await expect(pool.getXattr('attrs', 'owner')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND' });
  });

  it('streams a 100 MB object in and out', async () => {
    const size = 100 * 1024 * 1024;
    const piece = randomBytes(1024 * 1024);
    const hashIn = createHash('sha256');
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < size / piece.length; i++) {
          const chunk = Buffer.from(piece);
          chunk.writeUInt32BE(i, 0); // every MiB differs, so a misplaced piece shows
          hashIn.update(chunk);
          yield chunk;
        }
      })(),
    );
    await pipeline(source, pool.createWriteStream('big'));
    expect((await pool.stat('big')).size).toBe(size);
    const hashOut = createHash('sha256');
    let bytes = 0;
    await pipeline(
      pool.createReadStream('big'),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          hashOut.update(chunk);
          bytes += chunk.length;
          done();
        },
      }),
    );
    expect(bytes).toBe(size);
    expect(hashOut.digest('hex')).toBe(hashIn.digest('hex'));
    await pool.remove('big');
  });

  it('takes exclusive and shared locks with cookies, lists and breaks them', async () => {
    const other = await RadosCluster.connect({ conf: ceph.conf, keyring: ceph.keyring });
    try {
      const theirs = await other.openPool(ceph.pool);
      await pool.writeFull('locked', Buffer.from('x'));
      await pool.lockExclusive('locked', 'owner', 'cookie-1', { description: 'test', durationMs: 60_000 });
      await expect(theirs.lockExclusive('locked', 'owner', 'cookie-2')).rejects.toMatchObject({
        code: 'RADOS_ERR_BUSY',
        retryable: true,
      });
      await pool.lockExclusive('locked', 'owner', 'cookie-1', { durationMs: 60_000, renew: true });
      const info = await theirs.listLockers('locked', 'owner');
      expect(info.exclusive).toBe(true);
      expect(info.lockers).toHaveLength(1);
      const [holder] = info.lockers;
      expect(holder?.cookie).toBe('cookie-1');
      expect(holder?.client).toBe(`client.${await admin.instanceId()}`);
      expect(blocklistAddress(holder?.address ?? '')).toBe(await admin.address());
      if (!holder) throw new Error('no holder');
      await theirs.breakLock('locked', 'owner', holder);
      expect((await theirs.listLockers('locked', 'owner')).lockers).toEqual([]);
      await theirs.lockExclusive('locked', 'owner', 'cookie-2');
      await theirs.unlock('locked', 'owner', 'cookie-2');

      await pool.lockShared('locked', 'readers', 'r1', 'tag-1');
      await theirs.lockShared('locked', 'readers', 'r2', 'tag-1');
      const shared = await pool.listLockers('locked', 'readers');
      expect(shared.exclusive).toBe(false);
      expect(shared.tag).toBe('tag-1');
      expect(shared.lockers.map((l) => l.cookie).sort()).toEqual(['r1', 'r2']);
      await expect(pool.lockExclusive('locked', 'readers', 'r3')).rejects.toMatchObject({ code: 'RADOS_ERR_BUSY' });
      await expect(pool.unlock('locked', 'readers', 'nope')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND' });
    } finally {
      await other.close();
    }
  });

  it('fences a client through the blocklist: its writes then fail', async () => {
    const victim = await RadosCluster.connect({ conf: ceph.conf, keyring: ceph.keyring });
    try {
      const theirs = await victim.openPool(ceph.pool);
      await theirs.writeFull('fenced', Buffer.from('before'));
      const address = await victim.address();
      const epochOf = async () =>
        (
          JSON.parse((await admin.monCommand({ prefix: 'osd dump', format: 'json' })).output.toString()) as {
            epoch: number;
          }
        ).epoch;
      const before = await epochOf();
      const barrier = await admin.blocklist(address, 600);
      // The epoch barrier: every up OSD has the map with the blocklist when blocklist() returns.
      expect(barrier.epoch).toBeGreaterThan(before);
      expect(barrier.osds).toEqual([0]);
      const status = JSON.parse((await admin.osdCommand(0, { prefix: 'status' })).output.toString()) as {
        newest_map: number;
      };
      expect(status.newest_map).toBeGreaterThanOrEqual(barrier.epoch);
      const listed = (await admin.monCommand({ prefix: 'osd blocklist ls', format: 'json' })).output.toString();
      expect(listed).toContain(address);
      await expect(theirs.writeFull('fenced', Buffer.from('after'))).rejects.toMatchObject({
        code: 'RADOS_ERR_BLOCKLISTED',
      });
      expect((await pool.read('fenced')).toString()).toBe('before');
      await admin.unblocklist(address);
    } finally {
      await victim.close();
    }
  });

  it('sends a monitor command its input: osd new takes the cephx secret from it', async () => {
    const uuid = randomUUID();
    const key = cephxKey();
    const input = Buffer.from(JSON.stringify({ cephx_secret: key }));
    const created = await admin.monCommand({ prefix: 'osd new', uuid, format: 'json' }, input);
    const { osdid } = JSON.parse(created.output.toString()) as { osdid: number };
    expect(Number.isInteger(osdid)).toBe(true);
    // The monitor stored the key it was given, and `osd new` is idempotent for the same uuid and secret.
    const auth = JSON.parse(
      (await admin.monCommand({ prefix: 'auth get', entity: `osd.${osdid}`, format: 'json' })).output.toString(),
    ) as { key: string }[];
    expect(auth[0]?.key).toBe(key);
    const again = await admin.monCommand({ prefix: 'osd new', uuid, format: 'json' }, input);
    expect(JSON.parse(again.output.toString())).toEqual({ osdid });
    // Another secret for the same OSD is refused: the input reaches the monitor as it is.
    const other = Buffer.from(JSON.stringify({ cephx_secret: cephxKey() }));
    await expect(admin.monCommand({ prefix: 'osd new', uuid, format: 'json' }, other)).rejects.toMatchObject({
      code: 'RADOS_ERR_EXISTS',
    });
    await admin.monCommand({ prefix: 'osd purge-new', id: osdid, yes_i_really_mean_it: true });
  });

  it("is the agent's monitor client: mon getmap gives the binary monmap, refusals carry the monitor's text", async () => {
    const monitors = await connectCephMonitors({
      conf: ceph.conf,
      keyring: ceph.keyring ?? '',
      clientName: 'client.admin',
      timeoutSeconds: MON_TIMEOUT_SECONDS,
    });
    try {
      const file = join(ceph.conf, '..', 'monmap.bin');
      writeFileSync(file, await monitors.command({ prefix: 'mon getmap' }));
      expect(execFileSync('monmaptool', ['--print', file], { encoding: 'utf8' })).toContain(`fsid ${ceph.fsid}`);
      const status = JSON.parse((await monitors.command({ prefix: 'status', format: 'json' })).toString()) as {
        fsid: string;
      };
      expect(status.fsid).toBe(ceph.fsid);
      await expect(
        monitors.command({ prefix: 'osd pool set', pool: 'no-such-pool', var: 'size', val: '1' }),
      ).rejects.toThrow(/unrecognized pool 'no-such-pool'/);
    } finally {
      await monitors.close();
    }
  });

  it('gives up after timeoutSeconds: on monitors that do not answer, and on a command to a paused monitor', async () => {
    const silent = join(ceph.conf, '..', 'silent.conf');
    writeFileSync(silent, readFileSync(ceph.conf, 'utf8').replace(/^mon host = .*$/m, 'mon host = v2:127.0.0.1:9'));
    const options = { keyring: ceph.keyring ?? '', clientName: 'client.admin', timeoutSeconds: 2 };
    await expect(connectCephMonitors({ ...options, conf: silent })).rejects.toMatchObject({
      code: 'RADOS_ERR_TIMED_OUT',
      op: 'connect',
    });
    const monitors = await connectCephMonitors({ ...options, conf: ceph.conf });
    const mon = ceph.daemons.find((d) => d.name === 'ceph-mon.a');
    if (!mon) throw new Error('the bed has no ceph-mon.a');
    process.kill(mon.pid, 'SIGSTOP');
    try {
      await expect(monitors.command({ prefix: 'status', format: 'json' })).rejects.toMatchObject({
        code: 'RADOS_ERR_TIMED_OUT',
      });
    } finally {
      process.kill(mon.pid, 'SIGCONT');
      await monitors.close();
    }
  });

  it('maps errors: no such pool, no such object, bad mon command, permission denied under cephx', async () => {
    await expect(admin.openPool('no-such-pool')).rejects.toMatchObject({
      code: 'RADOS_ERR_NOT_FOUND',
      op: 'openIoctx',
    });
    await expect(pool.read('no-such-object', { length: 10 })).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND' });
    await expect(pool.remove('no-such-object')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND' });
    await expect(admin.monCommand({ prefix: 'no such command' })).rejects.toMatchObject({ code: 'RADOS_ERR_INVALID' });

    // A user that may only read this pool.
    const keyring = join(ceph.conf, '..', 'client.reader.keyring');
    const key = await ceph.ceph([
      'auth',
      'get-or-create',
      'client.reader',
      'mon',
      'allow r',
      'osd',
      `allow r pool=${ceph.pool}`,
    ]);
    writeFileSync(keyring, key);
    const reader = await RadosCluster.connect({ conf: ceph.conf, keyring, clientName: 'client.reader' });
    try {
      const readOnly = await reader.openPool(ceph.pool);
      await pool.writeFull('readable', Buffer.from('yes'));
      expect((await readOnly.read('readable')).toString()).toBe('yes');
      await expect(readOnly.writeFull('readable', Buffer.from('no'))).rejects.toMatchObject({
        code: 'RADOS_ERR_PERMISSION_DENIED',
      });
      await expect(reader.createPool('not-allowed')).rejects.toMatchObject({ code: 'RADOS_ERR_PERMISSION_DENIED' });
    } finally {
      await reader.close();
    }
    await expect(
      RadosCluster.connect({ conf: ceph.conf, keyring: '/dev/null', options: { client_mount_timeout: '5' } }),
    ).rejects.toMatchObject({ op: 'connect' });
  });
});
