import type { Server } from '../appliance/db/index.js';

/** What `servers.create` takes: a server's own fields, before its host, state and addresses. */
export type NewServer = Omit<Server, 'host' | 'state' | 'machine' | 'addresses' | 'flavor'>;

/**
 * A new server's row for tests that call the database or the server service directly: the
 * fields a test names, every other one as the API leaves it on a plain create.
 */
export function newServer(
  fields: Pick<NewServer, 'id' | 'projectId' | 'userId' | 'name' | 'flavorId' | 'imageId'> & Partial<NewServer>,
): NewServer {
  const now = new Date().toISOString();
  return {
    keyName: null,
    availabilityZone: 'nova',
    accessIPv4: '',
    accessIPv6: '',
    metadata: {},
    createdAt: now,
    updatedAt: now,
    launchedAt: null,
    userData: null,
    serverGroupId: null,
    lockedBy: null,
    lockedReason: null,
    reservationId: null,
    launchIndex: 0,
    description: null,
    tags: [],
    rootDeviceTag: null,
    ...fields,
  };
}
