import { assign, setup } from 'xstate';

/**
 * The version of the server machine's persisted snapshot. Bump it whenever a state is renamed
 * or removed, and migrate stored snapshots.
 */
export const SERVER_MACHINE_VERSION = 1;

/** What a server's owner and its compute driver tell the machine. */
export type ServerEvent =
  | { type: 'spawned' }
  | { type: 'failed'; message: string }
  | { type: 'stop' }
  | { type: 'stopped' }
  | { type: 'start' }
  | { type: 'started' }
  | { type: 'reboot'; hard: boolean }
  | { type: 'rebooted' }
  /** A new root disk from the server's (possibly new) image; the API has recorded the image. */
  | { type: 'rebuild' }
  | { type: 'rebuilt' }
  | { type: 'delete' }
  | { type: 'deleted' }
  /** The host saw the guest end on its own: powered off from inside, or crashed (QEMU killed or died). */
  | { type: 'powerLost'; crashed: boolean }
  /** The server's host was fenced and no other host can take it (yet). */
  | { type: 'hostLost'; message: string }
  /** The server started on another host after its own was fenced. */
  | { type: 'evacuated' }
  /** The owner's createImage: a copy of its root disk is being made into an image. */
  | { type: 'createImage' }
  /** That copy is made (a failed one is `failed`). */
  | { type: 'imageCreated' }
  /**
   * The cloud admin's `os-resetState`: the server is said to be ACTIVE or in ERROR, whatever it
   * was doing, and nothing is done to its guest (Nova's way out of a stuck state).
   */
  | { type: 'resetState'; state: 'active' | 'error' };

/**
 * The machine's context: the last fault (ERROR), the kind of the reboot in progress, and
 * whether a SHUTOFF server got there by crashing (Nova's power state CRASHED; absent in
 * snapshots written before it existed, which reads as false).
 */
export interface ServerContext {
  fault: { message: string } | null;
  hardReboot: boolean;
  crashed?: boolean;
  /** A rebuild of a SHUTOFF server leaves it SHUTOFF, as Nova's does. */
  rebuildStopped?: boolean;
  /** A createImage of a SHUTOFF server, which goes back to SHUTOFF. */
  snapshotStopped?: boolean;
}

/** Every state of the server machine. */
export type ServerStateValue =
  | 'building'
  | 'active'
  | 'stopping'
  | 'shutoff'
  | 'starting'
  | 'rebooting'
  | 'rebuilding'
  | 'snapshotting'
  | 'error'
  | 'deleting'
  | 'deleted';

/**
 * The named effects the machine asks for on entering a state; the compute service runs
 * them through its driver and feeds the result back as an event (`spawned`, `stopped`, …).
 */
export type ServerEffect = 'spawn' | 'powerOff' | 'powerOn' | 'reboot' | 'rebuild' | 'destroy';

/**
 * A server's lifecycle: BUILD → ACTIVE ⇄ SHUTOFF, REBOOT, REBUILD, a createImage in progress,
 * ERROR, DELETED. Pure: the entry
 * actions are named effects with no implementation; read them from xstate's `transition()`.
 */
