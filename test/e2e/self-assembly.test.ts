import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { inSeed, type LabInfo, labAdd, labPower, labUp, waitFor } from '../../bootstrap/index.js';
import { labLogEntries } from '../bed/index.js';
import { removeLabAfterAll } from './lab-hooks.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RACKSEED = [process.execPath, join(REPO, 'bin/rackseed.js')];

interface Status {
  nodes: { name: string; state: string }[];
  singletons: Record<string, string | null>;
  etcd: { members: { name: string; learner: boolean }[] };
}

// The promise of rackseed on one machine: a seed and four servers that are only powered-off
// BMCs become a cluster with no human step; a server that loses power is fenced and the
// cluster goes on; a server cabled in later joins by itself.
describe('self-assembly of a lab rack (netns boot)', () => {
  let dir: string;
  let lab: LabInfo;
  // Through the seed's etcd member and the voters it last saw: the cluster answers after its death too.
  const status = async () => JSON.parse(await inSeed(lab, RACKSEED, ['--json', 'status'])) as Status;
  /** The address each server's firmware got by DHCP (its udhcpc hook keeps the lease). */
  const dhcpAddress = (index: number) =>
    /^ip=(.*)$/m.exec(readFileSync(join(lab.scopeDir, `bmc${index}`, 'chassis', 'lease'), 'utf8'))?.[1];

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
    dir = mkdtempSync(join(tmpdir(), 'rackseed-e2e-'));
    lab = await labUp({ dir, servers: 4, rackseed: RACKSEED, readyTimeoutMs: 180_000 });
  });
  removeLabAfterAll(() => ({ dir, lab }));

  it('brings every server up as a ready node, each powered on by the seed through its BMC', async () => {
    const s = await status();
    expect(s.nodes.map((n) => [n.name, n.state]).sort()).toEqual([
      ['node-1', 'ready'],
      ['node-2', 'ready'],
      ['node-3', 'ready'],
      ['node-4', 'ready'],
      ['seed', 'ready'],
    ]);
    expect(s.singletons.fencer).not.toBeNull();
    // The seed took its own BMC (known by its GUID) as the seed's: it never set it to PXE-boot.
    expect(
      readFileSync(join(lab.scopeDir, 'bmc0', 'chassis', 'events'), 'utf8')
        .trim()
        .split('\n'),
    ).toEqual(['power on']);
    // …and named it after the seed from the start, not after its FRU.
    const onboarded = readFileSync(lab.seedLog, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"bmc.onboarded"'))
      .map((line) => JSON.parse(line) as { node?: string; detail?: string });
    expect([...new Set(onboarded.filter((e) => e.detail === lab.seedBmc).map((e) => e.node))]).toEqual(['seed']);
  });

  it("has the lab gateway on the host find every node's API port through the cluster", async () => {
    const backends = await waitFor(
      'the gateway relay to list the five nodes',
      () => {
        const lines = readFileSync(join(lab.scopeDir, 'gateway-relay.log'), 'utf8').match(/backends: .*/g) ?? [];
        const last = lines.at(-1)?.split(' ').slice(1) ?? [];
        return last.length === 5 ? last : undefined;
      },
      10_000,
      200,
    );
    expect(backends.every((b) => b.endsWith(':5000'))).toBe(true);
    expect(backends).toContain(`${lab.seedIp}:5000`);
    expect(lab.gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('grows etcd to an odd number of voters, at least three', async () => {
    const voters = await waitFor(
      'etcd to reach 5 voters',
      async () => {
        const members = (await status()).etcd.members;
        const v = members.filter((m) => !m.learner).length;
        return v === 5 && members.every((m) => !m.learner) ? v : undefined;
      },
      120_000,
      1_000,
    );
    expect(voters).toBe(5);
  });

  it('fences a server that loses power and keeps the cluster going', async () => {
    const victim = lab.servers[1];
    if (!victim) throw new Error('no server');
    labPower(lab, victim.name, 'off'); // as when the plug is pulled
    await waitFor(
      'the dead server to be fenced',
      async () => (await status()).nodes.find((n) => n.name === victim.name)?.state === 'fenced',
      60_000,
      500,
    );
    const after = await waitFor(
      'etcd to replace the dead member with quorum kept',
      async () => {
        const s = await status();
        const names = s.etcd.members.map((m) => m.name);
        return !names.includes(victim.name) && s.etcd.members.filter((m) => !m.learner).length >= 3 ? s : undefined;
      },
      90_000,
      1_000,
    );
    expect(after.nodes.filter((n) => n.state === 'ready').length).toBe(4);
  });

  it('revokes a removed server: etcd refuses its certificate from then on, and takes the others', async () => {
    const victim = lab.servers[1];
    if (!victim) throw new Error('no server');
    // Its node certificate, as its firmware's state dir kept it (servers[i] is bmc i+1).
    const victimTls = join(lab.scopeDir, 'bmc2', 'chassis', 'data', 'tls');
    expect(readFileSync(join(victimTls, 'node.crt'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    /** Whether etcd (the seed's member, from the seed's namespace) answers a client holding the certificate in `tls`. */
    const etcdTakes = (tls: string) => {
      try {
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            lab.seedNetns,
            'etcdctl',
            '--endpoints',
            `https://${lab.seedIp}:2379`,
            '--dial-timeout',
            '3s',
            '--command-timeout',
            '3s',
            '--cacert',
            join(tls, 'ca.crt'),
            '--cert',
            join(tls, 'node.crt'),
            '--key',
            join(tls, 'node.key'),
            'get',
            '--prefix',
            '--keys-only',
            '/rackseed/nodes/',
          ],
          { stdio: 'ignore', timeout: 10_000 },
        );
        return true;
      } catch {
        return false;
      }
    };
    expect(etcdTakes(victimTls)).toBe(true); // fenced, not revoked: a server that comes back rejoins
    const removedAt = Date.now();
    const powerEvents = () => readFileSync(join(lab.scopeDir, 'bmc2', 'chassis', 'events'), 'utf8');
    const powerBefore = powerEvents();
    await inSeed(lab, RACKSEED, ['node', 'remove', victim.name, '--confirm']);
    await waitFor('etcd to refuse the removed server', () => !etcdTakes(victimTls), 30_000, 500);
    expect(etcdTakes(lab.tls)).toBe(true);
    // The provisioner's BMC scan finds its BMC again and leaves it alone: not listed, not powered on.
    await waitFor(
      "the provisioner's scan to pass the removed server by",
      () =>
        labLogEntries(lab.scopeDir, removedAt).some(
          // The seed logs the provisioner's events as such; another node's agent, as its messages.
          ({ entry, text }) =>
            (entry.type === 'provisioner.server.removed' && entry.node === victim.name) ||
            text.startsWith(`provisioner: provisioner.server.removed ${victim.name} `),
        ),
      30_000,
      500,
    );
    expect((await status()).nodes.map((n) => n.name)).not.toContain(victim.name);
    expect(powerEvents()).toBe(powerBefore);
  });

  it('takes in a server cabled in later, with no human step', async () => {
    const { name, lab: grown } = await labAdd(lab);
    lab = grown;
    await waitFor(
      'the new server to be a ready node',
      async () => (await status()).nodes.find((n) => n.name === name)?.state === 'ready',
      120_000,
      1_000,
    );
  });

  it('goes on provisioning when the seed dies: the provisioner moves with its leases, and a new server joins', async () => {
    expect((await status()).singletons.provisioner).toBe('seed');
    // The seed's server loses power (its BMC's own power-off): the cluster fences it through
    // that BMC, which the seed recorded as its own by its GUID.
    labPower(lab, 'seed', 'off');
    await waitFor(
      'the seed to be fenced',
      async () => (await status()).nodes.find((n) => n.name === 'seed')?.state === 'fenced',
      60_000,
      500,
    );
    const holder = await waitFor(
      'another node to hold the provisioner',
      async () => {
        const h = (await status()).singletons.provisioner;
        return h && h !== 'seed' ? h : undefined;
      },
      60_000,
      1_000,
    );
    expect(holder).toMatch(/^node-/);
    const { name, lab: grown } = await labAdd(lab);
    lab = grown;
    await waitFor(
      'the server cabled in after the seed died to be a ready node',
      async () => (await status()).nodes.find((n) => n.name === name)?.state === 'ready',
      120_000,
      1_000,
    );
    // Its address came from the new holder, which knew every lease the seed had granted.
    const addresses = lab.servers.map((_, i) => dhcpAddress(i + 1));
    expect(addresses.every(Boolean)).toBe(true);
    expect(new Set(addresses).size).toBe(addresses.length);
  });

  it('takes the seed back as a node when its server is powered on again; the provisioner stays where it is', async () => {
    const holder = (await status()).singletons.provisioner;
    expect(holder).toMatch(/^node-/);
    // Its BMC powers it on: it runs the seed again, on the state it kept (no new cluster).
    labPower(lab, 'seed', 'on');
    await waitFor(
      'the seed to be a ready node again',
      async () => (await status()).nodes.find((n) => n.name === 'seed')?.state === 'ready',
      120_000,
      1_000,
    );
    const after = await status();
    expect(after.singletons.provisioner).toBe(holder);
    expect(readFileSync(lab.seedLog, 'utf8')).not.toContain('SEED_ERR_NETWORK_TAKEN');
  });
});
