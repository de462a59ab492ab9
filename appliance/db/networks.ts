import type Database from 'better-sqlite3';
import {
  DbConflictError,
  DbExhaustedError,
  DbInvalidActionError,
  DbNotFoundError,
  DbQuotaExceededError,
} from './errors.js';
import { bool, json, num, type Row, statements, str, strOrNull, where } from './rows.js';
import {
  type CloudSql,
  type FixedIp,
  type FixedIpRequest,
  type Network,
  type Port,
  ROUTER_GATEWAY_OWNER,
  type Server,
  type Subnet,
} from './types.js';

/** The VNIs a VXLAN segment may have (RFC 7348 §5: 24 bits; 0 left out as Neutron's ML2 does). */
const VNI_MIN = 1;
const VNI_MAX = 16777215;

/** An IPv4 address as a number, and back. */
export const ipToInt = (ip: string): number => ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
export const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** The first and last address of an IPv4 CIDR, as numbers. */
export function cidrRange(cidr: string): { first: number; last: number } {
  const [address = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const first = Math.floor(ipToInt(address) / size) * size;
  return { first, last: first + size - 1 };
}

const toNetwork = (r: Row): Network => ({
  id: str(r.id),
  name: str(r.name),
  projectId: str(r.project_id),
  shared: bool(r.shared),
  external: bool(r.external),
  mtu: num(r.mtu),
  adminStateUp: bool(r.admin_state_up),
  networkType: str(r.network_type) === 'vxlan' ? 'vxlan' : 'flat',
  segmentationId: r.segmentation_id === null ? null : num(r.segmentation_id),
  description: str(r.description),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
});

export const toSubnet = (r: Row): Subnet => ({
  id: str(r.id),
  name: str(r.name),
  networkId: str(r.network_id),
  projectId: str(r.project_id),
  cidr: str(r.cidr),
  gatewayIp: str(r.gateway_ip) === '' ? null : str(r.gateway_ip),
  ipVersion: 4,
  enableDhcp: bool(r.enable_dhcp),
  allocationPools: json<Subnet['allocationPools']>(r.allocation_pools),
  dnsNameservers: json<string[]>(r.dns_nameservers),
  hostRoutes: json<Subnet['hostRoutes']>(r.host_routes),
  description: str(r.description),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
});

/**
 * The `networks` group: Neutron's networks, their IPv4 subnets and the ports on them, with the
 * one IPAM that both a port's create and a server's (servers.ts, through {@link portsWriter})
 * use: an address named must be on one of the network's subnets and free; none named, the
 * lowest free address of the first subnet's allocation pools that has one.
 */
export function networksSql(db: Database.Database): CloudSql['networks'] {
  const { all, one, run, insert, mustChange } = statements(db);
  const ports = portsWriter(db);

  const getNetwork = (id: string) => {
    const r = one('SELECT * FROM networks WHERE id = ?', id);
    return r ? toNetwork(r) : null;
  };
  const getSubnet = (id: string) => {
    const r = one('SELECT * FROM subnets WHERE id = ?', id);
    return r ? toSubnet(r) : null;
  };
  const count = (table: string, projectId: string) =>
    num(one(`SELECT COUNT(*) AS n FROM ${table} WHERE project_id = ?`, projectId)?.n);
  const checkQuota = (table: string, resource: string, projectId: string, quota: number) => {
    if (quota >= 0 && count(table, projectId) + 1 > quota)
      throw new DbQuotaExceededError(`Quota exceeded for resources: ['${resource}'].`);
  };

  /** The lowest VNI no network has. */
  const freeVni = (): number => {
    const used = all(`SELECT segmentation_id AS v FROM networks WHERE network_type = 'vxlan' ORDER BY 1`);
    let vni = VNI_MIN;
    for (const r of used) {
      if (num(r.v) > vni) break;
      if (num(r.v) === vni) vni++;
    }
    if (vni > VNI_MAX)
      throw new DbExhaustedError('Unable to create the network. No tenant network is available for allocation.');
    return vni;
  };

  const createNetwork = db.transaction((network: Network, quota: number): Network => {
    checkQuota('networks', 'network', network.projectId, quota);
    const segmentationId =
      network.networkType === 'vxlan' ? (network.segmentationId ?? freeVni()) : network.segmentationId;
    if (
      network.networkType === 'vxlan' &&
      one(`SELECT 1 FROM networks WHERE network_type = 'vxlan' AND segmentation_id = ?`, segmentationId)
    )
      throw new DbConflictError(`Unable to create the network. The tunnel ID ${segmentationId} is in use.`);
    insert(
      'networks',
      {
        id: network.id,
        name: network.name,
        project_id: network.projectId,
        shared: network.shared,
        external: network.external,
        mtu: network.mtu,
        admin_state_up: network.adminStateUp,
        network_type: network.networkType,
        segmentation_id: segmentationId,
        description: network.description,
        created_at: network.createdAt,
        updated_at: network.updatedAt,
      },
      `network ${network.id}`,
    );
    return getNetwork(network.id) as Network;
  });

  const deleteNetwork = db.transaction((id: string) => {
    if (!getNetwork(id)) throw new DbNotFoundError('network', id);
    // Its floating IPs bound to nothing go with it (external_net_db.py `_process_l3_delete`).
    run(
      'DELETE FROM ports WHERE id IN (SELECT floating_port_id FROM floating_ips WHERE floating_network_id = ? AND fixed_port_id IS NULL)',
      id,
    );
    if (one('SELECT 1 FROM ports WHERE network_id = ? LIMIT 1', id))
      throw new DbConflictError(
        `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`,
      );
    run('DELETE FROM subnets WHERE network_id = ?', id);
    run('DELETE FROM networks WHERE id = ?', id);
  });

  const createSubnet = db.transaction((subnet: Subnet, quota: number): Subnet => {
    if (!getNetwork(subnet.networkId)) throw new DbNotFoundError('network', subnet.networkId);
    checkQuota('subnets', 'subnet', subnet.projectId, quota);
    const mine = cidrRange(subnet.cidr);
    for (const other of all('SELECT cidr FROM subnets WHERE network_id = ?', subnet.networkId)) {
      const theirs = cidrRange(str(other.cidr));
      if (mine.first <= theirs.last && theirs.first <= mine.last)
        throw new DbInvalidActionError(
          `Invalid input for operation: Requested subnet with cidr: ${subnet.cidr} for network: ${subnet.networkId} overlaps with another subnet.`,
        );
    }
    insert(
      'subnets',
      {
        id: subnet.id,
        name: subnet.name,
        network_id: subnet.networkId,
        project_id: subnet.projectId,
        cidr: subnet.cidr,
        gateway_ip: subnet.gatewayIp ?? '',
        ip_version: subnet.ipVersion,
        enable_dhcp: subnet.enableDhcp,
        allocation_pools: subnet.allocationPools,
        dns_nameservers: subnet.dnsNameservers,
        host_routes: subnet.hostRoutes,
        description: subnet.description,
        created_at: subnet.createdAt,
        updated_at: subnet.updatedAt,
      },
      `subnet ${subnet.id}`,
    );
    return getSubnet(subnet.id) as Subnet;
  });

  const updateSubnet = db.transaction((id: string, patch: Partial<Subnet>, now: string): Subnet => {
    const before = getSubnet(id);
    if (!before) throw new DbNotFoundError('subnet', id);
    const next = { ...before, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
    run(
      `UPDATE subnets SET name = ?, description = ?, gateway_ip = ?, enable_dhcp = ?, allocation_pools = ?,
         dns_nameservers = ?, host_routes = ?, updated_at = ? WHERE id = ?`,
      next.name,
      next.description,
      next.gatewayIp ?? '',
      next.enableDhcp ? 1 : 0,
      JSON.stringify(next.allocationPools),
      JSON.stringify(next.dnsNameservers),
      JSON.stringify(next.hostRoutes),
      now,
      id,
    );
    return getSubnet(id) as Subnet;
  });

  const deleteSubnet = db.transaction((id: string) => {
    if (!getSubnet(id)) throw new DbNotFoundError('subnet', id);
    if (one('SELECT 1 FROM port_ips WHERE subnet_id = ? LIMIT 1', id))
      throw new DbConflictError(
        `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`,
      );
    run('DELETE FROM subnets WHERE id = ?', id);
  });

  const createPort = db.transaction(
    (
      port: Omit<Port, 'fixedIps'>,
      fixedIps: readonly FixedIpRequest[] | null,
      groupIds: readonly string[],
      quota: number,
    ): Port => {
      checkQuota('ports', 'port', port.projectId, quota);
      ports.insert(port, fixedIps);
      for (const groupId of new Set(groupIds)) {
        if (!one('SELECT 1 FROM security_groups WHERE id = ?', groupId))
          throw new DbNotFoundError('security group', groupId);
        run('INSERT INTO port_security_groups (port_id, group_id) VALUES (?, ?)', port.id, groupId);
      }
      return ports.get(port.id) as Port;
    },
  );

  const updatePort = db.transaction(
    (
      id: string,
      patch: Partial<Pick<Port, 'name' | 'description' | 'adminStateUp' | 'deviceId' | 'deviceOwner' | 'macAddress'>>,
      fixedIps: readonly FixedIpRequest[] | null,
      now: string,
    ): Port => {
      const before = ports.get(id);
      if (!before) throw new DbNotFoundError('port', id);
      const next = { ...before, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
      if (next.macAddress !== before.macAddress) ports.checkMac(before.networkId, next.macAddress);
      run(
        `UPDATE ports SET name = ?, description = ?, admin_state_up = ?, device_id = ?, device_owner = ?,
           mac_address = ?, updated_at = ? WHERE id = ?`,
        next.name,
        next.description,
        next.adminStateUp ? 1 : 0,
        next.deviceId,
        next.deviceOwner,
        next.macAddress,
        now,
        id,
      );
      if (fixedIps !== null) ports.readdress(before, fixedIps);
      return ports.get(id) as Port;
    },
  );

  /** Deletes the port; a server it was on no longer shows its addresses (Nova's `network-vif-deleted`). */
  const deletePort = db.transaction((id: string) => {
    const port = one('SELECT device_id FROM ports WHERE id = ?', id);
    mustChange(run('DELETE FROM ports WHERE id = ?', id), 'port', id);
    const server = port ? one('SELECT addresses FROM servers WHERE id = ?', port.device_id) : undefined;
    if (server)
      run(
        'UPDATE servers SET addresses = ? WHERE id = ?',
        JSON.stringify(json<Server['addresses']>(server.addresses).filter((a) => a.portId !== id)),
        port?.device_id,
      );
  });

  return {
    create: (network, quota) => createNetwork(network, quota),
    get: getNetwork,
    list: (filter) => {
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (filter.name !== undefined) {
        clauses.push('name = ?');
        params.push(filter.name);
      }
      if (filter.projectId !== undefined) {
        // Neutron's `rule:shared` and `rule:external`: every project sees those.
        clauses.push('(shared = 1 OR external = 1 OR project_id = ?)');
        params.push(filter.projectId);
      }
      const sql = `SELECT * FROM networks${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY created_at, id`;
      return all(sql, ...params).map(toNetwork);
    },
    update: (id, patch, now) => {
      const before = getNetwork(id);
      if (!before) throw new DbNotFoundError('network', id);
      const next = { ...before, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
      // external_net_db.py `_process_l3_update`: routers' gateways keep their network external.
      if (
        before.external &&
        !next.external &&
        one(`SELECT 1 FROM ports WHERE network_id = ? AND device_owner = ?`, id, ROUTER_GATEWAY_OWNER)
      )
        throw new DbConflictError(
          `External network ${id} cannot be updated to be made non-external, since it has existing gateway ports.`,
        );
      run(
        'UPDATE networks SET name = ?, description = ?, admin_state_up = ?, shared = ?, external = ?, updated_at = ? WHERE id = ?',
        next.name,
        next.description,
        next.adminStateUp ? 1 : 0,
        next.shared ? 1 : 0,
        next.external ? 1 : 0,
        now,
        id,
      );
      return getNetwork(id) as Network;
    },
    delete: (id) => deleteNetwork(id),
    createSubnet: (subnet, quota) => createSubnet(subnet, quota),
    updateSubnet: (id, patch, now) => updateSubnet(id, patch, now),
    deleteSubnet: (id) => deleteSubnet(id),
    subnets: (filter) => {
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (filter.networkId !== undefined) {
        clauses.push('network_id = ?');
        params.push(filter.networkId);
      }
      if (filter.projectId !== undefined) {
        clauses.push('(project_id = ? OR network_id IN (SELECT id FROM networks WHERE shared = 1))');
        params.push(filter.projectId);
      }
      const sql = `SELECT * FROM subnets${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY created_at, id`;
      return all(sql, ...params).map(toSubnet);
    },
    getSubnet,
    createPort: (port, fixedIps, groupIds, quota) => createPort(port, fixedIps, groupIds, quota),
    updatePort: (id, patch, fixedIps, now) => updatePort(id, patch, fixedIps, now),
    deletePort: (id) => deletePort(id),
    ports: (filter) => {
      const w = where({ device_id: filter.deviceId, network_id: filter.networkId, project_id: filter.projectId });
      return all(`SELECT * FROM ports${w.sql} ORDER BY created_at, rowid`, ...w.params).map(ports.toPort);
    },
    getPort: (id) => ports.get(id),
  };
}

/**
 * Writing ports, inside the caller's transaction: shared by the `networks` group and a server's
 * create (servers.ts), which makes its ports or binds those the user made.
 */
export function portsWriter(db: Database.Database) {
  const { all, one, run, insert } = statements(db);

  const fixedIpsOf = (portId: string): FixedIp[] =>
    all('SELECT subnet_id, ip_address FROM port_ips WHERE port_id = ? ORDER BY rowid', portId).map((r) => ({
      subnetId: str(r.subnet_id),
      ipAddress: str(r.ip_address),
    }));
  const toPort = (r: Row): Port => ({
    id: str(r.id),
    name: str(r.name),
    networkId: str(r.network_id),
    projectId: str(r.project_id),
    deviceId: str(r.device_id),
    deviceOwner: str(r.device_owner),
    macAddress: str(r.mac_address),
    fixedIps: fixedIpsOf(str(r.id)),
    adminStateUp: bool(r.admin_state_up),
    description: str(r.description),
    serverMade: bool(r.server_made),
    tag: strOrNull(r.tag),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  });
  const get = (id: string): Port | null => {
    const r = one('SELECT * FROM ports WHERE id = ?', id);
    return r ? toPort(r) : null;
  };
  const subnetsOf = (networkId: string) =>
    all('SELECT * FROM subnets WHERE network_id = ? ORDER BY created_at, id', networkId).map(toSubnet);

  const checkMac = (networkId: string, mac: string) => {
    if (one('SELECT 1 FROM ports WHERE network_id = ? AND mac_address = ?', networkId, mac))
      throw new DbConflictError(
        `Unable to complete operation for network ${networkId}. The mac address ${mac} is in use.`,
      );
  };

  /** The lowest free address of the subnet's pools, or null. */
  const freeIn = (subnet: Subnet): number | null => {
    const used = new Set(all('SELECT ip_int FROM port_ips WHERE subnet_id = ?', subnet.id).map((r) => num(r.ip_int)));
    for (const pool of subnet.allocationPools) {
      for (let ip = ipToInt(pool.start), last = ipToInt(pool.end); ip <= last; ip++) if (!used.has(ip)) return ip;
    }
    return null;
  };

  /** The addresses `requests` ask for on `networkId` (null: one from the first subnet with a free one). */
  const allocate = (networkId: string, requests: readonly FixedIpRequest[] | null, portId: string): void => {
    const subnets = subnetsOf(networkId);
    const add = (subnet: Subnet, ip: number) => {
      if (one('SELECT 1 FROM port_ips WHERE subnet_id = ? AND ip_int = ?', subnet.id, ip))
        throw new DbConflictError(
          `Unable to complete operation for network ${networkId}. The IP address ${intToIp(ip)} is in use.`,
        );
      run(
        'INSERT INTO port_ips (port_id, subnet_id, ip_address, ip_int) VALUES (?, ?, ?, ?)',
        portId,
        subnet.id,
        intToIp(ip),
        ip,
      );
    };
    if (requests === null) {
      if (subnets.length === 0) return;
      for (const subnet of subnets) {
        const ip = freeIn(subnet);
        if (ip !== null) return add(subnet, ip);
      }
      throw new DbExhaustedError(`No more IP addresses available on network ${networkId}.`);
    }
    for (const request of requests) {
      let subnet: Subnet | undefined;
      if (request.subnetId !== undefined) {
        subnet = subnets.find((s) => s.id === request.subnetId);
        if (!subnet) {
          if (!one('SELECT 1 FROM subnets WHERE id = ?', request.subnetId))
            throw new DbNotFoundError('Subnet', request.subnetId);
          throw new DbInvalidActionError(
            `Invalid input for operation: Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${request.subnetId}.`,
          );
        }
      }
      if (request.ipAddress === undefined) {
        const ip = subnet ? freeIn(subnet) : null;
        if (!subnet || ip === null)
          throw new DbExhaustedError(`No more IP addresses available on network ${networkId}.`);
        add(subnet, ip);
        continue;
      }
      const ip = ipToInt(request.ipAddress);
      const inside = (s: Subnet) => {
        const r = cidrRange(s.cidr);
        return ip >= r.first && ip <= r.last;
      };
      if (subnet && !inside(subnet))
        throw new DbInvalidActionError(`IP address ${request.ipAddress} is not a valid IP for the specified subnet.`);
      subnet ??= subnets.find(inside);
      if (!subnet)
        throw new DbInvalidActionError(
          `IP address ${request.ipAddress} is not a valid IP for any of the subnets on the specified network.`,
        );
      const range = cidrRange(subnet.cidr);
      if (range.last - range.first > 1 && (ip === range.first || ip === range.last))
        throw new DbInvalidActionError(`IP address ${request.ipAddress} is not a valid IP for the specified subnet.`);
      add(subnet, ip);
    }
  };

  return {
    toPort,
    get,
    checkMac,
    /** Inserts the port and its addresses. */
    insert: (port: Omit<Port, 'fixedIps'>, fixedIps: readonly FixedIpRequest[] | null): void => {
      if (!one('SELECT 1 FROM networks WHERE id = ?', port.networkId))
        throw new DbNotFoundError('Network', port.networkId);
      checkMac(port.networkId, port.macAddress);
      insert(
        'ports',
        {
          id: port.id,
          name: port.name,
          network_id: port.networkId,
          project_id: port.projectId,
          device_id: port.deviceId,
          device_owner: port.deviceOwner,
          mac_address: port.macAddress,
          admin_state_up: port.adminStateUp,
          description: port.description,
          server_made: port.serverMade,
          tag: port.tag,
          created_at: port.createdAt,
          updated_at: port.updatedAt,
        },
        `port ${port.id}`,
      );
      allocate(port.networkId, fixedIps, port.id);
    },
    /** Gives the port the addresses asked for: those it has and are named stay, the others go. */
    readdress: (port: Port, requests: readonly FixedIpRequest[]): void => {
      const kept = requests.filter((r) =>
        port.fixedIps.some(
          (f) => f.ipAddress === r.ipAddress && (r.subnetId === undefined || r.subnetId === f.subnetId),
        ),
      );
      for (const f of port.fixedIps)
        if (!kept.some((r) => r.ipAddress === f.ipAddress))
          run('DELETE FROM port_ips WHERE port_id = ? AND ip_address = ?', port.id, f.ipAddress);
      allocate(
        port.networkId,
        requests.filter((r) => !kept.includes(r)),
        port.id,
      );
    },
  };
}
