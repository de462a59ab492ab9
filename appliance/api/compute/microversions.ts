import type { FastifyRequest } from 'fastify';
import { ApiError, badRequest } from '../faults.js';

/**
 * The compute API's microversions (nova/api/openstack/compute/rest_api_version_history.rst).
 * A request names one (`OpenStack-API-Version: compute X.Y`, or the legacy
 * `X-OpenStack-Nova-API-Version`); none means the minimum, `latest` the maximum. Every version
 * up to MAX_VERSION is honoured, each where the code it changes lives (`atLeast(request, 'X.Y')`),
 * and tested in test/unit/api-microversions.test.ts and by tempest at the newest:
 *
 * - 2.2  keypairs have a `type` (`ssh` or `x509`); create answers 201, delete 204 (keypairs.ts)
 * - 2.3  the admin's server detail shows more `OS-EXT-SRV-ATTR:` fields (views.ts)
 * - 2.4  `reserved` in os-fixed-ips: nova-network's, gone (410) as in Nova since Rocky (removed.ts)
 * - 2.5  any user may filter servers by `ip6` (server-list.ts)
 * - 2.6  `POST /servers/{id}/remote-consoles` (consoles.ts)
 * - 2.7  access to a public flavor cannot be added (409, flavors in routes.ts)
 * - 2.8  the `mks` console type (consoles.ts)
 * - 2.9  a server shows whether it is `locked` (views.ts)
 * - 2.10 the cloud admin names a keypair's `user_id` (keypairs.ts)
 * - 2.11 a service is forced down, and shows `forced_down` (services.ts)
 * - 2.12 `net_id` of os-virtual-interfaces: nova-network's, gone (410) as in Nova (removed.ts)
 * - 2.13 a server group shows its `project_id` and `user_id` (server-groups.ts)
 * - 2.14 evacuate's `onSharedStorage` and `adminPass` answer go: rackseed has no evacuate
 *        action (it evacuates a fenced host's servers itself, appliance/compute/evacuation.ts)
 * - 2.15 the `soft-affinity` and `soft-anti-affinity` group policies (server-groups.ts, the scheduler)
 * - 2.16 the cloud admin sees a server's `host_status` (views.ts, services.ts)
 * - 2.17 the `trigger_crash_dump` action: an NMI to the guest (routes.ts, the host service)
 * - 2.18 the project id in the URL is optional: both forms are served at every version (routes.ts)
 * - 2.19 a server has a `description` (routes.ts, server-create.ts, views.ts, server-images.ts)
 * - 2.20 volumes of a shelved server: rackseed attaches no volume yet
 * - 2.21 a deleted server's instance actions are read (instance-actions.ts)
 * - 2.22 to 2.25 live migrations (force complete, list, abort, `block_migration: auto`):
 *        rackseed migrates no live server (a fenced host's servers move, evacuation.ts); from
 *        2.23 a migration shows its type and a server's live migrations list, empty (migrations.ts)
 * - 2.26 server tags, shown on a server and filtered by (tags.ts, views.ts)
 * - 2.27 the `OpenStack-API-Version` header, negotiated here with the older one
 * - 2.28 a hypervisor's `cpu_info` is an object, not a JSON string (hypervisors.ts)
 * - 2.29 to 2.31 evacuate's and live migration's `force`, console tokens: no such APIs here
 * - 2.32 device tags on a create's networks and root disk, for the guest's metadata (devices.ts)
 * - 2.33 the hypervisors are paged (`limit`, `marker`) (hypervisors.ts)
 * - 2.34 live migration's checks: no such API here
 * - 2.35 keypairs are paged (`limit`, `marker`) (keypairs.ts)
 * - 2.36 the network quotas leave the limits and quota sets (quotas.ts); Nova's proxies of
 *        Neutron's and Glance's APIs (os-networks, os-security-groups and their rules in
 *        security-groups.ts, /images…) answer 404 from here
 * - 2.37 a create names its `networks`: a list, `auto` or `none` (devices.ts)
 * - 2.38 a server list's `status` that Nova does not name is a 400 (server-list.ts)
 * - 2.39 the image metadata proxy goes, and `maxImageMeta` from the limits (images.ts, quotas.ts)
 * - 2.40 simple tenant usage is paged (`limit`, `marker`: a server's id) (usage.ts)
 * - 2.41 an aggregate shows its `uuid` (aggregates.ts)
 * - 2.42 device tags are taken again on networks and the root disk, which 2.33 to 2.41 refused
 *        as Nova's did by mistake (devices.ts)
 * - 2.43 os-hosts goes, for os-hypervisors and os-services (hosts.ts)
 * - 2.44 the floating and fixed IP actions and os-virtual-interfaces go (routes.ts, removed.ts)
 * - 2.45 createImage names the new image in its body, not in a Location header (routes.ts)
 * - 2.46 the request id in `X-OpenStack-Request-ID` too: sent at every version (app.ts)
 * - 2.47 a server shows its flavor as it was made with, not a link to it (views.ts; the
 *        database keeps the copy, appliance/db/servers.ts)
 * - 2.48 server diagnostics are standardised (diagnostics.ts; before, libvirt's shape)
 * - 2.49 interfaces and volumes attached with a tag: rackseed attaches neither to a built server
 * - 2.50 a quota class shows its server group quotas and no network ones (quotas.ts)
 * - 2.51 an instance action's events are anyone's to see, but for their traceback
 *        (instance-actions.ts); the `volume-extended` external event (external-events.ts)
 * - 2.52 a create takes `tags` (tags.ts, server-create.ts)
 * - 2.53 services and hypervisors are named by UUIDs, a service changed by one PUT of it, the
 *        hypervisor lists filter by name and add servers (services.ts, hypervisors.ts)
 * - 2.54 a rebuild takes `key_name` (server-images.ts)
 * - 2.55 a flavor has a `description`, the one field a PUT changes (routes.ts, views.ts)
 * - 2.56 cold migration's target host: rackseed has no cold migration
 * - 2.57 `personality` goes from a create, a rebuild takes `user_data`, and the file quotas and
 *        limits go (server-create.ts, server-images.ts, quotas.ts)
 * - 2.58 instance actions show `updated_at`, are paged and filtered by `changes-since`
 *        (instance-actions.ts)
 * - 2.59 migrations show their `uuid`, are paged and filtered by `changes-since` (migrations.ts)
 * - 2.60 volumes attached to several servers: rackseed has no volumes yet
 * - 2.61 a flavor shows its extra specs (views.ts)
 * - 2.62 an instance action's event shows its host, hashed, and to the cloud admin by name
 *        (instance-actions.ts)
 * - 2.63 `trusted_image_certificates`: shown null, refused when given, as rackseed verifies no
 *        image signature (fields.ts, views.ts)
 * - 2.64 a server group has one `policy` and its `rules` (`max_server_per_host` of an
 *        anti-affinity group, which the scheduler keeps) (server-groups.ts, the scheduler)
 * - 2.65 aborting a queued live migration: rackseed migrates no live server
 * - 2.66 `changes-before` filters servers, instance actions and migrations (server-list.ts,
 *        instance-actions.ts, migrations.ts)
 * - 2.67 a volume's type in a block device mapping: volumes are refused there (devices.ts)
 * - 2.68 evacuate's and live migration's `force` go: no such actions here
 * - 2.69 the minimal records of servers in a cell that is down: rackseed has one cell, whose
 *        records are always whole
 * - 2.70 a port shows its device tag (interfaces.ts); no volume is attached to tag
 * - 2.71 a server's own view shows its `server_groups` (views.ts)
 * - 2.72 ports with a resource request (QoS minimum bandwidth): rackseed's ports have none
 * - 2.73 a lock may give a reason, shown as `locked_reason`; the server list filters by `locked`
 *        (locks.ts, views.ts, server-list.ts)
 * - 2.74 the cloud admin's create may ask for a `host` (or `hypervisor_hostname`), which the
 *        scheduler still filters (server-create.ts, appliance/compute/servers.ts)
 * - 2.75 the server list refuses a query parameter Nova does not know; an update and a
 *        rebuild answer the server's whole view; a flavor's missing swap is 0 (server-list.ts,
 *        routes.ts, views.ts)
 * - 2.76 the `power-update` external event (external-events.ts)
 * - 2.77 unshelving into an availability zone (server-shelve.ts)
 * - 2.78 a server's NUMA topology: none, as rackseed pins no guest (interfaces.ts)
 * - 2.79 `delete_on_termination` of an attached volume: rackseed has no volumes yet
 */
