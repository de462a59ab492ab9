import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCloud } from '../../appliance/api/index.js';
import { portFirewalls } from '../../appliance/compute/index.js';
import { type CloudDb, openSqliteDb, type SecurityGroupRule } from '../../appliance/db/index.js';
import { checkFirewall, firewallScript } from '../../appliance/host/network/firewall.js';
import { newServer } from '../new-server.js';

// Security groups → each port's firewall, as the compute side sends it to the hosts; and the
// host's check of what it is sent (it becomes an nft script).
describe('port firewalls from security groups', () => {
  let dir: string;
  let db: CloudDb;
  let flavorId: string;
  let networkId: string;
  const project = 'p-firewall';
  const now = () => new Date().toISOString();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rackseed-fw-'));
    db = openSqliteDb(join(dir, 'cloud.db'));
    await bootstrapCloud(db, 'pw');
    const flavor = await db.flavors.create({
      ...{ id: 'f-fw', name: 'f.fw', ram: 256, vcpus: 1, disk: 1, swap: 0, ephemeral: 0, rxtxFactor: 1 },
      ...{ isPublic: true, disabled: false, description: null, extraSpecs: {}, createdAt: now() },
    });
    flavorId = flavor.id;
    networkId = (await db.networks.list({ name: 'provider' }))[0]?.id ?? '';
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const server = async (groupIds: string[]) => {
    const created = await db.servers.create(
      {
        ...newServer({ id: randomUUID(), projectId: project, userId: 'u', name: 'vm', flavorId, imageId: 'i' }),
        ...{ state: 'active', host: 'h1', machine: '{}', addresses: [] },
      },
      [
        {
          networkId,
          portId: randomUUID(),
          macAddress: `fa:16:3e:${randomUUID()
            .slice(0, 8)
            .replace(/(..)(..)(..)(..)/, '$1:$2:$3')}`,
          tag: null,
          securityGroupIds: groupIds,
          existing: false,
          fixedIp: null,
        },
      ],
      { instances: -1, cores: -1, ram: -1, serverGroupMembers: -1 },
    );
    return { server: created, ports: await db.networks.ports({ deviceId: created.id }) };
  };
  /** A new group of the project, with Neutron's two egress rules. */
  const newGroup = (name: string, stateful: boolean) =>
    db.securityGroups.create(
      { id: randomUUID(), projectId: project, name, description: '', stateful, createdAt: now(), updatedAt: now() },
      [randomUUID(), randomUUID()],
      -1,
    );
  const rule = (groupId: string, fields: Partial<SecurityGroupRule>): SecurityGroupRule => ({
    id: randomUUID(),
    groupId,
    projectId: project,
    direction: 'ingress',
    ethertype: 'IPv4',
    protocol: null,
    portMin: null,
    portMax: null,
    remoteIpPrefix: null,
    remoteGroupId: null,
    description: '',
    createdAt: now(),
    ...fields,
  });

  it("makes the default group Neutron's: out to anywhere, in from its members' addresses only", async () => {
    const group = await db.securityGroups.ensureDefault(project, now());
    const a = await server([group.id]);
    const b = await server([group.id]);
    const firewalls = await portFirewalls(db, [...a.ports, ...b.ports]);
    const members = [a.ports[0]?.fixedIps[0]?.ipAddress, b.ports[0]?.fixedIps[0]?.ipAddress]
      .map((ip) => `${ip}/32`)
      .sort();
    for (const port of [...a.ports, ...b.ports]) {
      const f = firewalls.get(port.id);
      expect(f?.stateful).toBe(true);
      // The two IPv6 rules have nothing to filter: the ports carry IPv4 only.
      expect(f?.rules).toEqual([
        { direction: 'ingress', protocol: null, ports: null, icmp: null, remote: members },
        { direction: 'egress', protocol: null, ports: null, icmp: null, remote: null },
      ]);
    }
  });

  it('turns names into protocol numbers, port ranges and ICMP type and code, and prefixes into networks', async () => {
    const group = await newGroup('web', true);
    for (const r of [
      rule(group.id, { protocol: 'tcp', portMin: 80, portMax: 443, remoteIpPrefix: '192.168.1.77/24' }),
      rule(group.id, { protocol: 'icmp', portMin: 8, portMax: null }),
      rule(group.id, { protocol: '132', portMin: 5000, portMax: 5000, remoteIpPrefix: '0.0.0.0/0' }),
      rule(group.id, { ethertype: 'IPv6', protocol: 'tcp', portMin: 22, portMax: 22 }),
    ])
      await db.securityGroups.addRule(r, -1, now());
    const { ports } = await server([group.id]);
    const f = (await portFirewalls(db, ports)).get(ports[0]?.id ?? '');
    expect(f?.rules.filter((r) => r.direction === 'ingress')).toEqual([
      { direction: 'ingress', protocol: 6, ports: [80, 443], icmp: null, remote: ['192.168.1.0/24'] },
      { direction: 'ingress', protocol: 1, ports: null, icmp: { type: 8, code: null }, remote: null },
      { direction: 'ingress', protocol: 132, ports: [5000, 5000], icmp: null, remote: null },
    ]);
    expect(() => checkFirewall(ports[0]?.id ?? '', f)).not.toThrow();
  });

  it('lets nothing through a port in no group, and is stateless only when all its groups are', async () => {
    const { ports } = await server([]);
    expect((await portFirewalls(db, ports)).get(ports[0]?.id ?? '')).toEqual({ stateful: true, rules: [] });
    const stateless = await newGroup('udp', false);
    const one = await server([stateless.id]);
    expect((await portFirewalls(db, one.ports)).get(one.ports[0]?.id ?? '')?.stateful).toBe(false);
    const both = await server([stateless.id, (await db.securityGroups.ensureDefault(project, now())).id]);
    expect((await portFirewalls(db, both.ports)).get(both.ports[0]?.id ?? '')?.stateful).toBe(true);
  });

  it("drops a deleted remote group's rules with it, and a member's address when its server goes", async () => {
    const target = await newGroup('db', true);
    const clients = await newGroup('clients', true);
    await db.securityGroups.addRule(
      rule(target.id, { protocol: 'tcp', portMin: 5432, portMax: 5432, remoteGroupId: clients.id }),
      -1,
      now(),
    );
    const dbServer = await server([target.id]);
    const client = await server([clients.id]);
    const ingress = async () =>
      (await portFirewalls(db, dbServer.ports))
        .get(dbServer.ports[0]?.id ?? '')
        ?.rules.filter((r) => r.direction === 'ingress');
    expect(await ingress()).toEqual([
      {
        direction: 'ingress',
        protocol: 6,
        ports: [5432, 5432],
        icmp: null,
        remote: [`${client.ports[0]?.fixedIps[0]?.ipAddress}/32`],
      },
    ]);
    await db.servers.transition(client.server.id, client.server.state, { state: 'deleted', machine: '{}' });
    expect((await ingress())?.[0]?.remote).toEqual([]);
    await db.securityGroups.delete(clients.id);
    expect(await ingress()).toEqual([]);
    await expect(db.securityGroups.delete(target.id)).rejects.toMatchObject({ code: 'DB_ERR_CONFLICT' });
  });

  it('refuses, at the host, a firewall an nft script could be made to say more with', () => {
    const ok = {
      stateful: true,
      rules: [{ direction: 'ingress', protocol: 6, ports: [22, 22], icmp: null, remote: ['10.0.0.0/8'] }],
    };
    expect(() => checkFirewall('p', ok)).not.toThrow();
    const bad = (change: object) => () => checkFirewall('p', { ...ok, rules: [{ ...ok.rules[0], ...change }] });
    expect(bad({ remote: ['10.0.0.0/8 } accept'] })).toThrow(/HOST_ERR_BAD_REQUEST|IPv4 networks/);
    expect(bad({ remote: ['10.0.0.256/8'] })).toThrow(/IPv4 networks/);
    expect(bad({ protocol: '6; flush ruleset' })).toThrow(/protocol/);
    expect(bad({ ports: [22, 21] })).toThrow(/ports/);
    expect(bad({ protocol: 1, ports: [22, 22] })).toThrow(/ports need/);
    expect(bad({ direction: 'both' })).toThrow(/direction/);
    expect(() => checkFirewall('p', { stateful: 'yes', rules: [] })).toThrow(/stateful/);
    // A rule whose remote group has no member matches nothing: it is left out, not made "anywhere".
    const script = firewallScript(
      't',
      { egress: 'e', ingress: 'i' },
      { stateful: true, rules: [{ ...ok.rules[0], remote: [] }] } as never,
      '169.254.169.254',
    );
    expect(script).not.toContain('th dport 22');
    expect(script.split('\n').at(-1)).toBe('add rule ip t i drop');
  });
});
