/**
 * DHCP leases and where they are kept. The server keeps its table in memory and writes each
 * binding through a {@link LeaseStore} before it sends the ACK, so a restarted (or failed-over)
 * server never hands a bound address to another client.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LeaseStoreError } from './errors.js';

/** One binding of an address to a client. Times are milliseconds since the epoch. */
export interface Lease {
  mac: string;
  ip: string;
  expiresAt: number;
  hostname?: string;
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

/**
 * Leases in one JSON file, crash-safe: every change rewrites a temporary file, fsyncs it and
 * renames it over the old one, so a crash leaves either the old or the new file. Changes that
 * arrive while a write is in flight are grouped into the next write (group commit).
 */
export class FileLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, Lease>();
  private loaded = false;
  private writing: Promise<void> | null = null;
  private pending: Promise<void> | null = null;

  constructor(private readonly path: string) {}

  async load(): Promise<Lease[]> {
    let text: string;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new LeaseStoreError('STORE_ERR_LEASE_IO', `cannot read leases from ${this.path}`, error);
      }
      text = '[]';
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new LeaseStoreError('STORE_ERR_LEASE_CORRUPT', `${this.path} is not JSON; move it aside`, error);
    }
    if (!Array.isArray(parsed)) throw new LeaseStoreError('STORE_ERR_LEASE_CORRUPT', `${this.path} is not a list`);
    this.leases.clear();
    for (const l of parsed as Lease[]) {
      if (typeof l?.mac === 'string' && typeof l.ip === 'string' && typeof l.expiresAt === 'number') {
        this.leases.set(l.mac, l);
      }
    }
    this.loaded = true;
    return [...this.leases.values()];
  }

  async save(lease: Lease): Promise<void> {
    if (!this.loaded) await this.load();
    this.leases.set(lease.mac, lease);
    return this.flush();
  }

  async remove(mac: string): Promise<void> {
    if (!this.loaded) await this.load();
    if (!this.leases.delete(mac)) return;
    return this.flush();
  }

  private flush(): Promise<void> {
    if (this.pending) return this.pending;
    // A failed write is reported to its own callers; the next batch still runs.
    const previous = (this.writing ?? Promise.resolve()).catch(() => undefined);
    this.pending = previous.then(() => {
      this.pending = null;
      this.writing = this.write();
      return this.writing;
    });
    return this.pending;
  }

  private async write(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify([...this.leases.values()], null, 1)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.path);
    } catch (error) {
      throw new LeaseStoreError('STORE_ERR_LEASE_IO', `cannot write leases to ${this.path}`, error);
    }
  }
}
