/**
 * Whether a DHCP server already answers on a network: the seed asks before it makes a new
 * cluster there. Two provisioners on one network (a second cluster's, or a USB seed rebooted
 * without its state beside the cluster it started) would hand out conflicting leases and boot
 * scripts, and servers would enroll in whichever answered first.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { clientRequest, decodeDhcp, MSG, messageTypeOf, OPT } from './dhcp-codec.js';
import { intToIp, parseCidr } from './ipv4.js';

/**
 * Sends DHCPDISCOVERs from port 68 to `subnet`'s broadcast address (so they leave by the
 * interface on it) and returns the server identifiers of the OFFERs that answer within
 * `timeoutMs` (none: nobody serves DHCP there). `mac` is the client hardware address sent.
 */
export async function dhcpServersOn(options: { subnet: string; mac: string; timeoutMs: number }): Promise<string[]> {
  const xid = randomBytes(4).readUInt32BE(0);
  const discover = clientRequest({ xid, mac: Buffer.from(options.mac.replaceAll(':', ''), 'hex'), type: MSG.DISCOVER });
  const broadcast = intToIp(parseCidr(options.subnet).broadcast);
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const servers = new Set<string>();
  socket.on('message', (bytes, from) => {
    try {
      const reply = decodeDhcp(bytes);
      if (reply.op !== 2 || reply.xid !== xid || messageTypeOf(reply) !== MSG.OFFER) return;
      const id = reply.options.get(OPT.SERVER_ID);
      servers.add(id?.length === 4 ? [...id].join('.') : from.address);
    } catch {
      // Not DHCP: not an answer.
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(68, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => {}); // a failed send is a DISCOVER nobody answers
  socket.setBroadcast(true);
  const send = () => socket.send(discover, 67, broadcast);
  send();
  const again = setTimeout(send, options.timeoutMs / 2);
  await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
  clearTimeout(again);
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return [...servers].sort();
}
