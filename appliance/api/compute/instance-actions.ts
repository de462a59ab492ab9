/**
 * Nova's instance actions (`os-instance-actions`): what was asked of a server, by whom and
 * when, and the event that carried it out with its result (the cloud admin's to see before
 * microversion 2.51; from it anyone's, but for its traceback). From 2.21 a deleted server's
 * actions are read too; from 2.58 they show when they last changed, and are paged; from 2.62 an
 * event shows its host, hashed (the cloud admin sees its name).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { InstanceAction, Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, novaMicroTime } from '../context.js';
import { notFound } from '../faults.js';
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf, timeFilter } from './paging.js';
import { hostIdOf } from './views.js';

/** The compute manager method Nova names each action's event after. */
const EVENT_OF_ACTION: Record<string, string> = {
  create: 'compute__do_build_and_run_instance',
  delete: 'compute_terminate_instance',
  stop: 'compute_stop_instance',
  start: 'compute_start_instance',
  reboot: 'compute_reboot_instance',
  rebuild: 'compute_rebuild_instance',
  evacuate: 'compute_rebuild_instance',
  createImage: 'compute_snapshot_instance',
  trigger_crash_dump: 'compute_trigger_crash_dump',
};

/** When an action last changed: when it finished, else when it started. */
const updatedAt = (a: InstanceAction) => a.finishTime ?? a.startTime;

function actionView(request: FastifyRequest, a: InstanceAction) {
  return {
    action: a.action,
    instance_uuid: a.serverId,
    message: a.message,
    project_id: a.projectId,
    request_id: a.requestId,
    start_time: novaMicroTime(a.startTime),
    user_id: a.userId,
    ...(atLeast(request, '2.58') ? { updated_at: novaMicroTime(updatedAt(a)) } : {}),
  };
}

export function registerInstanceActions(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  /** The server whose actions are asked for: a live one the caller sees, or from 2.21 a deleted one of its project. */
  const serverOf = async (request: FastifyRequest, auth: AuthContext, id: string): Promise<Server> => {
    if (!atLeast(request, '2.21')) return visibleServer(auth, id);
    const server = await deps.db.servers.get(id, { deleted: true });
    if (!server || (!auth.isCloudAdmin && server.projectId !== auth.project?.id))
      throw notFound(`Instance ${id} could not be found.`);
    return server;
  };

  // From 2.58 the list is paged (`limit`, `marker`: a request id) and filtered by `changes-since`,
  // from 2.66 by `changes-before`.
  app.get('/servers/:id/os-instance-actions', async (request) => {
    const { id } = request.params as { id: string };
    const server = await serverOf(request, authOf(request), id);
    const all = await deps.db.actions.list(server.id);
    if (!atLeast(request, '2.58')) return { instanceActions: all.map((a) => actionView(request, a)) };
    const since = timeFilter(request, 'changes-since');
    const before = atLeast(request, '2.66') ? timeFilter(request, 'changes-before') : undefined;
    const recent = all.filter(
      (a) =>
        (since === undefined || Date.parse(updatedAt(a)) >= since) &&
        (before === undefined || Date.parse(updatedAt(a)) <= before),
    );
    const page = pageOf(request);
    const { shown, more } = pageItems(recent, page, (a) => a.requestId);
    const last = shown.at(-1);
    return {
      instanceActions: shown.map((a) => actionView(request, a)),
      ...(more && last
        ? { links: nextLink(deps, request, `servers/${server.id}/os-instance-actions`, last.requestId, page.limit) }
        : {}),
    };
  });

  app.get('/servers/:id/os-instance-actions/:requestId', async (request) => {
    const { id, requestId } = request.params as { id: string; requestId: string };
    const auth = authOf(request);
    const server = await serverOf(request, auth, id);
    const action = await deps.db.actions.get(server.id, requestId);
    if (!action) throw notFound(`Action ${requestId} on instance ${server.id} could not be found.`);
    // The events are the cloud admin's to see before 2.51; from 2.51 everyone's, but for their
    // traceback (Nova's default policy).
    if (!auth.isCloudAdmin && !atLeast(request, '2.51')) return { instanceAction: actionView(request, action) };
    // From 2.62 where it ran: the host the server is on (the cloud admin's to see), hashed for anyone.
    const where = atLeast(request, '2.62')
      ? {
          hostId: server.host ? hostIdOf(server.projectId, server.host) : '',
          ...(auth.isCloudAdmin ? { host: server.host } : {}),
        }
      : {};
    const event = {
      event: EVENT_OF_ACTION[action.action] ?? `compute_${action.action}`,
      start_time: novaMicroTime(action.startTime),
      finish_time: action.finishTime ? novaMicroTime(action.finishTime) : null,
      result: action.result,
      ...(auth.isCloudAdmin ? { traceback: null } : {}),
      ...where,
    };
    return { instanceAction: { ...actionView(request, action), events: [event] } };
  });
}
