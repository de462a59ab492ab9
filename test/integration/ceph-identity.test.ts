import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureCephIdentity,
  keys,
  openCephIdentity,
  renderKeyring,
  SealedValueError,
  Store,
} from '../../agent/index.js';
import { type EtcdCluster, Scope, startEtcd } from '../bed/index.js';

// The cluster's Ceph identity against a real etcd: made once whoever races for it, kept only
// sealed, and its keys taken by Ceph's own ceph-authtool.
describe('Ceph identity', () => {
  let etcd: EtcdCluster;
  let scope: Scope;
  const clusterKey = randomBytes(32);

  beforeAll(async () => {
    etcd = await startEtcd();
    scope = Scope.open('ceph-identity');
  });
  afterAll(async () => {
    await etcd?.stop();
    await scope?.close();
  });

  it('is made once when five agents race for it, and is stored only sealed', async () => {
    const stores = Array.from({ length: 5 }, () => Store.connect(etcd.endpoints));
    try {
      const made = await Promise.all(stores.map((store) => ensureCephIdentity(store, clusterKey)));
      expect(new Set(made.map((identity) => JSON.stringify(identity))).size).toBe(1);
      const [first] = made;
      if (!first) throw new Error('no identity');
      const stored = (await stores[0]?.get(keys.cephIdentity))?.value ?? '';
      expect(JSON.parse(stored)).toMatchObject({ v: 1, alg: 'aes-256-gcm' });
      for (const secret of [first.fsid, first.monKey, first.adminKey, first.bootstrapOsdKey]) {
        expect(stored).not.toContain(secret);
      }
      expect(openCephIdentity(clusterKey, stored)).toEqual(first);
      expect(() => openCephIdentity(randomBytes(32), stored)).toThrow(SealedValueError);
      // A later call reads it back, it does not make another.
      expect(await ensureCephIdentity(stores[1] as Store, clusterKey)).toEqual(first);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('takes the seed’s fsid when it makes the identity, and keeps the first one made', async () => {
    const fresh = await startEtcd();
    const store = Store.connect(fresh.endpoints);
    try {
      const seedFsid = '6f1c1e2a-4b7d-4c1e-9a55-0d2f3b8e7c11';
      expect((await ensureCephIdentity(store, clusterKey, seedFsid)).fsid).toBe(seedFsid);
      expect((await ensureCephIdentity(store, clusterKey, '00000000-0000-4000-8000-000000000000')).fsid).toBe(seedFsid);
    } finally {
      await store.close();
      await fresh.stop();
    }
  });

  it('has keys ceph-authtool reads back unchanged', async () => {
    const store = Store.connect(etcd.endpoints);
    try {
      const identity = await ensureCephIdentity(store, clusterKey);
      const file = join(scope.dir, 'keyring');
      writeFileSync(
        file,
        renderKeyring([
          { name: 'mon.', key: identity.monKey, caps: { mon: 'allow *' } },
          { name: 'client.admin', key: identity.adminKey, caps: { mon: 'allow *' } },
          { name: 'client.bootstrap-osd', key: identity.bootstrapOsdKey, caps: { mon: 'profile bootstrap-osd' } },
        ]),
      );
      const listed = execFileSync('ceph-authtool', ['-l', file], { encoding: 'utf8', timeout: 10_000 });
      for (const [name, key] of [
        ['mon.', identity.monKey],
        ['client.admin', identity.adminKey],
        ['client.bootstrap-osd', identity.bootstrapOsdKey],
      ]) {
        expect(listed).toContain(`[${name}]\n\tkey = ${key}\n`);
      }
      for (const name of ['client.admin', 'client.bootstrap-osd']) {
        const printed = execFileSync('ceph-authtool', [file, '-n', name, '-p'], { encoding: 'utf8', timeout: 10_000 });
        expect(printed.trim()).toBe(name === 'client.admin' ? identity.adminKey : identity.bootstrapOsdKey);
      }
    } finally {
      await store.close();
    }
  });
});
