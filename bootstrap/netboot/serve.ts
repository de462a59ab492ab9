/**
 * The netboot services composed: DHCP (or ProxyDHCP), TFTP and HTTP boot on one
 * provisioning interface, all reporting into one boot event stream.
 */
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { startDhcpServer } from './dhcp-io.js';
import { DEFAULT_BOOT_FILES, type NetbootEvent } from './dhcp-server.js';
import { NetbootConfigError } from './errors.js';
import { createHttpBoot, type TokenProvider } from './http-boot.js';
import { inSubnet, ipToInt, parseCidr } from './ipv4.js';
import { FileLeaseStore, type LeaseStore } from './leases.js';
import { startRouterAdverts } from './router-adverts.js';
import { startTftpServer } from './tftp-io.js';

/** A boot event with its time and the service that saw it. */
export interface TimedNetbootEvent extends NetbootEvent {
  time: string;
}

/** What `rackseed netboot serve` needs. */
export interface NetbootOptions {
  /** The provisioning interface; required: the servers refuse to guess. */
  interface: string;
  subnet: string;
  /** `FIRST-LAST`, inside the subnet; ignored in proxy mode. */
  range?: string;
  proxy?: boolean;
  /** MAC → IP, as a JSON object in a file. */
  reservationsFile?: string;
  tftpRoot: string;
  filesDir: string;
  httpPort: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  leaseSeconds?: number;
  router?: string;
  /** Where leases are kept: a store (the provisioner's, in etcd) or a journal file. */
  leases: LeaseStore | string;
  /**
   * Makes the token a boot script carries. In DHCP mode it is asked only for a MAC whose lease
   * the asking address holds; in ProxyDHCP mode (no leases of its own) for whoever asks.
   */
  token: TokenProvider;
  /** Answer IPv6 router solicitations with radvd (default true) so iPXE does not wait for IPv6. */
  routerAdverts?: boolean;
  onEvent: (event: TimedNetbootEvent) => void;
  /** Test hooks: non-standard ports. */
  dhcpPort?: number;
  tftpPort?: number;
  now?: () => number;
}

/** The running services. */
export interface Netboot {
  serverIp: string;
  httpUrl: string;
  close(): Promise<void>;
}

/** The interface's IPv4 address on `subnet`, or a config error that says what is wrong. */
export function interfaceAddress(name: string, cidr: string): string {
  if (!name) throw new NetbootConfigError('NETBOOT_ERR_NO_INTERFACE', 'name the provisioning interface (--interface)');
  const subnet = parseCidr(cidr);
  const addrs = networkInterfaces()[name];
  if (!addrs) throw new NetbootConfigError('NETBOOT_ERR_NO_INTERFACE', `no interface ${name} here (see ip -br addr)`);
  const match = addrs.find((a) => a.family === 'IPv4' && inSubnet(subnet, ipToInt(a.address)));
  if (!match) {
    throw new NetbootConfigError('NETBOOT_ERR_NO_INTERFACE', `${name} has no IPv4 address on ${cidr}; add one first`);
  }
  return match.address;
}

/** The interface with an IPv4 address on `cidr` (a node finds its provisioning interface so). */
export function interfaceOnSubnet(cidr: string): string {
  const subnet = parseCidr(cidr);
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.family === 'IPv4' && inSubnet(subnet, ipToInt(a.address)))) return name;
  }
  throw new NetbootConfigError('NETBOOT_ERR_NO_INTERFACE', `no interface here has an IPv4 address on ${cidr}`);
}

