import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestApi, tenant, tokenFor } from './api-helpers.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

// Keystone with admin_project_name: the admin role makes a cloud admin only on the admin project;
// on another project it administers that project alone (issue #14: it was admin of the whole cloud).
describe('a project admin administers its project only', () => {
  let t: Awaited<ReturnType<typeof startTestApi>>;
  let cloudAdmin: string;
  let memberA: string;
  let memberB: string;
  let adminB: string;
  let projectB: string;
  let userA: string;
  let serverA: string;
  let serverB: string;
  let imageA: string;
  let imageB: string;

  // At compute 2.10, where the cloud admin names another user's keypairs with user_id.
  const call = async (token: string, method: Method, url: string, payload?: unknown) =>
    t.api.app.inject({
      method,
      url,
      headers: { 'x-auth-token': token, 'openstack-api-version': 'compute 2.10' },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const json = async (token: string, method: Method, url: string, payload?: unknown) =>
    (await call(token, method, url, payload)).json() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const createServer = async (token: string, name: string, imageRef: string) =>
    (await json(token, 'POST', '/compute/v2.1/servers', { server: { name, imageRef, flavorRef: '1' } })).server
      .id as string;
  /** An active image of the caller's project with that visibility; its id. */
  const createImage = async (token: string, name: string, visibility = 'private') => {
    const { id } = (await json(token, 'POST', '/image/v2/images', {
      name,
      disk_format: 'raw',
      container_format: 'bare',
      visibility,
    })) as { id: string };
    const upload = await t.api.app.inject({
      method: 'PUT',
      url: `/image/v2/images/${id}/file`,
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
      payload: Buffer.from('bytes'),
    });
    expect(upload.statusCode).toBe(204);
    return id;
  };

  beforeAll(async () => {
    t = await startTestApi();
    cloudAdmin = await tokenFor(t.api, 'admin', ADMIN_PASSWORD, 'admin');
    memberA = await tenant(t.api, cloudAdmin, 'pa-a', 'member');
    memberB = await tenant(t.api, cloudAdmin, 'pa-b', 'member');
    // A second user of project B, with the admin role there.
    projectB = (await json(cloudAdmin, 'GET', '/identity/v3/projects?name=pa-b')).projects[0].id;
    const user = await json(cloudAdmin, 'POST', '/identity/v3/users', {
      user: { name: 'pa-b-admin', password: 'pw-12345' },
    });
    const role = (await json(cloudAdmin, 'GET', '/identity/v3/roles?name=admin')).roles[0].id;
    const grant = await call(
      cloudAdmin,
      'PUT',
      `/identity/v3/projects/${projectB}/users/${user.user.id}/roles/${role}`,
    );
    expect(grant.statusCode).toBe(204);
    adminB = await tokenFor(t.api, 'pa-b-admin', 'pw-12345', 'pa-b');
    userA = (await json(cloudAdmin, 'GET', '/identity/v3/users?name=pa-a-user')).users[0].id;

    const bootable = await createImage(cloudAdmin, 'boot', 'public');
    serverA = await createServer(memberA, 'vm-a', bootable);
    serverB = await createServer(memberB, 'vm-b', bootable);
    await t.api.servers.idle();
    imageA = await createImage(memberA, 'img-a');
    imageB = await createImage(memberB, 'img-b');
    expect((await call(memberA, 'POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'key-a' } })).statusCode).toBe(
      201,
    );
  });
  afterAll(async () => t.stop());

  it("acts on other users' servers and images of its project, as Nova and Glance let it", async () => {
    expect((await json(adminB, 'GET', `/compute/v2.1/servers/${serverB}`)).server.id).toBe(serverB);
    expect(
      (await call(adminB, 'POST', `/compute/v2.1/servers/${serverB}/action`, { 'os-stop': null })).statusCode,
    ).toBe(202);
    // Deactivating an image is an admin's: its project's admin, not its members.
    expect((await call(memberB, 'POST', `/image/v2/images/${imageB}/actions/deactivate`)).statusCode).toBe(403);
    expect((await call(adminB, 'POST', `/image/v2/images/${imageB}/actions/deactivate`)).statusCode).toBe(204);
  });

  it("gets 404 for another project's servers and images", async () => {
    for (const [method, url, payload] of [
      ['GET', `/compute/v2.1/servers/${serverA}`],
      ['POST', `/compute/v2.1/servers/${serverA}/action`, { 'os-stop': null }],
      ['DELETE', `/compute/v2.1/servers/${serverA}`],
      ['GET', `/compute/v2.1/servers/${serverA}/os-instance-actions`],
      ['GET', `/image/v2/images/${imageA}`],
      ['POST', `/image/v2/images/${imageA}/actions/deactivate`],
      ['DELETE', `/image/v2/images/${imageA}`],
    ] as [Method, string, unknown?][]) {
      expect({ method, url, status: (await call(adminB, method, url, payload)).statusCode }).toEqual({
        method,
        url,
        status: 404,
      });
    }
    const listed = await json(adminB, 'GET', '/compute/v2.1/servers');
    expect(listed.servers.map((s: { id: string }) => s.id)).toEqual([serverB]);
    const images = await json(adminB, 'GET', '/image/v2/images');
    expect(images.images.map((i: { id: string }) => i.id)).not.toContain(imageA);
  });

  it("gets 403 for another user's keypairs and for the cloud-wide admin APIs", async () => {
    for (const [method, url, payload] of [
      ['GET', `/compute/v2.1/os-keypairs?user_id=${userA}`],
      ['GET', `/compute/v2.1/os-keypairs/key-a?user_id=${userA}`],
      ['DELETE', `/compute/v2.1/os-keypairs/key-a?user_id=${userA}`],
      ['GET', '/compute/v2.1/servers?all_tenants=1'],
      ['GET', '/compute/v2.1/servers/detail?all_tenants=True'],
      ['POST', '/compute/v2.1/flavors', { flavor: { name: 'f-b', ram: 64, vcpus: 1, disk: 1 } }],
      ['DELETE', '/compute/v2.1/flavors/1'],
      ['GET', '/compute/v2.1/os-hypervisors'],
      ['GET', '/compute/v2.1/os-services'],
      ['PUT', `/compute/v2.1/os-quota-sets/${projectB}`, { quota_set: { instances: 100 } }],
      ['GET', '/identity/v3/users'],
      ['POST', '/identity/v3/users', { user: { name: 'by-b' } }],
      ['POST', '/identity/v3/projects', { project: { name: 'by-b' } }],
      ['PATCH', `/identity/v3/projects/${projectB}`, { project: { description: 'mine?' } }],
      ['POST', '/identity/v3/roles', { role: { name: 'by-b' } }],
      ['GET', `/identity/v3/role_assignments?scope.project.id=${projectB}`],
    ] as [Method, string, unknown?][]) {
      expect({ method, url, status: (await call(adminB, method, url, payload)).statusCode }).toEqual({
        method,
        url,
        status: 403,
      });
    }
    // Nor can it make itself a cloud admin.
    const adminProject = (await json(cloudAdmin, 'GET', '/identity/v3/projects?name=admin')).projects[0].id;
    const role = (await json(adminB, 'GET', '/identity/v3/roles?name=admin')).roles[0].id;
    const users = await json(cloudAdmin, 'GET', '/identity/v3/users?name=pa-b-admin');
    const self = users.users[0].id;
    expect(
      (await call(adminB, 'PUT', `/identity/v3/projects/${adminProject}/users/${self}/roles/${role}`)).statusCode,
    ).toBe(403);
  });

  it('leaves the cloud admin administering everything', async () => {
    expect((await call(cloudAdmin, 'GET', `/compute/v2.1/servers/${serverA}`)).statusCode).toBe(200);
    const everyone = await json(cloudAdmin, 'GET', '/compute/v2.1/servers?all_tenants=1');
    expect(everyone.servers.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining([serverA, serverB]));
    expect((await call(cloudAdmin, 'GET', `/image/v2/images/${imageA}`)).statusCode).toBe(200);
    expect((await call(cloudAdmin, 'GET', `/compute/v2.1/os-keypairs/key-a?user_id=${userA}`)).statusCode).toBe(200);
    expect((await call(cloudAdmin, 'GET', '/compute/v2.1/os-hypervisors')).statusCode).toBe(200);
    expect((await call(cloudAdmin, 'GET', '/identity/v3/users')).statusCode).toBe(200);
    expect(
      (await call(cloudAdmin, 'PUT', `/compute/v2.1/os-quota-sets/${projectB}`, { quota_set: { instances: 20 } }))
        .statusCode,
    ).toBe(200);
    expect((await call(cloudAdmin, 'POST', `/image/v2/images/${imageA}/actions/deactivate`)).statusCode).toBe(204);
  });
});
