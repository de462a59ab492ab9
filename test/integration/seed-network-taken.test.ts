import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NetbootLab, REPO, startNetbootLab } from './netboot-lab.js';

const run = promisify(execFile);

// A fresh seed on a network where a DHCP server answers already (`rackseed netboot serve` on the
// lab bridge, standing in for another cluster's provisioner) refuses to make a second cluster.
describe('seed on a network that is provisioned already', () => {
  let nb: NetbootLab;

  beforeAll(async () => {
    nb = await startNetbootLab({ hosts: 1 });
  });
  afterAll(async () => {
    await nb?.destroy();
  });

  it('stops with SEED_ERR_NETWORK_TAKEN, naming the server, before it creates any identity', async () => {
    const host = nb.lab.host('h1');
    const net = nb.lab.subnet.replace(/\.0\/24$/, '');
    await run('ip', ['-n', host.netns, 'addr', 'add', `${net}.50/24`, 'dev', 'eth0']);
    const dir = join(nb.dir, 'seed');
    mkdirSync(join(dir, 'image'), { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img']) writeFileSync(join(dir, 'image', f), f);
    writeFileSync(
      join(dir, 'seed.yaml'),
      [
        'cluster: second',
        `dataDir: ${join(dir, 'data')}`,
        `provisioning: { interface: eth0, subnet: ${nb.lab.subnet}, range: ${net}.200-${net}.220 }`,
        `image: { dir: ${join(dir, 'image')}, kernel: vmlinuz, initrd: initrd.img }`,
        'bmc: { cidr: 10.254.254.0/30, factory: [] }',
        '',
      ].join('\n'),
    );
    const argv = ['netns', 'exec', host.netns, process.execPath, join(REPO, 'bin/rackseed.js')];
    const failed = await run('ip', [...argv, 'seed', '--config', join(dir, 'seed.yaml')], { timeout: 60_000 }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(
      `error SEED_ERR_NETWORK_TAKEN: a DHCP server already answers on ${nb.lab.subnet} (${nb.serverIp})`,
    );
    expect(existsSync(join(dir, 'data', 'cluster'))).toBe(false);
  });
});
