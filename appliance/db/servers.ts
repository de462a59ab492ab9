import type Database from 'better-sqlite3';
import { DEFAULT_ZONE, hostZones } from './aggregates.js';
import { DbConflictError, DbNoValidHostError, DbNotFoundError, DbQuotaExceededError, DbStaleError } from './errors.js';
import { portsWriter } from './networks.js';
import { nameFilter } from './name-filter.js';
import { json, num, type Row, setClause, statements, str, strOrNull } from './rows.js';
import type { CloudSql, HostCapacity, Nic, Server, ServerFlavor, ServerGroup, ServerGroupPolicy } from './types.js';

const toServer = (r: Row): Server => ({
  id: str(r.id),
  projectId: str(r.project_id),
  userId: str(r.user_id),
  name: str(r.name),
  flavorId: str(r.flavor_id),
  imageId: str(r.image_id),
  keyName: strOrNull(r.key_name),
  availabilityZone: str(r.availability_zone),
  accessIPv4: str(r.access_ipv4),
  accessIPv6: str(r.access_ipv6),
  metadata: json<Record<string, string>>(r.metadata),
  state: str(r.state),
  machine: str(r.machine),
  host: str(r.host),
  addresses: json<Server['addresses']>(r.addresses),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
  launchedAt: strOrNull(r.launched_at),
  userData: strOrNull(r.user_data),
  serverGroupId: strOrNull(r.server_group_id),
  lockedBy: strOrNull(r.locked_by) as Server['lockedBy'],
  lockedReason: strOrNull(r.locked_reason),
  reservationId: strOrNull(r.reservation_id),
  launchIndex: num(r.launch_index),
  description: strOrNull(r.description),
  tags: json<string[]>(r.tags),
  rootDeviceTag: strOrNull(r.root_device_tag),
  flavor: json<ServerFlavor>(r.flavor),
});

/**
 * The `servers` group: a server and the ports of its networks, made in one transaction that
 * keeps to its project's quotas and its server group's (`create`); its state changes
 * (`transition`, which frees its ports when it is deleted); the scheduler (`place`: a host with
 * room, in the zone asked for, as its server group's policy allows); and what the servers use,
 * per project and per host.
 */
