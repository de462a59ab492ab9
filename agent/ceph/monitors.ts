import { CephCommandError } from './cli.js';

/** A monitor command: the JSON form of a `ceph` CLI command (`{ prefix: 'osd dump', format: 'json' }`). */
export type MonCommand = Readonly<Record<string, unknown>>;

/** Who connects to the monitors, and how long anything may take. */
export interface CephClientOptions {
  /** ceph.conf (its `mon host`). */
  readonly conf: string;
  readonly keyring: string;
  /** Full client name, e.g. `client.admin`. */
  readonly clientName: string;
  /** Bounds connecting and every command (librados' client_mount_timeout and rados_mon_op_timeout). */
  readonly timeoutSeconds: number;
}

/** One connection to the monitors, as a client library (librados) makes it. */
export interface CephMonConnection {
  /** Sends a monitor command with `input` as its input buffer (`ceph … -i FILE`); resolves its output. */
  command(command: MonCommand, input?: Buffer): Promise<Buffer>;
  /** Disconnects; only called once no command on it is pending. */
  close(): Promise<void>;
}

/**
 * Connects to the monitors. The agent cannot depend on the librados binding (appliance/rados),
 * so whoever starts an agent with Ceph hands it this (the CLI: `connectCephMonitors`).
 */
export type CephConnect = (options: CephClientOptions) => Promise<CephMonConnection>;

/** Connecting and each command give up after this long, so no call holds a libuv pool thread for ever. */
export const MON_TIMEOUT_SECONDS = 15;

/** A connection and the commands in flight on it. */
interface Link {
  readonly connection: Promise<CephMonConnection>;
  readonly calls: Set<Promise<unknown>>;
  retired: boolean;
}

/**
 * How the agent asks the monitors: one client.admin connection, made at the first command and
 * made again after any failure (telling a lost connection from a refused command is not worth
 * it: a refusal costs one reconnect), and short-lived connections as other clients (`osd new` as
 * client.bootstrap-osd). A connection is closed once its last command has settled (commands are
 * bounded by {@link MON_TIMEOUT_SECONDS}); `close()` resolves once every connection is closed,
 * so a stopped agent leaves no call that keeps the process alive. Failures are
 * {@link CephCommandError}s carrying the monitor's status text.
 */
export class CephMonitors {
  private link: Link | undefined;
  private readonly retiring = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly connect: CephConnect,
    private readonly admin: { readonly conf: string; readonly keyring: string },
  ) {}

  /** Sends a monitor command as client.admin; resolves its output. */
  async command(command: MonCommand, input?: Buffer): Promise<Buffer> {
    this.refuseIfClosed(command);
    const link = (this.link ??= this.open({ ...this.admin, clientName: 'client.admin' }));
    try {
      return await this.call(link, command, input);
    } catch (error) {
      if (this.link === link) this.link = undefined;
      this.retire(link);
      throw error;
    }
  }

  /** Sends one monitor command as another client, on a connection of its own. */
  async commandAs(client: { name: string; keyring: string }, command: MonCommand, input?: Buffer): Promise<Buffer> {
    this.refuseIfClosed(command);
    const link = this.open({ conf: this.admin.conf, keyring: client.keyring, clientName: client.name });
    try {
      return await this.call(link, command, input);
    } finally {
      this.retire(link);
    }
  }

  /** Refuses new commands and resolves once every connection is closed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.link) this.retire(this.link);
    this.link = undefined;
    while (this.retiring.size > 0) await Promise.all([...this.retiring]);
  }

  private refuseIfClosed(command: MonCommand): void {
    if (this.closed) throw new CephCommandError(describe(command), 'the agent is stopping', undefined);
  }

  private open(options: Omit<CephClientOptions, 'timeoutSeconds'>): Link {
    const connection = this.connect({ ...options, timeoutSeconds: MON_TIMEOUT_SECONDS });
    connection.catch(() => {}); // a failed connect is reported by the calls awaiting it
    return { connection, calls: new Set(), retired: false };
  }

  private async call(link: Link, command: MonCommand, input: Buffer | undefined): Promise<Buffer> {
    const call = link.connection.then((connection) => connection.command(command, input));
    link.calls.add(call);
    try {
      return await call;
    } catch (error) {
      throw new CephCommandError(describe(command), error instanceof Error ? error.message : String(error), error);
    } finally {
      link.calls.delete(call);
    }
  }

  /** Closes `link`'s connection once its commands have settled. */
  private retire(link: Link): void {
    if (link.retired) return;
    link.retired = true;
    const done = Promise.allSettled([...link.calls])
      .then(() => link.connection)
      .then(
        (connection) => connection.close(),
        () => {}, // it never connected
      )
      .catch(() => {}) // closing failed: nothing left to do with it
      .finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }
}

/** A command as the `ceph` CLI would be run for it, for messages: `ceph osd pool set {"pool":"rackseed",…}`. */
function describe(command: MonCommand): string {
  const { prefix, ...rest } = command;
  return `ceph ${String(prefix)}${Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : ''}`;
}
