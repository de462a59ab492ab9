/**
 * A router as its home node should make it (appliance/host's `RouterRequest`), read from the
 * database: its gateway leg on its external network (the gateway port's address, the external
 * subnet's gateway as the way out, SNAT as `enable_snat` says), a leg per interface port (the
 * router's address on each project subnet), the floating IPs bound through it (only with a
 * gateway: without one, nothing reaches them), and its extra routes.
 */
import type { CloudDb, Network, Port } from '../db/index.js';
import type { NetworkSegment, RouterRequest } from '../host/index.js';

/** A network's segment, as a NIC's is built (host-driver.ts). */
const segmentOf = (network: Network): NetworkSegment =>
  network.networkType === 'vxlan' && network.segmentationId !== null
    ? { type: 'vxlan', vni: network.segmentationId }
    : { type: 'flat' };

/** A port's first address on its network: the address, its subnet's prefix and gateway, and the network. */
async function legOf(db: CloudDb, port: Port) {
  const [address] = port.fixedIps;
  const [subnet, network] = await Promise.all([
    address ? db.networks.getSubnet(address.subnetId) : null,
    db.networks.get(port.networkId),
  ]);
  if (!address || !subnet || !network) return null;
  return {
    portId: port.id,
    networkId: network.id,
    segment: segmentOf(network),
    mac: port.macAddress,
    ip: address.ipAddress,
    prefixLength: Number(subnet.cidr.split('/')[1]),
    mtu: network.mtu,
    gatewayIp: subnet.gatewayIp,
  };
}

/** The router `routerId` as its home should make it; null when the database no longer has it. */
export async function routerRequest(db: CloudDb, routerId: string): Promise<RouterRequest | null> {
  const router = await db.routers.get(routerId);
  if (!router) return null;
  const gatewayPort = router.gatewayPortId ? await db.networks.getPort(router.gatewayPortId) : null;
  const gatewayLeg = gatewayPort ? await legOf(db, gatewayPort) : null;
  const interfaces = [];
  for (const id of router.interfacePortIds) {
    const port = await db.networks.getPort(id);
    const leg = port ? await legOf(db, port) : null;
    if (leg) {
      const { gatewayIp: _gatewayIp, ...rest } = leg;
      interfaces.push(rest);
    }
  }
  const floatingIps = gatewayLeg
    ? (await db.routers.floatingIps({ routerId })).flatMap((f) =>
        f.fixedIpAddress === null ? [] : [{ id: f.id, floatingIp: f.floatingIpAddress, fixedIp: f.fixedIpAddress }],
      )
    : [];
  return {
    name: router.name,
    gateway: gatewayLeg
      ? {
          portId: gatewayLeg.portId,
          networkId: gatewayLeg.networkId,
          segment: gatewayLeg.segment,
          mac: gatewayLeg.mac,
          ip: gatewayLeg.ip,
          prefixLength: gatewayLeg.prefixLength,
          gateway: gatewayLeg.gatewayIp,
          mtu: gatewayLeg.mtu,
          snat: router.enableSnat,
        }
      : null,
    interfaces,
    floatingIps,
    routes: router.routes.map((r) => ({ destination: r.destination, nexthop: r.nexthop })),
  };
}
