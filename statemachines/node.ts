import { assign, setup } from 'xstate';
import type { MachineDefinition } from './definition.js';

/**
 * The life of a node as the cluster sees it: discovered (its BMC answered) → powering-on →
 * netbooting → joining (its agent registered under a lease) → ready → draining; a node whose
 * lease expires is failed until the fencer has powered it off (fenced). An agent that
 * registers again brings it back to joining from anywhere.
 */
export interface NodeContext {
  readonly name: string;
  /** The lease of the agent incarnation that registered last ('' before any). */
  readonly lease: string;
  readonly fenceAttempts: number;
  readonly lastError: string | null;
}

export type NodeEvent =
  | { type: 'bmc.power.on' }
  | { type: 'node.netboot.started' }
  | { type: 'node.registered'; lease: string }
  | { type: 'node.joined' }
  | { type: 'node.drain' }
  | { type: 'node.drained' }
  | { type: 'node.lease.expired'; lease: string }
  | { type: 'node.fenced'; method: 'bmc' | 'operator' }
  | { type: 'node.fence.failed'; error: string };

/** Snapshot format version of this machine; bump it and add a migration when the context changes. */
export const NODE_MACHINE_VERSION = 1;

export const nodeMachine = setup({
  types: {
    context: {} as NodeContext,
    events: {} as NodeEvent,
    input: {} as { name: string },
  },
  actions: {
    /** Effect: power the node on through its BMC (PXE first). */
    powerOn: (_, _params: { name: string }) => {},
    /** Effect: power the node off through its BMC so that it cannot run anything any more. */
    fence: (_, _params: { name: string; lease: string }) => {},
  },
}).createMachine({
  id: 'node',
  initial: 'discovered',
  context: ({ input }) => ({ name: input.name, lease: '', fenceAttempts: 0, lastError: null }),
  on: {
    'node.registered': {
      target: '.joining',
      actions: assign({ lease: ({ event }) => event.lease, lastError: null }),
    },
  },
  states: {
    discovered: {
      on: {
        'bmc.power.on': {
          target: 'powering-on',
          actions: { type: 'powerOn', params: ({ context }) => ({ name: context.name }) },
        },
      },
    },
    'powering-on': { on: { 'node.netboot.started': 'netbooting' } },
    netbooting: {},
    joining: {
      on: {
        'node.joined': 'ready',
        'node.lease.expired': { target: 'failed', guard: ({ context, event }) => event.lease === context.lease },
      },
    },
    ready: {
      on: {
        'node.drain': 'draining',
        'node.lease.expired': { target: 'failed', guard: ({ context, event }) => event.lease === context.lease },
      },
    },
    draining: {
      on: {
        'node.drained': 'discovered',
        'node.lease.expired': { target: 'failed', guard: ({ context, event }) => event.lease === context.lease },
      },
    },
    failed: {
      entry: [
        assign({ fenceAttempts: ({ context }) => context.fenceAttempts + 1 }),
        { type: 'fence', params: ({ context }) => ({ name: context.name, lease: context.lease }) },
      ],
      on: {
        'node.fenced': { target: 'fenced', actions: assign({ lastError: null }) },
        'node.fence.failed': { actions: assign({ lastError: ({ event }) => event.error }) },
      },
    },
    fenced: {
      on: {
        'bmc.power.on': {
          target: 'powering-on',
          actions: { type: 'powerOn', params: ({ context }) => ({ name: context.name }) },
        },
      },
    },
  },
});

/** The node machine with its version and migrations, as the machine host takes it. */
export const NODE_MACHINE: MachineDefinition<typeof nodeMachine> = {
  machine: nodeMachine,
  version: NODE_MACHINE_VERSION,
  migrations: {},
};
