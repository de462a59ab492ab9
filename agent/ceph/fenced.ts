import { type CephOsdRecord, keys } from '../keys.js';
import { parseJson, type Store } from '../store/store.js';
import type { LocalCeph } from './node.js';

/**
 * Marks the OSD of a node down the moment the fencer has its BMC's word that the node is off.
 * Until the monitors mark it down, every operation on a placement group whose primary it was
 * waits: the new DB master's fence and open among them. Its peers' heartbeats would take
 * `osd_heartbeat_grace` (20 s), the Ceph keeper its next step (and the keeper may have died
 * with the node). `definitely_dead` lets peering skip the OSD at once, which is only safe
 * because the node is powered off. Resolves the ids marked (none when the node made no OSD or
 * this node has no Ceph conf yet).
 */
export async function markPoweredOffOsdsDown(store: Store, ceph: LocalCeph, node: string): Promise<number[]> {
  const entry = await store.get(keys.cephOsd(node));
  if (!entry || !ceph.ready) return [];
  const { id } = parseJson<CephOsdRecord>(entry);
  await ceph.command({ prefix: 'osd down', ids: [String(id)], definitely_dead: true });
  return [id];
}
