/**
 * DHCP leases and where they are kept. The server keeps its table in memory and writes each
 * binding through a {@link LeaseStore} before it sends the ACK, so a restarted (or failed-over)
 * server never hands a bound address to another client.
 */
import { type FileHandle, mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LeaseStoreError } from './errors.js';

/** One binding of an address to a client. Times are milliseconds since the epoch. */
export interface Lease {
  mac: string;
  ip: string;
  expiresAt: number;
  hostname?: string;
  /**
   * The SMBIOS GUID the client sent with the request that bound it (option 97, as pxe.ts's
   * `smbiosGuid` reads it): PXE and iPXE clients send one, an OS's DHCP client does not.
   */
  guid?: string;
}

/**
 * Where bound leases live. The file store below is the default; the agent plugs in an
 * etcd-backed store with the same contract.
 */
export interface LeaseStore {
  /** Every lease known, expired ones included (the server ignores those). */
  load(): Promise<Lease[]>;
  /** Durably records `lease`, replacing any earlier lease of the same MAC. Resolves once it is safe. */
  save(lease: Lease): Promise<void>;
  /** Durably forgets the lease of `mac` (RELEASE, DECLINE). */
  remove(mac: string): Promise<void>;
}

/** One line of the lease journal. */
type Entry = { op: 'save'; lease: Lease } | { op: 'remove'; mac: string };

/** Rewrite the journal as a snapshot once it holds this many lines more than live leases. */
const COMPACT_SLACK = 1000;

/**
 * Leases in an append-only journal of JSON lines (`{"op":"save","lease":…}` /
 * `{"op":"remove","mac":…}`), crash-safe: a change is durable once its line is written and
 * fdatasync'ed; changes that arrive while a write is in flight are grouped into the next write
 * (group commit: one fdatasync for many ACKs). A crash can only tear the last line, which
 * `load()` drops and cuts off. When the journal has grown, it is replaced by a snapshot (temporary
 * file, fsync, rename, fsync of the directory), so a crash leaves either journal whole.
 */
export class FileLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, Lease>();
  private loaded = false;
  private lines = 0;
  private queue: Entry[] = [];
  private writing: Promise<void> | null = null;
  private pending: Promise<void> | null = null;
  private handle: FileHandle | null = null;

  constructor(private readonly path: string) {}

  /**
   * Reads the leases in the journal at `path` without opening it for writing (for status and
   * tests, while a server appends to it).
   */
  static async read(path: string): Promise<Lease[]> {
    return [...replay(path, await readJournal(path)).values()];
  }

  async load(): Promise<Lease[]> {
    await mkdir(dirname(this.path), { recursive: true }).catch(() => undefined);
    const text = await readJournal(this.path);
    const whole = wholeLines(text);
    this.leases.clear();
    for (const [mac, lease] of replay(this.path, text)) this.leases.set(mac, lease);
    if (isFirstFormat(text)) {
      try {
        await this.compact(); // rewrite it as a journal
      } catch (error) {
        throw new LeaseStoreError('STORE_ERR_LEASE_IO', `cannot rewrite ${this.path} as a journal`, error);
      }
      this.loaded = true;
      return [...this.leases.values()];
    }
    this.lines = whole.split('\n').filter((l) => l !== '').length;
    try {
      await this.handle?.close();
      this.handle = await open(this.path, 'a', 0o600);
      if (whole.length !== text.length) await this.handle.truncate(Buffer.byteLength(whole)); // cut the torn line
      if (text === '') await syncDirectory(this.path); // a new file's name must survive a power loss
    } catch (error) {
      throw new LeaseStoreError('STORE_ERR_LEASE_IO', `cannot open ${this.path} for appending`, error);
    }
    this.loaded = true;
    return [...this.leases.values()];
  }

  async save(lease: Lease): Promise<void> {
    if (!this.loaded) await this.load();
    this.leases.set(lease.mac, lease);
    return this.append({ op: 'save', lease });
  }

  async remove(mac: string): Promise<void> {
    if (!this.loaded) await this.load();
    if (!this.leases.delete(mac)) return;
    return this.append({ op: 'remove', mac });
  }

  /** Closes the journal (after the write in flight). */
  async close(): Promise<void> {
    await this.writing?.catch(() => undefined);
    await this.handle?.close();
    this.handle = null;
    this.loaded = false;
  }

  private append(entry: Entry): Promise<void> {
    this.queue.push(entry);
    if (this.pending) return this.pending;
    // A failed write is reported to its own callers; the next batch still runs.
    const previous = (this.writing ?? Promise.resolve()).catch(() => undefined);
    this.pending = previous.then(() => {
      this.pending = null;
      const batch = this.queue;
      this.queue = [];
      this.writing = this.write(batch);
      return this.writing;
    });
    return this.pending;
  }

  private async write(batch: Entry[]): Promise<void> {
    try {
      if (this.lines + batch.length > this.leases.size + COMPACT_SLACK) return await this.compact();
      const handle = this.handle;
      if (!handle) throw new Error('journal not open');
      await handle.write(batch.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await handle.datasync();
      this.lines += batch.length;
    } catch (error) {
      throw new LeaseStoreError('STORE_ERR_LEASE_IO', `cannot write leases to ${this.path}`, error);
    }
  }

  /** Replaces the journal with a snapshot of the live leases (which include the batch). */
  private async compact(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const entries = [...this.leases.values()].map((lease) => `${JSON.stringify({ op: 'save', lease })}\n`);
    const out = await open(tmp, 'w', 0o600);
    try {
      await out.writeFile(entries.join(''));
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, this.path);
    await syncDirectory(this.path); // the rename itself must survive a power loss
    await this.handle?.close();
    this.handle = await open(this.path, 'a', 0o600);
    this.lines = entries.length;
  }
}

/** fsyncs the directory holding `path`, so a create or rename in it is durable. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function readJournal(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new LeaseStoreError('STORE_ERR_LEASE_IO', `cannot read leases from ${path}`, error);
  }
}

/** The journal up to its last newline: what follows is a line torn by a crash, never acknowledged. */
function wholeLines(text: string): string {
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

/** The first format of the lease file: one JSON array of leases, rewritten whole on each change. */
function isFirstFormat(text: string): boolean {
  return text.trimStart().startsWith('[');
}

/** The live leases by MAC after applying every whole line of the journal in order. */
function replay(path: string, text: string): Map<string, Lease> {
  const leases = new Map<string, Lease>();
  if (isFirstFormat(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new LeaseStoreError('STORE_ERR_LEASE_CORRUPT', `${path} is not JSON; move it aside`, error);
    }
    for (const l of Array.isArray(parsed) ? (parsed as Lease[]) : []) {
      if (typeof l?.mac === 'string' && typeof l.ip === 'string') leases.set(l.mac, l);
    }
    return leases;
  }
  for (const [i, line] of wholeLines(text).split('\n').entries()) {
    if (line === '') continue;
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch (error) {
      throw new LeaseStoreError(
        'STORE_ERR_LEASE_CORRUPT',
        `${path} line ${i + 1} is not JSON; move the file aside`,
        error,
      );
    }
    if (entry.op === 'save' && typeof entry.lease?.mac === 'string' && typeof entry.lease.ip === 'string') {
      leases.set(entry.lease.mac, entry.lease);
    } else if (entry.op === 'remove' && typeof entry.mac === 'string') {
      leases.delete(entry.mac);
    }
  }
  return leases;
}
