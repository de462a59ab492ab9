import { IMAGES_POOL, type NodeTls } from '../../agent/index.js';
import type { CloudDb, Server } from '../db/index.js';
import {
  type GuestDiagnostics,
  type GuestMetadata,
  HostClient,
  type GuestRequest,
  type NicRequest,
  type PowerRequest,
} from '../host/index.js';
import type { ComputeDriver, HostInfo } from './driver.js';
import { HostUnavailableError, ServerBuildError } from './errors.js';
import type { HostView } from './host-view.js';
import { RouterHomes } from './router-homes.js';
import { routerRequest } from './router-request.js';
import { serverPorts } from './server-ports.js';
import { portFirewalls } from './firewall.js';

const GIB = 1024 ** 3;
/** The root disk's snapshot a resize takes before it changes anything: a revert's way back (Nova's RBD driver's, too). */
const RESIZE_SNAPSHOT = 'resize';
/** A guest its host does not know has nothing to stop. */
const notFoundIsNothing = (error: unknown) => {
  if ((error as { code?: string }).code !== 'HOST_ERR_GUEST_NOT_FOUND') throw error;
};
/** How often a call in flight checks that its host is still live. */
const HOST_WATCH_MS = 1_000;

/**
 * The `qemu` driver: servers are QEMU guests on their host's host service (appliance/host),
 * reached over its API (mutual TLS with the node's certificate). The live hosts and what they offer come
 * from the inventories the host services publish in etcd, and the routers' homes from their
 * records there (`hosts`, kept current by the caller's watch).
 */
export class HostComputeDriver implements ComputeDriver {
  readonly name = 'qemu';
  readonly rootDisks = true;

  readonly #routers: RouterHomes;

