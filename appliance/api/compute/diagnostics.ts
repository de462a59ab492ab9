/**
 * Nova's server diagnostics (`GET /servers/{id}/diagnostics`, the cloud admin's): what the
 * server's guest uses, read from its host service (QMP and the kernel: vCPU time, memory, disk
 * I/O, each port's traffic). Before 2.48 in the shape of Nova's libvirt driver (`cpu0_time`,
 * `memory`, `vda_read`, `tapXXX_rx`…); from 2.48 Nova's standard one. Its `driver` is
 * `libvirt`: Nova's API names a driver family from a closed list, and a QEMU/KVM host is that
 * family's (rackseed's host service runs QEMU itself; `hypervisor` says `qemu` or `kvm`). A
 * server never placed is not ready (409, as Nova's); a host that does not answer is a 409 too.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from '../../db/index.js';
import { type GuestDiagnostics, tapName } from '../../host/index.js';
import { type ApiDeps, type AuthContext, authOf, requireCloudAdmin } from '../context.js';
import { conflict } from '../faults.js';
import { atLeast } from './microversions.js';
import { statusOf } from './views.js';

/** Nova's power states as its diagnostics name them (nova/objects/fields.py PowerState). */
const POWER_NAMES: Record<number, string> = {
  0: 'pending',
  1: 'running',
  3: 'paused',
  4: 'shutdown',
  6: 'crashed',
  7: 'suspended',
};

/** The guest's disks as it names them: vda, vdb… */
const diskName = (index: number) => `vd${String.fromCharCode(97 + index)}`;

/** Nova's libvirt driver's diagnostics (before 2.48): a flat map of counters. */
function libvirtView(server: Server, d: GuestDiagnostics): Record<string, number> {
  const view: Record<string, number> = {};
  for (const cpu of d.usage?.cpus ?? []) view[`cpu${cpu.id}_time`] = cpu.timeNs;
  if (d.usage) {
    view.memory = d.usage.memory.maximumMb * 1024;
    view['memory-actual'] = d.usage.memory.maximumMb * 1024;
    view['memory-rss'] = d.usage.memory.usedMb * 1024;
  }
  d.usage?.disks.forEach((disk, i) => {
    const name = diskName(i);
    Object.assign(view, {
      [`${name}_read`]: disk.readBytes,
      [`${name}_read_req`]: disk.readRequests,
      [`${name}_write`]: disk.writeBytes,
      [`${name}_write_req`]: disk.writeRequests,
      [`${name}_errors`]: disk.errors,
    });
  });
  for (const nic of d.nics) {
    const port = server.addresses.find((a) => a.mac === nic.mac)?.portId;
    const tap = port ? tapName(port) : nic.mac;
    Object.assign(view, {
      [`${tap}_rx`]: nic.rxOctets,
      [`${tap}_rx_drop`]: nic.rxDrop,
      [`${tap}_rx_errors`]: nic.rxErrors,
      [`${tap}_rx_packets`]: nic.rxPackets,
      [`${tap}_tx`]: nic.txOctets,
      [`${tap}_tx_drop`]: nic.txDrop,
      [`${tap}_tx_errors`]: nic.txErrors,
      [`${tap}_tx_packets`]: nic.txPackets,
    });
  }
  return view;
}

/** Nova's standard diagnostics (2.48). */
function standardView(server: Server, d: GuestDiagnostics) {
  const usage = d.usage;
  return {
    state: POWER_NAMES[statusOf(server).view.powerState] ?? 'pending',
    driver: 'libvirt',
    hypervisor: d.accel === 'kvm' ? 'kvm' : 'qemu',
    hypervisor_os: 'linux',
    uptime: usage?.uptimeSeconds ?? null,
    config_drive: false,
    num_cpus: usage?.cpus.length ?? server.flavor.vcpus,
    num_disks: usage?.disks.length ?? 1,
    num_nics: d.nics.length,
    memory_details: { maximum: usage?.memory.maximumMb ?? server.flavor.ram, used: usage?.memory.usedMb ?? null },
    cpu_details: (usage?.cpus ?? []).map((c) => ({ id: c.id, time: c.timeNs, utilisation: null })),
    nic_details: d.nics.map((n) => ({
      mac_address: n.mac,
      rx_octets: n.rxOctets,
      rx_errors: n.rxErrors,
      rx_drop: n.rxDrop,
      rx_packets: n.rxPackets,
      rx_rate: null,
      tx_octets: n.txOctets,
      tx_errors: n.txErrors,
      tx_drop: n.txDrop,
      tx_packets: n.txPackets,
      tx_rate: null,
    })),
    disk_details: (usage?.disks ?? []).map((disk) => ({
      read_bytes: disk.readBytes,
      read_requests: disk.readRequests,
      write_bytes: disk.writeBytes,
      write_requests: disk.writeRequests,
      errors_count: disk.errors,
    })),
  };
}

export function registerDiagnostics(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  app.get('/servers/:id/diagnostics', async (request) => {
    const auth = authOf(request);
    requireCloudAdmin(auth);
    const server = await visibleServer(auth, (request.params as { id: string }).id);
    if (!server.host) throw conflict(`Instance ${server.id} is not ready`);
    const diagnostics = await deps.servers.driver.diagnostics(server);
    return atLeast(request, '2.48') ? standardView(server, diagnostics) : libvirtView(server, diagnostics);
  });
}
