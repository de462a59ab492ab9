import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type DhcpPacket,
  MSG,
  OPT,
  decodeDhcp,
  encodeDhcp,
  macOf,
  messageTypeOf,
} from '../../../bootstrap/netboot/dhcp-codec.js';
import { DEFAULT_BOOT_FILES, DhcpResponder } from '../../../bootstrap/netboot/dhcp-server.js';
import { ipToInt, parseCidr } from '../../../bootstrap/netboot/ipv4.js';
import { classifyClient } from '../../../bootstrap/netboot/pxe.js';

// Golden DISCOVER/REQUEST packets from real clients (test/fixtures/dhcp/README.md).
interface Capture {
  provenance: string;
  mac: string;
  packets: Array<{ type: 'DISCOVER' | 'REQUEST'; hex: string }>;
}
const capture = (name: string): Capture =>
  JSON.parse(readFileSync(new URL(`../../fixtures/dhcp/${name}.json`, import.meta.url), 'utf8')) as Capture;
const CLIENTS = ['dhclient', 'udhcpc', 'ipxe', 'ipxe-uefi'] as const;
const text = (b: Buffer | undefined): string | undefined => b?.toString('latin1');
/** Packet `index` (0 DISCOVER, 1 REQUEST) of a capture, decoded. */
const golden = (name: string, index: number): DhcpPacket => {
  const hex = capture(name).packets[index]?.hex;
  if (hex === undefined) throw new Error(`${name}.json has no packet ${index}`);
  return decodeDhcp(Buffer.from(hex, 'hex'));
};
/** An option's bytes (empty when absent). */
const opt = (packet: DhcpPacket, code: number): Buffer => packet.options.get(code) ?? Buffer.alloc(0);

describe('DHCP golden packets', () => {
  it.each(CLIENTS)(
    '%s: each packet decodes to its message type and MAC, and re-encodes to the same message',
    (name) => {
      const { mac, packets } = capture(name);
      for (const { type, hex } of packets) {
        const bytes = Buffer.from(hex, 'hex');
        const packet = decodeDhcp(bytes);
        expect(packet.op).toBe(1);
        expect(messageTypeOf(packet)).toBe(MSG[type]);
        expect(macOf(packet)).toBe(mac);
        expect(decodeDhcp(encodeDhcp(packet))).toEqual(packet);
      }
    },
  );

  it('ISC dhclient: no PXE, asks for its hostname and the usual parameters', () => {
    const [discover, request] = [golden('dhclient', 0), golden('dhclient', 1)];
    expect(classifyClient(discover)).toEqual({ pxe: false, ipxe: false, arch: 'unknown', guid: undefined });
    expect([...discover.options.keys()]).toEqual([OPT.MESSAGE_TYPE, OPT.HOSTNAME, OPT.PARAM_REQUEST]);
    expect([...opt(discover, OPT.PARAM_REQUEST)]).toEqual(expect.arrayContaining([1, 3, 6, 15, 28, 119]));
    // RFC 2131 §4.3.2 SELECTING: server id and requested address, ciaddr zero.
    expect(request.ciaddr).toBe('0.0.0.0');
    expect(opt(request, OPT.SERVER_ID)).toHaveLength(4);
    expect(opt(request, OPT.REQUESTED_IP)).toHaveLength(4);
  });

  it('busybox udhcpc: vendor class "udhcp 1.35.0", client id 01+MAC, max size 576', () => {
    const discover = golden('udhcpc', 0);
    expect(classifyClient(discover).pxe).toBe(false);
    expect(text(discover.options.get(OPT.VENDOR_CLASS))).toBe('udhcp 1.35.0');
    expect(opt(discover, OPT.CLIENT_ID).toString('hex')).toBe(`01${capture('udhcpc').mac.replaceAll(':', '')}`);
    expect(opt(discover, OPT.MAX_SIZE).readUInt16BE(0)).toBe(576);
  });

  it("QEMU's iPXE: PXE (BIOS, UNDI 2.1), iPXE by user class and option 175, GUID option 97", () => {
    const { mac } = capture('ipxe');
    for (const packet of [golden('ipxe', 0), golden('ipxe', 1)]) {
      expect(classifyClient(packet)).toEqual({ pxe: true, ipxe: true, arch: 'bios', guid: '0'.repeat(32) });
      expect(text(packet.options.get(OPT.VENDOR_CLASS))).toBe('PXEClient:Arch:00000:UNDI:002001');
      expect(text(packet.options.get(OPT.USER_CLASS))).toBe('iPXE');
      expect(packet.options.get(OPT.CLIENT_ARCH)?.toString('hex')).toBe('0000'); // RFC 4578 §2.1: x86 BIOS
      expect(packet.options.get(OPT.CLIENT_NDI)?.toString('hex')).toBe('010201'); // RFC 4578 §2.2: UNDI 2.1
      expect(packet.options.get(OPT.IPXE_ENCAP)?.[0]).toBe(177); // iPXE 175.177: build version
      expect([...opt(packet, OPT.PARAM_REQUEST)]).toEqual(expect.arrayContaining([60, 66, 67, 175]));
      expect(packet.options.get(OPT.CLIENT_ID)?.toString('hex')).toBe(`01${mac.replaceAll(':', '')}`);
    }
  });

  it('iPXE as a UEFI driver (OVMF): arch 7 (x64 UEFI, RFC 4578 §2.1), UNDI 3.10', () => {
    for (const packet of [golden('ipxe-uefi', 0), golden('ipxe-uefi', 1)]) {
      expect(classifyClient(packet)).toEqual({ pxe: true, ipxe: true, arch: 'uefi-x64', guid: '0'.repeat(32) });
      expect(text(packet.options.get(OPT.VENDOR_CLASS))).toBe('PXEClient:Arch:00007:UNDI:003010');
      expect(opt(packet, OPT.CLIENT_ARCH).toString('hex')).toBe('0007');
      expect(opt(packet, OPT.CLIENT_NDI).toString('hex')).toBe('01030a');
    }
  });

  it('the responder ends the chain for iPXE (HTTP script, no-pxedhcp) and boots nothing for OS clients', () => {
    const responder = new DhcpResponder({
      mode: 'dhcp',
      serverIp: '10.9.0.1',
      subnet: parseCidr('10.9.0.0/24'),
      rangeFirst: ipToInt('10.9.0.100'),
      rangeLast: ipToInt('10.9.0.199'),
      leaseSeconds: 600,
      reservations: new Map(),
      bootFiles: DEFAULT_BOOT_FILES,
      scriptUrl: (m) => `http://10.9.0.1:8080/boot/${m.replaceAll(':', '-')}.ipxe`,
    });
    const offer = (name: string) => responder.handle(golden(name, 0), 0).reply;
    const ipxe = offer('ipxe');
    expect(ipxe?.file).toBe('http://10.9.0.1:8080/boot/52-54-00-6e-62-01.ipxe');
    expect(ipxe?.siaddr).toBe('10.9.0.1'); // iPXE ignores a ProxyDHCP answer without next server
    expect(ipxe?.options.get(OPT.IPXE_ENCAP)?.toString('hex')).toBe('b00101'); // 175.176 = 1
    expect(ipxe?.options.get(OPT.CLIENT_UUID)?.toString('hex')).toBe('00'.repeat(17));
    for (const name of ['dhclient', 'udhcpc']) {
      expect(offer(name)?.file).toBe('');
      expect(offer(name)?.options.has(OPT.VENDOR_CLASS)).toBe(false);
    }
  });
});
