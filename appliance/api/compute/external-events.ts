/**
 * Nova's `os-server-external-events` (the cloud admin's): the network and block storage
 * services tell Nova of a server's ports and volumes changing. Each event is answered on its
 * own: 200 when its server is live and placed on a host, 404 when there is no such server,
 * 422 when it has no host yet, 400 when an event that needs a tag (a port or volume id) has
 * none; the whole answer is 207 when one is not 200. rackseed's own network and volumes need
 * no event to act, so an accepted one changes nothing.
 */
import type { FastifyInstance } from 'fastify';
import { type ApiDeps, authOf, requireCloudAdmin } from '../context.js';
import { badRequest } from '../faults.js';
import { isObject, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';

/** Each event's name, and the microversion that brought it. */
const NAMES: Readonly<Record<string, string>> = {
  'network-changed': '2.1',
  'network-vif-plugged': '2.1',
  'network-vif-unplugged': '2.1',
  'network-vif-deleted': '2.1',
  'volume-extended': '2.51',
  'power-update': '2.76',
  'accelerator-request-bound': '2.82',
  'volume-reimaged': '2.93',
};
/** The events that name their port or volume in `tag`. */
const TAGGED = new Set(['network-vif-plugged', 'network-vif-unplugged', 'network-vif-deleted', 'volume-extended']);
const STATUSES = ['failed', 'completed', 'in-progress'];

export function registerServerExternalEvents(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/os-server-external-events', async (request, reply) => {
    requireCloudAdmin(authOf(request));
    const b = request.body;
    if (!isObject(b) || !Array.isArray(b.events) || b.events.length === 0) {
      throw badRequest("Invalid input: 'events' is a required, non-empty list");
    }
    rejectUnknown(b, ['events'], 'the request body');
    const events = b.events.map((e: unknown) => {
      if (!isObject(e)) throw badRequest('Invalid input for field/attribute events: an event is an object');
      rejectUnknown(e, ['name', 'server_uuid', 'status', 'tag'], 'an event');
      const since = typeof e.name === 'string' ? NAMES[e.name] : undefined;
      if (since === undefined || !atLeast(request, since)) throw badRequest(`Invalid input for field/attribute name.`);
      if (typeof e.server_uuid !== 'string') throw badRequest('Invalid input for field/attribute server_uuid.');
      if (e.status !== undefined && !STATUSES.includes(e.status as string)) {
        throw badRequest('Invalid input for field/attribute status.');
      }
      if (e.tag !== undefined && (typeof e.tag !== 'string' || e.tag.length > 255)) {
        throw badRequest('Invalid input for field/attribute tag.');
      }
      return { ...e, name: e.name as string, server_uuid: e.server_uuid, tag: e.tag as string | undefined };
    });
    let status = 200;
    const answered = [];
    for (const event of events) {
      const server = await deps.db.servers.get(event.server_uuid);
      const code = !server ? 404 : TAGGED.has(event.name) && event.tag === undefined ? 400 : server.host ? 200 : 422;
      if (code !== 200) status = 207;
      answered.push({ ...event, status: code === 200 ? 'completed' : 'failed', code });
    }
    return reply.code(status).send({ events: answered });
  });
}
