import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type NodeTls, processStart, Store } from '../../agent/index.js';
import {
  type GuestPorts,
  type GuestRequest,
  type GuestState,
  HostClient,
  type NicRequest,
  HostService,
  hostApi,
  QemuRuntime,
  RbdGuestDisks,
  type RouterPlumbing,
} from '../../appliance/host/index.js';
import { Rbd } from '../../appliance/rbd/index.js';
import { type CephCluster, type EtcdCluster, startCeph, startEtcd, testNodeTls, waitFor } from '../bed/index.js';
import { guestImage } from '../guest-image.js';

// The host service on real parts: etcd for its records, a cephx Ceph cluster for the disks,
// QEMU (TCG) booting the guest image from an RBD clone. No ports here (the guest network has
// its own test in namespaces); one guest at a time.
const ID = '0b7c3f7e-5d0a-4f51-9d0e-2f1f0e6a1c01';
let etcd: EtcdCluster;
let ceph: CephCluster;
let store: Store;
let rbd: Rbd;
let dir: string;
let service: HostService;
let api: FastifyInstance;
let client: HostClient;
/** The node the host service under test serves; the guest moves from h1 to h2 half-way, as a fenced node's would. */
let node = 'h1';
const runDirOf = (n: string) => join(dir, 'guests', n);
/** The host's certificate and a caller's (another node's compute service), from one test CA. */
let hostTls: NodeTls;
let callerTls: NodeTls;

const noPorts: GuestPorts = {
  plug: () => Promise.reject(new Error('no ports in this test')),
  unplug: () => Promise.resolve(),
  counters: () => Promise.reject(new Error('no ports in this test')),
  applyFirewall: (portId) => {
    firewallsApplied.push(portId);
    return Promise.resolve();
  },
};
const noRouters: RouterPlumbing = {
  applyRouter: () => Promise.reject(new Error('no routers in this test (guest-router.test.ts has them)')),
  removeRouter: () => Promise.resolve(),
};
/** The ports whose firewall the service applied (guest-firewall.test.ts runs the real plumbing). */
const firewallsApplied: string[] = [];
const request = (over: Partial<GuestRequest> = {}): GuestRequest => ({
  name: 'vm1',
  vcpus: 1,
  memoryMb: 192,
  image: { pool: 'images', name: 'guest' },
  diskGb: 1,
  nics: [],
  power: 'running',
  metadata: {
    uuid: ID,
    name: 'vm1',
    hostname: 'vm1',
    availabilityZone: 'nova',
    projectId: 'p',
    launchIndex: 0,
    publicKeys: [],
    userData: null,
    meta: {},
  },
  ...over,
});

