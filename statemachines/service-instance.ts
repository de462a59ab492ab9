import { assign, setup } from 'xstate';
import type { MachineDefinition } from './definition.js';

/**
 * One service on one node, as its supervisor drives it. A service placed everywhere starts
 * at once; a singleton first campaigns (candidate) and starts only once elected (leader).
 * A process that exits is restarted after a backoff that doubles up to 30 s.
 *
 * The node's lease about to expire *suspends* it: its process stops at once (a singleton must
 * never outlive its node's lease) but a singleton keeps its claim, so that no other node takes
 * it over unless this one is fenced, and it starts again in place when the lease is renewed
 * (`service.resume`). Stopping it for good (`service.disable`) gives the claim up.
 */
export interface ServiceInstanceContext {
  readonly service: string;
  readonly placement: 'everywhere' | 'singleton';
  readonly restarts: number;
  readonly lastExit: string | null;
}

export type ServiceInstanceEvent =
  | { type: 'service.enable' }
  | { type: 'service.elected' }
  | { type: 'service.started' }
  | { type: 'service.healthy' }
  | { type: 'service.exited'; reason: string }
  | { type: 'service.retry' }
  | { type: 'service.disable' }
  | { type: 'service.suspend' }
  | { type: 'service.resume' }
  | { type: 'service.stopped' };

export const SERVICE_INSTANCE_MACHINE_VERSION = 2;

/** Restart delay after `restarts` consecutive exits: 0.5 s, 1 s, 2 s, … capped at 30 s. */
export function restartDelayMs(restarts: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, restarts - 1));
}

export const serviceInstanceMachine = setup({
  types: {
    context: {} as ServiceInstanceContext,
    events: {} as ServiceInstanceEvent,
    input: {} as { service: string; placement: 'everywhere' | 'singleton' },
  },
  actions: {
    /** Effect: start the service's process; it reports service.started or service.exited. */
    spawn: (_, _params: { service: string }) => {},
    /** Effect: stop the process (TERM, then KILL after a short grace); reports service.stopped. */
    kill: () => {},
    /** Effect: send service.retry after `delayMs`. */
    scheduleRetry: (_, _params: { service: string; delayMs: number }) => {},
    /** Effect: give up a singleton's claim so another node may take it. */
    resign: () => {},
    countExit: assign({
      restarts: ({ context }) => context.restarts + 1,
      lastExit: ({ event }) => (event.type === 'service.exited' ? event.reason : null),
    }),
  },
  guards: {
    singleton: ({ context }) => context.placement === 'singleton',
  },
}).createMachine({
  id: 'service-instance',
  initial: 'stopped',
  context: ({ input }) => ({ service: input.service, placement: input.placement, restarts: 0, lastExit: null }),
  states: {
    stopped: {
      on: {
        'service.enable': [{ guard: 'singleton', target: 'candidate' }, { target: 'starting' }],
      },
    },
    candidate: {
      on: {
        'service.elected': 'starting',
        'service.disable': 'stopped',
      },
    },
    starting: {
      entry: { type: 'spawn', params: ({ context }) => ({ service: context.service }) },
      on: {
        'service.started': 'running',
        'service.exited': { target: 'backoff', actions: 'countExit' },
        'service.disable': { target: 'stopping', actions: 'kill' },
        'service.suspend': { target: 'suspending', actions: 'kill' },
      },
    },
    running: {
      on: {
        'service.healthy': { actions: assign({ restarts: 0 }) },
        'service.exited': { target: 'backoff', actions: 'countExit' },
        'service.disable': { target: 'stopping', actions: 'kill' },
        'service.suspend': { target: 'suspending', actions: 'kill' },
      },
    },
    backoff: {
      entry: {
        type: 'scheduleRetry',
        params: ({ context }) => ({ service: context.service, delayMs: restartDelayMs(context.restarts) }),
      },
      on: {
        'service.retry': 'starting',
        'service.disable': { target: 'stopped', actions: 'resign' },
        'service.suspend': 'suspended',
      },
    },
    // Its process is being stopped (`kill` ran on the way in); the claim goes once it has.
    stopping: {
      on: {
        'service.stopped': 'stopped',
        'service.exited': 'stopped',
      },
      exit: 'resign',
    },
    suspending: {
      on: {
        'service.stopped': 'suspended',
        'service.exited': 'suspended',
        'service.resume': 'resuming',
        'service.disable': 'stopping',
      },
    },
    // Renewed while its process was still stopping: it starts again once that one is gone.
    resuming: {
      on: {
        'service.stopped': 'starting',
        'service.exited': 'starting',
        'service.suspend': 'suspending',
        'service.disable': 'stopping',
      },
    },
    suspended: {
      on: {
        'service.resume': 'starting',
        'service.disable': { target: 'stopped', actions: 'resign' },
      },
    },
  },
});

export const SERVICE_INSTANCE_MACHINE: MachineDefinition<typeof serviceInstanceMachine> = {
  machine: serviceInstanceMachine,
  version: SERVICE_INSTANCE_MACHINE_VERSION,
  migrations: {},
};
