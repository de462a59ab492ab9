import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../context.js';
import { applicationCredentialRoutes } from './application-credentials.js';
import { assignmentRoutes } from './assignments.js';
import { authRoutes } from './auth.js';
import { catalogRoutes } from './catalog.js';
import { credentialRoutes } from './credentials.js';
import { domainConfigRoutes } from './domain-configs.js';
import { domainRoutes } from './domains.js';
import { endpointFilterRoutes } from './endpoint-filter.js';
import { groupRoutes } from './groups.js';
import { oauthConsumerRoutes } from './oauth-consumers.js';
import { policyRoutes } from './policies.js';
import { projectRoutes } from './projects.js';
import { roleRoutes } from './roles.js';
import { trustRoutes } from './trusts.js';
import { userRoutes } from './users.js';

function versionV3(deps: ApiDeps) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${deps.publicUrl}/identity/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

/**
 * Keystone v3 under `/identity`, one module a part: tokens and scopes (auth.ts), the catalog,
 * domains, projects, users, groups, roles and their implications, grants and role assignments;
 * credentials (EC2 ones too), application credentials and their access rules, trusts (OS-TRUST), OAuth1 consumers, policies, domain configurations and the endpoint
 * filter (OS-EP-FILTER).
 */
export async function identityRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.get('/', async (_req, reply) => reply.code(300).send({ versions: { values: [versionV3(deps)] } }));
  app.get('/v3', async () => ({ version: versionV3(deps) }));
  await catalogRoutes(app, deps);
  await authRoutes(app, deps);
  await domainRoutes(app, deps);
  await projectRoutes(app, deps);
  await userRoutes(app, deps);
  await groupRoutes(app, deps);
  await roleRoutes(app, deps);
  await assignmentRoutes(app, deps);
  await credentialRoutes(app, deps);
  await applicationCredentialRoutes(app, deps);
  await trustRoutes(app, deps);
  await oauthConsumerRoutes(app, deps);
  await policyRoutes(app, deps);
  await domainConfigRoutes(app, deps);
  await endpointFilterRoutes(app, deps);
}