async function startService(): Promise<void> {
  service = new HostService({
    node,
    store,
    runtime: new QemuRuntime({ accel: 'tcg', ceph: { conf: ceph.conf, user: 'admin' } }),
    disks: new RbdGuestDisks(rbd, 'vms'),
    ports: noPorts,
    routers: noRouters,
    runDir: runDirOf(node),
    inventory: {
      ...{ node, url: 'http://127.0.0.1:1', vcpus: 2, memoryMb: 4096, diskGb: 10 },
      ...{ accel: 'tcg', hypervisorVersion: 7002022 },
    },
    stopTimeoutMs: 60_000,
    startGapMs: 0,
  });
  const adopted = await service.adoptAll();
  api = hostApi(service, hostTls);
  await api.listen({ host: '127.0.0.1', port: 0 });
  const address = api.server.address();
  client = new HostClient(`https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, callerTls);
  return void adopted;
}
const consoleHas = (text: string, times = 1) =>
  waitFor(
    `"${text}" ×${times} on the console`,
    async () => (await client.consoleLog(ID, 1 << 20)).split(text).length - 1 >= times,
    120_000,
    500,
  );
const record = async (id = ID) =>
  JSON.parse((await store.get(keys.hostGuest(node, id)))?.value ?? 'null') as GuestState | null;

beforeAll(async () => {
  const image = guestImage();
  // A manager too: a pool's quota is enforced from the usage it gathers.
  [etcd, ceph] = await Promise.all([startEtcd(), startCeph({ auth: 'cephx', mgr: true })]);
  for (const pool of ['images', 'vms']) {
    await ceph.ceph(['osd', 'pool', 'create', pool, '8']);
    await ceph.ceph(['osd', 'pool', 'application', 'enable', pool, 'rbd']);
  }
  store = Store.connect(etcd.endpoints);
  rbd = new Rbd({ conf: ceph.conf, id: 'admin', opTimeoutS: 10 });
  await rbd.importImage('images', 'guest', { format: 'raw', stream: createReadStream(image.path) });
  await rbd.importImage('images', 'blank', { format: 'raw', stream: Readable.from([Buffer.alloc(1 << 20)]) });
  dir = mkdtempSync(join(tmpdir(), 'rackseed-host-'));
  hostTls = await testNodeTls(join(dir, 'pki'), 'h1');
  callerTls = await testNodeTls(join(dir, 'pki'), 'h2');
  await startService();
}, 300_000);

afterAll(async () => {
  await service?.destroy(ID).catch(() => undefined);
  await api?.close();
  service?.close();
  await store?.close();
  await Promise.all([hostTls?.close(), callerTls?.close()]);
  await ceph?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the host service (QEMU on RBD, records in etcd)', () => {
  let pid = 0;

  it('refuses callers without a node certificate from the cluster CA, and bad requests with a stable code', async () => {
    // A certificate from another CA: the handshake fails, the call gets nothing.
    const stranger = await testNodeTls(join(dir, 'other-pki'), 'h2');
    await expect(new HostClient(client.url, stranger).get(ID)).rejects.toMatchObject({
      code: 'HOST_ERR_UNREACHABLE',
    });
    await stranger.close();
    // No certificate at all, even trusting the host's: refused in the handshake, no HTTP answer.
    await expect(
      fetch(`${client.url}/v1/inventory`, { dispatcher: new Agent({ connect: { ca: callerTls.read().ca } }) }),
    ).rejects.toThrow();
    // Plain HTTP: no answer either.
    await expect(fetch(client.url.replace('https:', 'http:') + '/v1/inventory')).rejects.toThrow();
    await expect(client.put(ID, request({ vcpus: 0 }))).rejects.toMatchObject({
      status: 400,
      code: 'HOST_ERR_BAD_REQUEST',
    });
    await expect(client.get(ID)).rejects.toMatchObject({ status: 404, code: 'HOST_ERR_GUEST_NOT_FOUND' });
  });

  it('spawns a guest from a clone of its image: it boots, and the same request again changes nothing', async () => {
    const t0 = Date.now();
    const state = await client.put(ID, request());
    expect(state).toMatchObject({ id: ID, node: 'h1', power: 'running', fault: null });
    pid = state.process?.pid ?? 0;
    expect(processStart(pid)).toBe(state.process?.startTime);
    expect(await rbd.info('vms', `${ID}_disk`)).toEqual({ size: 1024 ** 3, parent: 'images/guest@snap' });
    await consoleHas('rackseed-guest: booting');
    console.log(`host-service: PUT → guest booting ${Date.now() - t0} ms`);
    expect((await client.put(ID, request())).process?.pid).toBe(pid);
    expect((await record())?.process?.pid).toBe(pid);
  });

  it('adopts its running guest after a restart, and a hard reboot through the API still works', async () => {
    await api.close();
    service.close(); // as a killed service would: QEMU goes on
    expect(processStart(pid)).not.toBeNull();
    await startService();
    expect((await client.get(ID)).process?.pid).toBe(pid);
    await client.reboot(ID, 'hard');
    await consoleHas('rackseed-guest: booting', 2);
    expect((await client.get(ID)).process?.pid).toBe(pid);
  });

  it('notices QEMU dying on its own: the guest is recorded crashed, and starts again on request', async () => {
    process.kill(pid, 'SIGKILL');
    await waitFor('the guest recorded as crashed', async () => (await record())?.power === 'crashed', 30_000, 200);
    const started = await client.setPower(ID, 'running');
    expect(started.power).toBe('running');
    expect(started.process?.pid).not.toBe(pid);
    pid = started.process?.pid ?? 0;
  });

  it(
    'pauses and suspends the guest (its state on RBD), and another node runs it on from there; takes an NMI (a crash dump); stops it with an ACPI power-down (it powers itself off); resizes it (its disk grown, a snapshot its way back), releases it and reverts it; makes an unshelve’s disk a whole copy of its image; destroys it without leaving anything',
    { timeout: 240_000 },
    async () => {
      // Up to its sshd (no metadata service here: it gives up on it after 30 s).
      await waitFor(
        'the restarted guest up to its sshd',
        async () =>
          ((await client.consoleLog(ID, 1 << 20)).split('rackseed-guest: booting').at(-1) ?? '').includes('ssh up'),
        120_000,
        500,
      );
      // What it used to boot (os-server-diagnostics): its vCPU's time, its memory, its disk's reads.
      const used = await client.diagnostics(ID);
      expect(used).toMatchObject({ power: 'running', nics: [] });
      expect(used.usage?.memory.maximumMb).toBe(192);
      expect(used.usage?.memory.usedMb).toBeGreaterThan(0);
      expect(used.usage?.cpus.map((c) => c.id)).toEqual([0]);
      expect(used.usage?.cpus[0]?.timeNs).toBeGreaterThan(0);
      expect(used.usage?.disks).toHaveLength(1);
      expect(used.usage?.disks[0]?.readBytes).toBeGreaterThan(1024 * 1024);
      expect(used.usage?.uptimeSeconds).toBeGreaterThan(0);
      // Nova's pause: QEMU runs on, its vCPU does not (its time stands still) until it is unpaused.
      expect(await client.setPower(ID, 'paused')).toMatchObject({ power: 'paused', process: { pid } });
      const cpuTime = async () => (await client.diagnostics(ID)).usage?.cpus[0]?.timeNs ?? 0;
      const stood = await cpuTime();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await cpuTime()).toBe(stood);
      expect((await record())?.power).toBe('paused');
      await expect(client.reboot(ID, 'soft')).rejects.toMatchObject({ code: 'HOST_ERR_BAD_REQUEST', status: 400 });
      expect((await client.setPower(ID, 'running')).power).toBe('running');
      await waitFor('its vCPU running again', async () => (await cpuTime()) > stood, 10_000, 200);
      // Nova's suspend: its state goes to an RBD image beside its disk and QEMU ends.
      const t0 = Date.now();
      expect(await client.setPower(ID, 'suspended')).toMatchObject({ power: 'suspended', process: null });
      const suspendMs = Date.now() - t0;
      await waitFor('its QEMU reaped', () => processStart(pid) === null, 10_000, 100);
      const stateBytes = (await rbd.info('vms', `${ID}_state`))?.size ?? 0;
      expect(stateBytes).toBeGreaterThan(1024 * 1024);
      expect((await client.setPower(ID, 'suspended')).power).toBe('suspended'); // the same again changes nothing
      expect(await client.diagnostics(ID)).toMatchObject({ power: 'suspended', usage: null });
      // Its node fenced, as the evacuation moves it: another node's host service is given its
      // request, suspended (its state is on Ceph), and the dead node's record goes.
      await api.close();
      service.close();
      const deadRecord = keys.hostGuest(node, ID);
      node = 'h2';
      await startService();
      expect(await client.put(ID, { ...request(), power: 'suspended' })).toMatchObject({
        ...{ node: 'h2', power: 'suspended', process: null },
      });
      await store.delete(deadRecord);
      // Resumed there, it runs on from its state, with no boot; the state image goes.
      const t1 = Date.now();
      const resumed = await client.setPower(ID, 'running');
      expect(resumed.power).toBe('running');
      console.log(
        `host-service: suspend ${suspendMs} ms (its state ${stateBytes} bytes), resume ${Date.now() - t1} ms`,
      );
      pid = resumed.process?.pid ?? 0;
      expect(await rbd.info('vms', `${ID}_state`)).toBeNull();
      // Nova's trigger_crash_dump: the guest's kernel reports the NMI on its console and goes on.
      // At once after the resume: a guest booting afresh would have no kernel yet to take it.
      expect((await client.nmi(ID)).power).toBe('running');
      await consoleHas('NMI received');
      expect(await client.consoleLog(ID, 1 << 20)).not.toContain('rackseed-guest: booting');
      // What the guest posts to its metadata service's password path (the metadata service calls
      // setPassword) is read back for os-server-password, and cleared so that it may post again.
      await service.setPassword(ID, 'ZW5jcnlwdGVk');
      expect((await client.get(ID)).password).toBe('ZW5jcnlwdGVk');
      await client.clearPassword(ID);
      expect((await client.get(ID)).password).toBe('');
      await expect(client.clearPassword('00000000-0000-4000-8000-00000000dead')).rejects.toMatchObject({ status: 404 });
      const stopped = await client.setPower(ID, 'shutoff');
      expect(stopped).toMatchObject({ power: 'shutoff', process: null });
      expect(await client.diagnostics(ID)).toMatchObject({ power: 'shutoff', usage: null });
      expect(await client.consoleLog(ID, 1 << 20)).toContain('NMI received'); // kept while it is stopped
      await expect(client.nmi(ID)).rejects.toMatchObject({ code: 'HOST_ERR_BAD_REQUEST', status: 400 });
      await expect(client.setPower(ID, 'suspended')).rejects.toMatchObject({
        code: 'HOST_ERR_BAD_REQUEST',
        status: 400,
      });
      // QEMU has exited (the service waits for that); its zombie is gone once it is reaped.
      await waitFor('its QEMU reaped', () => processStart(pid) === null, 10_000, 100);
      // Nova's resize, as the compute driver does it: the stopped disk snapshotted (a revert's way
      // back), the new size recorded, and at the next start the disk grown and QEMU's memory the new.
      expect((await client.snapshotDisk(ID, 'resize')).power).toBe('shutoff');
      // The test's own mark beside it: what a rollback must give back, extent for extent.
      const rbdCli = (...args: string[]) =>
        execFileSync('rbd', ['--conf', ceph.conf, '--id', 'admin', ...args], { encoding: 'utf8' });
      rbdCli('snap', 'create', `vms/${ID}_disk@mark`);
      expect(rbdCli('info', `vms/${ID}_disk`)).toMatch(/parent: images\/guest@/); // a clone
      await client.put(ID, request({ memoryMb: 256, diskGb: 2, power: 'shutoff' }));
      const grown = await client.setPower(ID, 'running');
      expect(await rbd.info('vms', `${ID}_disk`)).toMatchObject({ size: 2 * 1024 ** 3 });
      expect((await client.diagnostics(ID)).usage?.memory.maximumMb).toBe(256);
      await expect(client.snapshotDisk(ID, 'again')).rejects.toMatchObject({ code: 'HOST_ERR_BAD_REQUEST' });
      await expect(client.snapshotDisk(ID, 'Not/A/Name')).rejects.toMatchObject({ status: 404 }); // no such route
      await expect(client.snapshotDisk(ID, 'UPPER')).rejects.toMatchObject({ code: 'HOST_ERR_BAD_REQUEST' });
      // Released (a move to another host): QEMU ends and the record goes; the disk stays.
      await client.release(ID);
      await waitFor('its QEMU reaped', () => processStart(grown.process?.pid ?? 0) === null, 10_000, 100);
      expect(await record()).toBeNull();
      await expect(client.get(ID)).rejects.toMatchObject({ status: 404 });
      await client.release(ID); // idempotent
      // Written to after the snapshot (as the guest on its new host would), in its first and its new gigabyte.
      execFileSync('qemu-io', [
        ...['-f', 'raw', `rbd:vms/${ID}_disk:id=admin:conf=${ceph.conf}`],
        ...['-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 1G 64k'],
      ]);
      const changedSinceMark = () =>
        (JSON.parse(rbdCli('diff', '--format', 'json', '--from-snap', 'mark', `vms/${ID}_disk`)) as unknown[]).length;
      expect(changedSinceMark()).toBeGreaterThan(0);
      /** The SHA-256 of an image's (or snapshot's) bytes. */
      const digest = (spec: string) =>
        execFileSync(
          'sh',
          ['-c', 'rbd --conf "$1" --id admin export --no-progress "$2" - | sha256sum', 'sh', ceph.conf, spec],
          { encoding: 'utf8' },
        );
      // Reverted where it came from: made again, stopped, with its old size, and its disk rolled
      // back to the snapshot (its size and every byte), which goes: a second rollback has nothing to do.
      await client.put(ID, request({ power: 'shutoff' }));
      await client.rollbackDisk(ID, 'resize');
      expect(await rbd.info('vms', `${ID}_disk`)).toMatchObject({ size: 1024 ** 3 });
      expect(digest(`vms/${ID}_disk`)).toBe(digest(`vms/${ID}_disk@mark`));
      expect(rbdCli('snap', 'ls', `vms/${ID}_disk`)).not.toContain('resize');
      await client.rollbackDisk(ID, 'resize');
      await client.destroy(ID);
      // An unshelve's disk: a whole copy of its (shelved) image, no clone of it, so the image may go.
      await client.put(ID, request({ image: { pool: 'images', name: 'guest', flatten: true } }));
      expect(await rbd.info('vms', `${ID}_disk`)).toMatchObject({ size: 1024 ** 3 });
      expect(rbdCli('info', `vms/${ID}_disk`)).not.toContain('parent:');
      await client.destroy(ID);
      await client.destroy(ID); // idempotent
      expect(await rbd.list('vms')).toEqual([]);
      expect(await record()).toBeNull();
      expect(existsSync(join(runDirOf(node), ID))).toBe(false);
      expect(
        spawnSync('pgrep', ['-f', `guest=${ID}`])
          .stdout.toString()
          .trim(),
      ).toBe('');
    },
  );

  it("keeps a guest's new firewalls in its record and applies them to its ports; refuses unknown ports and malformed rules", async () => {
    const id = '00000000-0000-4000-8000-0000000000f1';
    const portId = '5e1f0000-0000-4000-8000-000000000001';
    const nic = {
      ...{ portId, networkId: 'n', mac: 'fa:16:3e:00:00:f1', ip: '10.16.0.241', prefixLength: 16, gateway: null },
      ...{ mtu: 1500, dns: [], firewall: { stateful: true, rules: [] } },
    };
    // Stopped: nothing is plugged, the record alone is made.
    await client.put(id, request({ nics: [nic], power: 'shutoff' }));
    const ssh = { direction: 'ingress', protocol: 6, ports: [22, 22], icmp: null, remote: ['10.16.0.0/16'] } as const;
    const state = await client.setFirewalls(id, { [portId]: { stateful: true, rules: [ssh] } });
    expect(state.request.nics[0]?.firewall).toEqual({ stateful: true, rules: [ssh] });
    expect((await record(id))?.request.nics[0]?.firewall.rules).toEqual([ssh]);
    expect(firewallsApplied).toEqual([portId]);
    await expect(
      client.setFirewalls(id, { '5e1f0000-0000-4000-8000-00000000dead': { stateful: true, rules: [] } }),
    ).rejects.toMatchObject({ status: 400, code: 'HOST_ERR_BAD_REQUEST' });
    await expect(
      client.setFirewalls(id, { [portId]: { stateful: true, rules: [{ ...ssh, remote: ['0.0.0.0/0 } accept'] }] } }),
    ).rejects.toMatchObject({ status: 400, code: 'HOST_ERR_BAD_REQUEST' });
    await expect(
      client.put(id, request({ nics: [{ ...nic, ip: '10.16.0.241; drop' }], power: 'shutoff' })),
    ).rejects.toMatchObject({ status: 400, code: 'HOST_ERR_BAD_REQUEST' });
    const flattenAsText = { pool: 'images', name: 'guest', flatten: 'yes' } as unknown as GuestRequest['image'];
    await expect(client.put(id, request({ image: flattenAsText, power: 'shutoff' }))).rejects.toMatchObject({
      status: 400,
      code: 'HOST_ERR_BAD_REQUEST',
    });
    // A project network's segment: a VXLAN's VNI is 24 bits, and nothing but flat and vxlan is carried.
    for (const segment of [
      { type: 'vxlan', vni: 0 },
      { type: 'vxlan', vni: 2 ** 24 },
      { type: 'vlan', vni: 5 },
    ])
      await expect(
        client.put(id, request({ nics: [{ ...nic, segment } as NicRequest], power: 'shutoff' })),
      ).rejects.toMatchObject({ status: 400, code: 'HOST_ERR_BAD_SEGMENT' });
    expect((await record(id))?.request.nics[0]?.firewall.rules).toEqual([ssh]); // the refused calls changed nothing
    await client.destroy(id);
  });

  it('refuses a non-bootable image and a missing one, and leaves no disk or process behind', async () => {
    await expect(client.put(ID, request({ image: { pool: 'images', name: 'blank' } }))).rejects.toMatchObject({
      status: 400,
      code: 'HOST_ERR_IMAGE_NOT_BOOTABLE',
    });
    await expect(client.put(ID, request({ image: { pool: 'images', name: 'gone' } }))).rejects.toMatchObject({
      status: 400,
      code: 'RBD_ERR_NOT_FOUND',
    });
    expect((await client.get(ID)).fault?.code).toBe('RBD_ERR_NOT_FOUND');
    await client.destroy(ID);
    expect(await rbd.list('vms')).toEqual([]);
  });

  it("refuses a spawn while the disks' pool is full (its quota reached), naming it, and leaves no disk or process behind", async () => {
    const rados = (...args: string[]) =>
      spawnSync('rados', ['--conf', ceph.conf, '--id', 'admin', '-p', 'vms', ...args]);
    expect(rados('create', 'quota-marker').status).toBe(0);
    await ceph.ceph(['osd', 'pool', 'set-quota', 'vms', 'max_objects', '1']);
    try {
      await waitFor(
        'the vms pool flagged full',
        async () => (await ceph.ceph(['osd', 'dump', '--format', 'json'])).includes('full_quota'),
        120_000,
        500,
      );
      await expect(client.put(ID, request())).rejects.toMatchObject({ status: 507, code: 'RBD_ERR_POOL_FULL' });
      expect((await client.get(ID)).fault?.message).toMatch(/the pool vms is full/);
      expect(
        spawnSync('pgrep', ['-f', `guest=${ID}`])
          .stdout.toString()
          .trim(),
      ).toBe('');
    } finally {
      await ceph.ceph(['osd', 'pool', 'set-quota', 'vms', 'max_objects', '0']);
      rados('rm', 'quota-marker');
    }
    await client.destroy(ID);
    expect(await rbd.list('vms')).toEqual([]);
    expect(await record()).toBeNull();
  });
});
