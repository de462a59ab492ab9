import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

// The host service's guest plumbing (appliance/host/network), set up inside a namespace this
// test makes, where a previous incarnation left the name of its guest-services namespace but
// not the namespace: a lab machine's power-off kills the processes whose mount held it, and
// the name stays in /run/netns as a plain file. Setup makes it anew instead of failing for ever.
const NODE = `rst-gn-${randomBytes(3).toString('hex')}`;
const GUESTS = `${NODE}-guests`;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

describe('guest network: survives a stale guest-services namespace (real ip, nftables)', () => {
  afterAll(() => {
    for (const name of [GUESTS, NODE]) {
      try {
        ip('netns', 'delete', name);
      } catch {
        // not there
      }
    }
  });

  it('replaces a guest-services namespace whose name outlived it, and plumbs it', () => {
    ip('netns', 'add', NODE);
    writeFileSync(`/run/netns/${GUESTS}`, ''); // the name, with no namespace behind it
    expect(() => ip('-n', GUESTS, 'link', 'show', 'dev', 'lo')).toThrow();
    // Inside the node's namespace, as the host service runs; what it made is looked at from
    // there too (a namespace made under \`ip netns exec\` is named only in that mount namespace).
    const setup = `import { execFileSync } from 'node:child_process';
      import { GuestNetwork } from './appliance/host/index.js';
      await new GuestNetwork({ servicesNetns: '${GUESTS}' }).setup();
      const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8' });
      console.log(ip('link', 'show', 'dev', 'rsguests0'), ip('-n', '${GUESTS}', 'addr', 'show', 'dev', 'gw0'));`;
    const made = execFileSync(
      'ip',
      ['netns', 'exec', NODE, process.execPath, '--import', 'tsx', '--input-type=module', '-e', setup],
      { encoding: 'utf8' },
    );
    expect(made).toMatch(/rsguests0@if\d+: .* master brprov/);
    expect(made).toMatch(/inet \d+\.\d+\.\d+\.\d+\/32 .*gw0/);
  });

  it('cables a new guest-services namespace again when the old one lives on, nameless (a process of the last incarnation in it)', () => {
    // As on a seed killed -9: its mount namespace held the name, a process still in the
    // namespace holds it, with the services veth's other end in it.
    const script = `import { execFileSync, spawn } from 'node:child_process';
      import { GuestNetwork } from './appliance/host/index.js';
      const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8' });
      await new GuestNetwork({ servicesNetns: '${GUESTS}' }).setup();
      const holder = spawn('ip', ['netns', 'exec', '${GUESTS}', 'sleep', '60'], { stdio: 'ignore' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      ip('netns', 'delete', '${GUESTS}');
      try {
        await new GuestNetwork({ servicesNetns: '${GUESTS}' }).setup();
        console.log(ip('-n', '${GUESTS}', 'addr', 'show', 'dev', 'gw0'), ip('link', 'show', 'dev', 'rsguests0'));
      } finally {
        holder.kill();
      }`;
    const made = execFileSync(
      'ip',
      ['netns', 'exec', NODE, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    expect(made).toMatch(/inet 169\.254\.169\.254\/32 .*gw0/);
    expect(made).toMatch(/rsguests0@if\d+: .* master brprov/);
  });
});
