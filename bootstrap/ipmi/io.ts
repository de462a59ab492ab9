/**
 * The thin UDP layer under the IPMI client: one connected datagram socket, request/answer
 * exchanges with retransmission and exponential backoff, and counting of the packets it
 * drops. It knows nothing of IPMI: the caller builds the bytes and says which answer it awaits.
 */
import { type Socket, createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { DROPPED_PACKET_CODES, IPMI_ERRORS, IpmiError } from './errors.js';
import { isRackseedError } from '../../agent/errors/index.js';

export interface RetryPolicy {
  /** Upper bound for the whole exchange, retransmissions included. */
  timeoutMs: number;
  /** Wait before the first retransmission; doubled after each. */
  initialRetryMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { timeoutMs: 5000, initialRetryMs: 400 };

/** Counters of packets dropped, by error code. */
export type DropCounters = Record<string, number>;

interface Pending {
  accept: (bytes: Uint8Array) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** A UDP conversation with one peer. */
export class UdpPeer {
  readonly dropped: DropCounters = {};
  private pending: Pending | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly onDrop: (error: IpmiError) => void,
  ) {
    socket.on('message', (msg) => this.receive(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const p = this.pending;
      if (p === undefined) return;
      this.pending = undefined;
      p.reject(
        error.code === 'ECONNREFUSED'
          ? new IpmiError(
              IPMI_ERRORS.unreachable,
              'nothing answers IPMI on that host and port (ICMP port unreachable)',
              {
                retryable: true,
              },
            )
          : new IpmiError(IPMI_ERRORS.unreachable, `UDP error ${error.code ?? error.message}`, { cause: error }),
      );
    });
  }

  /** Opens a socket connected to host:port (so only that peer's datagrams arrive). */
  static async connect(host: string, port: number, onDrop: (error: IpmiError) => void = () => {}): Promise<UdpPeer> {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      socket.close();
      throw new IpmiError(IPMI_ERRORS.unreachable, `cannot reach ${host}:${port}`, { cause: error });
    });
    return new UdpPeer(socket, onDrop);
  }

  private receive(bytes: Uint8Array): void {
    const p = this.pending;
    if (p === undefined) return this.count(new IpmiError(IPMI_ERRORS.malformed, 'unsolicited packet'));
    let value: unknown;
    try {
      value = p.accept(bytes);
    } catch (error) {
      if (isRackseedError(error) && DROPPED_PACKET_CODES.has(error.code)) return this.count(error as IpmiError);
      this.pending = undefined;
      return p.reject(error);
    }
    if (value === undefined)
      return this.count(new IpmiError(IPMI_ERRORS.malformed, 'packet is not the awaited answer'));
    this.pending = undefined;
    p.resolve(value);
  }

  private count(error: IpmiError): void {
    this.dropped[error.code] = (this.dropped[error.code] ?? 0) + 1;
    this.onDrop(error);
  }

  /** Sends without awaiting an answer. */
  send(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  /**
   * Sends `build()` and resolves with the first value `accept` returns for a received
   * datagram. `accept` returns undefined for a datagram it does not await and throws a
   * dropped-packet error for a bad one (both counted, the wait goes on) or any other error
   * to end the exchange. Retransmits `build()` with backoff until `policy.timeoutMs`.
   */
  exchange<T>(build: () => Uint8Array, accept: (bytes: Uint8Array) => T | undefined, policy: RetryPolicy): Promise<T> {
    if (this.pending !== undefined) throw new Error('UdpPeer: one exchange at a time');
    return new Promise<T>((resolve, reject) => {
      const started = Date.now();
      let delay = policy.initialRetryMs;
      let timer: NodeJS.Timeout | undefined;
      const finish = () => clearTimeout(timer);
      this.pending = {
        accept,
        resolve: (v) => {
          finish();
          resolve(v as T);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      const attempt = () => {
        const left = policy.timeoutMs - (Date.now() - started);
        if (left <= 0) {
          this.pending = undefined;
          reject(
            new IpmiError(IPMI_ERRORS.timeout, `no answer from the BMC within ${policy.timeoutMs} ms`, {
              retryable: true,
            }),
          );
          return;
        }
        this.socket.send(build());
        timer = setTimeout(attempt, Math.min(delay, left));
        delay *= 2;
      };
      attempt();
    });
  }

  async close(): Promise<void> {
    this.pending?.reject(new IpmiError(IPMI_ERRORS.sessionClosed, 'the connection was closed'));
    this.pending = undefined;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
