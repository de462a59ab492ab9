import type Database from 'better-sqlite3';
import type { CloudSql, ComputeService } from './types.js';

type Row = Record<string, unknown>;

/**
 * The `computeServices` group: what an admin set on a host's Nova services (`os-services`):
 * disabled (with a reason) and forced down. A host's services are listed from the live hosts;
 * a row exists only once an admin changed one, and a service with no row is enabled and up.
 * The scheduler and the evacuation place no server on a host whose `nova-compute` is either.
 */
export function computeServicesSql(db: Database.Database): CloudSql['computeServices'] {
  const toService = (r: Row): ComputeService => ({
    host: String(r.host),
    binary: String(r.binary),
    disabled: r.disabled === 1,
    disabledReason: r.disabled_reason === null ? null : String(r.disabled_reason),
    forcedDown: r.forced_down === 1,
    updatedAt: String(r.updated_at),
  });
  const get = (host: string, binary: string) =>
    db.prepare('SELECT * FROM compute_services WHERE host = ? AND binary = ?').get(host, binary) as Row | undefined;
  return {
    list: () => (db.prepare('SELECT * FROM compute_services ORDER BY host, binary').all() as Row[]).map(toService),
    set: (host, binary, patch) => {
      const current = get(host, binary);
      const next: ComputeService = {
        host,
        binary,
        disabled: patch.disabled ?? current?.disabled === 1,
        disabledReason:
          patch.disabledReason !== undefined
            ? patch.disabledReason
            : current?.disabled_reason === undefined || current.disabled_reason === null
              ? null
              : String(current.disabled_reason),
        forcedDown: patch.forcedDown ?? current?.forced_down === 1,
        updatedAt: new Date().toISOString(),
      };
      db.prepare(
        `INSERT INTO compute_services (host, binary, disabled, disabled_reason, forced_down, updated_at)
         VALUES (@host, @binary, @disabled, @disabledReason, @forcedDown, @updatedAt)
         ON CONFLICT (host, binary) DO UPDATE SET disabled = excluded.disabled,
           disabled_reason = excluded.disabled_reason, forced_down = excluded.forced_down,
           updated_at = excluded.updated_at`,
      ).run({ ...next, disabled: next.disabled ? 1 : 0, forcedDown: next.forcedDown ? 1 : 0 });
      return next;
    },
  };
}
