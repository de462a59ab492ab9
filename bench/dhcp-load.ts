/**
 * DHCP load generator (run inside a lab namespace whose eth0 has an address on the server's
 * subnet): `tsx bench/dhcp-load.ts SERVER_IP ROUNDS MACS`. Each round runs DISCOVER → REQUEST
 * for MACS new clients (32 in flight), then RELEASEs them, so the next round's clients find the
 * pool free again; only the DISCOVER → ACK phases are timed. Like a real client it retransmits a request that got no answer (after 1 s,
 * up to 4 tries). Replies are broadcast (the BROADCAST flag is set), so the socket is bound to
 * 0.0.0.0:68. Prints one JSON line: {"leases", "seconds", "perSecond", "retransmits", "naks"}.
 */
import { createSocket } from 'node:dgram';
import { clientRequest, decodeDhcp, MSG, OPT } from '../bootstrap/index.js';

const [serverIp = '', roundsArg = '5', macsArg = '240'] = process.argv.slice(2);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 32);
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', () => resolve()));
socket.setBroadcast(true);
socket.setRecvBufferSize(4 * 1024 * 1024);

interface Reply {
  type: number;
  yiaddr: string;
}
const waiting = new Map<number, (reply: Reply) => void>();
socket.on('message', (msg) => {
  try {
    const p = decodeDhcp(msg);
    waiting.get(p.xid)?.({ type: p.options.get(OPT.MESSAGE_TYPE)?.[0] ?? 0, yiaddr: p.yiaddr });
  } catch {
    // not a DHCP message for us
  }
});

const mac = (i: number): Buffer => Buffer.from([0x02, 0x00, 0x5e, (i >> 16) & 255, (i >> 8) & 255, i & 255]);
const ipBuf = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
let xidSeq = (process.pid << 12) >>> 0;
let retransmits = 0;
let naks = 0;

function packet(i: number, xid: number, type: number, options: Array<[number, Buffer]>, ciaddr: string): Buffer {
  return clientRequest({ xid, mac: mac(i), type, options, ciaddr });
}

const sendTo = (bytes: Buffer, ip: string): Promise<void> =>
  new Promise((resolve, reject) => socket.send(bytes, 67, ip, (error) => (error ? reject(error) : resolve())));

/** Broadcasts a request and waits for the reply with its xid, retransmitting like a client. */
async function exchange(i: number, type: number, options: Array<[number, Buffer]>): Promise<Reply> {
  const xid = (xidSeq = (xidSeq + 1) >>> 0);
  const bytes = packet(i, xid, type, options, '0.0.0.0');
  try {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) retransmits++;
      const reply = new Promise<Reply | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 1000);
        waiting.set(xid, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
      });
      await sendTo(bytes, '255.255.255.255');
      const got = await reply;
      if (got) return got;
    }
  } finally {
    waiting.delete(xid);
  }
  throw new Error(`no reply to message type ${type} from client ${i} after 4 tries`);
}

/** DISCOVER → OFFER → REQUEST → ACK; after a NAK a client starts over (RFC 2131 §4.4.1). */
async function lease(i: number): Promise<string> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const offer = await exchange(i, MSG.DISCOVER, []);
    const ack = await exchange(i, MSG.REQUEST, [
      [OPT.SERVER_ID, ipBuf(serverIp)],
      [OPT.REQUESTED_IP, ipBuf(offer.yiaddr)],
    ]);
    if (ack.type === MSG.ACK) return ack.yiaddr;
    naks++;
  }
  throw new Error(`client ${i}: NAKed 10 times`);
}

/** Runs `work(0..count-1)` with IN_FLIGHT workers. */
async function pool(count: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

const rounds = Number(roundsArg);
const macs = Number(macsArg);
let leases = 0;
let nanos = 0n; // time spent leasing; the RELEASE phase between rounds is not counted
for (let r = 0; r < rounds; r++) {
  const addresses: string[] = [];
  const start = process.hrtime.bigint();
  await pool(macs, async (i) => {
    addresses[i] = await lease(r * macs + i);
    leases += 1;
  });
  nanos += process.hrtime.bigint() - start;
  // RELEASE has no reply (RFC 2131 §4.4.6): unicast, paced by the socket, then a moment for the server.
  await pool(macs, (i) =>
    sendTo(
      packet(r * macs + i, xidSeq++ >>> 0, MSG.RELEASE, [[OPT.SERVER_ID, ipBuf(serverIp)]], addresses[i] ?? ''),
      serverIp,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const seconds = Number(nanos) / 1e9;
process.stdout.write(
  `${JSON.stringify({ leases, seconds, perSecond: Math.round(leases / seconds), retransmits, naks })}\n`,
);
socket.close();