async function readReservations(file: string | undefined): Promise<Map<string, string>> {
  if (!file) return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new NetbootConfigError('NETBOOT_ERR_BAD_RESERVATIONS', `${file}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new NetbootConfigError(
      'NETBOOT_ERR_BAD_RESERVATIONS',
      `${file} must be a JSON object {"aa:bb:…": "10.0.0.5"}`,
    );
  }
  const map = new Map<string, string>();
  for (const [mac, ip] of Object.entries(parsed)) {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac) || typeof ip !== 'string') {
      throw new NetbootConfigError('NETBOOT_ERR_BAD_RESERVATIONS', `${file}: bad entry ${mac}`);
    }
    ipToInt(ip);
    map.set(mac.toLowerCase(), ip);
  }
  return map;
}

/** Starts DHCP (or ProxyDHCP), TFTP and HTTP boot on `options.interface`. */
export async function startNetboot(options: NetbootOptions): Promise<Netboot> {
  const serverIp = interfaceAddress(options.interface, options.subnet);
  const subnet = parseCidr(options.subnet);
  const mode = options.proxy ? 'proxy' : 'dhcp';
  let rangeFirst = 0;
  let rangeLast = -1;
  if (mode === 'dhcp') {
    const [first, last] = (options.range ?? '').split('-');
    if (!first || !last) throw new NetbootConfigError('NETBOOT_ERR_BAD_RANGE', 'give the pool as --range FIRST-LAST');
    rangeFirst = ipToInt(first);
    rangeLast = ipToInt(last);
    if (!inSubnet(subnet, rangeFirst) || !inSubnet(subnet, rangeLast) || rangeFirst > rangeLast) {
      throw new NetbootConfigError(
        'NETBOOT_ERR_BAD_RANGE',
        `${options.range} is not an ascending range inside ${options.subnet}`,
      );
    }
  }
  const emit = (event: NetbootEvent): void => options.onEvent({ time: new Date().toISOString(), ...event });
  const httpUrl = `http://${serverIp}:${options.httpPort}`;
  const owned = typeof options.leases === 'string' ? new FileLeaseStore(options.leases) : undefined; // ours to close
  const store = owned ?? (options.leases as LeaseStore);
  const ipToMac = new Map<string, string>();
  // First: a missing radvd is a configuration error, reported before any port is bound.
  const adverts =
    options.routerAdverts === false ? undefined : await startRouterAdverts({ iface: options.interface, onEvent: emit });
  const dhcp = await startDhcpServer({
    config: {
      mode,
      serverIp,
      subnet,
      rangeFirst,
      rangeLast,
      router: options.router,
      leaseSeconds: options.leaseSeconds ?? 3600,
      reservations: await readReservations(options.reservationsFile),
      bootFiles: DEFAULT_BOOT_FILES,
      scriptUrl: (mac) => `${httpUrl}/boot/${mac.replaceAll(':', '-')}.ipxe`,
    },
    store,
    port: options.dhcpPort,
    now: options.now,
    onEvent: (event) => {
      if (event.type === 'dhcp.ack' && event.ip) ipToMac.set(event.ip, event.mac);
      emit(event);
    },
  });
  const macOfIp = (ip: string): string | undefined => ipToMac.get(ip);
  const named = (event: NetbootEvent): void =>
    emit(event.mac || !event.ip ? event : { ...event, mac: macOfIp(event.ip) ?? '' });
  const tftp = await startTftpServer({
    root: options.tftpRoot,
    address: serverIp,
    port: options.tftpPort,
    onEvent: named,
  });
  const http = createHttpBoot({
    filesDir: options.filesDir,
    baseUrl: httpUrl,
    kernel: options.kernel,
    initrd: options.initrd,
    cmdline: options.cmdline,
    token: options.token,
    leaseOf: mode === 'dhcp' ? (mac) => dhcp.leaseOf(mac) : null,
    // A script fetch names its MAC: later file fetches from that address are named too (in
    // ProxyDHCP mode this is the only way to learn the address).
    onEvent: (event) => {
      if (event.type === 'http.script' && event.ip) ipToMac.set(event.ip, event.mac);
      emit(event);
    },
    macOfIp,
  });
  await http.listen({ host: serverIp, port: options.httpPort });
  emit({ type: 'netboot.ready', mac: '', ip: serverIp, detail: `${mode} on ${options.interface}, ${httpUrl}` });
  return {
    serverIp,
    httpUrl,
    close: async () => {
      await Promise.all([dhcp.close(), tftp.close(), http.close(), adverts?.close()]);
      await owned?.close();
    },
  };
}
