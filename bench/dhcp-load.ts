/**
 * DHCP load generator (run inside a lab namespace): `tsx bench/dhcp-load.ts SERVER_IP ROUNDS MACS`.
 * Each round runs DISCOVER → REQUEST for MACS fake clients (32 in flight), then RELEASEs them.
 * Prints one JSON line: {"leases": n, "seconds": s, "perSecond": r}.
 */
import { createSocket } from 'node:dgram';
import { MSG, OPT, decodeDhcp, encodeDhcp } from '../bootstrap/index.js';

const [serverIp = '', roundsArg = '5', macsArg = '240'] = process.argv.slice(2);
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((r) => socket.bind(68, '0.0.0.0', () => r()));
socket.setBroadcast(true);
const waiting = new Map<number, (reply: { type: number; yiaddr: string }) => void>();
socket.on('message', (msg) => {
  try {
    const p = decodeDhcp(msg);
    const type = p.options.get(OPT.MESSAGE_TYPE)?.[0] ?? 0;
    waiting.get(p.xid)?.({ type, yiaddr: p.yiaddr });
  } catch {
    // not for us
  }
});

const chaddr = (i: number): Buffer =>
  Buffer.concat([Buffer.from([0x02, 0x00, 0x5e, (i >> 16) & 255, (i >> 8) & 255, i & 255]), Buffer.alloc(10)]);
let xidSeq = (process.pid << 12) >>> 0;
function send(
  i: number,
  type: number,
  options: Array<[number, Buffer]>,
  ciaddr = '0.0.0.0',
): Promise<{ type: number; yiaddr: string }> | undefined {
  const xid = (xidSeq = (xidSeq + 1) >>> 0);
  const bytes = encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: 0x8000,
    ciaddr,
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: chaddr(i),
    sname: '',
    file: '',
    options: new Map([[OPT.MESSAGE_TYPE, Buffer.from([type])], ...options]),
  });
  const reply =
    type === MSG.RELEASE
      ? undefined
      : new Promise<{ type: number; yiaddr: string }>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiting.delete(xid);
            reject(new Error(`no reply to ${type} for client ${i}`));
          }, 3000);
          waiting.set(xid, (r) => {
            clearTimeout(timer);
            waiting.delete(xid);
            resolve(r);
          });
        });
  socket.send(bytes, 67, type === MSG.RELEASE ? serverIp : '255.255.255.255');
  return reply;
}
const ip = (s: string): Buffer => Buffer.from(s.split('.').map(Number));

async function lease(i: number): Promise<string> {
  const offer = await send(i, MSG.DISCOVER, []);
  const ack = await send(i, MSG.REQUEST, [
    [OPT.SERVER_ID, ip(serverIp)],
    [OPT.REQUESTED_IP, ip(offer?.yiaddr ?? '')],
  ]);
  if (ack?.type !== MSG.ACK) throw new Error(`client ${i}: no ACK`);
  return ack.yiaddr;
}

const rounds = Number(roundsArg);
const macs = Number(macsArg);
let leases = 0;
const start = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  const addresses: string[] = new Array<string>(macs);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < macs) {
        const i = next++;
        addresses[i] = await lease(r * macs + i);
        leases += 1;
      }
    }),
  );
  addresses.forEach((a, i) => void send(r * macs + i, MSG.RELEASE, [[OPT.SERVER_ID, ip(serverIp)]], a));
  await new Promise((res) => setTimeout(res, 50));
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(`${JSON.stringify({ leases, seconds, perSecond: Math.round(leases / seconds) })}\n`);
socket.close();
