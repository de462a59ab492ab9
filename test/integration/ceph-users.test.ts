import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BLOB_NAMESPACE,
  CEPH_USERS,
  type CephService,
  cephUserKeyring,
  DB_NAMESPACE,
  ensureCephUsers,
  IMAGES_POOL,
  type MonCommand,
  RACKSEED_POOL,
  VMS_POOL,
} from '../../agent/index.js';
// The database worker alone, as the DB master opens it once elected (no election needed here).
import { DatabaseWorker } from '../../appliance/dbmaster/database.js';
import { type DbLocation, fencePreviousHolder, openBlobStore } from '../../appliance/dbmaster/index.js';
import { RadosCluster } from '../../appliance/rados/index.js';
import { Rbd } from '../../appliance/rbd/index.js';
import { type CephCluster, JOURNAL_SCHEMA, Scope, startCeph } from '../bed/index.js';

const run = promisify(execFile);

// Each service's cephx user (agent/ceph/users.ts) on a real cephx cluster, hardened as a node's:
// made by client.admin as a node's agent makes them, each does its service's job through a
// ceph.conf that names every client's keyring (`$cluster.$name.keyring`, as a node's does), and
// each is refused what its service never does.
let ceph: CephCluster;
let scope: Scope;
/** The node's Ceph directory: its conf and the keyrings. */
let dir: string;
let conf: string;
let admin: RadosCluster;
const MIB = 1024 * 1024;
const asked: MonCommand[] = [];

const adminCommand = async (command: MonCommand) => {
  asked.push(command);
  return (await admin.monCommand(command)).output;
};
const idOf = (service: CephService) => CEPH_USERS[service].name.replace(/^client\./, '');
const rbdAs = (service: CephService) => new Rbd({ conf, id: idOf(service) });
const radosAs = (service: CephService) => RadosCluster.connect({ conf, clientName: CEPH_USERS[service].name });
/** The `ceph` CLI as `service`: resolves its output or rejects with what the monitor said. */
async function cephAs(service: CephService, args: readonly string[]): Promise<string> {
  return (await run('ceph', ['-c', conf, '--id', idOf(service), '--connect-timeout', '20', ...args])).stdout;
}
const refused = /EACCES|Permission denied|access denied|\(13\)|\(1\) Operation not permitted/i;

function disk(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) bytes.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  bytes.set([0x55, 0xaa], 510);
  return bytes;
}

beforeAll(async () => {
  ceph = await startCeph({ auth: 'cephx' });
  for (const pool of [IMAGES_POOL, VMS_POOL]) {
    await ceph.ceph(['osd', 'pool', 'create', pool, '8']);
    await ceph.ceph(['osd', 'pool', 'application', 'enable', pool, 'rbd']);
  }
  scope = Scope.open('ceph-users');
  dir = join(scope.dir, 'ceph');
  mkdirSync(dir);
  conf = join(dir, 'ceph.conf');
  writeFileSync(
    conf,
    readFileSync(ceph.conf, 'utf8').replace(/^keyring = .*$/m, `keyring = ${dir}/$cluster.$name.keyring`),
  );
  copyFileSync(ceph.keyring ?? '', join(dir, 'ceph.client.admin.keyring'));
  admin = await RadosCluster.connect({ conf });
  await ensureCephUsers(dir, adminCommand);
});

afterAll(async () => {
  await admin?.close();
  await ceph?.stop();
  await scope?.close();
});

