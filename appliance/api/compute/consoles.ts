/**
 * Nova's remote consoles: `POST /servers/{id}/remote-consoles` (microversion 2.6, `mks` from
 * 2.8) and the older server actions (`os-getVNCConsole`, `os-getSPICEConsole`,
 * `os-getRDPConsole`, `os-getSerialConsole`). rackseed runs no console proxy: a guest's serial
 * console is read through `os-getConsoleOutput`, and every interactive console type is
 * unavailable, which Nova answers with 400 "Unavailable console type" when a deployment has
 * not enabled it. Requests are still checked as Nova checks them (the protocol and its types,
 * the server visible to the caller and running), so a client learns what is wrong first.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Server } from '../../db/index.js';
import { type AuthContext, authOf, requireWriter } from '../context.js';
import { badRequest, conflict, notFound } from '../faults.js';
import { body, rejectUnknown } from './fields.js';
import { atLeast } from './microversions.js';
import { statusOf } from './views.js';

/** Each console protocol and the types a client may ask for with it. */
const PROTOCOL_TYPES: Readonly<Record<string, readonly string[]>> = {
  vnc: ['novnc', 'xvpvnc'],
  spice: ['spice-html5'],
  rdp: ['rdp-html5'],
  serial: ['serial'],
  mks: ['webmks'],
};

/** The server actions that asked for a console before 2.6, and their protocol. */
const CONSOLE_ACTIONS: Readonly<Record<string, string>> = {
  'os-getVNCConsole': 'vnc',
  'os-getSPICEConsole': 'spice',
  'os-getRDPConsole': 'rdp',
  'os-getSerialConsole': 'serial',
};

/** A console of `protocol` and `type` for `server`: checked, then refused as unavailable. */
function refuseConsole(server: Server, protocol: string, type: unknown): never {
  const types = PROTOCOL_TYPES[protocol] ?? [];
  if (typeof type !== 'string' || !types.includes(type)) {
    throw badRequest(
      `Invalid input for field/attribute type. Value: ${String(type)}. Must be one of ${types.join(', ')}.`,
    );
  }
  if (statusOf(server).view.status !== 'ACTIVE') {
    throw conflict(`Instance ${server.id} is not ready yet: it must be ACTIVE for a console.`);
  }
  throw badRequest(`Unavailable console type ${type}.`);
}

/** A pre-2.6 console action (`{"os-getVNCConsole": {"type": "novnc"}}`). */
export function consoleAction(server: Server, action: string, args: unknown): never {
  const protocol = CONSOLE_ACTIONS[action] ?? '';
  const type = typeof args === 'object' && args !== null ? (args as { type?: unknown }).type : undefined;
  return refuseConsole(server, protocol, type);
}

export function registerRemoteConsoles(
  app: FastifyInstance,
  visibleServer: (auth: AuthContext, id: string) => Promise<Server>,
): void {
  app.post('/servers/:id/remote-consoles', async (request: FastifyRequest) => {
    const auth = authOf(request);
    const { id } = request.params as { id: string };
    // Before 2.6 the URL does not exist, as in Nova.
    if (!atLeast(request, '2.6')) throw notFound('The resource could not be found.');
    const server = await visibleServer(auth, id);
    requireWriter(auth);
    const asked = body(request, 'remote_console');
    rejectUnknown(asked, ['protocol', 'type'], "'remote_console'");
    const protocols = Object.keys(PROTOCOL_TYPES).filter((p) => p !== 'mks' || atLeast(request, '2.8'));
    if (typeof asked.protocol !== 'string' || !protocols.includes(asked.protocol)) {
      throw badRequest(
        `Invalid input for field/attribute protocol. Value: ${String(asked.protocol)}. Must be one of ${protocols.join(', ')}.`,
      );
    }
    return refuseConsole(server, asked.protocol, asked.type);
  });
}
