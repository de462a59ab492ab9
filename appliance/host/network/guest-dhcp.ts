/**
 * The guests' DHCP server logic (RFC 2131 §4.3), pure: a node answers only its own guests'
 * ports, each with its port's fixed address; everything else is silence. Replies come from the
 * metadata address (169.254.169.254, the server identifier) and carry a classless static route
 * to it (RFC 3442), so a guest's metadata requests go straight to its own node.
 */
import { type DhcpPacket, MSG, OPT } from '../../../bootstrap/index.js';

/** Where guests find the metadata service, and the DHCP server's identifier. */
export const METADATA_ADDRESS = '169.254.169.254';

/** What a port's guest is told. */
export interface GuestLease {
  readonly ip: string;
  readonly prefixLength: number;
  readonly gateway: string | null;
  readonly mtu: number;
  readonly hostname: string;
  readonly dns: readonly string[];
}

/** RFC 2131 §4.3.1: a day; a guest renews at half of it (T1), from its own node. */
const LEASE_SECONDS = 86_400;
/** RFC 2132 §9.6 option 53 values we answer. */
const ANSWERS: Readonly<Record<number, number>> = {
  [MSG.DISCOVER]: MSG.OFFER,
  [MSG.REQUEST]: MSG.ACK,
  [MSG.INFORM]: MSG.ACK,
};

const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const maskOf = (prefix: number) => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);

/** RFC 3442 §3: each route as its prefix length, the significant octets of its destination, and the router. */
export function classlessRoutes(
  routes: readonly { destination: string; prefixLength: number; router: string }[],
): Buffer {
  return Buffer.concat(
    routes.map((r) =>
      Buffer.concat([
        Buffer.from([r.prefixLength]),
        ipBytes(r.destination).subarray(0, Math.ceil(r.prefixLength / 8)),
        ipBytes(r.router),
      ]),
    ),
  );
}

/**
 * The reply to a guest's request, or undefined: silence for a MAC this node does not know, a
 * reply (op 2) or a message type it does not answer (RELEASE, DECLINE: its address is fixed).
 * A REQUEST for another address than the port's, or to another server, is NAKed (RFC 2131
 * §4.3.2), so the guest starts over and gets its own.
 */
export function guestDhcpReply(
  request: DhcpPacket,
  lookup: (mac: string) => GuestLease | undefined,
): DhcpPacket | undefined {
  if (request.op !== 1 || request.htype !== 1 || request.hlen !== 6) return undefined;
  const type = request.options.get(OPT.MESSAGE_TYPE)?.[0];
  const answer = type === undefined ? undefined : ANSWERS[type];
  if (answer === undefined) return undefined;
  const mac = [...request.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const lease = lookup(mac);
  if (!lease) return undefined;
  const options = new Map<number, Buffer>();
  const base: DhcpPacket = {
    op: 2,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: type === MSG.INFORM ? request.ciaddr : '0.0.0.0',
    yiaddr: type === MSG.INFORM ? '0.0.0.0' : lease.ip,
    siaddr: '0.0.0.0',
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: '',
    file: '',
    options,
  };
  if (type === MSG.REQUEST) {
    const asked = request.options.get(OPT.REQUESTED_IP);
    const askedIp = asked && asked.length === 4 ? [...asked].join('.') : request.ciaddr;
    const server = request.options.get(OPT.SERVER_ID);
    const otherServer = server !== undefined && [...server].join('.') !== METADATA_ADDRESS;
    if (otherServer) return undefined; // RFC 2131 §4.3.2: the client chose another server
    if (askedIp !== lease.ip) {
      options.set(OPT.MESSAGE_TYPE, Buffer.from([MSG.NAK]));
      options.set(OPT.SERVER_ID, ipBytes(METADATA_ADDRESS));
      return { ...base, yiaddr: '0.0.0.0', ciaddr: '0.0.0.0' };
    }
  }
  options.set(OPT.MESSAGE_TYPE, Buffer.from([answer]));
  options.set(OPT.SERVER_ID, ipBytes(METADATA_ADDRESS));
  if (type !== MSG.INFORM) {
    options.set(OPT.LEASE_TIME, u32(LEASE_SECONDS));
    options.set(OPT.RENEWAL_T1, u32(LEASE_SECONDS / 2));
    options.set(OPT.REBINDING_T2, u32((LEASE_SECONDS * 7) / 8));
  }
  options.set(OPT.SUBNET_MASK, u32(maskOf(lease.prefixLength)));
  if (lease.gateway) options.set(OPT.ROUTER, ipBytes(lease.gateway));
  if (lease.dns.length > 0) options.set(OPT.DNS, Buffer.concat(lease.dns.map(ipBytes)));
  options.set(OPT.HOSTNAME, Buffer.from(lease.hostname.slice(0, 63)));
  options.set(INTERFACE_MTU, Buffer.from([lease.mtu >> 8, lease.mtu & 0xff]));
  // RFC 3442 §4: with option 121 a client ignores option 3, so the default route goes in it too.
  options.set(
    CLASSLESS_ROUTES,
    classlessRoutes([
      { destination: METADATA_ADDRESS, prefixLength: 32, router: '0.0.0.0' },
      ...(lease.gateway ? [{ destination: '0.0.0.0', prefixLength: 0, router: lease.gateway }] : []),
    ]),
  );
  return base;
}

/** RFC 2132 §5.1 option 26. */
const INTERFACE_MTU = 26;
/** RFC 3442 option 121. */
const CLASSLESS_ROUTES = 121;
