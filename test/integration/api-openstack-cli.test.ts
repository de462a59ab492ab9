import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { adminPasswordOf, type CloudProcess, startCloud } from '../bed/index.js';

const run = promisify(execFile);

/**
 * A scripted session of the real `openstack` CLI (Debian's python3-openstackclient) against a
 * real `rackseed cloud serve` process on 127.0.0.1.
 */
describe('openstack CLI against rackseed cloud serve', () => {
  let cloud: CloudProcess;
  const os = async (...args: string[]): Promise<string> =>
    (await run('openstack', args, { env: cloud.env, timeout: 120_000 })).stdout;
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await os(...args, '-f', 'json')) as T;

  beforeAll(async () => {
    cloud = await startCloud();
  });
  afterAll(async () => cloud?.stop());

  it('wrote a 0600 password file, a 0600 credential key and a clouds.yaml entry that names the CA of its HTTPS endpoint', () => {
    expect(statSync(cloud.passwordFile).mode & 0o777).toBe(0o600);
    const credentialKey = join(cloud.dir, 'data', 'credential.key');
    expect(statSync(credentialKey).mode & 0o777).toBe(0o600);
    expect(readFileSync(credentialKey, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const yaml = parse(readFileSync(cloud.cloudsYaml, 'utf8')) as {
      clouds: Record<string, { auth: { auth_url: string; password: string }; cacert?: string }>;
    };
    expect(cloud.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(yaml.clouds.rackseed?.auth.auth_url).toBe(`${cloud.url}/identity`);
    expect(yaml.clouds.rackseed?.cacert).toBe(cloud.ca);
    expect(statSync(cloud.ca).mode & 0o777).toBe(0o644);
    expect(yaml.clouds.rackseed?.auth.password).toBe(adminPasswordOf(cloud));
  });

  it('runs the whole session: token, catalog, flavor, image, keypair, server lifecycle, network, quota, limits', async () => {
    const token = await json<{ id: string; expires: string }>('token', 'issue');
    expect(token.id.length).toBeGreaterThan(20);
    const catalog = await json<{ Type: string }[]>('catalog', 'list');
    expect(catalog.map((c) => c.Type).sort()).toEqual(['compute', 'identity', 'image', 'network']);

    await os('flavor', 'create', '--ram', '256', '--disk', '1', '--vcpus', '1', 'cli.flavor');
    const flavors = await json<{ Name: string }[]>('flavor', 'list');
    expect(flavors.map((f) => f.Name)).toContain('cli.flavor');

    const file = join(cloud.dir, 'image.raw');
    writeFileSync(file, Buffer.alloc(200_000, 1));
    const image = await json<{ id: string; status: string }>(
      'image',
      'create',
      '--file',
      file,
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      'cli-image',
    );
    const images = await json<{ Name: string; Status: string }[]>('image', 'list');
    expect(images).toContainEqual(expect.objectContaining({ Name: 'cli-image', Status: 'active' }));

    const keypair = await os('keypair', 'create', 'cli-key');
    expect(keypair).toContain('PRIVATE KEY');

    const server = await json<{ id: string; status: string }>(
      'server',
      'create',
      '--flavor',
      'cli.flavor',
      '--image',
      'cli-image',
      '--network',
      'provider',
      '--key-name',
      'cli-key',
      '--wait',
      'cli-vm',
    );
    expect(server.status).toBe('ACTIVE');
    const list = await json<{ Name: string; Status: string; Networks: unknown }[]>('server', 'list');
    expect(list).toContainEqual(expect.objectContaining({ Name: 'cli-vm', Status: 'ACTIVE' }));
    const shown = await json<{ status: string; key_name: string }>('server', 'show', 'cli-vm');
    expect(shown).toMatchObject({ status: 'ACTIVE', key_name: 'cli-key' });

    await os('server', 'reboot', '--wait', 'cli-vm');
    await os('server', 'stop', 'cli-vm');
    await expect
      .poll(async () => (await json<{ status: string }>('server', 'show', 'cli-vm')).status, { timeout: 20_000 })
      .toBe('SHUTOFF');
    await os('server', 'start', 'cli-vm');
    await expect
      .poll(async () => (await json<{ status: string }>('server', 'show', 'cli-vm')).status, { timeout: 20_000 })
      .toBe('ACTIVE');

    const networks = await json<{ Name: string }[]>('network', 'list');
    expect(networks.map((n) => n.Name)).toEqual(['provider']);
    const quota = await os('quota', 'show');
    expect(quota).toMatch(/instances\s*\|\s*10/);
    const limits = await json<{ Name: string; Value: number }[]>('limits', 'show', '--absolute');
    expect(limits).toContainEqual({ Name: 'totalInstancesUsed', Value: 1 });

    await os('server', 'delete', '--wait', 'cli-vm');
    expect(await json<unknown[]>('server', 'list')).toEqual([]);
    await os('image', 'delete', image.id);
    expect((await json<{ Name: string }[]>('image', 'list')).map((i) => i.Name)).not.toContain('cli-image');
  });

  it('shares an image with another project, which lists it once it accepts (image members)', async () => {
    const projectB = await json<{ id: string }>('project', 'create', 'cli-b');
    await os('user', 'create', '--password', 'pw-cli-b', 'cli-b-user');
    await os('role', 'add', '--project', 'cli-b', '--user', 'cli-b-user', 'member');
    // clouds.yaml names the admin project by id: an id overrides it.
    const asB = ['--os-username', 'cli-b-user', '--os-password', 'pw-cli-b', '--os-project-id', projectB.id];
    const listedByB = async () => (await json<{ ID: string }[]>('image', 'list', ...asB)).map((i) => i.ID);
    // With no --file, the CLI would read the image from its standard input (never closed here).
    const file = join(cloud.dir, 'shared.raw');
    writeFileSync(file, Buffer.alloc(1024, 2));
    const image = await json<{ id: string; visibility: string }>('image', 'create', '--file', file, 'cli-shared');
    expect(image.visibility).toBe('shared');

    await expect(os('image', 'show', image.id, ...asB)).rejects.toThrow(/No Image found/);
    await os('image', 'add', 'project', image.id, 'cli-b');
    expect((await json<{ id: string }>('image', 'show', image.id, ...asB)).id).toBe(image.id);
    expect(await listedByB()).not.toContain(image.id);
    await os('image', 'set', '--accept', image.id, ...asB);
    expect(await listedByB()).toContain(image.id);
    expect(await json<{ Status: string }[]>('image', 'member', 'list', image.id)).toEqual([
      expect.objectContaining({ Status: 'accepted' }),
    ]);

    await os('image', 'remove', 'project', image.id, 'cli-b');
    await expect(os('image', 'show', image.id, ...asB)).rejects.toThrow(/No Image found/);
    await os('image', 'delete', image.id);
  });

  it('reports the usage of the last four weeks, the session’s deleted server included', async () => {
    // The CLI's JSON gives the servers' usages themselves under `Servers`.
    type Usage = { Servers: { name: string; state: string; hours: number }[]; 'CPU Hours': number };
    const [usage] = await json<Usage[]>('usage', 'list');
    const vm = usage?.Servers.find((s) => s.name === 'cli-vm'); // made and deleted by the session above
    expect(vm).toMatchObject({ state: 'terminated' });
    expect(vm?.hours).toBeGreaterThan(0);
    expect(usage?.['CPU Hours']).toBeGreaterThan(0);
    const own = await json<Usage>('usage', 'show');
    expect(own.Servers.map((s) => s.name)).toEqual(usage?.Servers.map((s) => s.name));
  });

  it('keeps the servers of an anti-affinity server group apart: the second has no host left (one here)', async () => {
    // The CLI negotiates the newest microversion it knows here (2.64 or later): one policy, and its rules.
    const group = await json<{ id: string; policy: string; rules: object }>(
      ...['server', 'group', 'create', '--policy', 'anti-affinity', 'cli-apart'],
    );
    expect(group).toMatchObject({ policy: 'anti-affinity', rules: {} });
    const file = join(cloud.dir, 'group-image.raw');
    writeFileSync(file, Buffer.alloc(1024, 1));
    await os(...['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'cli-group']);
    const create = (name: string) => [
      ...['server', 'create', '--flavor', 'm1.tiny', '--image', 'cli-group', '--network', 'provider'],
      ...['--hint', `group=${group.id}`, '--wait', name],
    ];
    const first = await json<{ id: string; status: string }>(...create('cli-apart-1'));
    expect(first.status).toBe('ACTIVE');
    // --wait reports the ERROR in words: the server is there all the same.
    expect(await os(...create('cli-apart-2'))).toMatch(/^Error creating server$/m);
    const second = await json<{ id: string; status: string; fault?: { message: string } }>(
      ...['server', 'show', 'cli-apart-2'],
    );
    expect(second.status).toBe('ERROR');
    expect(second.fault?.message).toContain(`holds a server of server group ${group.id} (anti-affinity)`);
    const shown = await json<{ members: string | string[] }>('server', 'group', 'show', 'cli-apart');
    const members = typeof shown.members === 'string' ? shown.members.split(/,\s*/) : shown.members;
    expect([...members].sort()).toEqual([first.id, second.id].sort());
    await os('server', 'delete', '--wait', 'cli-apart-1', 'cli-apart-2');
    await os('server', 'group', 'delete', 'cli-apart');
    await os('image', 'delete', 'cli-group');
    expect(await json<unknown[]>('server', 'group', 'list')).toEqual([]);
  });

  it('registers a service with an endpoint in a region of its own, seen in the catalog, then removes them', async () => {
    const endpoints = await json<{ 'Service Name': string; Interface: string; URL: string }[]>('endpoint', 'list');
    expect(
      endpoints
        .filter((e) => e['Service Name'] === 'nova')
        .map((e) => e.Interface)
        .sort(),
    ).toEqual(['admin', 'internal', 'public']);
    expect((await json<{ Name: string }[]>('service', 'list')).map((s) => s.Name).sort()).toEqual([
      'glance',
      'keystone',
      'neutron',
      'nova',
    ]);
    await os('region', 'create', '--description', 'the second site', 'RegionTwo');
    const service = await json<{ id: string }>('service', 'create', '--name', 'cinderv3', 'volumev3');
    const endpoint = await json<{ id: string; region: string }>(
      ...['endpoint', 'create', '--region', 'RegionTwo', 'cinderv3', 'public', 'https://volumes.example:8776/v3'],
    );
    expect(endpoint.region).toBe('RegionTwo');
    const catalog = await json<{ Name: string; Endpoints: unknown }[]>('catalog', 'show', 'cinderv3');
    expect(JSON.stringify(catalog)).toContain('https://volumes.example:8776/v3');
    await expect(os('region', 'delete', 'RegionTwo')).rejects.toThrow(/associated endpoints/);
    await os('endpoint', 'delete', endpoint.id);
    await os('service', 'delete', service.id);
    await os('region', 'delete', 'RegionTwo');
    expect((await json<{ Region: string }[]>('region', 'list')).map((r) => r.Region)).toEqual(['RegionOne']);
  });

  it('speaks the newer compute microversions: a keypair’s type (2.2), a service forced down (2.11), a soft policy (2.15), a description (2.19), tags (2.26)', async () => {
    const v = (version: string, ...args: string[]) => os('--os-compute-api-version', version, ...args);
    const vjson = async <T>(version: string, ...args: string[]) =>
      JSON.parse(await v(version, ...args, '-f', 'json')) as T;
    // Debian's client drops --type on its way to the SDK (key_type is no field of its Keypair):
    // an x509 keypair is tempest's to make (KeyPairsV22TestJSON); the CLI reads the type.
    expect(await v('2.2', 'keypair', 'create', 'cli-typed')).toContain('PRIVATE KEY');
    expect((await vjson<{ type: string }>('2.2', 'keypair', 'show', 'cli-typed')).type).toBe('ssh');

    const [compute] = await json<{ Host: string }[]>('compute', 'service', 'list', '--service', 'nova-compute');
    const host = compute?.Host ?? '';
    await v('2.11', 'compute', 'service', 'set', '--down', host, 'nova-compute');
    const down = await vjson<{ State: string; 'Forced Down': boolean }[]>(
      '2.11',
      ...['compute', 'service', 'list', '--service', 'nova-compute', '--long'],
    );
    expect(down[0]).toMatchObject({ State: 'down', 'Forced Down': true });
    await v('2.11', 'compute', 'service', 'set', '--up', host, 'nova-compute');

    const group = await vjson<{ id: string; policy?: string; policies?: string }>(
      '2.15',
      ...['server', 'group', 'create', '--policy', 'soft-anti-affinity', 'cli-soft'],
    );
    expect(JSON.stringify(group)).toContain('soft-anti-affinity');

    const file = join(cloud.dir, 'newer-image.raw');
    writeFileSync(file, Buffer.alloc(1024, 1));
    await os(...['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'cli-newer']);
    const server = await vjson<{ id: string; description: string }>(
      '2.19',
      ...['server', 'create', '--flavor', 'm1.tiny', '--image', 'cli-newer', '--network', 'provider'],
      ...['--description', 'made by the CLI', '--hint', `group=${group.id}`, '--wait', 'cli-described'],
    );
    expect((await vjson<{ description: string }>('2.19', 'server', 'show', server.id)).description).toBe(
      'made by the CLI',
    );
    await v('2.19', 'server', 'set', '--description', 'changed', server.id);
    expect((await vjson<{ description: string }>('2.19', 'server', 'show', server.id)).description).toBe('changed');
    await v('2.26', 'server', 'set', '--tag', 'web', '--tag', 'eu', server.id);
    const tagged = await vjson<{ ID: string }[]>('2.26', 'server', 'list', '--tags', 'web,eu');
    expect(tagged.map((x) => x.ID)).toEqual([server.id]);
    expect(await vjson<unknown[]>('2.26', 'server', 'list', '--tags', 'web,nowhere')).toEqual([]);
    await os('server', 'delete', '--wait', server.id);
    await os('server', 'group', 'delete', group.id);
    await os('keypair', 'delete', 'cli-typed');
    await os('image', 'delete', 'cli-newer');
  });

  it('makes an availability zone of an aggregate (2.41) and creates a server in it', async () => {
    const [compute] = await json<{ Host: string }[]>('compute', 'service', 'list', '--service', 'nova-compute');
    const host = compute?.Host ?? '';
    const aggregate = await json<{ id: number; uuid?: string }>(
      ...['--os-compute-api-version', '2.41', 'aggregate', 'create', '--zone', 'cli-zone', 'cli-rack'],
    );
    expect(aggregate.uuid).toMatch(/^[0-9a-f-]{36}$/);
    await os('aggregate', 'add', 'host', 'cli-rack', host);
    const zones = await json<{ 'Zone Name': string }[]>('availability', 'zone', 'list', '--compute');
    expect(zones.map((z) => z['Zone Name'])).toContain('cli-zone');
    const file = join(cloud.dir, 'zone-image.raw');
    writeFileSync(file, Buffer.alloc(1024, 1));
    await os(...['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', 'cli-zone']);
    const server = await json<{ id: string }>(
      ...['server', 'create', '--flavor', 'm1.tiny', '--image', 'cli-zone', '--network', 'provider'],
      ...['--availability-zone', 'cli-zone', '--wait', 'cli-zoned'],
    );
    const shown = await json<{ 'OS-EXT-AZ:availability_zone': string }>('server', 'show', server.id);
    expect(shown['OS-EXT-AZ:availability_zone']).toBe('cli-zone');
    await os('server', 'delete', '--wait', server.id);
    await os('aggregate', 'remove', 'host', 'cli-rack', host);
    await os('aggregate', 'delete', 'cli-rack');
    await os('image', 'delete', 'cli-zone');
  });
});