export const MIN_VERSION = '2.1';
export const MAX_VERSION = '2.79';

declare module 'fastify' {
  interface FastifyRequest {
    microversion: string;
  }
}

/** `X.Y` as one comparable number, remembered: a server list asks `atLeast` a few times per server. */
const ordinals = new Map<string, number>();
const ordinal = (v: string): number => {
  let n = ordinals.get(v);
  if (n === undefined) {
    const [major, minor] = v.split('.').map(Number);
    n = (major ?? 0) * 10_000 + (minor ?? 0);
    if (ordinals.size < 1_000) ordinals.set(v, n);
  }
  return n;
};
const compareVersions = (a: string, b: string): number => ordinal(a) - ordinal(b);

/** Whether the request asked for `version` or a later one. */
export function atLeast(request: FastifyRequest, version: string): boolean {
  return ordinal(request.microversion) >= ordinal(version);
}

/** The asked-for microversion; a malformed one is a 400, one outside MIN..MAX a 406. */
export function negotiateMicroversion(headers: Record<string, string | string[] | undefined>): string {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  let asked: string | undefined;
  const modern = first(headers['openstack-api-version']);
  if (modern) {
    for (const part of modern.split(',')) {
      const [service, version] = part.trim().split(/\s+/);
      if (service?.toLowerCase() === 'compute' && version) asked = version;
    }
  }
  asked ??= first(headers['x-openstack-nova-api-version'])?.trim();
  if (!asked) return MIN_VERSION;
  if (asked.toLowerCase() === 'latest') return MAX_VERSION;
  if (!/^\d+\.\d+$/.test(asked)) throw badRequest(`Invalid API version request string: ${asked}`);
  if (compareVersions(asked, MIN_VERSION) < 0 || compareVersions(asked, MAX_VERSION) > 0) {
    throw new ApiError(
      406,
      `Version ${asked} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`,
      'API_ERR_MICROVERSION',
    );
  }
  return asked.replace(/^(\d+)\.0*(\d)/, '$1.$2');
}