export const serverMachine = setup({
  types: {
    context: {} as ServerContext,
    events: {} as ServerEvent,
  },
  actions: {
    spawn: () => {},
    powerOff: () => {},
    powerOn: () => {},
    reboot: () => {},
    rebuild: () => {},
    destroy: () => {},
    recordFault: assign({
      fault: ({ event }) =>
        event.type === 'failed'
          ? { message: event.message }
          : event.type === 'hostLost'
            ? { message: event.message }
            : null,
    }),
    clearFault: assign({ fault: null }),
    recordReboot: assign({ hardReboot: ({ event }) => event.type === 'reboot' && event.hard }),
    recordPowerLost: assign({ crashed: ({ event }) => event.type === 'powerLost' && event.crashed }),
    clearCrash: assign({ crashed: false }),
    rebuildRunning: assign({ rebuildStopped: false }),
    rebuildStopped: assign({ rebuildStopped: true }),
    snapshotRunning: assign({ snapshotStopped: false }),
    snapshotStopped: assign({ snapshotStopped: true }),
  },
  guards: {
    snapshotOfStopped: ({ context }) => context.snapshotStopped === true,
  },
}).createMachine({
  id: 'server',
  initial: 'building',
  context: { fault: null, hardReboot: false },
  on: {
    resetState: [
      { target: '.active', guard: ({ event }) => event.state === 'active', actions: 'clearFault' },
      { target: '.error' },
    ],
  },
  states: {
    building: {
      entry: 'spawn',
      on: {
        spawned: 'active',
        failed: { target: 'error', actions: 'recordFault' },
        // Its host was fenced and the process that drove the spawn is gone with it (see Evacuation).
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    active: {
      on: {
        powerLost: { target: 'shutoff', actions: 'recordPowerLost' },
        hostLost: { target: 'error', actions: 'recordFault' },
        stop: 'stopping',
        reboot: { target: 'rebooting', actions: 'recordReboot' },
        rebuild: { target: 'rebuilding', actions: 'rebuildRunning' },
        createImage: { target: 'snapshotting', actions: 'snapshotRunning' },
        delete: 'deleting',
      },
    },
    // As Nova: a stop or a start that fails leaves the server as it was, with the fault recorded.
    stopping: {
      entry: 'powerOff',
      on: { stopped: 'shutoff', failed: { target: 'active', actions: 'recordFault' }, delete: 'deleting' },
    },
    shutoff: {
      on: {
        hostLost: { target: 'error', actions: 'recordFault' },
        // It "crashed" as its host died (the host saw QEMU end first): running again elsewhere.
        evacuated: { target: 'active', guard: ({ context }) => context.crashed === true, actions: 'clearCrash' },
        start: 'starting',
        reboot: { target: 'rebooting', guard: ({ event }) => event.hard, actions: 'recordReboot' },
        rebuild: { target: 'rebuilding', actions: 'rebuildStopped' },
        createImage: { target: 'snapshotting', actions: 'snapshotStopped' },
        delete: 'deleting',
      },
    },
    // Nova's image_uploading: the root disk is copied into an image (by the API, not an effect
    // here); the server runs, or stays off, as it was, and goes back to it either way.
    snapshotting: {
      on: {
        imageCreated: [{ target: 'shutoff', guard: 'snapshotOfStopped' }, { target: 'active' }],
        failed: [
          { target: 'shutoff', guard: 'snapshotOfStopped', actions: 'recordFault' },
          { target: 'active', actions: 'recordFault' },
        ],
        powerLost: { target: 'shutoff', actions: 'recordPowerLost' },
        hostLost: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    starting: {
      entry: ['clearCrash', 'powerOn'],
      on: { started: 'active', failed: { target: 'shutoff', actions: 'recordFault' }, delete: 'deleting' },
    },
    rebooting: {
      entry: ['clearCrash', 'reboot'],
      on: { rebooted: 'active', failed: { target: 'error', actions: 'recordFault' }, delete: 'deleting' },
    },
    rebuilding: {
      entry: ['clearCrash', 'rebuild'],
      on: {
        rebuilt: [{ target: 'shutoff', guard: ({ context }) => context.rebuildStopped === true }, { target: 'active' }],
        failed: { target: 'error', actions: 'recordFault' },
        delete: 'deleting',
      },
    },
    error: {
      on: {
        delete: 'deleting',
        // Nova's way out of ERROR for the owner: a hard reboot (on the host the server has).
        reboot: { target: 'rebooting', guard: ({ event }) => event.hard, actions: ['recordReboot', 'clearFault'] },
        rebuild: { target: 'rebuilding', actions: ['rebuildRunning', 'clearFault'] },
        // Restarted on another node after its own was fenced (as Nova's evacuate of an ERROR server).
        evacuated: { target: 'active', actions: 'clearFault' },
      },
    },
    // A destroy that fails (its host unreachable) leaves the server in ERROR, to be deleted again.
    deleting: { entry: 'destroy', on: { deleted: 'deleted', failed: { target: 'error', actions: 'recordFault' } } },
    deleted: { type: 'final' },
  },
});

/** How a state looks through Nova's API: `status` and the `OS-EXT-STS:*` fields. */
export interface ServerStatusView {
  status: string;
  vmState: string;
  taskState: string | null;
  /** Nova's power_state: 0 no state, 1 running, 4 shutdown, 6 crashed, 7 suspended. */
  powerState: 0 | 1 | 4 | 6;
}

/** The Nova view of each state (nova/api/openstack/common.py `_STATE_MAP`). */
export function serverStatusView(state: ServerStateValue, context: ServerContext): ServerStatusView {
  switch (state) {
    case 'building':
      return { status: 'BUILD', vmState: 'building', taskState: 'spawning', powerState: 0 };
    case 'active':
      return { status: 'ACTIVE', vmState: 'active', taskState: null, powerState: 1 };
    case 'stopping':
      return { status: 'ACTIVE', vmState: 'active', taskState: 'powering-off', powerState: 1 };
    case 'shutoff':
      return { status: 'SHUTOFF', vmState: 'stopped', taskState: null, powerState: context.crashed ? 6 : 4 };
    case 'starting':
      return { status: 'SHUTOFF', vmState: 'stopped', taskState: 'powering-on', powerState: 4 };
    case 'rebooting':
      return context.hardReboot
        ? { status: 'HARD_REBOOT', vmState: 'active', taskState: 'rebooting_hard', powerState: 1 }
        : { status: 'REBOOT', vmState: 'active', taskState: 'rebooting', powerState: 1 };
    case 'rebuilding':
      return { status: 'REBUILD', vmState: 'active', taskState: 'rebuild_spawning', powerState: 0 };
    case 'snapshotting':
      return context.snapshotStopped
        ? { status: 'SHUTOFF', vmState: 'stopped', taskState: 'image_uploading', powerState: context.crashed ? 6 : 4 }
        : { status: 'ACTIVE', vmState: 'active', taskState: 'image_uploading', powerState: 1 };
    case 'error':
      return { status: 'ERROR', vmState: 'error', taskState: null, powerState: 0 };
    case 'deleting':
      return { status: 'ACTIVE', vmState: 'active', taskState: 'deleting', powerState: 1 };
    case 'deleted':
      return { status: 'DELETED', vmState: 'deleted', taskState: null, powerState: 0 };
  }
}
