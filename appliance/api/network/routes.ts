import type { FastifyInstance } from 'fastify';
import { type ApiDeps, requireToken } from '../context.js';
import { extensionRoutes } from './extensions.js';
import { floatingIpRoutes } from './floating-ips.js';
import { networkRoutes as networkResourceRoutes } from './networks.js';
import { portRoutes } from './ports.js';
import { quotaRoutes } from './quotas.js';
import { routerRoutes } from './routers.js';
import { securityGroupRoutes } from './security-groups.js';
import { subnetRoutes } from './subnets.js';

/**
 * Neutron v2.0 under `/network`: networks (the shared flat provider network, external, and the
 * projects' own VXLAN networks, networks.ts), their IPv4 subnets (subnets.ts), ports (ports.ts),
 * routers (routers.ts) and floating IPs (floating-ips.ts), security groups and their rules
 * (security-groups.ts), quotas (quotas.ts) and the extension list that says so (extensions.ts).
 */
export async function networkRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const versions = {
    versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${deps.publicUrl}/network/v2.0/` }] }],
  };
  app.get('/', async () => versions);

  await app.register(
    async (api) => {
      api.addHook('onRequest', requireToken(deps));
      // The version's resources (neutron/api/v2/router.py's index).
      api.get('/', async () => ({
        resources: [
          ...['network', 'subnet', 'port', 'router', 'floatingip'],
          ...['security_group', 'security_group_rule', 'quota'],
        ].map((name) => {
          const collection = `${name.replace(/_/g, '-')}s`;
          return {
            name,
            collection,
            links: [{ rel: 'self', href: `${deps.publicUrl}/network/v2.0/${collection}` }],
          };
        }),
      }));
      networkResourceRoutes(api, deps);
      subnetRoutes(api, deps);
      portRoutes(api, deps);
      routerRoutes(api, deps);
      floatingIpRoutes(api, deps);
      securityGroupRoutes(api, deps);
      quotaRoutes(api, deps.db);
      extensionRoutes(api);
    },
    { prefix: '/v2.0' },
  );
}
