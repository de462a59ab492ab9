/**
 * BMC discovery: an ASF presence ping (DSP0136 §3.2.4) to every address of a CIDR, with
 * bounded concurrency on one socket, then Get Channel Authentication Capabilities (outside
 * a session) to each BMC that answered.
 */
import { createSocket } from 'node:dgram';
import { BMC_ADDR, CONSOLE_ADDR, decodeIpmiResponse, decodePacket, encodeIpmiRequest, encodePacket } from './codec.js';
import {
  type ChannelAuthCapabilities,
  COMMANDS,
  PRIVILEGE,
  decodeChannelAuthCapabilities,
  encodeChannelAuthCapabilitiesRequest,
} from './commands.js';
import { IPMI_ERRORS, IpmiError } from './errors.js';

export interface ScanOptions {
  /** IPv4 CIDR, e.g. 10.0.0.0/22 (at most a /16). */
  cidr: string;
  port?: number;
  /** Addresses probed at once (256 by default). */
  concurrency?: number;
  /** How long an address may stay silent before it counts as no BMC (1000 ms by default). */
  timeoutMs?: number;
}

export interface DiscoveredBmc {
  address: string;
  port: number;
  /** From the pong: the BMC says it speaks IPMI. */
  ipmi: boolean;
  /** From Get Channel Authentication Capabilities; absent if the BMC did not answer it. */
  capabilities?: ChannelAuthCapabilities;
  /** Round trip of the presence ping. */
  rttMs: number;
}

/** Every host address of an IPv4 CIDR (network and broadcast left out below /31). */
export function cidrAddresses(cidr: string): string[] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m?.slice(1, 5).map(Number) ?? [];
  const prefix = Number(m?.[5]);
  if (m === null || octets.some((o) => o > 255) || prefix > 32 || prefix < 16) {
    throw new IpmiError(IPMI_ERRORS.invalidArgument, `"${cidr}" is not an IPv4 CIDR between /16 and /32`);
  }
  const base = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const network = base - (base % size);
  const first = size > 2 ? 1 : 0;
  const last = size > 2 ? size - 2 : size - 1;
  const out: string[] = [];
  for (let i = first; i <= last; i++) {
    const a = network + i;
    out.push([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.'));
  }
  return out;
}

/** Probes every address of `cidr`; resolves with the BMCs found, in address order. */
export async function scanBmcs(options: ScanOptions): Promise<DiscoveredBmc[]> {
  const addresses = cidrAddresses(options.cidr);
  const port = options.port ?? 623;
  const concurrency = Math.max(1, options.concurrency ?? 256);
  const timeoutMs = options.timeoutMs ?? 1000;
  const socket = createSocket('udp4');
  const waiting = new Map<string, (bytes: Uint8Array) => void>();
  socket.on('message', (msg, from) => {
    waiting.get(from.address)?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.bind(0, resolve));

  const spec = COMMANDS.getChannelAuthCapabilities;
  const capsRequest = encodePacket({
    kind: 'ipmi15',
    sessionSeq: 0,
    sessionId: 0,
    message: encodeIpmiRequest({
      rsAddr: BMC_ADDR,
      netFn: spec.netFn,
      rsLun: 0,
      rqAddr: CONSOLE_ADDR,
      rqSeq: 1,
      rqLun: 0,
      cmd: spec.cmd,
      data: encodeChannelAuthCapabilitiesRequest(PRIVILEGE.administrator),
    }),
  });

  /** Sends `packet` (again at half time) until `accept` returns a value or the time is up. */
  const ask = <T>(address: string, packet: Uint8Array, accept: (b: Uint8Array) => T | undefined) =>
    new Promise<T | undefined>((resolve) => {
      const done = (value: T | undefined) => {
        clearTimeout(retry);
        clearTimeout(give);
        waiting.delete(address);
        resolve(value);
      };
      waiting.set(address, (bytes) => {
        try {
          const value = accept(bytes);
          if (value !== undefined) done(value);
        } catch {
          // garbage from that address: ignore, keep waiting
        }
      });
      socket.send(packet, port, address);
      const retry = setTimeout(() => socket.send(packet, port, address), timeoutMs / 2);
      const give = setTimeout(() => done(undefined), timeoutMs);
    });

  const probe = async (address: string, tag: number): Promise<DiscoveredBmc | undefined> => {
    const started = performance.now();
    const pong = await ask(address, encodePacket({ kind: 'asf-ping', tag }), (b) => {
      const p = decodePacket(b);
      return p.kind === 'asf-pong' && p.tag === tag ? p : undefined;
    });
    if (pong === undefined) return undefined;
    const rttMs = Math.round((performance.now() - started) * 10) / 10;
    const capabilities = await ask(address, capsRequest, (b) => {
      const p = decodePacket(b);
      if (p.kind !== 'ipmi15') return undefined;
      const r = decodeIpmiResponse(p.message);
      if (r.cmd !== spec.cmd || r.completionCode !== 0) return undefined;
      return decodeChannelAuthCapabilities(r.data);
    });
    const found: DiscoveredBmc = { address, port, ipmi: (pong.entities & 0x80) !== 0, rttMs };
    if (capabilities !== undefined) found.capabilities = capabilities;
    return found;
  };

  const results: (DiscoveredBmc | undefined)[] = new Array(addresses.length);
  let next = 0;
  const worker = async () => {
    while (next < addresses.length) {
      const i = next++;
      results[i] = await probe(addresses[i] ?? '', i & 0xff);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, addresses.length) }, worker));
  } finally {
    socket.close();
  }
  return results.filter((r): r is DiscoveredBmc => r !== undefined);
}
