import { serverMachine } from '../../statemachines/index.js';
import type { CloudDb } from '../db/index.js';
import type { ServerService } from './servers.js';

/** The server machine's states with an effect in flight: those that take `failed`. */
const TRANSITIONAL = Object.entries(serverMachine.config.states ?? {})
  .filter(([, state]) => state.on !== undefined && 'failed' in state.on)
  .map(([name]) => name);
/** Longer than any effect takes with a live driver (a host call gives up after 120 s). */
const STUCK_AFTER_MS = 10 * 60_000;
const SWEEP_MS = 60_000;

/**
 * Servers whose effect never reported: the API process that ran it died (a crash, or its node)
 * after the server left a steady state, and nothing else would ever move it (Nova's
 * `instance_build_timeout`, for every transition). A pass every minute (the compute keeper's)
 * sends `failed` to each server in a transitional state for longer than the bound, with a
 * fault saying so: BUILD goes to ERROR, a stop back to ACTIVE, a delete to ERROR (to be deleted
 * again), as the effect's own failure would. A live driver's late result is then moot. (A
 * server whose node was fenced moves sooner: see Evacuation.)
 */
export class StuckServers {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: CloudDb,
    private readonly servers: ServerService,
    private readonly log: (event: string, fields: Record<string, unknown>) => void = () => {},
    private readonly stuckAfterMs = STUCK_AFTER_MS,
  ) {}

  start(): void {
    this.#timer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.log('compute.stuck.error', { error: String(error) }));
    }, SWEEP_MS);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** One pass; the ids of the servers it moved on. */
  async sweep(now = Date.now()): Promise<string[]> {
    const moved: string[] = [];
    for (const server of await this.db.servers.list({ status: TRANSITIONAL }, { limit: 100_000 })) {
      if (now - Date.parse(server.updatedAt) < this.stuckAfterMs) continue;
      const minutes = Math.round(this.stuckAfterMs / 60_000);
      await this.servers.report(server.id, {
        type: 'failed',
        message: `The server stayed ${server.state} for more than ${minutes} minutes: the API process running it stopped. Try again.`,
      });
      this.log('compute.stuck.failed', { server: server.id, state: server.state, since: server.updatedAt });
      moved.push(server.id);
    }
    return moved;
  }
}