describe('the services’ cephx users', () => {
  it('are made once by client.admin, each keyring 0600 with its caps, none with more than it needs', async () => {
    for (const user of Object.values(CEPH_USERS)) {
      const file = cephUserKeyring(dir, user);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const [entity] = JSON.parse(await ceph.ceph(['auth', 'get', user.name, '-f', 'json'])) as {
        key: string;
        caps: Record<string, string>;
      }[];
      expect(readFileSync(file, 'utf8')).toContain(`key = ${entity?.key}`);
      expect(entity?.caps).toEqual(Object.fromEntries(Object.entries(user.caps).filter(([, cap]) => cap !== '')));
      // `db` alone has `allow *`, on the OSDs only (the fence's barrier: see the db tests below).
      const caps = { ...entity?.caps, ...(user === CEPH_USERS.db ? { osd: '' } : {}) };
      expect(Object.values(caps).join(',')).not.toMatch(/allow \*|allow rwx?$|profile (admin|osd|mgr)/);
    }
    // Written once: the next round asks the monitors nothing.
    const before = asked.length;
    await ensureCephUsers(dir, adminCommand);
    expect(asked.length).toBe(before);
  });

  it('gets its caps back after they changed (an upgrade), keeping its key', async () => {
    const { name } = CEPH_USERS.api;
    const keyBefore = readFileSync(cephUserKeyring(dir, CEPH_USERS.api), 'utf8');
    await ceph.ceph(['auth', 'caps', name, 'mon', 'allow r']);
    writeFileSync(cephUserKeyring(dir, CEPH_USERS.api), keyBefore.replace(/caps osd.*\n/, ''));
    await ensureCephUsers(dir, adminCommand);
    expect(readFileSync(cephUserKeyring(dir, CEPH_USERS.api), 'utf8')).toBe(keyBefore);
    const [entity] = JSON.parse(await ceph.ceph(['auth', 'get', name, '-f', 'json'])) as {
      caps: Record<string, string>;
    }[];
    expect(entity?.caps).toEqual(CEPH_USERS.api.caps);
  });

  it('none may list users or read one, list config keys, delete a pool or set a flag', async () => {
    for (const service of Object.keys(CEPH_USERS) as CephService[]) {
      await expect(cephAs(service, ['auth', 'ls']), service).rejects.toThrow(refused);
      await expect(cephAs(service, ['auth', 'get', 'client.admin']), service).rejects.toThrow(refused);
      await expect(cephAs(service, ['config-key', 'ls']), service).rejects.toThrow(refused);
      await expect(
        cephAs(service, ['osd', 'pool', 'rm', VMS_POOL, VMS_POOL, '--yes-i-really-really-mean-it']),
        service,
      ).rejects.toThrow(refused);
      await expect(cephAs(service, ['osd', 'set', 'noout']), service).rejects.toThrow(refused);
    }
  });

  it('api: Glance images on RBD, a server disk snapshotted into one, image bytes in its namespace; not the database', async () => {
    // A server's disk, as the host service makes it (admin here: the host's part is tested below).
    const setup = new Rbd({ conf, id: 'admin' });
    await setup.importImage(IMAGES_POOL, 'base', { format: 'raw', stream: Readable.from([disk(4 * MIB, 1)]) });
    await setup.cloneDisk({ pool: IMAGES_POOL, name: 'base' }, VMS_POOL, 'srv-api_disk', 8 * MIB);

    const rbd = rbdAs('api');
    const bytes = disk(4 * MIB, 2);
    expect(await rbd.importImage(IMAGES_POOL, 'img-api', { format: 'raw', stream: Readable.from([bytes]) })).toEqual({
      virtualSize: 4 * MIB,
      bootable: true,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of rbd.exportSnapshot(IMAGES_POOL, 'img-api')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(bytes);
    expect(await rbd.children(IMAGES_POOL, 'base')).toEqual([`${VMS_POOL}/srv-api_disk`]);
    expect(
      await rbd.snapshotToImage({ pool: VMS_POOL, name: 'srv-api_disk' }, { pool: IMAGES_POOL, name: 'snap-api' }),
    ).toBe(8 * MIB);
    await rbd.removeImage(IMAGES_POOL, 'snap-api');
    await rbd.removeImage(IMAGES_POOL, 'img-api');

    const blobs = await openBlobStore({
      kind: 'ceph',
      conf,
      clientName: CEPH_USERS.api.name,
      pool: RACKSEED_POOL,
      namespace: BLOB_NAMESPACE,
    });
    try {
      await blobs.put('upload-1', Buffer.from('image bytes'));
      expect((await blobs.get('upload-1')).toString()).toBe('image bytes');
      expect(await blobs.list()).toEqual(['upload-1']);
      await blobs.remove('upload-1');
    } finally {
      await blobs.close();
    }
    const rados = await radosAs('api');
    try {
      const db = await rados.openPool(RACKSEED_POOL, { namespace: DB_NAMESPACE });
      await expect(db.writeFull('x', Buffer.from('x'))).rejects.toMatchObject({ code: 'RADOS_ERR_PERMISSION_DENIED' });
      await expect(db.list()).rejects.toMatchObject({ code: 'RADOS_ERR_PERMISSION_DENIED' });
      await db.close();
    } finally {
      await rados.close();
    }
    await setup.removeImage(VMS_POOL, 'srv-api_disk');
    await setup.removeImage(IMAGES_POOL, 'base');
  });

  it('host: clones a server disk from an image, runs it through QEMU and removes it; reads no blob nor the database', async () => {
    const setup = new Rbd({ conf, id: 'admin' });
    const bytes = disk(4 * MIB, 3);
    await setup.importImage(IMAGES_POOL, 'img-host', { format: 'raw', stream: Readable.from([bytes]) });

    const rbd = rbdAs('host');
    expect(await rbd.bootable(IMAGES_POOL, 'img-host')).toBe(true);
    await rbd.cloneDisk({ pool: IMAGES_POOL, name: 'img-host' }, VMS_POOL, 'srv-host_disk', 16 * MIB);
    expect(await rbd.info(VMS_POOL, 'srv-host_disk')).toEqual({
      size: 16 * MIB,
      parent: `${IMAGES_POOL}/img-host@snap`,
    });
    // QEMU's rbd driver, as the host runs it: the conf and the user (its keyring is the conf's).
    const out = join(scope.dir, 'through-qemu.raw');
    await run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'raw',
      `rbd:${VMS_POOL}/srv-host_disk:conf=${conf}:id=${idOf('host')}`,
      out,
    ]);
    expect(readFileSync(out).subarray(0, 4 * MIB)).toEqual(bytes);

    await rbd.removeImage(VMS_POOL, 'srv-host_disk');
    expect(await rbd.list(VMS_POOL)).toEqual([]);

    // Its own address off the blocklist, at start after a fence; the pool's size for its inventory.
    const rados = await radosAs('host');
    try {
      await admin.monCommand('{"prefix":"osd blocklist","blocklistop":"add","addr":"10.9.9.1:0/0","expire":600.0}');
      await rados.unblocklist('10.9.9.1:0/0');
      // (Its pools' sizes come from the manager, which this test bed does not run.)
      expect(JSON.parse((await rados.monCommand({ prefix: 'df', format: 'json' })).output.toString())).toHaveProperty(
        'stats',
      );
      for (const namespace of [BLOB_NAMESPACE, DB_NAMESPACE]) {
        const pool = await rados.openPool(RACKSEED_POOL, { namespace });
        await expect(pool.list()).rejects.toMatchObject({ code: 'RADOS_ERR_PERMISSION_DENIED' });
        await pool.close();
      }
    } finally {
      await rados.close();
    }
    await setup.removeImage(IMAGES_POOL, 'img-host');
  });

  it('db: libcephsqlite opens the database in its namespace, and the new master fences the old one (blocklist and barrier)', async () => {
    // As `rackseed db master` gives its user to libcephsqlite's own client.
    process.env.SQLITE_USE_URI = '1';
    process.env.CEPH_CONF = conf;
    process.env.CEPH_ARGS = `--id ${idOf('db')}`;
    const location: DbLocation = {
      kind: 'ceph',
      conf,
      clientName: CEPH_USERS.db.name,
      pool: RACKSEED_POOL,
      namespace: DB_NAMESPACE,
      name: 'users-test',
    };
    const first = await DatabaseWorker.open(location, JOURNAL_SCHEMA);
    await first.call('append', { client: 'a', seq: 1 });
    const rados = await radosAs('db');
    try {
      const fenced = await fencePreviousHolder(rados, location);
      expect(fenced.holders.map((h) => h.address)).toEqual([`v1:${first.lockAddress}`]);
      expect(fenced.epoch).toBeGreaterThan(0);
      // Its answer: the entries, then the ranges (two JSON lists).
      const blocklist = (await admin.monCommand({ prefix: 'osd blocklist ls', format: 'json' })).output.toString();
      expect(blocklist).toContain(`"addr":"${first.lockAddress}"`);
      // (libcephsqlite has one RADOS client per process: the fenced one is this process's, so the
      // next master's open is proven in a process of its own, by db-master.test.ts.)
      await first.abandon();
      const images = await rados.openPool(IMAGES_POOL);
      await expect(images.stat('anything')).rejects.toMatchObject({ code: 'RADOS_ERR_NOT_FOUND' }); // `allow *`: it may
      await images.close();
    } finally {
      await rados.close();
    }
  });

  it('db: no OSD cap short of `allow *` on every pool may ask an OSD its status (why `db` has it)', async () => {
    // An OSD answers a command (`ceph tell osd.N …`) only to a client whose OSD caps allow all
    // (src/osd/OSD.cc handle_command: `session->caps.allow_all()`), which src/osd/OSDCap.cc
    // grants only to `allow *` matching every pool, namespace and object: there is no `allow
    // command` among OSD caps. The fence's barrier needs `status`; the narrowest `*` is refused.
    const tellAs = async (name: string, osdCap: string) => {
      const [entity] = JSON.parse(
        (
          await admin.monCommand({
            prefix: 'auth get-or-create',
            entity: name,
            caps: ['mon', 'allow r', 'osd', osdCap],
            format: 'json',
          })
        ).output.toString(),
      ) as { key: string }[];
      writeFileSync(join(dir, `ceph.${name}.keyring`), `[${name}]\n\tkey = ${entity?.key}\n`, { mode: 0o600 });
      const rados = await RadosCluster.connect({ conf, clientName: name });
      try {
        return JSON.parse((await rados.osdCommand(0, { prefix: 'status' })).output.toString()) as {
          newest_map: number;
        };
      } finally {
        await rados.close();
        await admin.monCommand({ prefix: 'auth del', entity: name });
      }
    };
    const scoped = [
      `allow * pool=${RACKSEED_POOL} namespace=${DB_NAMESPACE}`,
      `allow * pool=${RACKSEED_POOL}`,
      'allow rwx', // every pool's data, and still not a command
    ];
    for (const [index, cap] of scoped.entries()) {
      await expect(tellAs(`client.tell-probe-${index}`, cap), cap).rejects.toMatchObject({
        code: 'RADOS_ERR_PERMISSION_DENIED',
        op: 'osdCommand',
      });
    }
    expect((await tellAs('client.tell-probe-all', 'allow *')).newest_map).toBeGreaterThan(0);
  });

  it('compute: blocklists a fenced host and waits for the map; reads no data', async () => {
    const rados = await radosAs('compute');
    try {
      await rados.monCommand('{"prefix":"osd blocklist","blocklistop":"add","addr":"10.9.9.2:0/0","expire":86400.0}');
      await rados.waitForLatestOsdmap();
      expect(await cephAs('compute', ['osd', 'blocklist', 'ls'])).toContain('10.9.9.2:0/0');
      await expect(rados.unblocklist('10.9.9.2:0/0')).rejects.toMatchObject({ code: 'RADOS_ERR_PERMISSION_DENIED' });
      const vms = await rados.openPool(VMS_POOL);
      await expect(vms.list()).rejects.toMatchObject({ code: 'RADOS_ERR_PERMISSION_DENIED' });
      await vms.close();
    } finally {
      await rados.close();
    }
  });
});
