import { randomUUID } from 'node:crypto';
import { type CloudDb, type Flavor, SYSTEM_ALL } from '../db/index.js';
import { hashPassword } from './identity/passwords.js';
import { seedMetadefs } from './image/metadef-seed.js';

/**
 * The roles every cloud has: `admin` administers its project (the whole cloud on {@link ADMIN_PROJECT}),
 * `member` changes its project, `reader` looks. As Keystone's bootstrap, each implies the next.
 */
export const ROLES = ['admin', 'member', 'reader'] as const;

/**
 * The admin project (Keystone's `admin_project_name` and `admin_project_domain_name`): the admin
 * role on it makes a cloud admin; on any other project, an admin of that project only.
 */
export const ADMIN_PROJECT = { name: 'admin', domainId: 'default' } as const;

const FLAVORS: readonly Pick<Flavor, 'id' | 'name' | 'ram' | 'vcpus' | 'disk'>[] = [
  { id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 1 },
  { id: '2', name: 'm1.small', ram: 2048, vcpus: 1, disk: 20 },
  { id: '3', name: 'm1.medium', ram: 4096, vcpus: 2, disk: 40 },
];

/**
 * Makes a new cloud usable, idempotently: the three roles, the `admin` project and user
 * (with `password`, only when the user does not exist yet; admin on that project and on the
 * system, as Keystone's bootstrap), the standard flavors and the
 * flat provider network `provider` (10.16.0.0/16) that servers attach to, external (routers'
 * gateways and floating IPs take their addresses there); a new catalog of
 * metadata definitions gets Glance's standard namespaces that apply (image/metadef-seed.ts).
 * Returns the admin project's id.
 */
export async function bootstrapCloud(
  db: CloudDb,
  adminPassword: string,
): Promise<{ projectId: string; created: boolean }> {
  const roleIds: Record<string, string> = {};
  for (const name of ROLES) {
    const [existing] = await db.roles.list({ name });
    roleIds[name] =
      existing?.id ??
      (await db.roles.create({ id: randomUUID().replace(/-/g, ''), name, domainId: null, description: '' })).id;
  }
  const implied = await db.roles.implications({});
  for (const [prior, next] of [
    ['admin', 'member'],
    ['member', 'reader'],
  ] as const) {
    const [priorId, impliedId] = [roleIds[prior] ?? '', roleIds[next] ?? ''];
    if (!implied.some((i) => i.priorId === priorId && i.impliedId === impliedId))
      await db.roles.imply(priorId, impliedId);
  }
  const project =
    (await db.projects.findByName(ADMIN_PROJECT.domainId, ADMIN_PROJECT.name)) ??
    (await db.projects.create({
      id: randomUUID().replace(/-/g, ''),
      name: ADMIN_PROJECT.name,
      domainId: ADMIN_PROJECT.domainId,
      description: 'Bootstrap project for the cloud administrator',
      enabled: true,
      parentId: null,
      tags: [],
    }));
  let user = await db.users.findByName('default', 'admin');
  const created = user === null;
  user ??= await db.users.create({
    id: randomUUID().replace(/-/g, ''),
    name: 'admin',
    domainId: 'default',
    enabled: true,
    passwordHash: await hashPassword(adminPassword),
    defaultProjectId: project.id,
    email: null,
    description: 'Cloud administrator',
    extra: {},
    // Its password is the machine's (the data dir's file, clouds.yaml): it neither expires nor
    // waits for a change, whatever the security compliance settings.
    options: { ignore_change_password_upon_first_use: true, ignore_password_expiry: true },
    passwordChangedAt: null,
    passwordExpiresAt: null,
    passwordSelfService: false,
  });
  const grant = { actorType: 'user', actorId: user.id, inherited: false } as const;
  for (const name of ROLES) {
    await db.assignments.grant({ ...grant, targetType: 'project', targetId: project.id, roleId: roleIds[name] ?? '' });
  }
  await db.assignments.grant({ ...grant, targetType: 'system', targetId: SYSTEM_ALL, roleId: roleIds.admin ?? '' });
  for (const f of FLAVORS) {
    if (await db.flavors.get(f.id)) continue;
    await db.flavors.create({
      ...f,
      swap: 0,
      ephemeral: 0,
      rxtxFactor: 1,
      isPublic: true,
      disabled: false,
      description: null,
      extraSpecs: {},
      createdAt: new Date().toISOString(),
    });
  }
  if ((await db.networks.list({ name: 'provider' })).length === 0) {
    const now = new Date().toISOString();
    const networkId = randomUUID();
    await db.networks.create(
      {
        id: networkId,
        name: 'provider',
        projectId: project.id,
        shared: true,
        // Routers' way out and floating IPs' addresses (Neutron's `router:external`).
        external: true,
        mtu: 1500,
        adminStateUp: true,
        networkType: 'flat',
        segmentationId: null,
        description: '',
        createdAt: now,
        updatedAt: now,
      },
      -1,
    );
    await db.networks.createSubnet(
      {
        id: randomUUID(),
        name: 'provider-v4',
        networkId,
        projectId: project.id,
        cidr: '10.16.0.0/16',
        gatewayIp: '10.16.0.1',
        ipVersion: 4,
        enableDhcp: true,
        allocationPools: [{ start: '10.16.0.2', end: '10.16.255.254' }],
        dnsNameservers: [],
        hostRoutes: [],
        description: '',
        createdAt: now,
        updatedAt: now,
      },
      -1,
    );
  }
  await seedMetadefs(db, project.id);
  return { projectId: project.id, created };
}
