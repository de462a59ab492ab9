/**
 * The nova-network APIs of the microversions rackseed serves: Nova removed nova-network in
 * 18.0.0 (Rocky) and answers 410 Gone for them, as here. Their microversion changes (2.4's
 * `reserved` fixed IPs, 2.12's `net_id` of a virtual interface) have nothing left to change;
 * Neutron's API (`/network`) holds a server's ports and addresses.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError, notFound } from '../faults.js';
import { atLeast } from './microversions.js';

const gone = () =>
  new ApiError(410, 'This resource is no longer available (nova-network was removed).', 'API_ERR_GONE');

export function registerRemovedApis(app: FastifyInstance): void {
  app.all('/os-fixed-ips/:address', async () => {
    throw gone();
  });
  app.all('/os-fixed-ips/:address/action', async () => {
    throw gone();
  });
  // nova-network's default rules for new security groups (Neutron has none such).
  app.all('/os-security-group-default-rules', async () => {
    throw gone();
  });
  app.all('/os-security-group-default-rules/:id', async () => {
    throw gone();
  });
  // From 2.44 the URL is gone from the API itself: 404.
  app.get('/servers/:id/os-virtual-interfaces', async (request) => {
    throw atLeast(request, '2.44') ? notFound('The resource could not be found.') : gone();
  });
}
