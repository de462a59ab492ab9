/**
 * Nova's server locks (the `lock` and `unlock` actions, at 2.1). A locked server refuses what
 * would change it (stop, start, reboot, rebuild, delete, its metadata) with 409, unless the
 * caller administers its project; a snapshot, a rename and the console log stay allowed, as in
 * Nova. A lock records who took it: its own project (`owner`), or an admin from another
 * (`admin`), which only an admin may lift. From 2.73 the lock may say why (`locked_reason`),
 * which servers show, and the server list filters by `locked`.
 */
import type { FastifyRequest } from 'fastify';
import type { Server } from '../../db/index.js';
import { type ApiDeps, administers, type AuthContext } from '../context.js';
import { badRequest, conflict, forbidden } from '../faults.js';
import { isObject, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';

/** Throws Nova's 409 if `server` is locked and the caller may not act on it anyway. */
export function refuseIfLocked(auth: AuthContext, server: Server): void {
  if (server.lockedBy !== null && !administers(auth, server.projectId))
    throw conflict(`Instance ${server.id} is locked`);
}

/** The `lock` action: locked by its project, or by an admin from another one; from 2.73 with a reason. */
export async function lockServer(
  deps: ApiDeps,
  request: FastifyRequest,
  auth: AuthContext,
  server: Server,
  args: unknown,
): Promise<void> {
  let reason: string | null = null;
  // Before 2.73 Nova reads nothing of the action's body.
  if (atLeast(request, '2.73') && args !== null && args !== undefined) {
    if (!isObject(args)) throw badRequest('Invalid input for field/attribute lock.');
    rejectUnknown(args, ['locked_reason'], "'lock'");
    if (args.locked_reason !== undefined) {
      if (typeof args.locked_reason !== 'string' || args.locked_reason.length > 255) {
        throw badRequest('Invalid input for field/attribute locked_reason: at most 255 characters.');
      }
      reason = args.locked_reason;
    }
  }
  await deps.db.servers.update(server.id, {
    lockedBy: auth.project?.id === server.projectId ? 'owner' : 'admin',
    lockedReason: reason,
  });
}

/** The `unlock` action: an admin's lock only by an admin (Nova's `unlock_override`). */
export async function unlockServer(deps: ApiDeps, auth: AuthContext, server: Server): Promise<void> {
  if (server.lockedBy === 'admin' && !administers(auth, server.projectId))
    throw forbidden("Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.");
  await deps.db.servers.update(server.id, { lockedBy: null, lockedReason: null });
}