  constructor(
    private readonly db: CloudDb,
    private readonly view: Pick<HostView, 'inventories' | 'routers'>,
    private readonly tls: NodeTls,
  ) {
    this.#routers = new RouterHomes(
      (id) => routerRequest(db, id),
      view,
      (host) => new HostClient(host.url, tls),
    );
  }

  hosts(): HostInfo[] {
    return [...this.view.inventories()]
      .sort((a, b) => a.node.localeCompare(b.node))
      .map((h) => ({
        hostname: h.node,
        hypervisorType: 'QEMU',
        hypervisorVersion: h.hypervisorVersion,
        hostIp: new URL(h.url).hostname,
        vcpus: h.vcpus,
        memoryMb: h.memoryMb,
        localGb: h.diskGb,
      }));
  }

  /**
   * The guest as its host should run it: its flavor's size (the server's copy of it), the
   * image's clone, the server's ports. With `diskKept` (a resize's: the disk exists on Ceph),
   * the image is not needed any more and may be gone; with `flatten` (an unshelve's), the disk is
   * a whole copy of the image, not a clone.
   */
  async request(
    server: Server,
    power: PowerRequest,
    options: { diskKept?: boolean; flatten?: boolean } = {},
  ): Promise<GuestRequest> {
    const flavor = server.flavor;
    const [image, ports, keypair] = await Promise.all([
      this.db.images.get(server.imageId),
      serverPorts(this.db, server),
      server.keyName ? this.db.keypairs.get(server.userId, server.keyName) : null,
    ]);
    let imageGb = 0;
    if (!options.diskKept) {
      if (!image || image.status !== 'active') throw new ServerBuildError(`Image ${server.imageId} is not active.`);
      if (image.diskFormat !== 'raw' && image.diskFormat !== 'qcow2') {
        throw new ServerBuildError(
          `Image ${image.id} cannot boot here: its disk format is ${image.diskFormat ?? 'unset'}; upload it as raw or qcow2 (qemu-img convert).`,
        );
      }
      if (image.virtualSize === null) {
        throw new ServerBuildError(
          `Image ${image.id} has no bootable copy: its ${image.diskFormat} data could not be read as ${image.diskFormat}.`,
        );
      }
      imageGb = Math.ceil(image.virtualSize / GIB);
      // Nova: a flavor disk of 0 means "the image's size"; one smaller than the image is refused.
      if (flavor.disk > 0 && flavor.disk * GIB < image.virtualSize) {
        throw new ServerBuildError(
          `Flavor's disk is too small for requested image. Flavor disk is ${flavor.disk * GIB} bytes, image is ${image.virtualSize} bytes.`,
        );
      }
    }
    const nics: NicRequest[] = [];
    const firewalls = await portFirewalls(this.db, ports);
    for (const port of ports) {
      const [address] = port.fixedIps;
      const [subnet, network] = await Promise.all([
        address ? this.db.networks.getSubnet(address.subnetId) : null,
        this.db.networks.get(port.networkId),
      ]);
      if (!address || !subnet || !network) throw new ServerBuildError(`Port ${port.id} has no address or network.`);
      nics.push({
        portId: port.id,
        networkId: port.networkId,
        segment:
          network.networkType === 'vxlan' && network.segmentationId !== null
            ? { type: 'vxlan', vni: network.segmentationId }
            : { type: 'flat' },
        mac: port.macAddress,
        ip: address.ipAddress,
        prefixLength: Number(subnet.cidr.split('/')[1]),
        gateway: subnet.gatewayIp,
        mtu: network.mtu,
        dns: subnet.dnsNameservers,
        tag: port.tag,
        firewall: firewalls.get(port.id) ?? { stateful: true, rules: [] },
      });
    }
    const metadata: GuestMetadata = {
      uuid: server.id,
      name: server.name,
      hostname: hostnameOf(server.name),
      availabilityZone: server.availabilityZone,
      projectId: server.projectId,
      launchIndex: server.launchIndex,
      publicKeys: keypair ? [{ name: keypair.name, data: keypair.publicKey }] : [],
      userData: server.userData,
      meta: server.metadata,
    };
    return {
      name: server.name,
      vcpus: flavor.vcpus,
      memoryMb: flavor.ram,
      image: { pool: IMAGES_POOL, name: server.imageId, ...(options.flatten ? { flatten: true } : {}) },
      diskGb: Math.max(flavor.disk, imageGb, 1),
      nics,
      rootDiskTag: server.rootDeviceTag,
      power,
      metadata,
    };
  }

  async spawn(server: Server, shelvedImage?: string): Promise<void> {
    const from = shelvedImage ? { ...server, imageId: shelvedImage } : server;
    const request = await this.request(from, 'running', { flatten: shelvedImage !== undefined });
    await this.#onHost(server, (host) => host.put(server.id, request));
  }

  async powerOff(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.setPower(server.id, 'shutoff'));
  }

  async powerOn(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.setPower(server.id, 'running'));
  }

  async pause(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.setPower(server.id, 'paused'));
  }

  async unpause(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.setPower(server.id, 'running'));
  }

  async suspend(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.setPower(server.id, 'suspended'));
  }

  async resume(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.setPower(server.id, 'running'));
  }

  /** A hard reboot of a guest its host does not know (its spawn failed early) makes it again, as Nova's does. */
  async reboot(server: Server, hard: boolean): Promise<void> {
    await this.#onHost(server, async (host) => {
      try {
        await host.reboot(server.id, hard ? 'hard' : 'soft');
      } catch (error) {
        if (!hard || (error as { code?: string }).code !== 'HOST_ERR_GUEST_NOT_FOUND') throw error;
        await host.put(server.id, await this.request(server, 'running'));
      }
    });
  }

  async crashDump(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.nmi(server.id));
  }

  /** Nova's rebuild on the same host: the guest, its disk and its taps go, and come back from the image. */
  async rebuild(server: Server, power: 'running' | 'shutoff'): Promise<void> {
    const request = await this.request(server, power);
    await this.#onHost(server, async (host) => {
      await host.destroy(server.id);
      await host.put(server.id, request);
    });
  }

  /**
   * Stopped on its host, its disk snapshotted ({@link RESIZE_SNAPSHOT}) and released to the new
   * host if it moves, then made there with its new flavor (its disk grown at its next start).
   * One that fails is put back as it was ({@link revertResize}'s way) before the error goes on.
   */
  async resize(server: Server, to: Server, power: 'running' | 'shutoff'): Promise<void> {
    const request = await this.request(to, power, { diskKept: true });
    try {
      await this.#onHost(server, async (host) => {
        await host.setPower(server.id, 'shutoff');
        await host.snapshotDisk(server.id, RESIZE_SNAPSHOT);
        if (to.host !== server.host) await host.release(server.id);
      });
      await this.#onHost(to, (host) => host.put(to.id, request));
    } catch (error) {
      await this.revertResize(to, server, power).catch(() => undefined);
      throw error;
    }
  }

  async confirmResize(server: Server): Promise<void> {
    await this.#onHost(server, (host) => host.removeDiskSnapshot(server.id, RESIZE_SNAPSHOT));
  }

  /**
   * Stopped where it is (and released there if it moves back), then made on its old host with
   * its old flavor, its disk rolled back to the resize's snapshot, and started if it ran.
   */
  async revertResize(server: Server, to: Server, power: 'running' | 'shutoff'): Promise<void> {
    const request = await this.request(to, 'shutoff', { diskKept: true });
    await this.#onHost(server, async (host) => {
      if (to.host !== server.host) await host.release(server.id);
      else await host.setPower(server.id, 'shutoff').catch(notFoundIsNothing);
    });
    await this.#onHost(to, async (host) => {
      await host.put(to.id, request);
      await host.rollbackDisk(to.id, RESIZE_SNAPSHOT);
      if (power === 'running') await host.setPower(to.id, 'running');
    });
  }

  async destroy(server: Server): Promise<void> {
    if (!server.host) return; // never placed: nothing runs anywhere
    await this.#onHost(server, (host) => host.destroy(server.id));
  }

  async consoleLog(server: Server, bytes: number): Promise<string> {
    return this.#onHost(server, (host) => host.consoleLog(server.id, bytes));
  }

  async password(server: Server): Promise<string> {
    if (!server.host) return ''; // never placed: no guest has run
    return this.#onHost(server, async (host) => (await host.get(server.id)).password ?? '');
  }

  async diagnostics(server: Server): Promise<GuestDiagnostics> {
    return this.#onHost(server, (host) => host.diagnostics(server.id));
  }

  /**
   * Each of the project's placed servers gets its ports' firewalls from its host (not one at a
   * time: a host that does not answer holds up only its own). A guest its host does not know
   * (its spawn has not got there yet) gets them with its request.
   */
  async applyFirewalls(projectId: string): Promise<void> {
    const servers: Server[] = [];
    for (let marker: string | undefined; ;) {
      const page = await this.db.servers.list({ projectId }, { limit: 1000, marker });
      servers.push(...page.filter((s) => s.host && s.state !== 'deleted'));
      if (page.length < 1000) break;
      marker = page.at(-1)?.id;
    }
    const failures: unknown[] = [];
    await Promise.all(
      servers.map(async (server) => {
        const ports = await serverPorts(this.db, server);
        const firewalls = Object.fromEntries(await portFirewalls(this.db, ports));
        await this.#onHost(server, (host) => host.setFirewalls(server.id, firewalls)).catch((error: unknown) => {
          if ((error as { code?: string }).code !== 'HOST_ERR_GUEST_NOT_FOUND') failures.push(error);
        });
      }),
    );
    if (failures.length > 0)
      throw new AggregateError(
        failures,
        `the firewalls of ${failures.length} servers of ${projectId} were not applied`,
      );
  }

  /** Carried out by {@link RouterHomes}: the router made on its home, and only there. */
  async applyRouter(routerId: string): Promise<void> {
    await this.#routers.apply(routerId);
  }

  /** Where the routers live (the network keeper moves them off fenced nodes). */
  get routerHomes(): RouterHomes {
    return this.#routers;
  }

  async clearPassword(server: Server): Promise<void> {
    if (!server.host) return;
    await this.#onHost(server, (host) => host.clearPassword(server.id));
  }

  /**
   * Runs `call` against the server's host service; ended with HostUnavailableError as soon as the
   * host's inventory goes (its node died: a powered-off host never answers, and would otherwise
   * hold a spawn for the whole call timeout).
   */
  async #onHost<T>(server: Server, call: (host: HostClient) => Promise<T>): Promise<T> {
    const live = () => this.view.inventories().find((h) => h.node === server.host);
    const inventory = live();
    if (!inventory) throw new HostUnavailableError(server.host);
    const gone = new AbortController();
    const watch = setInterval(() => {
      if (!live()) gone.abort(new HostUnavailableError(server.host));
    }, HOST_WATCH_MS);
    try {
      return await call(new HostClient(inventory.url, this.tls, undefined, gone.signal));
    } finally {
      clearInterval(watch);
    }
  }
}

/** Nova's hostname from a display name: lower case, letters, digits and dashes, 63 at most. */
export function hostnameOf(name: string): string {
  const host = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return host || 'server';
}
