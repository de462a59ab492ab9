/**
 * The DHCP and ProxyDHCP protocol logic (RFC 2131 §4.3, PXE 2.1 §2.2): given a decoded request
 * and the time, decide the reply and the lease change. Pure: no sockets, no clock, no store;
 * `dhcp-io.ts` does those.
 */
import { type DhcpPacket, MSG, OPT, ipBytes, ipOption, macOf, messageTypeOf, u32Bytes } from './dhcp-codec.js';
import { type Subnet, inSubnet, intToIp, ipToInt } from './ipv4.js';
import type { Lease } from './leases.js';
import { type ClientArch, classifyClient, smbiosGuid } from './pxe.js';

/** What the server hands out and how it boots PXE/iPXE clients. */
export interface DhcpConfig {
  /** `dhcp`: addresses and boot answers; `proxy`: PXE boot answers only, beside another DHCP server. */
  mode: 'dhcp' | 'proxy';
  serverIp: string;
  subnet: Subnet;
  /** The dynamic pool, inclusive (integers). */
  rangeFirst: number;
  rangeLast: number;
  router?: string;
  dns?: readonly string[];
  leaseSeconds: number;
  /** MAC (lowercase, colon-separated) → fixed address. */
  reservations: ReadonlyMap<string, string>;
  /** TFTP file name of the iPXE binary per firmware family (from Debian's `ipxe`: /usr/lib/ipxe/). */
  bootFiles: Readonly<Record<Exclude<ClientArch, 'unknown'>, string>>;
  /** The HTTP URL of the iPXE script for `mac`; iPXE clients get this instead of a binary. */
  scriptUrl: (mac: string) => string;
}

/** Debian's `ipxe` package ships the BIOS and x64 UEFI binaries; ARM64 needs one supplied by the operator. */
export const DEFAULT_BOOT_FILES: DhcpConfig['bootFiles'] = {
  bios: 'undionly.kpxe',
  'uefi-ia32': 'ipxe.efi',
  'uefi-x64': 'ipxe.efi',
  arm64: 'ipxe-arm64.efi',
};

/** A boot event for the log: dot.case type, the client, and what happened. */
export interface NetbootEvent {
  type: string;
  mac: string;
  ip?: string;
  detail?: string;
}

/**
 * Where the reply goes (RFC 2131 §4.1): `broadcast` means the subnet's broadcast address;
 * `sender` the address and port the request came from (PXE 2.1 §2.2.5: a boot server answers
 * a request on port 4011 at the client's source port).
 */
export type Destination = { kind: 'broadcast' } | { kind: 'sender' } | { kind: 'unicast'; ip: string; port: number };

/** The outcome of one request: a reply (or silence), a lease to persist or forget, and a log event. */
export interface Decision {
  reply?: DhcpPacket;
  to?: Destination;
  /** Persist this binding before sending the reply. */
  bind?: Lease;
  /** Forget the binding of this MAC. */
  unbind?: string;
  event: NetbootEvent;
}

interface Entry {
  mac: string;
  ip: number;
  expiresAt: number;
  state: 'offered' | 'bound' | 'declined';
  hostname?: string;
  guid?: string;
}

/** An offered address is held for its client this long before it returns to the pool. */
const OFFER_HOLD_MS = 60_000;
/** PXE 2.1 §2.2.5 option 43 sub-option 6 (discovery control) = 8: use the boot file in this reply. */
const PXE_VENDOR_OPTIONS = Buffer.from([6, 1, 8, 255]);
/** iPXE encapsulated option 176 ("no-pxedhcp") = 1: do not wait for ProxyDHCP offers (ipxe.org/cfg/skip-san-boot…). */
const IPXE_NO_PXEDHCP = Buffer.from([176, 1, 1]);

/** The DHCP responder: an in-memory lease table and the RFC 2131 decisions on it. */
export class DhcpResponder {
  private readonly byMac = new Map<string, Entry>();
  private readonly byIp = new Map<number, Entry>();
  private readonly reservedIps: Set<number>;
  private cursor: number;

  constructor(private readonly config: DhcpConfig) {
    this.reservedIps = new Set([...config.reservations.values()].map(ipToInt));
    this.cursor = config.rangeFirst;
  }

  /** Restores bindings from the store (expired ones are kept until reused: the client may come back). */
  restore(leases: readonly Lease[]): void {
    for (const l of leases)
      this.put({
        mac: l.mac,
        ip: ipToInt(l.ip),
        expiresAt: l.expiresAt,
        state: 'bound',
        hostname: l.hostname,
        guid: l.guid,
      });
  }

