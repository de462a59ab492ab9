import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { isRackseedError, type NodeTls } from '../../agent/index.js';
import { HostGuestNotFoundError, HostRequestError, HostRouterNotFoundError } from './errors.js';
import { checkPower } from './request-checks.js';
import type { HostService } from './service.js';
import type { GuestRequest, PortFirewall, RouterRequest } from './types.js';

/** The largest console tail one call returns (Nova's console log API takes a line count; we bound bytes). */
const CONSOLE_MAX_BYTES = 1024 * 1024;
/** What the request asked that cannot be: the caller's fault (400), not the host's. */
const REFUSED = new Set([
  'HOST_ERR_IMAGE_NOT_BOOTABLE',
  'HOST_ERR_NO_TUNNEL',
  'RBD_ERR_TOO_SMALL',
  'RBD_ERR_NOT_FOUND',
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A disk snapshot's name (the compute service's, such as `resize`). */
const SNAPSHOT = /^[a-z0-9-]{1,32}$/;

/**
 * The host service's HTTP API (v1), one resource per thing a guest has, as Firecracker's, and
 * the routers homed on the node:
 *
 * | call | does |
 * |---|---|
 * | `GET /v1/inventory` | what this host offers ({@link HostInventory}) |
 * | `GET /v1/guests` | every guest's record |
 * | `PUT /v1/guests/{id}` | makes the guest as the body ({@link GuestRequest}) asks: disk, ports, power |
 * | `GET /v1/guests/{id}` | its record ({@link GuestState}) |
 * | `PUT /v1/guests/{id}/power` | `{"power":"running"\|"paused"\|"suspended"\|"shutoff"}` |
 * | `POST /v1/guests/{id}/reboot` | `{"kind":"soft"\|"hard"}` |
 * | `POST /v1/guests/{id}/nmi` | a non-maskable interrupt to a running guest (a crash dump) |
 * | `GET /v1/guests/{id}/console?bytes=N` | the tail of its serial console, text |
 * | `GET /v1/guests/{id}/diagnostics` | what it uses and its ports' traffic (`GuestDiagnostics`) |
 * | `PUT /v1/guests/{id}/firewall` | `{"ports":{PORT_ID: PortFirewall}}`: those ports' security groups' rules, kept and applied |
 * | `DELETE /v1/guests/{id}/password` | forgets what the guest posted to the metadata service's password path (204) |
 * | `DELETE /v1/guests/{id}` | stops it and removes its disk and ports (204, also when unknown) |
 * | `POST /v1/guests/{id}/release` | stops it and removes its ports and record, its disk and kept state left for another host (204, also when unknown) |
 * | `PUT /v1/guests/{id}/disk/snapshots/{name}` | a snapshot of its stopped root disk (a resize's way back) |
 * | `POST /v1/guests/{id}/disk/snapshots/{name}/rollback` | its stopped root disk back to the snapshot, which goes |
 * | `DELETE /v1/guests/{id}/disk/snapshots/{name}` | removes the snapshot (also when there is none) |
 * | `GET /v1/routers` | `{"routers":[RouterState]}`: every router homed here |
 * | `PUT /v1/routers/{id}` | makes the router as the body ({@link RouterRequest}) asks: legs, routes, NAT, floating IPs (its whole state) |
 * | `GET /v1/routers/{id}` | its record ({@link RouterState}) |
 * | `DELETE /v1/routers/{id}` | removes its namespace and legs, and the networks left with no port (204, also when unknown) |
 *
 * Every call but reboot and nmi is idempotent. It is served over mutual TLS: only a caller with a
 * certificate from the cluster CA (another node's compute service) completes the handshake.
 * Errors are `{"error":{"code","message","retryable"}}` with 400, 404, 500 or 507 (the disks'
 * pool is full).
 */
export function hostApi(service: HostService, tls: NodeTls): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024, https: tls.serverOptions() });
  tls.serve(app.server as TlsServer);
  app.setErrorHandler((error, _request, reply) => {
    const code0 = isRackseedError(error) ? error.code : '';
    const status =
      error instanceof HostGuestNotFoundError || error instanceof HostRouterNotFoundError
        ? 404
        : error instanceof HostRequestError || REFUSED.has(code0) || (error as { validation?: unknown }).validation
          ? 400
          : code0 === 'RBD_ERR_POOL_FULL'
            ? 507
            : 500;
    const code = isRackseedError(error) ? error.code : status === 400 ? 'HOST_ERR_BAD_REQUEST' : 'HOST_ERR_INTERNAL';
    const retryable = isRackseedError(error) ? error.retryable : false;
    void reply.status(status).send({ error: { code, message: (error as Error).message, retryable } });
  });
  const idOf = (what: string) => (params: unknown) => {
    const id = (params as { id: string }).id;
    if (!UUID.test(id)) throw new HostRequestError(`${id} is not a ${what} id (a lower-case UUID)`);
    return id;
  };
  const guestId = idOf('guest');
  const routerId = idOf('router');
  const body = <T>(value: unknown): T => {
    if (typeof value !== 'object' || value === null) throw new HostRequestError('the body must be a JSON object');
    return value as T;
  };

  app.get('/v1/inventory', async () => service.inventory);
  app.get('/v1/guests', async () => ({ guests: service.list() }));
  app.put('/v1/guests/:id', async (request) => service.put(guestId(request.params), body<GuestRequest>(request.body)));
  app.get('/v1/guests/:id', async (request) => service.get(guestId(request.params)));
  app.put('/v1/guests/:id/power', async (request) => {
    const { power } = body<{ power: unknown }>(request.body);
    checkPower(power);
    return service.setPower(guestId(request.params), power);
  });
  app.post('/v1/guests/:id/reboot', async (request) => {
    const { kind } = body<{ kind: unknown }>(request.body);
    if (kind !== 'soft' && kind !== 'hard') throw new HostRequestError("kind must be 'soft' or 'hard'");
    return service.reboot(guestId(request.params), kind);
  });
  app.post('/v1/guests/:id/nmi', async (request) => service.nmi(guestId(request.params)));
  app.get('/v1/guests/:id/console', async (request, reply) => {
    const bytes = Number((request.query as { bytes?: string }).bytes ?? 64 * 1024);
    if (!Number.isInteger(bytes) || bytes < 1) throw new HostRequestError('bytes must be a positive integer');
    const text = await service.consoleLog(guestId(request.params), Math.min(bytes, CONSOLE_MAX_BYTES));
    return reply.type('text/plain; charset=utf-8').send(text);
  });
  app.get('/v1/guests/:id/diagnostics', async (request) => service.diagnostics(guestId(request.params)));
  app.put('/v1/guests/:id/firewall', async (request) => {
    const { ports } = body<{ ports: unknown }>(request.body);
    if (typeof ports !== 'object' || ports === null || Array.isArray(ports))
      throw new HostRequestError('ports must be an object of port id → firewall');
    return service.setFirewalls(guestId(request.params), ports as Record<string, PortFirewall>);
  });
  app.delete('/v1/guests/:id/password', async (request, reply) => {
    await service.setPassword(guestId(request.params), '');
    return reply.status(204).send();
  });
  app.delete('/v1/guests/:id', async (request, reply) => {
    await service.destroy(guestId(request.params));
    return reply.status(204).send();
  });
  app.post('/v1/guests/:id/release', async (request, reply) => {
    await service.release(guestId(request.params));
    return reply.status(204).send();
  });
  const snapshotName = (params: unknown) => {
    const { snapshot } = params as { snapshot: string };
    if (!SNAPSHOT.test(snapshot))
      throw new HostRequestError(`${snapshot} is not a snapshot name (1 to 32 lower-case letters, digits and dashes)`);
    return snapshot;
  };
  app.put('/v1/guests/:id/disk/snapshots/:snapshot', async (request) =>
    service.snapshotDisk(guestId(request.params), snapshotName(request.params)),
  );
  app.post('/v1/guests/:id/disk/snapshots/:snapshot/rollback', async (request) =>
    service.rollbackDisk(guestId(request.params), snapshotName(request.params)),
  );
  app.delete('/v1/guests/:id/disk/snapshots/:snapshot', async (request) =>
    service.removeDiskSnapshot(guestId(request.params), snapshotName(request.params)),
  );
  app.get('/v1/routers', async () => ({ routers: service.routers.list() }));
  app.put('/v1/routers/:id', async (request) =>
    service.routers.put(routerId(request.params), body<RouterRequest>(request.body)),
  );
  app.get('/v1/routers/:id', async (request) => service.routers.get(routerId(request.params)));
  app.delete('/v1/routers/:id', async (request, reply) => {
    await service.routers.delete(routerId(request.params));
    return reply.status(204).send();
  });
  return app;
}
