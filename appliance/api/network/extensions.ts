/**
 * Neutron's extension list (`GET /v2.0/extensions`, `/v2.0/extensions/{alias}`): what this
 * Neutron subset has, and nothing more. Clients decide from it which features to use: Horizon
 * (openstack_dashboard/api/neutron.py `is_extension_supported`) counts a project's networks,
 * subnets and ports against its quotas only with `quotas`, shows security groups (their panel,
 * the launch wizard's step, quota fields) only with `security-group`, and routers and floating
 * IPs (their panels, quotas and charts) only with `router`. Each entry
 * is the extension's own descriptor in Neutron (neutron_lib/api/definitions/*.py,
 * neutron/extensions/*.py), as neutron/api/extensions.py `ExtensionController._translate` shows it.
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
    // neutron_lib/api/definitions/l3_ext_gw_mode.py: a router gateway's `enable_snat` (routers.ts).
    alias: 'ext-gw-mode',
    name: 'Neutron L3 Configurable external gateway mode',
    description: 'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway',
    updated: '2013-03-28T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/external_net.py: a network's `router:external`.
    alias: 'external-net',
    name: 'Neutron external network',
    description: 'Adds external network attribute to network resource.',
    updated: '2013-01-14T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/extraroute.py: a router's `routes` (routers.ts).
    alias: 'extraroute',
    name: 'Neutron Extra Route',
    description: 'Extra routes configuration for L3 router',
    updated: '2013-02-01T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/fip_port_details.py: a floating IP's `port_details` (floating-ips.ts).
    alias: 'fip-port-details',
    name: 'Floating IP Port Details Extension',
    description: 'Add port_details attribute to Floating IP resource',
    updated: '2018-04-09T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/ip_substring_port_filtering.py: `GET /ports?fixed_ips=ip_address_substr=…` (ports.ts).
    alias: 'ip-substring-filtering',
    name: 'IP address substring filtering',
    description: 'Provides IP address substring filtering when listing ports',
    updated: '2017-11-28T09:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/network_mtu.py: a network's `mtu`.
    alias: 'net-mtu',
    name: 'Network MTU',
    description: 'Provides MTU attribute for a network resource.',
    updated: '2015-03-25T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/security_groups_port_filtering.py: `GET /ports?security_groups=…`.
    alias: 'port-security-groups-filtering',
    name: 'Port filtering on security groups',
    description: 'Provides security groups filtering when listing ports',
    updated: '2018-01-09T09:00:00-00:00',
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
  {
    // neutron_lib/api/definitions/l3.py: `/v2.0/routers` (routers.ts) and `/v2.0/floatingips` (floating-ips.ts).
    alias: 'router',
    name: 'Neutron L3 Router',
    description:
      'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.',
    updated: '2012-07-20T10:00:00-00:00',
  },
  {
    // neutron/extensions/securitygroup.py: `/v2.0/security-groups`, `/v2.0/security-group-rules`
    // and a port's `security_groups` (security-groups.ts).
    alias: 'security-group',
    name: 'security-group',
    description: 'The security groups extension.',
    updated: '2012-10-05T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/security_groups_normalized_cidr.py: a rule's `normalized_cidr`.
    alias: 'security-groups-normalized-cidr',
    name: 'Normalized CIDR field for security group rules',
    description: 'Add new field with normalized remote_ip_prefix cidr in SG rule',
    updated: '2020-07-28T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/security_groups_rules_belongs_to_default_sg.py: a rule's `belongs_to_default_sg`.
    alias: 'security-groups-rules-belongs-to-default-sg',
    name: "Security group rule belongs to the project's default security group",
    description: "Flag to determine if the security group rule belongs to the project's default security group",
    updated: '2023-05-23T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/standard_attr_description.py: a `description` on networks,
    // subnets, ports and security groups and their rules.
    alias: 'standard-attr-description',
    name: 'standard-attr-description',
    description: 'Extension to add descriptions to standard attributes',
    updated: '2016-02-10T10:00:00-00:00',
  },
  {
    // neutron_lib/api/definitions/stateful_security_group.py: a group's `stateful`.
    alias: 'stateful-security-group',
    name: 'Stateful security group',
    description: 'Indicates if the security group is stateful or not',
    updated: '2019-11-26T09:00:00-00:00',
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
