/**
 * Nova's instance actions (`os-instance-actions`): what was asked of a server, by whom and
 * when, and (for the cloud admin) the event that carried it out with its result. From
 * microversion 2.21 a deleted server's actions are read too.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { InstanceAction, Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf } from '../context.js';
import { notFound } from '../faults.js';
import { atLeast } from './microversions.js';

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

/** Nova's timestamps here: microseconds, no zone. */
const time = (iso: string) => iso.replace(/Z$/, '').replace(/(\.\d{3})$/, '$1000');

function actionView(a: InstanceAction) {
  return {
    action: a.action,
    instance_uuid: a.serverId,
    message: a.message,
    project_id: a.projectId,
    request_id: a.requestId,
    start_time: time(a.startTime),
    user_id: a.userId,
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

  app.get('/servers/:id/os-instance-actions', async (request) => {
    const { id } = request.params as { id: string };
    const server = await serverOf(request, authOf(request), id);
    return { instanceActions: (await deps.db.actions.list(server.id)).map(actionView) };
  });

  app.get('/servers/:id/os-instance-actions/:requestId', async (request) => {
    const { id, requestId } = request.params as { id: string; requestId: string };
    const auth = authOf(request);
    const server = await serverOf(request, auth, id);
    const action = await deps.db.actions.get(server.id, requestId);
    if (!action) throw notFound(`Action ${requestId} on instance ${server.id} could not be found.`);
    // The events are the cloud admin's to see (Nova's default policy before 2.51).
    if (!auth.isCloudAdmin) return { instanceAction: actionView(action) };
    const event = {
      event: EVENT_OF_ACTION[action.action] ?? `compute_${action.action}`,
      start_time: time(action.startTime),
      finish_time: action.finishTime ? time(action.finishTime) : null,
      result: action.result,
      traceback: null,
    };
    return { instanceAction: { ...actionView(action), events: [event] } };
  });
}