  /** Decides what to do with one request received on port 67 (`viaPxePort` false) or 4011 (true). */
  handle(req: DhcpPacket, now: number, viaPxePort = false): Decision {
    const mac = macOf(req);
    const type = messageTypeOf(req);
    if (req.op !== 1 || type === undefined)
      return { event: { type: 'dhcp.ignored', mac, detail: 'not a DHCP request' } };
    if (this.config.mode === 'proxy' || viaPxePort) return this.proxy(req, type, mac, viaPxePort);
    switch (type) {
      case MSG.DISCOVER:
        return this.discover(req, mac, now);
      case MSG.REQUEST:
        return this.request(req, mac, now);
      case MSG.RELEASE:
        return this.release(req, mac);
      case MSG.DECLINE:
        return this.decline(req, mac, now);
      case MSG.INFORM:
        return this.inform(req, mac);
      default:
        return { event: { type: 'dhcp.ignored', mac, detail: `message type ${type}` } };
    }
  }

  /** The current bindings (bound, unexpired), for tests and status. */
  leases(now: number): Lease[] {
    return [...this.byMac.values()].filter((e) => e.state === 'bound' && e.expiresAt > now).map(leaseOfEntry);
  }

  /**
   * The binding `mac` holds at `now` (bound, unexpired), or undefined: an address only offered,
   * released, declined or expired is not held. HTTP boot asks this before it hands out a token.
   */
  leaseOf(mac: string, now: number): Lease | undefined {
    const entry = this.byMac.get(mac);
    return entry?.state === 'bound' && entry.expiresAt > now ? leaseOfEntry(entry) : undefined;
  }

  // RFC 2131 §4.3.1
  private discover(req: DhcpPacket, mac: string, now: number): Decision {
    const ip = this.allocate(mac, ipOption(req, OPT.REQUESTED_IP), now);
    if (ip === undefined) return { event: { type: 'dhcp.pool-exhausted', mac, detail: 'no free address: no offer' } };
    const existing = this.byMac.get(mac);
    if (existing?.ip !== ip || existing.state !== 'bound') {
      this.put({ mac, ip, expiresAt: now + OFFER_HOLD_MS, state: 'offered' });
    }
    const reply = this.reply(req, MSG.OFFER, intToIp(ip), true);
    return {
      reply,
      to: this.destination(req),
      event: { type: 'dhcp.offer', mac, ip: intToIp(ip), detail: bootDetail(req, reply) },
    };
  }

