import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { Scope, startCeph, startEtcd } from '/work/wt-storage/test/bed/index.js';
import { spawnMaster } from '/work/wt-storage/test/integration/support/db-master-process.js';
import { DbClient } from '/work/wt-storage/appliance/dbmaster/index.js';
import { RadosCluster } from '/work/wt-storage/appliance/rados/index.js';
const [ceph, etcdC] = await Promise.all([startCeph(), startEtcd({ members: 1 })]);
const scope = Scope.open('dbg');
const etcd = new Etcd3({ hosts: [...etcdC.endpoints] });
try {
  const location = { kind: 'ceph' as const, conf: ceph.conf, pool: ceph.pool, namespace: 'x', name: 'dbg' };
  const a = spawnMaster(scope, { etcd: etcdC.endpoints, location, node: 'a', electionName: 'e1' });
  const b = spawnMaster(scope, { etcd: etcdC.endpoints, location, node: 'b', electionName: 'e1' });
  const client = await DbClient.connect({ etcd, electionName: 'e1' });
  console.log(await client.call('append', { client: 'x', seq: 1 }), client.masterUrl());
  const rados = await RadosCluster.connect({ conf: ceph.conf });
  const pool = await rados.openPool(ceph.pool, { namespace: 'x' });
  console.log(await pool.list());
  const t0 = Date.now();
  const master = (await a.status()).role === 'master' ? a : b;
  await master.daemon.stop();
  console.log(await client.call('append', { client: 'x', seq: 2 }), client.masterUrl(), Date.now() - t0);
  await rados.close();
  await client.close();
} catch (e) {
  console.log('ERR', e);
} finally {
  for (const f of ['a', 'b']) console.log(readFileSync(`${scope.dir}/db-master-${f}.log`, 'utf8'));
  etcd.close();
  await scope.close();
  await ceph.stop();
  await etcdC.stop();
}
