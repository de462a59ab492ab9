import type { AnyStateMachine } from 'xstate';

/**
 * A persisted snapshot as xstate's `getPersistedSnapshot` returns it: plain JSON.
 * Migrations work on this shape, never on live snapshots.
 */
export type PersistedSnapshot = Record<string, unknown>;

/**
 * A machine together with its snapshot format version and the migrations that bring an
 * older snapshot up to it: `migrations[n]` turns a version-n snapshot into version n+1.
 */
export interface MachineDefinition<M extends AnyStateMachine = AnyStateMachine> {
  readonly machine: M;
  readonly version: number;
  readonly migrations: Readonly<Record<number, (snapshot: PersistedSnapshot) => PersistedSnapshot>>;
}