  // RFC 2131 §4.3.2: SELECTING, INIT-REBOOT, RENEWING/REBINDING.
  private request(req: DhcpPacket, mac: string, now: number): Decision {
    const serverId = ipOption(req, OPT.SERVER_ID);
    const requested = ipOption(req, OPT.REQUESTED_IP);
    const entry = this.byMac.get(mac);
    if (serverId !== undefined && serverId !== this.config.serverIp) {
      // The client chose another server's offer: give ours back to the pool, stay silent.
      if (entry?.state === 'offered') this.drop(entry);
      return { event: { type: 'dhcp.other-server', mac, detail: `client chose ${serverId}` } };
    }
    const wanted = requested ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined);
    if (wanted === undefined) return this.nak(req, mac, 'REQUEST names no address');
    const ip = ipToInt(wanted);
    if (!inSubnet(this.config.subnet, ip)) return this.nak(req, mac, `${wanted} is not on this subnet`);
    const reserved = this.config.reservations.get(mac);
    const mine = entry !== undefined && entry.ip === ip && entry.state !== 'declined';
    if (!mine) {
      if (reserved !== undefined && reserved !== wanted) return this.nak(req, mac, `${mac} is reserved ${reserved}`);
      if (reserved === undefined && !this.allocatable(mac, ip, now)) return this.nak(req, mac, `${wanted} is not free`);
    }
    const hostnameOpt = req.options.get(OPT.HOSTNAME);
    const lease: Lease = { mac, ip: wanted, expiresAt: now + this.config.leaseSeconds * 1000 };
    if (hostnameOpt) lease.hostname = hostnameOpt.toString('latin1');
    const guid = smbiosGuid(req);
    if (guid) lease.guid = guid; // HTTP boot binds the token to it
    this.put({ ...lease, ip, state: 'bound' });
    const reply = this.reply(req, MSG.ACK, wanted, true);
    return {
      reply,
      to: this.destination(req),
      bind: lease,
      event: { type: 'dhcp.ack', mac, ip: wanted, detail: bootDetail(req, reply) },
    };
  }

  private release(req: DhcpPacket, mac: string): Decision {
    const entry = this.byMac.get(mac);
    if (!entry || intToIp(entry.ip) !== req.ciaddr) {
      return { event: { type: 'dhcp.ignored', mac, detail: `RELEASE of ${req.ciaddr}, not its lease` } };
    }
    this.drop(entry);
    return { unbind: mac, event: { type: 'dhcp.release', mac, ip: req.ciaddr } };
  }

  // RFC 2131 §4.3.3: the address is in use by someone else; keep it out of the pool for a lease time.
  private decline(req: DhcpPacket, mac: string, now: number): Decision {
    const requested = ipOption(req, OPT.REQUESTED_IP);
    if (requested === undefined) return { event: { type: 'dhcp.ignored', mac, detail: 'DECLINE without address' } };
    const entry = this.byMac.get(mac);
    if (entry) this.drop(entry);
    const ip = ipToInt(requested);
    if (inSubnet(this.config.subnet, ip)) {
      this.put({
        mac: `declined:${requested}`,
        ip,
        expiresAt: now + this.config.leaseSeconds * 1000,
        state: 'declined',
      });
    }
    return { unbind: mac, event: { type: 'dhcp.decline', mac, ip: requested } };
  }

  // RFC 2131 §4.3.5: configuration only, no address, no lease time.
  private inform(req: DhcpPacket, mac: string): Decision {
    const reply = this.reply(req, MSG.ACK, '0.0.0.0', false);
    const to: Destination =
      req.ciaddr !== '0.0.0.0' ? { kind: 'unicast', ip: req.ciaddr, port: 68 } : { kind: 'broadcast' };
    return { reply, to, event: { type: 'dhcp.inform', mac, ip: req.ciaddr } };
  }

  private nak(req: DhcpPacket, mac: string, why: string): Decision {
    const options = new Map<number, Buffer>([
      [OPT.MESSAGE_TYPE, Buffer.from([MSG.NAK])],
      [OPT.SERVER_ID, ipBytes(this.config.serverIp)],
      [OPT.MESSAGE, Buffer.from(why, 'latin1')],
    ]);
    const reply = { ...base(req), options };
    // RFC 2131 §4.1: a NAK is broadcast unless it goes back through a relay.
    const to: Destination =
      req.giaddr !== '0.0.0.0' ? { kind: 'unicast', ip: req.giaddr, port: 67 } : { kind: 'broadcast' };
    return { reply, to, event: { type: 'dhcp.nak', mac, detail: why } };
  }

  /** PXE 2.1 §2.2.4: ProxyDHCP offers on 67 and answers on 4011 carry only boot information. */
  private proxy(req: DhcpPacket, type: number, mac: string, viaPxePort: boolean): Decision {
    const kind = classifyClient(req);
    if (!kind.pxe) return { event: { type: 'proxydhcp.ignored', mac, detail: 'not a PXE client' } };
    const answer = viaPxePort ? type === MSG.REQUEST || type === MSG.INFORM : type === MSG.DISCOVER;
    if (!answer)
      return {
        event: { type: 'proxydhcp.ignored', mac, detail: `message type ${type} on port ${viaPxePort ? 4011 : 67}` },
      };
    const reply = this.reply(req, viaPxePort ? MSG.ACK : MSG.OFFER, '0.0.0.0', false);
    const to: Destination = viaPxePort ? { kind: 'sender' } : this.destination(req);
    return {
      reply,
      to,
      event: { type: viaPxePort ? 'proxydhcp.ack' : 'proxydhcp.offer', mac, detail: bootDetail(req, reply) },
    };
  }

  /** An OFFER or ACK with the lease (when `lease`) and the boot information this client needs. */
  private reply(req: DhcpPacket, type: number, yiaddr: string, lease: boolean): DhcpPacket {
    const c = this.config;
    const mac = macOf(req);
    const kind = classifyClient(req);
    const options = new Map<number, Buffer>([
      [OPT.MESSAGE_TYPE, Buffer.from([type])],
      [OPT.SERVER_ID, ipBytes(c.serverIp)],
    ]);
    if (lease) {
      options.set(OPT.LEASE_TIME, u32Bytes(c.leaseSeconds));
      options.set(OPT.RENEWAL_T1, u32Bytes(Math.floor(c.leaseSeconds / 2)));
      options.set(OPT.REBINDING_T2, u32Bytes(Math.floor((c.leaseSeconds * 7) / 8)));
    }
    if (c.mode === 'dhcp') {
      options.set(OPT.SUBNET_MASK, u32Bytes(c.subnet.mask));
      if (c.router) options.set(OPT.ROUTER, ipBytes(c.router));
      if (c.dns?.length) options.set(OPT.DNS, ipBytes(...c.dns));
    }
    const packet: DhcpPacket = { ...base(req), yiaddr, options };
    if (kind.ipxe) {
      // The chain ends here: iPXE fetches its per-MAC script over HTTP instead of a binary again.
      // iPXE takes a ProxyDHCP answer only with a next server and a file (its dhcp_has_pxeopts).
      packet.siaddr = c.serverIp;
      packet.file = c.scriptUrl(mac);
      options.set(OPT.IPXE_ENCAP, IPXE_NO_PXEDHCP);
    } else if (kind.pxe && kind.arch !== 'unknown') {
      packet.siaddr = c.serverIp; // RFC 2131 §2: next server (TFTP)
      packet.file = c.bootFiles[kind.arch];
    }
    if (kind.pxe) {
      options.set(OPT.VENDOR_CLASS, Buffer.from('PXEClient'));
      if (c.mode === 'proxy') options.set(OPT.VENDOR_SPECIFIC, PXE_VENDOR_OPTIONS);
      const guid = req.options.get(OPT.CLIENT_UUID);
      if (guid) options.set(OPT.CLIENT_UUID, guid); // PXE 2.1 §2.2.4: echo the client's GUID
    }
    return packet;
  }

  /** RFC 2131 §4.1: through the relay, to the configured client, or broadcast. */
  private destination(req: DhcpPacket): Destination {
    if (req.giaddr !== '0.0.0.0') return { kind: 'unicast', ip: req.giaddr, port: 67 };
    if (req.ciaddr !== '0.0.0.0') return { kind: 'unicast', ip: req.ciaddr, port: 68 };
    return { kind: 'broadcast' };
  }

  /** Reservation, else this client's previous address, else the one it asks for, else the next free one. */
  private allocate(mac: string, requested: string | undefined, now: number): number | undefined {
    const reserved = this.config.reservations.get(mac);
    if (reserved !== undefined) return ipToInt(reserved);
    const entry = this.byMac.get(mac);
    if (entry && entry.state !== 'declined' && this.inPool(entry.ip)) return entry.ip;
    if (requested !== undefined) {
      const ip = ipToInt(requested);
      if (this.inPool(ip) && this.allocatable(mac, ip, now)) return ip;
    }
    const size = this.config.rangeLast - this.config.rangeFirst + 1;
    for (let i = 0; i < size; i++) {
      const ip = this.cursor;
      this.cursor = ip >= this.config.rangeLast ? this.config.rangeFirst : ip + 1;
      if (this.allocatable(mac, ip, now)) return ip;
    }
    return undefined;
  }

  private inPool(ip: number): boolean {
    return ip >= this.config.rangeFirst && ip <= this.config.rangeLast && !this.reservedIps.has(ip);
  }

  private allocatable(mac: string, ip: number, now: number): boolean {
    if (!this.inPool(ip)) return false;
    const holder = this.byIp.get(ip);
    return holder === undefined || holder.mac === mac || holder.expiresAt <= now;
  }

  private put(entry: Entry): void {
    const old = this.byMac.get(entry.mac);
    if (old) this.drop(old);
    const holder = this.byIp.get(entry.ip);
    if (holder) this.drop(holder);
    this.byMac.set(entry.mac, entry);
    this.byIp.set(entry.ip, entry);
  }

  private drop(entry: Entry): void {
    if (this.byMac.get(entry.mac) === entry) this.byMac.delete(entry.mac);
    if (this.byIp.get(entry.ip) === entry) this.byIp.delete(entry.ip);
  }
}

function leaseOfEntry(e: Entry): Lease {
  return { mac: e.mac, ip: intToIp(e.ip), expiresAt: e.expiresAt, ...(e.guid ? { guid: e.guid } : {}) };
}

/** The BOOTREPLY header fields copied from the request (RFC 2131 §4.3.1, Table 3). */
function base(req: DhcpPacket): DhcpPacket {
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: req.ciaddr,
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: '',
    options: new Map(),
  };
}

/** The boot log's detail for an answer: which firmware asked (PXE 2.1 / iPXE) and what it boots. */
function bootDetail(req: DhcpPacket, reply: DhcpPacket): string | undefined {
  const kind = classifyClient(req);
  const who = kind.ipxe ? `${kind.arch} iPXE: ` : kind.pxe ? `${kind.arch} PXE: ` : '';
  return reply.file ? `${who}boot ${reply.file}` : undefined;
}
