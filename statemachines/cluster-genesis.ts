import { assign, setup } from 'xstate';
import type { MachineDefinition } from './definition.js';

/**
 * How the cluster grows its etcd: from the seed's single member to a quorum of three voting
 * members, then to a steady five. Voters are only counted once promoted from learner; the
 * phase never goes back (a dead member is replaced, it does not undo genesis).
 */
export interface ClusterGenesisContext {
  readonly voters: number;
  /** How many voting members this phase aims for. */
  readonly target: 1 | 3 | 5;
}

export type ClusterGenesisEvent = { type: 'etcd.voters.changed'; voters: number };

export const CLUSTER_GENESIS_MACHINE_VERSION = 1;

export const clusterGenesisMachine = setup({
  types: {
    context: {} as ClusterGenesisContext,
    events: {} as ClusterGenesisEvent,
  },
  actions: {
    /** Effect: announce the phase (logged and shown by `rackseed status`). */
    announce: (_, _params: { phase: string; voters: number }) => {},
  },
  guards: {
    quorum: ({ event }) => event.voters >= 3,
    steady: ({ event }) => event.voters >= 5,
  },
}).createMachine({
  id: 'cluster-genesis',
  initial: 'seed',
  context: { voters: 1, target: 3 },
  on: {
    'etcd.voters.changed': { actions: assign({ voters: ({ event }) => event.voters }) },
  },
  states: {
    seed: {
      always: [],
      on: {
        'etcd.voters.changed': [
          { guard: 'steady', target: 'steady', actions: assign({ voters: ({ event }) => event.voters }) },
          { guard: 'quorum', target: 'quorum', actions: assign({ voters: ({ event }) => event.voters }) },
          { actions: assign({ voters: ({ event }) => event.voters }) },
        ],
      },
    },
    quorum: {
      entry: [
        assign({ target: 5 }),
        { type: 'announce', params: ({ context }) => ({ phase: 'quorum', voters: context.voters }) },
      ],
      on: {
        'etcd.voters.changed': [
          { guard: 'steady', target: 'steady', actions: assign({ voters: ({ event }) => event.voters }) },
          { actions: assign({ voters: ({ event }) => event.voters }) },
        ],
      },
    },
    steady: {
      entry: [
        assign({ target: 5 }),
        { type: 'announce', params: ({ context }) => ({ phase: 'steady', voters: context.voters }) },
      ],
    },
  },
});

export const CLUSTER_GENESIS_MACHINE: MachineDefinition<typeof clusterGenesisMachine> = {
  machine: clusterGenesisMachine,
  version: CLUSTER_GENESIS_MACHINE_VERSION,
  migrations: {},
};
