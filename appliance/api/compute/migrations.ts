/**
 * Nova's migrations (`os-migrations`, the cloud admin's): every move of a server between hosts:
 * the evacuations from fenced hosts (appliance/compute/evacuation.ts), recorded as Nova records
 * one (`accepted`, then `done` or `error`), and the resizes and cold migrations
 * (server-resize.ts: `pre-migrating`, `migrating`, `finished`, then `confirmed` or `reverted`). Filters: `host`
 * (either end), `source_compute`, `status`, `instance_uuid`, `migration_type`; from 2.23 each
 * shows its type; from 2.59 its `uuid`, and the list is paged (`limit`, `marker`: a uuid) and
 * filtered by `changes-since`, refusing other query parameters; from 2.66 by `changes-before`;
 * from 2.80 it shows, and is filtered by, its user and project. A server's in-progress live
 * migrations (`/servers/{id}/migrations`, from 2.23) are none: rackseed live-migrates no server.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Migration, Server } from '../../db/index.js';
import { type ApiDeps, type AuthContext, authOf, novaMicroTime, queryString, requireCloudAdmin } from '../context.js';
import { badRequest, notFound } from '../faults.js';
import { atLeast } from './microversions.js';
import { nextLink, pageItems, pageOf, timeFilter } from './paging.js';

const time = (iso: string | null) => (iso === null ? null : novaMicroTime(iso));
/** Nova's flavor ids here are its numbers: rackseed's numeric flavor ids, null for another. */
const flavorNumber = (id: string) => (/^\d+$/.test(id) ? Number(id) : null);

function migrationView(request: FastifyRequest, m: Migration) {
  return {
    id: m.id,
    source_node: m.sourceHost,
    dest_node: m.destHost,
    source_compute: m.sourceHost,
    dest_compute: m.destHost,
    dest_host: m.destHost,
    status: m.status,
    instance_uuid: m.serverId,
    old_instance_type_id: flavorNumber(m.flavorId),
    new_instance_type_id: flavorNumber(m.newFlavorId),
    created_at: time(m.createdAt),
    updated_at: time(m.updatedAt),
    ...(atLeast(request, '2.23') ? { migration_type: m.migrationType } : {}),
    ...(atLeast(request, '2.59') ? { uuid: m.uuid } : {}),
    ...(atLeast(request, '2.80') ? { user_id: m.userId, project_id: m.projectId } : {}),
  };
}

export function registerMigrations(
  app: FastifyInstance,
  deps: ApiDeps,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  app.get('/os-migrations', async (request) => {
    requireCloudAdmin(authOf(request));
    const known = [
      ...['host', 'status', 'instance_uuid', 'migration_type', 'source_compute', 'hidden'],
      ...(atLeast(request, '2.59') ? ['limit', 'marker', 'changes-since'] : []),
      ...(atLeast(request, '2.66') ? ['changes-before'] : []),
      ...(atLeast(request, '2.80') ? ['user_id', 'project_id'] : []),
    ];
    const unknown = Object.keys(request.query as object).filter((k) => !known.includes(k));
    if (atLeast(request, '2.59') && unknown.length > 0) {
      throw badRequest(`Invalid input for query parameters: ${unknown.join(', ')} not allowed.`);
    }
    const q = (name: string) => (known.includes(name) ? queryString(request, name) : undefined);
    const since = atLeast(request, '2.59') ? timeFilter(request, 'changes-since') : undefined;
    const before = atLeast(request, '2.66') ? timeFilter(request, 'changes-before') : undefined;
    const changed = (m: Migration) => Date.parse(m.updatedAt ?? m.createdAt);
    const all = (await deps.db.migrations.list()).filter(
      (m) =>
        (q('host') === undefined || m.sourceHost === q('host') || m.destHost === q('host')) &&
        (q('source_compute') === undefined || m.sourceHost === q('source_compute')) &&
        (q('status') === undefined || m.status === q('status')) &&
        (q('instance_uuid') === undefined || m.serverId === q('instance_uuid')) &&
        (q('migration_type') === undefined || m.migrationType === q('migration_type')) &&
        (q('user_id') === undefined || m.userId === q('user_id')) &&
        (q('project_id') === undefined || m.projectId === q('project_id')) &&
        (since === undefined || changed(m) >= since) &&
        (before === undefined || changed(m) <= before),
    );
    if (!atLeast(request, '2.59')) return { migrations: all.map((m) => migrationView(request, m)) };
    const page = pageOf(request);
    const { shown, more } = pageItems(all, page, (m) => m.uuid);
    const last = shown.at(-1);
    return {
      migrations: shown.map((m) => migrationView(request, m)),
      ...(more && last ? { migrations_links: nextLink(deps, request, 'os-migrations', last.uuid, page.limit) } : {}),
    };
  });

  app.get('/servers/:id/migrations', async (request) => {
    if (!atLeast(request, '2.23')) throw notFound('The resource could not be found.');
    const auth = authOf(request);
    requireCloudAdmin(auth);
    await visibleServer(auth, (request.params as { id: string }).id);
    return { migrations: [] };
  });
  app.get('/servers/:id/migrations/:migration', async (request) => {
    if (!atLeast(request, '2.23')) throw notFound('The resource could not be found.');
    const auth = authOf(request);
    requireCloudAdmin(auth);
    const { id, migration } = request.params as { id: string; migration: string };
    await visibleServer(auth, id);
    throw notFound(`In-progress live migration ${migration} is not found for server ${id}.`);
  });
}
