import type Database from 'better-sqlite3';
import { DbConflictError, DbInvalidActionError, DbNotFoundError, DbQuotaExceededError } from './errors.js';
import { cidrRange, ipToInt, portsWriter, toSubnet } from './networks.js';
import { bool, json, num, type Row, statements, str, strOrNull } from './rows.js';
import {
  type CloudSql,
  FLOATING_IP_OWNER,
  type FloatingIp,
  type FloatingIpAssociation,
  type GatewayRequest,
  type Port,
  ROUTER_GATEWAY_OWNER,
  ROUTER_INTERFACE_OWNER,
  type Router,
  type RouterInterface,
  type RouterRoute,
  type Subnet,
} from './types.js';

const toFloatingIp = (r: Row): FloatingIp => ({
  id: str(r.id),
  projectId: str(r.project_id),
  floatingNetworkId: str(r.floating_network_id),
  floatingPortId: str(r.floating_port_id),
  floatingIpAddress: str(r.floating_ip_address),
  fixedPortId: strOrNull(r.fixed_port_id),
  fixedIpAddress: strOrNull(r.fixed_ip_address),
  routerId: strOrNull(r.router_id),
  description: str(r.description),
  createdAt: str(r.created_at),
  updatedAt: str(r.updated_at),
});

/** Neutron's `BadRequest(resource=…, msg=…)` message. */
const badRequest = (resource: string, msg: string) => new DbInvalidActionError(`Bad ${resource} request: ${msg}.`);

const inside = (ip: string, cidr: string) => {
  const { first, last } = cidrRange(cidr);
  const n = ipToInt(ip);
  return n >= first && n <= last;
};

/**
 * The `routers` group: Neutron's routers and floating IPs, as neutron/db/l3_db.py,
 * extraroute_db.py and l3_gwmode_db.py keep them, each message Neutron's. A router's ports are
 * ports of the `networks` group, addressed by its one IPAM (`portsWriter`) and tied to the router
 * in `router_ports`: its gateway on an external network (of project '', hidden from the tenant
 * as Neutron's is), its interfaces on project networks. A floating IP is a port of an external
 * network bound to a fixed address behind a router whose gateway is on that network; the
 * schema's trigger unbinds it when the bound port goes, whichever way.
 */