export function serversSql(db: Database.Database): CloudSql['servers'] {
  const { all, one, run, insert, mustChange, getOrThrow } = statements(db);
  const ports = portsWriter(db);

  const serverUsage = (projectId: string) => {
    const r = one(
      `SELECT COUNT(*) AS instances, COALESCE(SUM(vcpus), 0) AS cores, COALESCE(SUM(ram), 0) AS ram
       FROM servers WHERE project_id = ? AND state != 'deleted'`,
      projectId,
    );
    return { instances: num(r?.instances), cores: num(r?.cores), ram: num(r?.ram) };
  };

  const createServer = db.transaction((server: Omit<Server, 'flavor'>, nics: readonly Nic[], quota) => {
    const flavor = one('SELECT * FROM flavors WHERE id = ?', server.flavorId);
    if (!flavor) throw new DbNotFoundError('flavor', server.flavorId);
    const usage = serverUsage(server.projectId);
    const over = (
      [
        ['instances', usage.instances + 1, quota.instances],
        ['cores', usage.cores + num(flavor.vcpus), quota.cores],
        ['ram', usage.ram + num(flavor.ram), quota.ram],
      ] as const
    ).filter(([, wanted, limit]) => limit >= 0 && wanted > limit);
    if (over.length > 0) {
      throw new DbQuotaExceededError(`Quota exceeded for ${over.map(([name]) => name).join(', ')}`);
    }
    if (server.serverGroupId !== null) {
      if (!one('SELECT 1 FROM server_groups WHERE id = ?', server.serverGroupId))
        throw new DbNotFoundError('server group', server.serverGroupId);
      const members = num(
        one(`SELECT COUNT(*) AS n FROM servers WHERE server_group_id = ? AND state != 'deleted'`, server.serverGroupId)
          ?.n,
      );
      if (quota.serverGroupMembers >= 0 && members + 1 > quota.serverGroupMembers)
        throw new DbQuotaExceededError('Quota exceeded, too many servers in group');
    }
    const addresses: Server['addresses'] = [];
    for (const nic of nics) {
      const network = one('SELECT name FROM networks WHERE id = ?', nic.networkId);
      if (!network) throw new DbNotFoundError('network', nic.networkId);
      if (nic.existing) {
        // A port the user made: bound to the server (Nova's), its groups its own.
        const bound = run(
          `UPDATE ports SET device_id = ?, device_owner = 'compute:nova', updated_at = ? WHERE id = ? AND device_id = ''`,
          server.id,
          server.createdAt,
          nic.portId,
        );
        if (bound.changes === 0) {
          if (!ports.get(nic.portId)) throw new DbNotFoundError('port', nic.portId);
          throw new DbConflictError(`Port ${nic.portId} is still in use.`);
        }
      } else {
        ports.insert(
          {
            id: nic.portId,
            name: '',
            networkId: nic.networkId,
            projectId: server.projectId,
            deviceId: server.id,
            deviceOwner: 'compute:nova',
            macAddress: nic.macAddress,
            adminStateUp: true,
            description: '',
            serverMade: true,
            tag: nic.tag,
            createdAt: server.createdAt,
            updatedAt: server.createdAt,
          },
          nic.fixedIp === null ? null : [{ ipAddress: nic.fixedIp }],
        );
        for (const groupId of new Set(nic.securityGroupIds)) {
          if (!one('SELECT 1 FROM security_groups WHERE id = ? AND project_id = ?', groupId, server.projectId))
            throw new DbNotFoundError('security group', groupId);
          run('INSERT INTO port_security_groups (port_id, group_id) VALUES (?, ?)', nic.portId, groupId);
        }
      }
      const port = ports.get(nic.portId);
      for (const ip of port?.fixedIps ?? [])
        addresses.push({
          network: str(network.name),
          addr: ip.ipAddress,
          version: 4,
          mac: port?.macAddress ?? nic.macAddress,
          portId: nic.portId,
        });
    }
    const created: Server = {
      ...server,
      addresses,
      flavor: {
        name: str(flavor.name),
        vcpus: num(flavor.vcpus),
        ram: num(flavor.ram),
        disk: num(flavor.disk),
        ephemeral: num(flavor.ephemeral),
        swap: num(flavor.swap),
        extraSpecs: json<Record<string, string>>(flavor.extra_specs),
      },
    };
    insert(
      'servers',
      {
        id: created.id,
        project_id: created.projectId,
        user_id: created.userId,
        name: created.name,
        flavor_id: created.flavorId,
        image_id: created.imageId,
        key_name: created.keyName,
        availability_zone: created.availabilityZone,
        requested_zone: created.availabilityZone,
        access_ipv4: created.accessIPv4,
        access_ipv6: created.accessIPv6,
        metadata: created.metadata,
        state: created.state,
        machine: created.machine,
        host: created.host,
        addresses: created.addresses,
        vcpus: num(flavor.vcpus),
        ram: num(flavor.ram),
        disk: num(flavor.disk),
        user_data: created.userData,
        server_group_id: created.serverGroupId,
        locked_by: created.lockedBy,
        locked_reason: created.lockedReason,
        reservation_id: created.reservationId,
        launch_index: created.launchIndex,
        description: created.description,
        tags: created.tags,
        root_device_tag: created.rootDeviceTag,
        flavor: created.flavor,
        created_at: created.createdAt,
        updated_at: created.updatedAt,
        launched_at: created.launchedAt,
      },
      'server',
    );
    return created;
  });

  const transitionServer = db.transaction(
    (id: string, fromState: string, change: { state: string; machine: string; launchedAt?: string | null }) => {
      const now = new Date().toISOString();
      const result = run(
        `UPDATE servers SET state = ?, machine = ?, launched_at = COALESCE(?, launched_at), updated_at = ?
         WHERE id = ? AND state = ?`,
        change.state,
        change.machine,
        change.launchedAt ?? null,
        now,
        id,
        fromState,
      );
      if (result.changes === 0) {
        if (!one('SELECT 1 FROM servers WHERE id = ?', id)) throw new DbNotFoundError('server', id);
        throw new DbStaleError(`server ${id} is no longer ${fromState}`);
      }
      if (change.state === 'deleted') {
        // Its own ports go with it; those the user made stay, unbound (Nova's).
        run('DELETE FROM ports WHERE device_id = ? AND server_made = 1', id);
        run(`UPDATE ports SET device_id = '', device_owner = '', updated_at = ? WHERE device_id = ?`, now, id);
      }
      const row = one('SELECT * FROM servers WHERE id = ?', id);
      if (!row) throw new DbNotFoundError('server', id);
      return toServer(row);
    },
  );

  /**
   * What the servers on each host hold, but `except`; a resized server awaiting its owner's
   * confirm or revert (its migration `finished`) holds its old flavor on its old host too, as
   * Nova's does, so that a revert always finds its room.
   */
  const usedByHost = (except: string) => {
    const used = new Map<string, { vcpus: number; memoryMb: number; diskGb: number; servers: number }>();
    const rows = all(
      `SELECT host, SUM(vcpus) AS vcpus, SUM(ram) AS ram, SUM(disk) AS disk, COUNT(*) AS n FROM servers
       WHERE state NOT IN ('deleted') AND host != '' AND id != ? GROUP BY host`,
      except,
    );
    for (const r of rows)
      used.set(str(r.host), { vcpus: num(r.vcpus), memoryMb: num(r.ram), diskGb: num(r.disk), servers: num(r.n) });
    const held = all(
      `SELECT m.source_host AS host, SUM(json_extract(m.old_flavor, '$.vcpus')) AS vcpus,
         SUM(json_extract(m.old_flavor, '$.ram')) AS ram, SUM(json_extract(m.old_flavor, '$.disk')) AS disk
       FROM migrations m JOIN servers s ON s.id = m.server_id
       WHERE m.status = 'finished' AND m.old_flavor IS NOT NULL AND s.state IN ('resized', 'confirmingResize', 'revertingResize') AND s.id != ?
       GROUP BY m.source_host`,
      except,
    );
    for (const r of held) {
      const u = used.get(str(r.host)) ?? { vcpus: 0, memoryMb: 0, diskGb: 0, servers: 0 };
      used.set(str(r.host), {
        ...u,
        ...{ vcpus: u.vcpus + num(r.vcpus), memoryMb: u.memoryMb + num(r.ram), diskGb: u.diskGb + num(r.disk) },
      });
    }
    return used;
  };
  const hostUsage = () => Object.fromEntries(usedByHost(''));

  /**
   * The policy of `server`'s group as a host filter and weigher: which hosts a hard policy
   * refuses, and why; how much a soft one prefers a host (Nova's ServerGroupSoft(Anti)Affinity
   * weighers: more of the group's servers there, or fewer). Members on an excluded host (a dead
   * one, being evacuated) do not count: the first of an affinity group to move chooses the host
   * the others follow.
   */
  const groupPolicy = (server: Row, exclude: readonly string[]) => {
    if (server.server_group_id === null) return undefined;
    const group = one('SELECT id, policy, rules FROM server_groups WHERE id = ?', server.server_group_id);
    if (!group) return undefined; // deleted since: its servers are in no group
    const members = new Map<string, number>();
    for (const r of all(
      `SELECT host FROM servers WHERE server_group_id = ? AND id != ? AND state != 'deleted' AND host != ''`,
      group.id,
      server.id,
    )) {
      const host = str(r.host);
      if (!exclude.includes(host)) members.set(host, (members.get(host) ?? 0) + 1);
    }
    const id = str(group.id);
    const here = (host: string) => members.get(host) ?? 0;
    const never = () => false;
    const even = () => 0;
    switch (str(group.policy) as ServerGroupPolicy) {
      case 'affinity':
        return {
          refuses: (host: string) => members.size > 0 && !members.has(host),
          weight: even,
          why: `not the host of server group ${id}'s servers (affinity)`,
        };
      case 'anti-affinity': {
        // Its rule (2.64) may allow up to that many of its servers on a host; one, by default.
        const most = json<ServerGroup['rules']>(group.rules).maxServerPerHost ?? 1;
        return {
          refuses: (host: string) => here(host) >= most,
          weight: even,
          why: `holds ${most === 1 ? 'a server' : `${most} servers`} of server group ${id} (anti-affinity)`,
        };
      }
      case 'soft-affinity':
        return { refuses: never, weight: here, why: '' };
      case 'soft-anti-affinity':
        return { refuses: never, weight: (host: string) => -here(host), why: '' };
    }
  };

  /** Gives the server this flavor (its id, its copy and the columns the scheduler counts). */
  const setFlavor = (id: string, flavor: { id: string; flavor: ServerFlavor }) =>
    run(
      'UPDATE servers SET flavor_id = ?, flavor = ?, vcpus = ?, ram = ?, disk = ? WHERE id = ?',
      flavor.id,
      JSON.stringify(flavor.flavor),
      flavor.flavor.vcpus,
      flavor.flavor.ram,
      flavor.flavor.disk,
      id,
    );

  const placeServer = db.transaction(
    (
      id: string,
      candidates: readonly HostCapacity[],
      exclude: readonly string[],
      resizeTo?: { id: string; flavor: ServerFlavor },
      zone?: string,
    ) => {
      const server = one(`SELECT * FROM servers WHERE id = ? AND state != 'deleted'`, id);
      if (!server) throw new DbNotFoundError('server', id);
      // The zone asked for at the create (empty: any), not the one its host is in now: a server
      // that named none moves across zones. A host no aggregate puts in a zone is in Nova's default.
      const az = zone ?? str(server.requested_zone);
      const zones = hostZones(db);
      const used = usedByHost(id);
      const need = resizeTo
        ? { vcpus: resizeTo.flavor.vcpus, memoryMb: resizeTo.flavor.ram, diskGb: resizeTo.flavor.disk }
        : { vcpus: num(server.vcpus), memoryMb: num(server.ram), diskGb: num(server.disk) };
      const why: string[] = [];
      const group = groupPolicy(server, exclude);
      const fitting = candidates
        .filter((c) => !exclude.includes(c.host))
        .map((c) => {
          const u = used.get(c.host) ?? { vcpus: 0, memoryMb: 0, diskGb: 0, servers: 0 };
          return {
            host: c.host,
            az: zones[c.host] ?? DEFAULT_ZONE,
            free: { vcpus: c.vcpus - u.vcpus, memoryMb: c.memoryMb - u.memoryMb, diskGb: c.diskGb - u.diskGb },
          };
        })
        .filter((c) => {
          const short = [
            ...(az && c.az !== az ? [`not in zone ${az}`] : []),
            ...(c.free.vcpus < need.vcpus ? [`${c.free.vcpus} vCPUs free`] : []),
            ...(c.free.memoryMb < need.memoryMb ? [`${c.free.memoryMb} MB free`] : []),
            ...(c.free.diskGb < need.diskGb ? [`${c.free.diskGb} GB of disk free`] : []),
            ...(group?.refuses(c.host) ? [group.why] : []),
          ];
          if (short.length > 0) why.push(`${c.host}: ${short.join(', ')}`);
          return short.length === 0;
        })
        .sort(
          (a, b) =>
            (group?.weight(b.host) ?? 0) - (group?.weight(a.host) ?? 0) ||
            b.free.memoryMb - a.free.memoryMb ||
            a.host.localeCompare(b.host),
        );
      const chosen = fitting[0];
      if (!chosen) {
        throw new DbNoValidHostError(
          `No valid host was found. There are not enough hosts available. (${why.join('; ') || 'no compute host is up'})`,
        );
      }
      run(
        'UPDATE servers SET host = ?, availability_zone = ?, updated_at = ? WHERE id = ?',
        chosen.host,
        chosen.az,
        new Date().toISOString(),
        id,
      );
      if (resizeTo) setFlavor(id, resizeTo);
      if (zone !== undefined) run('UPDATE servers SET requested_zone = ? WHERE id = ?', zone, id);
      return { host: chosen.host, availabilityZone: chosen.az };
    },
  );

  const moveBack = db.transaction((id: string, host: string, flavor: { id: string; flavor: ServerFlavor }) => {
    const zone = hostZones(db)[host] ?? DEFAULT_ZONE;
    const moved = run(
      `UPDATE servers SET host = ?, availability_zone = ?, updated_at = ? WHERE id = ? AND state != 'deleted'`,
      host,
      zone,
      new Date().toISOString(),
      id,
    );
    if (moved.changes === 0) throw new DbNotFoundError('server', id);
    setFlavor(id, flavor);
    return toServer(one('SELECT * FROM servers WHERE id = ?', id) as Row);
  });

  return {
    create: (server, nics, quota) => createServer(server, nics, quota),
    get: (id, options) => {
      const r = options?.deleted
        ? one('SELECT * FROM servers WHERE id = ?', id)
        : one(`SELECT * FROM servers WHERE id = ? AND state != 'deleted'`, id);
      return r ? toServer(r) : null;
    },
    list: (filter, page) => {
      const clauses = [`state != 'deleted'`];
      const params: unknown[] = [];
      const add = (clause: string, ...values: unknown[]) => {
        clauses.push(clause);
        params.push(...values);
      };
      if (filter.projectId !== undefined) add('project_id = ?', filter.projectId);
      if (filter.imageId !== undefined) add('image_id = ?', filter.imageId);
      if (filter.flavorId !== undefined) add('flavor_id = ?', filter.flavorId);
      if (filter.host !== undefined) add('host = ?', filter.host);
      if (filter.changesSince !== undefined) add('updated_at >= ?', filter.changesSince);
      if (filter.changesBefore !== undefined) add('updated_at <= ?', filter.changesBefore);
      if (filter.reservationId !== undefined) add('reservation_id = ?', filter.reservationId);
      if (filter.locked !== undefined) add(filter.locked ? 'locked_by IS NOT NULL' : 'locked_by IS NULL');
      if (filter.status !== undefined) add(`state IN (${filter.status.map(() => '?').join(', ')})`, ...filter.status);
      if (page.marker !== undefined) {
        // Within the project listed: another project's server is no marker (Nova looks markers
        // up across projects, which tells a caller that another project's server exists).
        const marker =
          filter.projectId === undefined
            ? one('SELECT seq FROM servers WHERE id = ?', page.marker)
            : one('SELECT seq FROM servers WHERE id = ? AND project_id = ?', page.marker, filter.projectId);
        if (!marker) throw new DbNotFoundError('marker', page.marker);
        add('seq < ?', marker.seq);
      }
      let rows = all(`SELECT * FROM servers WHERE ${clauses.join(' AND ')} ORDER BY seq DESC`, ...params);
      if (filter.name !== undefined) {
        const pattern = nameFilter(filter.name);
        rows = rows.filter((r) => pattern.test(str(r.name)));
      }
      const { tags, tagsAny, notTags, notTagsAny } = filter;
      if (tags || tagsAny || notTags || notTagsAny) {
        rows = rows.filter((r) => {
          const has = new Set(json<string[]>(r.tags));
          const holds = (t: string) => has.has(t);
          return (
            (!tags || tags.every(holds)) &&
            (!tagsAny || tagsAny.some(holds)) &&
            (!notTags || !notTags.every(holds)) &&
            (!notTagsAny || !notTagsAny.some(holds))
          );
        });
      }
      for (const [pattern, version] of [
        [filter.ip, 4],
        [filter.ip6, 6],
      ] as const) {
        if (pattern === undefined) continue;
        // Nova matches an address from its start (re.match).
        const re = nameFilter(pattern);
        rows = rows.filter((r) =>
          json<Server['addresses']>(r.addresses).some((a) => a.version === version && re.exec(a.addr)?.index === 0),
        );
      }
      return rows.slice(0, page.limit).map(toServer);
    },
    update: (id, patch) => {
      const set = setClause(
        { ...patch, updatedAt: new Date().toISOString() },
        {
          name: 'name',
          accessIPv4: 'access_ipv4',
          accessIPv6: 'access_ipv6',
          metadata: 'metadata',
          imageId: 'image_id',
          lockedBy: 'locked_by',
          lockedReason: 'locked_reason',
          description: 'description',
          keyName: 'key_name',
          userData: 'user_data',
          updatedAt: 'updated_at',
        },
      );
      mustChange(
        run(`UPDATE servers SET ${set.sql} WHERE id = ? AND state != 'deleted'`, ...set.params, id),
        'server',
        id,
      );
      return getOrThrow('SELECT * FROM servers WHERE id = ?', id, 'server', toServer);
    },
    transition: (id, fromState, change) => transitionServer(id, fromState, change),
    usage: (projectId) => serverUsage(projectId),
    place: (id, candidates, options = {}) =>
      placeServer(id, candidates, options.exclude ?? [], options.flavor, options.zone),
    unplace: (id) => {
      run(`UPDATE servers SET host = '', updated_at = ? WHERE id = ?`, new Date().toISOString(), id);
    },
    moveBack: (id, host, flavor) => moveBack(id, host, flavor),
    hostUsage: () => hostUsage(),
    projectUsageOn: (host) =>
      Object.fromEntries(
        all(
          `SELECT project_id, SUM(vcpus) AS vcpus, SUM(ram) AS ram, SUM(disk) AS disk, COUNT(*) AS n FROM servers
           WHERE state != 'deleted' AND host = ? GROUP BY project_id ORDER BY project_id`,
          host,
        ).map((r) => [
          str(r.project_id),
          { vcpus: num(r.vcpus), memoryMb: num(r.ram), diskGb: num(r.disk), servers: num(r.n) },
        ]),
      ),
    lifetimes: ({ projectId, start, end }) =>
      all(
        `SELECT * FROM servers
         WHERE (? IS NULL OR project_id = ?) AND NOT (state = 'deleted' AND updated_at < ?)
           AND launched_at IS NOT NULL AND launched_at < ?
         ORDER BY seq`,
        projectId ?? null,
        projectId ?? null,
        start,
        end,
      ).map((r) => ({
        id: str(r.id),
        name: str(r.name),
        projectId: str(r.project_id),
        flavorId: str(r.flavor_id),
        vcpus: num(r.vcpus),
        memoryMb: num(r.ram),
        state: str(r.state),
        machine: str(r.machine),
        launchedAt: str(r.launched_at),
        terminatedAt: str(r.state) === 'deleted' ? str(r.updated_at) : null,
      })),
  };
}
