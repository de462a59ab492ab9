/**
 * The TFTP server's sockets and files: requests on port 69, one ephemeral socket per
 * transfer (RFC 1350 §4: the transfer ID), blocks read from disk as they are sent.
 * Read-only and rooted; protocol decisions live in `tftp-session.ts`.
 */
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { isRackseedError } from '../../agent/errors/index.js';
import type { NetbootEvent } from './dhcp-server.js';
import { OP, TFTP_ERROR, decodeTftp, encodeTftp } from './tftp-codec.js';
import { ReadTransfer, type TransferStep, negotiate, safeRelativePath } from './tftp-session.js';

/** Blocks read from disk at once per transfer. */
const READ_AHEAD_BLOCKS = 64;

/** A running TFTP server. */
export interface TftpServer {
  readonly stats: { transfers: number; completed: number; rejected: Record<string, number> };
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a read-only TFTP server for the files under `root`, on `address` (the interface's address). */
export async function startTftpServer(options: {
  root: string;
  address: string;
  port?: number;
  onEvent: (event: NetbootEvent) => void;
}): Promise<TftpServer> {
  const root = await realpath(options.root);
  const stats = { transfers: 0, completed: 0, rejected: {} as Record<string, number> };
  const active = new Set<() => void>(); // aborts of the transfers in flight
  const who = (rinfo: RemoteInfo): string => `${rinfo.address}:${rinfo.port}`;
  const reject = (code: string, rinfo: RemoteInfo, detail: string): void => {
    stats.rejected[code] = (stats.rejected[code] ?? 0) + 1;
    options.onEvent({ type: 'tftp.rejected', mac: '', ip: rinfo.address, detail: `${code}: ${detail}` });
  };
  /** Resolves once the datagram is out: closing a socket earlier would drop it. */
  const sendError = (socket: Socket, rinfo: RemoteInfo, code: number, message: string): Promise<void> =>
    new Promise((resolve) =>
      socket.send(encodeTftp({ op: OP.ERROR, code, message }), rinfo.port, rinfo.address, () => resolve()),
    );

  /** Resolves a request to an open file under the root, or answers with the TFTP error. */
  const openFile = async (socket: Socket, rinfo: RemoteInfo, filename: string): Promise<FileHandle | undefined> => {
    const relative = safeRelativePath(filename);
    if (relative === undefined) {
      reject('TFTP_ERR_PATH_TRAVERSAL', rinfo, JSON.stringify(filename));
      await sendError(socket, rinfo, TFTP_ERROR.ACCESS, 'access violation');
      return undefined;
    }
    try {
      const real = await realpath(`${root}/${relative}`);
      if (!real.startsWith(root + sep)) throw Object.assign(new Error('outside root'), { code: 'EACCES' });
      const handle = await open(real, 'r');
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      }
      return handle;
    } catch (error) {
      const notFound = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(notFound ? 'TFTP_ERR_NOT_FOUND' : 'TFTP_ERR_ACCESS', rinfo, JSON.stringify(filename));
      await sendError(
        socket,
        rinfo,
        notFound ? TFTP_ERROR.NOT_FOUND : TFTP_ERROR.ACCESS,
        notFound ? 'file not found' : 'access violation',
      );
      return undefined;
    }
  };

  const transfer = async (rinfo: RemoteInfo, filename: string, requested: Map<string, string>): Promise<void> => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, options.address, resolve));
    const handle = await openFile(socket, rinfo, filename);
    if (!handle) {
      socket.close();
      return;
    }
    stats.transfers += 1;
    const size = (await handle.stat()).size;
    const session = new ReadTransfer(size, negotiate(requested, size));
    const { blksize, timeoutMs, oack } = session.params;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (event: NetbootEvent): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      active.delete(abort);
      socket.close();
      void handle.close();
      options.onEvent(event);
    };
    // Read ahead READ_AHEAD_BLOCKS blocks at a time: a disk read per block (a thread-pool round
    // trip) between ACK and DATA made lock-step transfers several times slower.
    let chunk = { first: 0, data: Buffer.alloc(0) };
    const blockData = async (block: number): Promise<Buffer> => {
      const at = (block - chunk.first) * blksize;
      if (chunk.first === 0 || at < 0 || at + blksize > chunk.data.length) {
        const data = Buffer.alloc(READ_AHEAD_BLOCKS * blksize);
        const { bytesRead } = await handle.read(data, 0, data.length, (block - 1) * blksize);
        chunk = { first: block, data: data.subarray(0, bytesRead) };
        return chunk.data.subarray(0, blksize);
      }
      return chunk.data.subarray(at, at + blksize);
    };
    const step = async (next: TransferStep): Promise<void> => {
      if (finished) return;
      if (next.kind === 'wait') return;
      if (next.kind === 'done') {
        stats.completed += 1;
        finish({ type: 'tftp.sent', mac: '', ip: rinfo.address, detail: `${filename} ${size} bytes` });
        return;
      }
      if (next.kind === 'abandon') {
        reject('TFTP_ERR_ABANDONED', rinfo, `${filename}: ${next.reason}`);
        finish({ type: 'tftp.abandoned', mac: '', ip: rinfo.address, detail: filename });
        return;
      }
      clearTimeout(timer);
      if (next.oack) socket.send(encodeTftp({ op: OP.OACK, options: oack }), rinfo.port, rinfo.address);
      for (const block of next.blocks) {
        const data = await blockData(block);
        if (finished) return;
        socket.send(encodeTftp({ op: OP.DATA, block: block % 65536, data }), rinfo.port, rinfo.address);
      }
      timer = setTimeout(() => void step(session.onTimeout()).catch(fail), timeoutMs);
    };
    const fail = (error: unknown): void => {
      reject(isRackseedError(error) ? error.code : 'TFTP_ERR_INTERNAL', rinfo, String(error));
      finish({ type: 'tftp.failed', mac: '', ip: rinfo.address, detail: filename });
    };
    const abort = (): void => finish({ type: 'tftp.stopped', mac: '', ip: rinfo.address, detail: filename });
    active.add(abort);
    socket.on('error', fail);
    socket.on('message', (msg, from) => {
      if (from.address !== rinfo.address || from.port !== rinfo.port) {
        void sendError(socket, from, TFTP_ERROR.UNKNOWN_TID, 'unknown transfer ID'); // RFC 1350 §4
        return;
      }
      try {
        const packet = decodeTftp(msg);
        if (packet.op === OP.ACK) void step(session.onAck(packet.block)).catch(fail);
        else if (packet.op === OP.ERROR)
          finish({ type: 'tftp.cancelled', mac: '', ip: rinfo.address, detail: `${filename}: ${packet.message}` });
      } catch (error) {
        reject(isRackseedError(error) ? error.code : 'TFTP_ERR_INTERNAL', rinfo, String(error));
      }
    });
    options.onEvent({ type: 'tftp.request', mac: '', ip: rinfo.address, detail: filename });
    await step(session.start());
  };

  const main = createSocket('udp4');
  main.on('message', (msg, rinfo) => {
    try {
      const packet = decodeTftp(msg);
      if (packet.op === OP.WRQ) {
        reject('TFTP_ERR_READ_ONLY', rinfo, packet.filename);
        void sendError(main, rinfo, TFTP_ERROR.ACCESS, 'read-only server');
      } else if (packet.op === OP.RRQ) {
        transfer(rinfo, packet.filename, packet.options).catch((error: unknown) =>
          reject('TFTP_ERR_INTERNAL', rinfo, String(error)),
        );
      } else {
        reject('TFTP_ERR_UNEXPECTED', rinfo, `opcode ${packet.op} on port 69 from ${who(rinfo)}`);
      }
    } catch (error) {
      reject(isRackseedError(error) ? error.code : 'TFTP_ERR_INTERNAL', rinfo, String(error));
      void sendError(main, rinfo, TFTP_ERROR.ILLEGAL, 'illegal TFTP operation');
    }
  });
  main.on('error', (error) => options.onEvent({ type: 'tftp.error', mac: '', detail: error.message }));
  await new Promise<void>((resolve, fail) => {
    main.once('error', fail);
    main.bind(options.port ?? 69, options.address, () => {
      main.off('error', fail);
      resolve();
    });
  });
  return {
    stats,
    port: main.address().port,
    close: async () => {
      for (const abort of [...active]) abort();
      await new Promise<void>((r) => main.close(() => r()));
    },
  };
}
