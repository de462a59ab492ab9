import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudProcess, startCloud } from '../bed/index.js';

const run = promisify(execFile);

/** What a failed `openstack` run left: its exit code, what it printed, and each HTTP answer it got. */
interface Failure {
  code: unknown;
  stderr: string;
  /** `METHOD path status` of every request, from urllib3's log (`--debug`). */
  answers: string[];
}

/**
 * Issue #14: another project's resources are invisible. Project A's member owns a server (its
 * port), an image left at Glance's default visibility (`shared`, with no members), a private
 * image and a keypair; a member and a reader of project B, and an admin of project B (the admin
 * role on B only), try each of them through the real `openstack` CLI (Debian's
 * python3-openstackclient) against a real `rackseed cloud serve`. Every command on one of A's
 * resources must fail with the CLI's "not found" and the API's 404 for it (from `--debug`),
 * every list must leave A's out, and A's resources must be as they were afterwards.
 *
 * The embedded cloud's compute driver is `fake` (no `--compute-driver`, no host service): the
 * API's scoping is what is tested, not a guest. There are no volumes to hide (the catalog has
 * no block-storage service) and no network of A's (the Neutron API is read-only: its only
 * network is the bootstrap's `provider`, shared, owned by the admin project).
 */
describe('project isolation through the openstack CLI', () => {
  let cloud: CloudProcess;
  const os = async (...args: string[]): Promise<string> =>
    (await run('openstack', args, { env: cloud.env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })).stdout;
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await os(...args, '-f', 'json')) as T;
  /** Runs the CLI with `--debug`, expecting it to fail. */
  const failure = async (...args: string[]): Promise<Failure> => {
    try {
      await os(...args, '--debug');
    } catch (error) {
      const { code, stderr = '' } = error as { code?: unknown; stderr?: string };
      const answers = [...stderr.matchAll(/"([A-Z]+) (\S+) HTTP\/1\.1" (\d{3})/g)].map(
        (m) => `${m[1]} ${m[2]} ${m[3]}`,
      );
      return { code, stderr, answers };
    }
    throw new Error(`openstack ${args.join(' ')} succeeded`);
  };
  /**
   * Expects `openstack ...args` to fail with `message`, every request it made for `id` having
   * been answered 404 (and at least one made): A's resource was not found, not refused or shown.
   */
  const notFound = async (id: string, message: RegExp, ...args: string[]): Promise<void> => {
    const { code, stderr, answers } = await failure(...args);
    expect(code, `openstack ${args.join(' ')}`).toBe(1);
    expect(stderr).toMatch(message);
    // By path: a lookup by name (`?name=<id>`) that lists nothing is not a request for A's resource.
    const forId = answers.filter((a) => a.split(' ')[1]?.split('?')[0]?.includes(encodeURIComponent(id)));
    expect(forId, `openstack ${args.join(' ')}: ${answers.join(', ')}`).not.toEqual([]);
    for (const answer of forId) expect(answer).toMatch(/ 404$/);
  };
  /**
   * Runs the checks two at a time: a CLI run is mostly Python starting, on one core, and the
   * checks of a test do not depend on each other (each is refused, or reads).
   */
  const inPairs = async (checks: (() => Promise<unknown>)[]): Promise<void> => {
    const queue = [...checks];
    const worker = async () => {
      for (let check = queue.shift(); check; check = queue.shift()) await check();
    };
    await Promise.all([worker(), worker()]);
  };
  /** Expects the cloud-wide call to be refused with Keystone's/Nova's 403 "Policy does not allow". */
  const forbidden = async (...args: string[]): Promise<void> => {
    const { code, stderr, answers } = await failure(...args);
    expect(code, `openstack ${args.join(' ')}`).toBe(1);
    expect(stderr).toMatch(/Policy does not allow this operation to be performed/);
    expect(answers.at(-1)).toMatch(/ 403$/);
  };

  // clouds.yaml names the admin project by id: an id overrides it.
  const as = (user: string, project: string) => [
    '--os-username',
    user,
    '--os-password',
    `pw-${user}`,
    '--os-project-id',
    project,
  ];
  let asA: string[];
  const a = { project: '', server: '', port: '', sharedImage: '', privateImage: '', key: 'iso-a-key' };
  let projectB = '';
  const users: Record<'member' | 'reader' | 'admin', string[]> = { member: [], reader: [], admin: [] };
  const userIds: Record<string, string> = {};

  beforeAll(async () => {
    cloud = await startCloud();
    a.project = (await json<{ id: string }>('project', 'create', 'iso-a')).id;
    projectB = (await json<{ id: string }>('project', 'create', 'iso-b')).id;
    const grant = async (user: string, project: string, role: string) => {
      userIds[user] = (await json<{ id: string }>('user', 'create', '--password', `pw-${user}`, user)).id;
      await os('role', 'add', '--project', project, '--user', user, role);
    };
    await inPairs([
      () => grant('iso-a-member', 'iso-a', 'member'),
      ...(['member', 'reader', 'admin'] as const).map((role) => async () => {
        await grant(`iso-b-${role}`, 'iso-b', role);
        users[role] = as(`iso-b-${role}`, projectB);
      }),
    ]);
    asA = as('iso-a-member', a.project);
    await os('flavor', 'create', '--ram', '256', '--disk', '1', '--vcpus', '1', 'iso.flavor');

    const file = join(cloud.dir, 'iso.raw');
    writeFileSync(file, Buffer.alloc(4096, 3));
    const image = (...extra: string[]) =>
      json<{ id: string; visibility: string }>(
        'image',
        'create',
        '--file',
        file,
        '--disk-format',
        'raw',
        ...extra,
        ...asA,
      );
    const shared = await image('iso-a-shared');
    expect(shared.visibility).toBe('shared');
    a.sharedImage = shared.id;
    const own = await image('--private', 'iso-a-private');
    expect(own.visibility).toBe('private');
    a.privateImage = own.id;
    expect(await os('keypair', 'create', a.key, ...asA)).toContain('PRIVATE KEY');
    const server = await json<{ id: string; status: string }>(
      'server',
      'create',
      '--flavor',
      'iso.flavor',
      '--image',
      'iso-a-shared',
      '--network',
      'provider',
      '--key-name',
      a.key,
      '--wait',
      'iso-a-vm',
      ...asA,
    );
    expect(server.status).toBe('ACTIVE');
    a.server = server.id;
    const ports = await json<{ ID: string }[]>('port', 'list', '--device-id', a.server, ...asA);
    expect(ports).toHaveLength(1);
    a.port = ports[0]?.ID ?? '';
  });
  afterAll(async () => cloud?.stop());

  for (const role of ['member', 'reader'] as const) {
    it(`a ${role} of project B gets 404 for each of A's resources`, async () => {
      const asB = users[role];
      const noServer = new RegExp(`No server with a name or ID of '${a.server}' exists`);
      await inPairs([
        ...['show', 'stop', 'delete'].map(
          (verb) => () => notFound(a.server, noServer, 'server', verb, a.server, ...asB),
        ),
        ...[a.sharedImage, a.privateImage].flatMap((image) => {
          const missing = new RegExp(`No Image found for ${image}`);
          const saved = join(cloud.dir, `saved-${role}-${image}`);
          return [
            () => notFound(image, missing, 'image', 'show', image, ...asB),
            () => notFound(image, missing, 'image', 'delete', image, ...asB),
            // Debian's CLI 6.0.0 looks the image up with ignore_missing: a 404 surfaces as this TypeError.
            async () => {
              await notFound(
                image,
                /'NoneType' object has no attribute 'id'/,
                'image',
                'save',
                '--file',
                saved,
                image,
                ...asB,
              );
              expect(existsSync(saved)).toBe(false);
            },
          ];
        }),
        () => notFound(a.port, new RegExp(`No Port found for ${a.port}`), 'port', 'show', a.port, ...asB),
        // Keypairs are their user's (Nova's): B's user has none of that name.
        () => notFound(a.key, new RegExp(`No Keypair found for ${a.key}`), 'keypair', 'show', a.key, ...asB),
        () => notFound(a.key, new RegExp(`Keypair ${a.key} not found for user`), 'keypair', 'delete', a.key, ...asB),
      ]);
    });

    it(`a ${role} of project B lists none of A's resources`, async () => {
      const asB = users[role];
      const ids = async (...args: string[]) => (await json<{ ID: string }[]>(...args, ...asB)).map((r) => r.ID);
      await inPairs([
        async () => expect(await ids('server', 'list')).not.toContain(a.server),
        ...[[], ['--shared'], ['--private'], ['--all', '--member-status', 'all']].map((filter) => async () => {
          const listed = await ids('image', 'list', ...filter);
          expect(listed).not.toContain(a.sharedImage);
          expect(listed).not.toContain(a.privateImage);
        }),
        async () => expect(await ids('port', 'list')).not.toContain(a.port),
        async () => expect(await ids('port', 'list', '--device-id', a.server)).toEqual([]),
        // Only shared networks (the provider network) are another project's a caller may list.
        async () => {
          const networks = await json<{ ID: string }[]>('network', 'list', ...asB);
          for (const n of networks)
            expect((await json<{ shared: boolean }>('network', 'show', n.ID, ...asB)).shared).toBe(true);
        },
        async () => {
          const keys = await json<{ Name: string }[]>('keypair', 'list', ...asB);
          expect(keys.map((k) => k.Name)).not.toContain(a.key);
        },
        async () => {
          const groups = await json<{ Project: string }[]>('security', 'group', 'list', ...asB);
          expect(groups.map((g) => g.Project)).toEqual([projectB]);
        },
      ]);
    });
  }

  it("an admin of project B only (not of the admin project) gets 404 for A's server and images, 403 on cloud-wide calls", async () => {
    const asB = users.admin;
    const noServer = new RegExp(`No server with a name or ID of '${a.server}' exists`);
    await inPairs([
      ...['show', 'delete'].map((verb) => () => notFound(a.server, noServer, 'server', verb, a.server, ...asB)),
      ...[a.sharedImage, a.privateImage].flatMap((image) =>
        ['show', 'delete'].map(
          (verb) => () => notFound(image, new RegExp(`No Image found for ${image}`), 'image', verb, image, ...asB),
        ),
      ),
      () => notFound(a.port, new RegExp(`No Port found for ${a.port}`), 'port', 'show', a.port, ...asB),
      async () =>
        expect((await json<{ ID: string }[]>('server', 'list', ...asB)).map((s) => s.ID)).not.toContain(a.server),
      async () => {
        const images = (await json<{ ID: string }[]>('image', 'list', '--all', ...asB)).map((i) => i.ID);
        expect(images).not.toContain(a.sharedImage);
        expect(images).not.toContain(a.privateImage);
      },
      () => forbidden('server', 'list', '--all-projects', ...asB),
      () => forbidden('user', 'list', ...asB),
      () => forbidden('project', 'create', 'iso-c', ...asB),
      () => forbidden('flavor', 'create', '--ram', '64', '--disk', '1', '--vcpus', '1', 'iso.b-flavor', ...asB),
      // Its own project's quota and role assignments are the cloud admin's too. (By id: B's admin
      // may not look users up by name, and the CLI resolves names first.)
      () => forbidden('quota', 'set', '--instances', '99', projectB, ...asB),
      () => forbidden('role', 'add', '--project', projectB, '--user', userIds['iso-b-member'] ?? '', 'admin', ...asB),
    ]);
  });

  it('a member of project B filtering by project A, a filter the CLI only sends for an admin, gets none of its resources', async () => {
    // The CLI resolves --project through Keystone, which refuses B a look at project A: these are
    // the raw requests it would send, with a token it issued for B's member.
    const token = (await os('token', 'issue', '-f', 'value', '-c', 'id', ...users.member)).trim();
    const get = async (path: string) => {
      const response = await fetch(`${cloud.url}${path}`, {
        dispatcher: cloud.dispatcher,
        headers: { 'x-auth-token': token },
      });
      return { status: response.status, body: (await response.json()) as Record<string, { id: string }[]> };
    };
    const p = a.project;
    expect(await get(`/compute/v2.1/servers/detail?project_id=${p}`)).toEqual({ status: 200, body: { servers: [] } });
    expect((await get(`/compute/v2.1/servers?all_tenants=1&project_id=${p}`)).status).toBe(403);
    for (const filter of [`project_id=${p}`, `tenant_id=${p}`, `device_id=${a.server}`]) {
      expect(await get(`/network/v2.0/ports?${filter}`)).toEqual({ status: 200, body: { ports: [] } });
    }
    for (const filter of [`project_id=${p}`, `tenant_id=${p}`]) {
      expect(await get(`/network/v2.0/security-groups?${filter}`)).toEqual({
        status: 200,
        body: { security_groups: [] },
      });
    }
    const images = await get(`/image/v2/images?owner=${p}&visibility=all&member_status=all`);
    expect(images.body.images).toEqual([]);
    // A marker is looked up as the image itself is: one of A's is not found (Glance's 400), not paged from.
    for (const image of [a.sharedImage, a.privateImage]) {
      expect((await get(`/image/v2/images?marker=${image}`)).status).toBe(400);
    }
    expect((await get(`/compute/v2.1/servers?marker=${a.server}`)).status).toBe(400);
  });

  it("leaves A's resources as they were", async () => {
    await inPairs([
      async () =>
        expect(
          await json<{ id: string; status: string; key_name: string }>('server', 'show', a.server, ...asA),
        ).toMatchObject({ id: a.server, status: 'ACTIVE', key_name: a.key }),
      ...[a.sharedImage, a.privateImage].map(
        (image) => async () =>
          expect(await json<{ status: string }>('image', 'show', image, ...asA)).toMatchObject({ status: 'active' }),
      ),
      async () => expect((await json<{ id: string }>('port', 'show', a.port, ...asA)).id).toBe(a.port),
      async () => expect((await json<{ name: string }>('keypair', 'show', a.key, ...asA)).name).toBe(a.key),
      async () => expect((await json<{ ID: string }[]>('server', 'list', ...asA)).map((s) => s.ID)).toEqual([a.server]),
    ]);
  });
});