export function routersSql(db: Database.Database): CloudSql['routers'] {
  const { all, one, run, insert, mustChange } = statements(db);
  const ports = portsWriter(db);

  const toRouter = (r: Row): Router => {
    const legs = all('SELECT port_id, port_type FROM router_ports WHERE router_id = ? ORDER BY rowid', r.id);
    return {
      id: str(r.id),
      projectId: str(r.project_id),
      name: str(r.name),
      description: str(r.description),
      adminStateUp: bool(r.admin_state_up),
      enableSnat: bool(r.enable_snat),
      routes: json<RouterRoute[]>(r.routes),
      gatewayPortId: strOrNull(legs.find((l) => l.port_type === ROUTER_GATEWAY_OWNER)?.port_id),
      interfacePortIds: legs.filter((l) => l.port_type === ROUTER_INTERFACE_OWNER).map((l) => str(l.port_id)),
      createdAt: str(r.created_at),
      updatedAt: str(r.updated_at),
    };
  };
  const getRouter = (id: string) => {
    const r = one('SELECT * FROM routers WHERE id = ?', id);
    return r ? toRouter(r) : null;
  };
  const mustRouter = (id: string): Router => {
    const router = getRouter(id);
    if (!router) throw new DbNotFoundError('router', id);
    return router;
  };
  const subnet = (id: string): Subnet => {
    const r = one('SELECT * FROM subnets WHERE id = ?', id);
    if (!r) throw new DbNotFoundError('subnet', id);
    return toSubnet(r);
  };
  const subnetsOf = (networkId: string) =>
    all('SELECT * FROM subnets WHERE network_id = ? ORDER BY created_at, id', networkId).map(toSubnet);
  const legsOf = (routerId: string) =>
    all('SELECT port_id, port_type FROM router_ports WHERE router_id = ? ORDER BY rowid', routerId).map((l) => ({
      port: ports.get(str(l.port_id)) as Port,
      gateway: l.port_type === ROUTER_GATEWAY_OWNER,
    }));
  const touch = (id: string, now: string) => run('UPDATE routers SET updated_at = ? WHERE id = ?', now, id);

  /** l3_db.py `_check_for_dup_router_subnets`: one port a subnet, and no subnet overlapping another of the router's. */
  const checkSubnets = (routerId: string, wanted: readonly Subnet[]) => {
    const ids = new Set(wanted.map((s) => s.id));
    const theirs: Subnet[] = [];
    for (const { port, gateway } of legsOf(routerId)) {
      for (const ip of port.fixedIps)
        if (ids.has(ip.subnetId)) throw badRequest('router', `Router already has a port on subnet ${ip.subnetId}`);
      theirs.push(...(gateway ? subnetsOf(port.networkId) : port.fixedIps.map((ip) => subnet(ip.subnetId))));
    }
    for (const held of theirs)
      for (const s of wanted) {
        const [a, b] = [cidrRange(held.cidr), cidrRange(s.cidr)];
        if (a.first <= b.last && b.first <= a.last)
          throw badRequest(
            'router',
            `Cidr ${s.cidr} of subnet ${s.id} overlaps with cidr ${held.cidr} of subnet ${held.id}`,
          );
      }
  };

  /** extraroute_db.py `_validate_routes`: each nexthop on a subnet of the router's ports, none the router's own address. */
  const checkRoutes = (routerId: string, routes: readonly RouterRoute[]) => {
    const legs = legsOf(routerId).flatMap(({ port }) => port.fixedIps);
    const cidrs = legs.map((ip) => subnet(ip.subnetId).cidr);
    const text = `[${routes.map((r) => `{'destination': '${r.destination}', 'nexthop': '${r.nexthop}'}`).join(', ')}]`;
    for (const route of routes) {
      if (!cidrs.some((cidr) => inside(route.nexthop, cidr)))
        throw new DbInvalidActionError(`Invalid format for routes: ${text}, the nexthop is not connected with router`);
      if (legs.some((ip) => ip.ipAddress === route.nexthop))
        throw new DbInvalidActionError(`Invalid format for routes: ${text}, the nexthop is used by router`);
    }
  };

  const gatewayInUse = (routerId: string, networkId: string) => {
    if (one('SELECT 1 FROM floating_ips WHERE router_id = ?', routerId))
      throw new DbConflictError(
        `Gateway cannot be updated for router ${routerId}, since a gateway to external network ${networkId} is required by one or more floating IPs.`,
      );
  };

  /** Gives the router `gateway` (null: none), inside the caller's transaction. */
  const applyGateway = (router: Router, gateway: GatewayRequest | null, now: string) => {
    const current = router.gatewayPortId ? ports.get(router.gatewayPortId) : null;
    if (gateway) {
      const network = one('SELECT external FROM networks WHERE id = ?', gateway.port.networkId);
      if (!network) throw new DbNotFoundError('network', gateway.port.networkId);
      if (!bool(network.external))
        throw badRequest('router', `Network ${gateway.port.networkId} is not an external network`);
      const gateways = subnetsOf(gateway.port.networkId).map((s) => s.gatewayIp);
      for (const ip of gateway.fixedIps ?? [])
        if (ip.ipAddress !== undefined && gateways.includes(ip.ipAddress))
          throw badRequest('router', `External IP ${ip.ipAddress} is the same as the gateway IP`);
    }
    if (current && gateway && current.networkId === gateway.port.networkId) {
      if (gateway.fixedIps) ports.readdress(current, gateway.fixedIps);
    } else {
      if (current) {
        gatewayInUse(router.id, current.networkId);
        run('DELETE FROM ports WHERE id = ?', current.id);
      }
      if (gateway) {
        checkSubnets(router.id, subnetsOf(gateway.port.networkId));
        ports.insert(gateway.port, gateway.fixedIps);
        run(
          'INSERT INTO router_ports (port_id, router_id, port_type) VALUES (?, ?, ?)',
          gateway.port.id,
          router.id,
          ROUTER_GATEWAY_OWNER,
        );
      }
    }
    run(
      'UPDATE routers SET enable_snat = ?, updated_at = ? WHERE id = ?',
      (gateway ? gateway.enableSnat : router.enableSnat) ? 1 : 0,
      now,
      router.id,
    );
    checkRoutes(router.id, router.routes);
  };

  /** l3_db.py `get_router_for_floatingip`: a router with an interface on the subnet and its gateway on the network, the one at the subnet's gateway first. */
  const routerFor = (port: Port, subnetId: string, networkId: string): string => {
    const candidates = all(
      `SELECT rp.router_id, pi.ip_address FROM router_ports rp JOIN port_ips pi ON pi.port_id = rp.port_id
       WHERE rp.port_type = ? AND pi.subnet_id = ? AND EXISTS (SELECT 1 FROM router_ports g
         JOIN ports gp ON gp.id = g.port_id WHERE g.router_id = rp.router_id AND g.port_type = ? AND gp.network_id = ?)
       ORDER BY rp.rowid`,
      ROUTER_INTERFACE_OWNER,
      subnetId,
      ROUTER_GATEWAY_OWNER,
      networkId,
    );
    const gatewayIp = subnet(subnetId).gatewayIp;
    const chosen = candidates.find((c) => c.ip_address === gatewayIp) ?? candidates[0];
    if (!chosen)
      throw new DbNotFoundError(
        'router',
        '',
        `External network ${networkId} is not reachable from subnet ${subnetId}.  Therefore, cannot associate Port ${port.id} with a Floating IP.`,
      );
    return str(chosen.router_id);
  };

  /** l3_db.py `_check_and_get_fip_assoc`: the fixed address, the router, and that address has no other floating IP. */
  const bind = (
    fip: Pick<FloatingIp, 'id' | 'floatingNetworkId' | 'fixedPortId'>,
    address: string,
    asked: FloatingIpAssociation,
  ) => {
    const port = ports.get(asked.portId);
    if (!port) throw new DbNotFoundError('port', asked.portId);
    let fixed = port.fixedIps[0];
    if (asked.fixedIpAddress !== null) {
      fixed = port.fixedIps.find((f) => f.ipAddress === asked.fixedIpAddress);
      if (!fixed) throw badRequest('floatingip', `Port ${port.id} does not have fixed ip ${asked.fixedIpAddress}`);
    } else if (!fixed) {
      throw badRequest('floatingip', `Cannot add floating IP to port ${port.id} that has no fixed IPv4 addresses`);
    } else if (port.fixedIps.length > 1) {
      throw badRequest(
        'floatingip',
        `Port ${port.id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP`,
      );
    }
    const routerId = routerFor(port, fixed.subnetId, fip.floatingNetworkId);
    if (
      port.id !== fip.fixedPortId &&
      one(
        'SELECT 1 FROM floating_ips WHERE fixed_port_id = ? AND floating_network_id = ? AND fixed_ip_address = ?',
        port.id,
        fip.floatingNetworkId,
        fixed.ipAddress,
      )
    )
      throw new DbConflictError(
        `Cannot associate floating IP ${address} (${fip.id}) with port ${port.id} using fixed IP ${fixed.ipAddress}, as that fixed IP already has a floating IP on external network ${fip.floatingNetworkId}.`,
      );
    return { fixedPortId: port.id, fixedIpAddress: fixed.ipAddress, routerId };
  };

  const getFloatingIp = (id: string) => {
    const r = one('SELECT * FROM floating_ips WHERE id = ?', id);
    return r ? toFloatingIp(r) : null;
  };
  const checkQuota = (table: string, resource: string, projectId: string, quota: number) => {
    if (quota >= 0 && num(one(`SELECT COUNT(*) AS n FROM ${table} WHERE project_id = ?`, projectId)?.n) + 1 > quota)
      throw new DbQuotaExceededError(`Quota exceeded for resources: ['${resource}'].`);
  };

  const create = db.transaction(
    (router: Omit<Router, 'gatewayPortId' | 'interfacePortIds'>, gateway: GatewayRequest | null, quota: number) => {
      checkQuota('routers', 'router', router.projectId, quota);
      insert(
        'routers',
        {
          id: router.id,
          project_id: router.projectId,
          name: router.name,
          description: router.description,
          admin_state_up: router.adminStateUp,
          enable_snat: router.enableSnat,
          routes: router.routes,
          created_at: router.createdAt,
          updated_at: router.updatedAt,
        },
        `router ${router.id}`,
      );
      if (gateway) applyGateway(mustRouter(router.id), gateway, router.updatedAt);
      return mustRouter(router.id);
    },
  );

  const update = db.transaction(
    (id: string, patch: Partial<Pick<Router, 'name' | 'description' | 'adminStateUp' | 'routes'>>, now: string) => {
      const next = {
        ...mustRouter(id),
        ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
      };
      if (patch.routes) checkRoutes(id, patch.routes);
      run(
        'UPDATE routers SET name = ?, description = ?, admin_state_up = ?, routes = ?, updated_at = ? WHERE id = ?',
        next.name,
        next.description,
        next.adminStateUp ? 1 : 0,
        JSON.stringify(next.routes),
        now,
        id,
      );
      return mustRouter(id);
    },
  );

  const remove = db.transaction((id: string) => {
    const router = mustRouter(id);
    if (router.interfacePortIds.length)
      throw new DbConflictError(`Router ${id} has ports still attached: ${router.interfacePortIds.join(', ')}`);
    if (router.gatewayPortId) {
      gatewayInUse(id, ports.get(router.gatewayPortId)?.networkId ?? '');
      run('DELETE FROM ports WHERE id = ?', router.gatewayPortId);
    }
    run('DELETE FROM routers WHERE id = ?', id);
  });

  const addInterface = db.transaction(
    (id: string, request: Parameters<CloudSql['routers']['addInterface']>[1], now: string): RouterInterface => {
      mustRouter(id);
      let portId: string;
      if (request.kind === 'subnet') {
        const s = subnet(request.subnetId);
        if (!s.gatewayIp) throw badRequest('router', 'Subnet for router interface must have a gateway IP');
        checkSubnets(id, [s]);
        ports.insert({ ...request.port, networkId: s.networkId }, [{ subnetId: s.id, ipAddress: s.gatewayIp }]);
        portId = request.port.id;
      } else {
        const port = ports.get(request.portId);
        if (!port) throw new DbNotFoundError('port', request.portId);
        if (port.deviceId !== '')
          throw new DbConflictError(
            `Unable to complete operation on port ${port.id} for network ${port.networkId}. Port already has an attached device ${port.deviceId}.`,
          );
        if (port.fixedIps.length === 0) throw badRequest('router', 'Router port must have at least one fixed IP');
        const subnets = [...new Set(port.fixedIps.map((f) => f.subnetId))].map(subnet);
        checkSubnets(id, subnets);
        if (subnets.length > 1) throw badRequest('router', 'Cannot have multiple IPv4 subnets on router port');
        run(
          'UPDATE ports SET device_id = ?, device_owner = ?, updated_at = ? WHERE id = ?',
          id,
          ROUTER_INTERFACE_OWNER,
          now,
          port.id,
        );
        portId = port.id;
      }
      run(
        'INSERT INTO router_ports (port_id, router_id, port_type) VALUES (?, ?, ?)',
        portId,
        id,
        ROUTER_INTERFACE_OWNER,
      );
      touch(id, now);
      const port = ports.get(portId) as Port;
      return { port, subnetIds: [...new Set(port.fixedIps.map((f) => f.subnetId))] };
    },
  );

  /** l3_db.py `_confirm_router_interface_not_in_use` with extraroute_db.py's: no floating IP and no route goes through it. */
  const confirmNotInUse = (router: Router, s: Subnet) => {
    for (const fip of all('SELECT fixed_port_id, fixed_ip_address FROM floating_ips WHERE router_id = ?', router.id))
      if (
        inside(str(fip.fixed_ip_address), s.cidr) &&
        one('SELECT 1 FROM port_ips WHERE port_id = ? AND subnet_id = ?', fip.fixed_port_id, s.id)
      )
        throw new DbConflictError(
          `Router interface for subnet ${s.id} on router ${router.id} cannot be deleted, as it is required by one or more floating IPs.`,
        );
    if (router.routes.some((r) => inside(r.nexthop, s.cidr)))
      throw new DbConflictError(
        `Router interface for subnet ${s.id} on router ${router.id} cannot be deleted, as it is required by one or more routes.`,
      );
  };

  const removeInterface = db.transaction((id: string, portId: string | null, subnetId: string | null) => {
    const router = mustRouter(id);
    let port: Port | undefined;
    let subnets: Subnet[];
    if (portId !== null) {
      port = router.interfacePortIds.includes(portId) ? (ports.get(portId) ?? undefined) : undefined;
      if (!port) throw new DbNotFoundError('port', portId, `Router ${id} does not have an interface with id ${portId}`);
      const ids = [...new Set(port.fixedIps.map((f) => f.subnetId))];
      if (subnetId !== null && !ids.includes(subnetId))
        throw new DbInvalidActionError(`Subnet on port ${portId} does not match the requested subnet ${subnetId}.`);
      subnets = ids.map(subnet);
    } else {
      const s = subnet(subnetId ?? '');
      port =
        router.interfacePortIds.map((p) => ports.get(p)).find((p) => p?.fixedIps.some((f) => f.subnetId === s.id)) ??
        undefined;
      if (!port) throw new DbNotFoundError('subnet', s.id, `Router ${id} has no interface on subnet ${s.id}`);
      subnets = [s];
    }
    for (const s of subnets) confirmNotInUse(router, s);
    run('DELETE FROM ports WHERE id = ?', port.id);
    return { port, subnetIds: subnets.map((s) => s.id) };
  });

  const createFloatingIp = db.transaction(
    (
      fip: Parameters<CloudSql['routers']['createFloatingIp']>[0],
      port: Omit<Port, 'fixedIps'>,
      fixedIps: Parameters<CloudSql['routers']['createFloatingIp']>[2],
      association: FloatingIpAssociation | null,
      quota: number,
    ): FloatingIp => {
      checkQuota('floating_ips', 'floatingip', fip.projectId, quota);
      const network = one('SELECT external FROM networks WHERE id = ?', fip.floatingNetworkId);
      if (!network) throw new DbNotFoundError('network', fip.floatingNetworkId);
      if (!bool(network.external))
        throw badRequest('floatingip', `Network ${fip.floatingNetworkId} is not a valid external network`);
      if (subnetsOf(fip.floatingNetworkId).length === 0)
        throw badRequest('floatingip', `Network ${fip.floatingNetworkId} does not contain any IPv4 subnet`);
      ports.insert(
        { ...port, networkId: fip.floatingNetworkId, projectId: '', deviceId: fip.id, deviceOwner: FLOATING_IP_OWNER },
        fixedIps,
      );
      const [address] = ports.get(port.id)?.fixedIps ?? [];
      if (!address)
        throw badRequest('floatingip', `Unable to find any IP address on external network ${fip.floatingNetworkId}`);
      const bound = association
        ? bind({ ...fip, fixedPortId: null }, address.ipAddress, association)
        : { fixedPortId: null, fixedIpAddress: null, routerId: null };
      insert(
        'floating_ips',
        {
          id: fip.id,
          project_id: fip.projectId,
          floating_network_id: fip.floatingNetworkId,
          floating_port_id: port.id,
          floating_ip_address: address.ipAddress,
          fixed_port_id: bound.fixedPortId,
          fixed_ip_address: bound.fixedIpAddress,
          router_id: bound.routerId,
          description: fip.description,
          created_at: fip.createdAt,
          updated_at: fip.updatedAt,
        },
        `floating IP ${fip.id}`,
      );
      return getFloatingIp(fip.id) as FloatingIp;
    },
  );

  const updateFloatingIp = db.transaction(
    (id: string, association: FloatingIpAssociation | null, keep: boolean, description: string | null, now: string) => {
      const fip = getFloatingIp(id);
      if (!fip) throw new DbNotFoundError('floating IP', id);
      const bound = keep
        ? fip
        : association
          ? bind(fip, fip.floatingIpAddress, association)
          : { fixedPortId: null, fixedIpAddress: null, routerId: null };
      run(
        `UPDATE floating_ips SET fixed_port_id = ?, fixed_ip_address = ?, router_id = ?, description = ?, updated_at = ?
         WHERE id = ?`,
        bound.fixedPortId,
        bound.fixedIpAddress,
        bound.routerId,
        description ?? fip.description,
        now,
        id,
      );
      return getFloatingIp(id) as FloatingIp;
    },
  );

  return {
    create: (router, gateway, quota) => create(router, gateway, quota),
    get: getRouter,
    list: (filter) =>
      (filter.projectId === undefined
        ? all('SELECT * FROM routers ORDER BY created_at, id')
        : all('SELECT * FROM routers WHERE project_id = ? ORDER BY created_at, id', filter.projectId)
      ).map(toRouter),
    ids: () => all('SELECT id FROM routers ORDER BY id').map((r) => str(r.id)),
    update: (id, patch, now) => update(id, patch, now),
    setGateway: db.transaction((id: string, gateway: GatewayRequest | null, now: string) => {
      applyGateway(mustRouter(id), gateway, now);
      return mustRouter(id);
    }),
    delete: (id) => remove(id),
    addInterface: (id, request, now) => addInterface(id, request, now),
    removeInterface: (id, portId, subnetId) => removeInterface(id, portId, subnetId),
    ofPort: (portId) => strOrNull(one('SELECT router_id FROM router_ports WHERE port_id = ?', portId)?.router_id),
    createFloatingIp: (fip, port, fixedIps, association, quota) =>
      createFloatingIp(fip, port, fixedIps, association, quota),
    getFloatingIp,
    floatingIps: (filter) => {
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (filter.projectId !== undefined) {
        clauses.push('project_id = ?');
        params.push(filter.projectId);
      }
      if (filter.routerId !== undefined) {
        clauses.push('router_id = ?');
        params.push(filter.routerId);
      }
      if (filter.fixedPortIds !== undefined) {
        clauses.push(`fixed_port_id IN (${filter.fixedPortIds.map(() => '?').join(', ') || 'NULL'})`);
        params.push(...filter.fixedPortIds);
      }
      const sql = `SELECT * FROM floating_ips${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY created_at, id`;
      return all(sql, ...params).map(toFloatingIp);
    },
    updateFloatingIp: (id, association, keep, description, now) =>
      updateFloatingIp(id, association, keep, description, now),
    deleteFloatingIp: (id) => {
      const fip = getFloatingIp(id);
      if (!fip) throw new DbNotFoundError('floating IP', id);
      mustChange(run('DELETE FROM ports WHERE id = ?', fip.floatingPortId), 'floating IP', id);
    },
  };
}
