import { describe, expect, it } from 'vitest';
import { metadataAnswer } from '../../appliance/host/network/index.js';
import { qemuArgs, taggedDevices } from '../../appliance/host/qemu/index.js';
import type { GuestRequest, NicRequest } from '../../appliance/host/types.js';

// Nova's device tags (2.32): a guest's tagged root disk and NICs, named in its metadata by the
// PCI address QEMU gives them.
describe('device tags in the guest', () => {
  const nic = (i: number, tag: string | null): NicRequest => ({
    portId: `c4ae1109-6000-4000-8000-00000000000${i}`,
    networkId: 'n1',
    mac: `fa:16:3e:00:00:0${i}`,
    ip: `10.16.0.${10 + i}`,
    prefixLength: 16,
    gateway: '10.16.0.1',
    mtu: 1500,
    dns: [],
    tag,
    firewall: { stateful: true, rules: [] },
  });
  const request: GuestRequest = {
    name: 'tagged',
    vcpus: 1,
    memoryMb: 256,
    image: { pool: 'images', name: 'i' },
    diskGb: 1,
    nics: [nic(1, 'frontend'), nic(2, null), nic(3, 'backend')],
    rootDiskTag: 'boot',
    power: 'running',
    metadata: {
      uuid: 'c4ae1109-6000-4000-8000-0000000000aa',
      name: 'tagged',
      hostname: 'tagged',
      availabilityZone: 'nova',
      projectId: 'p1',
      launchIndex: 0,
      publicKeys: [],
      userData: null,
      meta: {},
    },
  };

  it('puts the root disk in PCI slot 2 and the NICs from slot 3, in order, as QEMU did unasked', () => {
    const args = qemuArgs(
      request.metadata.uuid,
      request,
      { kind: 'file', path: '/tmp/disk' },
      request.nics.map((n, i) => ({ mac: n.mac, tap: `tap${i}` })),
      '/tmp/run',
      { accel: 'tcg', ceph: { conf: '/etc/ceph/ceph.conf', user: 'admin' } },
    );
    const devices = args.filter((_, i) => args[i - 1] === '-device');
    expect(devices.find((d) => d.startsWith('virtio-blk-pci'))).toMatch(/,addr=0x2$/);
    expect(devices.filter((d) => d.startsWith('virtio-net-pci')).map((d) => /addr=(0x\w+)$/.exec(d)?.[1])).toEqual([
      '0x3',
      '0x4',
      '0x5',
    ]);
  });

  it('lists only the tagged devices, with their addresses, in meta_data.json', () => {
    const devices = taggedDevices(request);
    expect(devices).toEqual([
      { type: 'disk', bus: 'pci', address: '0000:00:02.0', serial: 'root', path: '/dev/vda', tags: ['boot'] },
      { type: 'nic', bus: 'pci', address: '0000:00:03.0', mac: 'fa:16:3e:00:00:01', tags: ['frontend'] },
      { type: 'nic', bus: 'pci', address: '0000:00:05.0', mac: 'fa:16:3e:00:00:03', tags: ['backend'] },
    ]);
    const port = { ...request.nics[0], portId: 'p', networkId: 'n1', ip: '10.16.0.11' } as NicRequest;
    const answer = metadataAnswer('GET', '/openstack/latest/meta_data.json', '', request.metadata, [port], '', devices);
    expect(JSON.parse(answer.body).devices).toEqual(devices);
    const untagged = { ...request, rootDiskTag: null, nics: [nic(1, null)] };
    expect(taggedDevices(untagged)).toEqual([]);
    // A guest recorded before tags existed has none.
    const { tag: _gone, ...old } = nic(1, null);
    expect(taggedDevices({ ...request, rootDiskTag: undefined, nics: [old] })).toEqual([]);
  });
});
