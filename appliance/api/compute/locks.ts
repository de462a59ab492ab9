/**
 * Nova's server locks (the `lock` and `unlock` actions, at 2.1). A locked server refuses what
 * would change it (stop, start, reboot, rebuild, delete, its metadata) with 409, unless the
 * caller administers its project; a snapshot, a rename and the console log stay allowed, as in
 * Nova. A lock records who took it: its own project (`owner`), or an admin from another
 * (`admin`), which only an admin may lift.
 */
import type { Server } from '../../db/index.js';
import { type ApiDeps, administers, type AuthContext } from '../context.js';
import { conflict, forbidden } from '../faults.js';

/** Throws Nova's 409 if `server` is locked and the caller may not act on it anyway. */
export function refuseIfLocked(auth: AuthContext, server: Server): void {
  if (server.lockedBy !== null && !administers(auth, server.projectId))
    throw conflict(`Instance ${server.id} is locked`);
}

/** The `lock` action: locked by its project, or by an admin from another one. */
export async function lockServer(deps: ApiDeps, auth: AuthContext, server: Server): Promise<void> {
  await deps.db.servers.update(server.id, { lockedBy: auth.project?.id === server.projectId ? 'owner' : 'admin' });
}

/** The `unlock` action: an admin's lock only by an admin (Nova's `unlock_override`). */
export async function unlockServer(deps: ApiDeps, auth: AuthContext, server: Server): Promise<void> {
  if (server.lockedBy === 'admin' && !administers(auth, server.projectId))
    throw forbidden("Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.");
  await deps.db.servers.update(server.id, { lockedBy: null });
}
