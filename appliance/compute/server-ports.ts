/**
 * A server's ports: those its record names (`addresses`, written when it was made), in its NICs'
 * order, that are still bound to it. A port's `device_id` alone makes no NIC: anyone may set it
 * on a port of theirs through Neutron's API, and a port naming a server it was not made with
 * must never be plugged into that server's guest, nor be shown among its interfaces.
 */
import type { CloudDb, Port, Server } from '../db/index.js';

export async function serverPorts(db: CloudDb, server: Pick<Server, 'id' | 'addresses'>): Promise<Port[]> {
  const order = new Map(server.addresses.map((a, i) => [a.portId, i]));
  const bound = await db.networks.ports({ deviceId: server.id });
  return bound.filter((p) => order.has(p.id)).sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}
