/**
 * `make demo`: the main job, as far as rackseed goes today. The self-assembling lab rack
 * (`rackseed lab up`, issue 8) does not exist yet; until it does, this shows the parts that
 * do, on real components in network namespaces of this machine, and removes everything after:
 *   1. a rack network: a seed host and a BMC network on a bridge (namespaces, private subnet);
 *   2. four simulated servers: OpenIPMI ipmi_sim BMCs, powered off;
 *   3. the seed finds them with `rackseed bmc scan`, reads each one's FRU, sets PXE boot and
 *      powers it on over IPMI v2.0 RMCP+ with rackseed's own client;
 *   4. the cluster's state store and storage: a 3-member etcd and a Ceph cluster, checked.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { createNetworkLab, startCeph, startEtcd, startSimulatedBmcs } from '../test/bed/index.js';

const RACKSEED = new URL('../bin/rackseed.js', import.meta.url).pathname;
const started = performance.now();
const step = (text: string) =>
  console.log(`\n[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);

console.log('rackseed demo: the lab rack that builds itself is not written yet (issue 8);');
console.log('this runs what exists today against real parts, inside network namespaces.');

const lab = await createNetworkLab({ hosts: ['seed'] });
const cleanups: (() => Promise<void>)[] = [() => lab.destroy()];
try {
  step(`rack network ${lab.subnet}: bridge in ${lab.bridgeNetns}, seed host ${lab.host('seed').ip}`);
  const base = lab.subnet.replace(/\.0\/24$/, '');
  const addresses = [11, 12, 13, 14].map((n) => `${base}.${n}`);
  for (const address of addresses)
    await lab.exec(lab.bridgeNetns, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'br0']);
  const rack = await startSimulatedBmcs({ count: 4, netns: lab.bridgeNetns, addresses });
  cleanups.unshift(() => rack.stop());
  step(`4 servers, powered off, their BMCs at ${addresses.join(', ')}`);

  const seed = lab.host('seed').netns;
  const rackseed = async (...args: string[]) => (await lab.exec(seed, [process.execPath, RACKSEED, ...args])).stdout;
  step(`seed: rackseed bmc scan ${lab.subnet}`);
  process.stdout.write(await rackseed('bmc', 'scan', lab.subnet, '--timeout', '500'));

  for (const bmc of rack.bmcs) {
    const passwordFile = join(bmc.stateDir, '..', 'password');
    writeFileSync(passwordFile, `${bmc.password}\n`, { mode: 0o600 });
    const target = ['--host', bmc.host, '--user', bmc.user, '--password-file', passwordFile];
    const fru = JSON.parse(await rackseed('bmc', 'fru', ...target, '--json')) as {
      product?: { serial?: string; assetTag?: string };
    };
    await rackseed('bmc', 'bootdev', 'pxe', ...target);
    await rackseed('bmc', 'on', ...target);
    const status = (await rackseed('bmc', 'status', ...target)).trim();
    step(
      `server ${bmc.index}: FRU serial ${fru.product?.serial}, asset ${fru.product?.assetTag}; next boot ${await bmc.bootDevice()}; ${status}`,
    );
  }

  step('state store: a 3-member etcd');
  const etcd = await startEtcd({ members: 3 });
  cleanups.unshift(() => etcd.stop());
  const client = new Etcd3({ hosts: [...etcd.endpoints] });
  await client.put('rackseed/demo').value('hello');
  console.log(
    `  members ${etcd.endpoints.join(' ')}; leader m${(await etcd.leader()) + 1}; read back: ${await client.get('rackseed/demo').string()}`,
  );
  client.close();

  step('storage: a Ceph cluster (mon + mgr + OSD)');
  const ceph = await startCeph({ mgr: true });
  cleanups.unshift(() => ceph.stop());
  const health = JSON.parse(await ceph.ceph(['health', '-f', 'json'])) as { status: string };
  console.log(
    `  fsid ${ceph.fsid}, ${health.status}, pools: ${(await ceph.rados(['lspools'])).trim().split('\n').join(', ')}`,
  );

  step('done; removing the lab');
} finally {
  for (const cleanup of cleanups) await cleanup();
}
console.log(`demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s; nothing left running.`);
// etcd3's gRPC channels may hold the loop a little longer than needed.
process.exit(0);
