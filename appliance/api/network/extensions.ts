/**
 * Neutron's extension list (`GET /v2.0/extensions`, `/v2.0/extensions/{alias}`): what this
 * Neutron subset has, and nothing more. Clients decide from it which features to use: Horizon
 * (openstack_dashboard/api/neutron.py `is_extension_supported`) counts a project's networks,
 * subnets and ports against its quotas only with `quotas`, and routers, floating IPs and
 * security groups (panel charts, quota fields) only with `router` and `security-group`, which
 * are absent here: there are no routers or floating IPs, and the one `default` group per project
 * has no rules and filters nothing. Each entry is the extension's own descriptor in Neutron
 * (neutron_lib/api/definitions/*.py, neutron/extensions/quotasv2*.py), as
 * neutron/api/extensions.py `ExtensionController._translate` shows it.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../faults.js';

interface NeutronExtension {
  alias: string;
  name: string;
  description: string;
  updated: string;
}

export const NEUTRON_EXTENSIONS: readonly NeutronExtension[] = [
  {
    // neutron_lib/api/definitions/external_net.py: a network's `router:external`.
    alias: 'external-net',
    name: 'Neutron external network',
    description: 'Adds external network attribute to network resource.',
    updated: '2013-01-14T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/network_mtu.py: a network's `mtu`.
    alias: 'net-mtu',
    name: 'Network MTU',
    description: 'Provides MTU attribute for a network resource.',
    updated: '2015-03-25T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/project_id.py: `project_id` beside `tenant_id`.
    alias: 'project-id',
    name: 'project_id field enabled',
    description: 'Extension that indicates that project_id field is enabled.',
    updated: '2016-09-09T09:09:09-09:09',
  },
  {
    // neutron_lib/api/definitions/provider_net.py: `provider:*`, shown to the cloud admin.
    alias: 'provider',
    name: 'Provider Network',
    description: 'Expose mapping of virtual networks to physical networks',
    updated: '2012-09-07T10:00:00-00:00',
  },
  {
    // neutron/extensions/quotasv2.py: `/v2.0/quotas/{project_id}` and its default (quotas.ts).
    alias: 'quotas',
    name: 'Quota management support',
    description: 'Expose functions for quotas management per project',
    updated: '2012-07-29T10:00:00-00:00',
  },
  {
    // neutron/extensions/quotasv2_detail.py: `/v2.0/quotas/{project_id}/details` (quotas.ts).
    alias: 'quota_details',
    name: 'Quota details management support',
    description: 'Expose functions for quotas usage statistics per project',
    updated: '2017-02-10T10:00:00-00:00',
  },
];

const view = (e: NeutronExtension) => ({ ...e, links: [] });

/** The extension routes, inside `/v2.0` (a token required). */
export function extensionRoutes(api: FastifyInstance): void {
  api.get('/extensions', async () => ({ extensions: NEUTRON_EXTENSIONS.map(view) }));
  api.get('/extensions/:alias', async (request) => {
    const { alias } = request.params as { alias: string };
    const extension = NEUTRON_EXTENSIONS.find((e) => e.alias === alias);
    // neutron/api/extensions.py `ExtensionController.show`.
    if (!extension)
      throw new ApiError(404, `Extension with alias ${alias} does not exist`, 'API_ERR_EXTENSION_NOT_FOUND');
    return { extension: view(extension) };
  });
}
