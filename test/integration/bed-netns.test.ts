import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createNetworkLab, processRunning } from '../bed/index.js';

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

describe('test bed: network namespaces on a bridge', () => {
  it('lets two namespaces ping each other across the bridge, and removes them afterwards', async () => {
    const hostLinksBefore = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    const lab = await createNetworkLab({ hosts: 2 });
    const [a, b] = lab.hosts;
    if (!a?.ip || !b?.ip) throw new Error('hosts without addresses');
    try {
      expect(a.ip).not.toBe(b.ip);
      expect(namespaces()).toEqual(expect.arrayContaining([lab.bridgeNetns, a.netns, b.netns]));
      const { stdout } = await lab.exec(a.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip]);
      expect(stdout).toMatch(/2 received/);
      // The host's own interfaces were not touched.
      expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).toBe(hostLinksBefore);
    } finally {
      await lab.destroy();
    }
    expect(namespaces()).not.toContain(a.netns);
    expect(namespaces()).not.toContain(lab.bridgeNetns);
    expect(existsSync(`/run/netns/${b.netns}`)).toBe(false);
  });

  it('cuts a host off with setLink and kills what it spawned on destroy', async () => {
    const lab = await createNetworkLab({ hosts: ['seed', 'node'] });
    const seed = lab.host('seed');
    const node = lab.host('node');
    if (!node.ip) throw new Error('no address');
    const listener = lab.spawn(node.netns, 'sleeper', ['sleep', '600']);
    try {
      await lab.setLink('node', 'down');
      await expect(lab.exec(seed.netns, ['ping', '-c', '1', '-W', '1', node.ip])).rejects.toThrow();
      await lab.setLink('node', 'up');
      const { stdout } = await lab.exec(seed.netns, ['ping', '-c', '1', '-W', '2', node.ip]);
      expect(stdout).toMatch(/1 received/);
      expect(processRunning(listener.pid)).toBe(true);
    } finally {
      await lab.destroy();
    }
    expect(processRunning(listener.pid)).toBe(false);
  });

  it('makes hosts without addresses for DHCP clients', async () => {
    const lab = await createNetworkLab({ hosts: 1, addresses: false });
    try {
      const host = lab.hosts[0];
      expect(host?.ip).toBeUndefined();
      const { stdout } = await lab.exec(host?.netns ?? '', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(stdout.trim()).toBe('');
    } finally {
      await lab.destroy();
    }
  });
});
