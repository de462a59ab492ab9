/**
 * TFTP read-transfer logic (RFC 1350 §2, RFC 2347/2348/2349 options, RFC 7440 windowsize).
 * Pure: which blocks to send after an ACK or a timeout; `tftp-io.ts` moves the bytes.
 */

/** RFC 2348 §2: 8..65464; we cap at 1468 so a block fits one 1500-byte Ethernet frame (no IP fragments). */
const MAX_BLKSIZE = 1468;
/** RFC 7440 §3: 1..65535; a larger window only deepens bursts on a LAN. */
const MAX_WINDOW = 64;
/** Retransmissions of one window before the client is considered gone. */
const MAX_RETRIES = 5;

/** Negotiated transfer parameters. */
export interface TransferParams {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** The options to acknowledge in an OACK (RFC 2347); empty means no OACK, DATA 1 comes first. */
  oack: Map<string, string>;
}

/** RFC 2347 §4: accept the options we know, clamp them, ignore the rest. */
export function negotiate(requested: ReadonlyMap<string, string>, size: number): TransferParams {
  const oack = new Map<string, string>();
  let blksize = 512;
  let windowsize = 1;
  let timeoutMs = 1000;
  const int = (name: string): number | undefined => {
    const v = requested.get(name);
    return v !== undefined && /^\d{1,6}$/.test(v) ? Number(v) : undefined;
  };
  const b = int('blksize'); // RFC 2348
  if (b !== undefined && b >= 8) {
    blksize = Math.min(b, MAX_BLKSIZE);
    oack.set('blksize', String(blksize));
  }
  const t = int('timeout'); // RFC 2349 §2: seconds, 1..255
  if (t !== undefined && t >= 1 && t <= 255) {
    timeoutMs = t * 1000;
    oack.set('timeout', String(t));
  }
  if (requested.has('tsize')) oack.set('tsize', String(size)); // RFC 2349 §3: 0 in a RRQ asks for the size
  const w = int('windowsize'); // RFC 7440 §3
  if (w !== undefined && w >= 1) {
    windowsize = Math.min(w, MAX_WINDOW);
    oack.set('windowsize', String(windowsize));
  }
  return { blksize, windowsize, timeoutMs, oack };
}

/** What the I/O layer does next. Block numbers are absolute (1-based); the wire carries them mod 65536. */
export type TransferStep =
  | { kind: 'send'; blocks: number[]; oack: boolean }
  | { kind: 'done' }
  | { kind: 'wait' }
  | { kind: 'abandon'; reason: string };

/** One read transfer: the window, what has been acknowledged, retries. */
export class ReadTransfer {
  /** Blocks in the file; the last one is shorter than blksize (possibly empty: RFC 1350 §6). */
  readonly totalBlocks: number;
  private acked = 0;
  private retries = 0;
  private oackPending: boolean;

  constructor(
    readonly size: number,
    readonly params: TransferParams,
  ) {
    this.totalBlocks = Math.floor(size / params.blksize) + 1;
    this.oackPending = params.oack.size > 0;
  }

  /** The first thing to send: an OACK (RFC 2347 §3) or the first window. */
  start(): TransferStep {
    return this.oackPending ? { kind: 'send', blocks: [], oack: true } : this.window();
  }

  /** An ACK arrived carrying `wireBlock`. */
  onAck(wireBlock: number): TransferStep {
    if (this.oackPending) {
      if (wireBlock !== 0) return { kind: 'wait' };
      this.oackPending = false; // RFC 2347 §3: ACK 0 confirms the OACK
      this.retries = 0;
      return this.window();
    }
    // Map the 16-bit number onto the window in flight: acked .. acked + windowsize.
    const limit = Math.min(this.acked + this.params.windowsize, this.totalBlocks);
    let block: number | undefined;
    for (let k = this.acked; k <= limit; k++) if (k % 65536 === wireBlock) block = k;
    if (block === undefined || block === this.acked) return { kind: 'wait' }; // stale or duplicate (Sorcerer's Apprentice: RFC 1123 §4.2.3.1)
    this.acked = block;
    this.retries = 0;
    return this.acked >= this.totalBlocks ? { kind: 'done' } : this.window();
  }

  /** No ACK within the timeout: resend the window (or the OACK), or give up. */
  onTimeout(): TransferStep {
    if (++this.retries > MAX_RETRIES) return { kind: 'abandon', reason: `no ACK after ${MAX_RETRIES} retransmissions` };
    return this.oackPending ? { kind: 'send', blocks: [], oack: true } : this.window();
  }

  /** RFC 7440 §4: the next window starts after the last block acknowledged. */
  private window(): TransferStep {
    const blocks: number[] = [];
    for (let k = this.acked + 1; k <= Math.min(this.acked + this.params.windowsize, this.totalBlocks); k++)
      blocks.push(k);
    return { kind: 'send', blocks, oack: false };
  }
}

/**
 * Maps a requested TFTP file name onto a relative path under the root, or undefined when it
 * would leave the root. Leading slashes are dropped (PXE ROMs often send `/undionly.kpxe`).
 */
export function safeRelativePath(filename: string): string | undefined {
  if (filename.includes('\0') || filename.includes('\\')) return undefined;
  const parts = filename.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..')) return undefined;
  return parts.join('/');
}
